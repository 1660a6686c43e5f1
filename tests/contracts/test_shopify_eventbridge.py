"""Shopify webhooks through Amazon EventBridge, over the published material (tests/contracts/shopify/eventbridge-*):
the partner event gives the envelope the signed HTTPS delivery of the same webhook gives (one idempotency key
either way), the profile takes only the partner event source ARNs Shopify accepts, the keeper subscribes the ARN,
and the simulator refuses what Shopify refuses."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import ValidationError

from mlconnector.envelope import RecordKind
from mlconnector.sources.base import WebhookRejected
from mlconnector.sources.shopify.settings import ShopifySettings
from mlconnector.sources.shopify.webhooks import ShopifyWebhooks, event_source_name, webhook_hmac
from sandbox.runner import serve
from sandbox.shopify import ShopifyState, create_app

MATERIAL = Path(__file__).parent / "shopify"
ORDER_EVENT = json.loads((MATERIAL / "eventbridge-order-updated.json").read_text(encoding="utf-8"))
CUSTOMER_EVENT = json.loads((MATERIAL / "eventbridge-customer-update.json").read_text(encoding="utf-8"))
ARNS = json.loads((MATERIAL / "eventbridge-arn.json").read_text(encoding="utf-8"))
SUBSCRIPTION = json.loads((MATERIAL / "eventbridge-subscription.json").read_text(encoding="utf-8"))
ARN = f"arn:aws:events:us-east-1::event-source/{ORDER_EVENT['source']}"
SECRET = "shpss_contract_secret"


def settings(**changes: Any) -> dict[str, Any]:
    base = {
        "shop_domain": ORDER_EVENT["detail"]["metadata"]["X-Shopify-Shop-Domain"],
        "webhook_delivery": "eventbridge",
        "eventbridge_source_arn": ARN,
    }
    return ShopifySettings(**{**base, **changes}).model_dump(mode="json")


def parser(**changes: Any) -> ShopifyWebhooks:
    clock = lambda: datetime(2008, 1, 10, 16, 0, 5, tzinfo=UTC)  # noqa: E731 - seconds after the example's trigger
    return ShopifyWebhooks("shop-psft", settings(**changes), {"client_secret": SECRET}, clock=clock)


def https_delivery(event: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """The same webhook delivered over HTTPS: the metadata as headers, the payload as the signed body."""
    body = json.dumps(event["detail"]["payload"]).encode()
    metadata = {k: v for k, v in event["detail"]["metadata"].items() if k != "X-Shopify-Hmac-SHA256"}
    metadata.setdefault("X-Shopify-Webhook-Id", event["id"])  # HTTPS deliveries always carry one
    return {**metadata, "X-Shopify-Hmac-Sha256": webhook_hmac(body, SECRET)}, body


@pytest.mark.parametrize("event", [ORDER_EVENT, CUSTOMER_EVENT], ids=["order", "customer-2020-metadata"])
def test_the_partner_event_is_the_envelope_the_https_delivery_gives(event: dict[str, Any]) -> None:
    (by_event,) = parser().parse_event(event).envelopes
    (by_https,) = parser().parse(*https_delivery(event)).envelopes
    assert by_event.business_key == by_https.business_key  # one idempotency key, whichever way it came
    same = ("kind", "object_id", "version", "topic", "api_version", "payload", "origin")
    assert {f: getattr(by_event, f) for f in same} == {f: getattr(by_https, f) for f in same}
    assert by_event.api_version == event["detail"]["metadata"]["X-Shopify-API-Version"]


def test_the_delivery_id_is_shopifys_webhook_id_or_else_the_event_id() -> None:
    (order,) = parser().parse_event(ORDER_EVENT).envelopes
    assert order.kind is RecordKind.ORDER and order.topic == "orders/updated"
    assert order.delivery_id == ORDER_EVENT["detail"]["metadata"]["X-Shopify-Webhook-Id"]
    assert order.version == "2008-01-10T16:00:00+00:00"  # updated_at -05:00 in UTC, as the poller writes it
    (customer,) = parser().parse_event(CUSTOMER_EVENT).envelopes  # AWS's sample metadata has no webhook id
    assert customer.kind is RecordKind.CUSTOMER and customer.delivery_id == CUSTOMER_EVENT["id"]


def _changed(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    event = copy.deepcopy(ORDER_EVENT)
    node = event
    for key in path[:-1]:
        node = node[key]
    if value is None:
        node.pop(path[-1])
    else:
        node[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("event", "status", "reason"),
    [
        (_changed(("source",), "aws.partner/shopify.com/1/another-app"), 401, "not this connection's event source"),
        (_changed(("detail", "metadata", "X-Shopify-Shop-Domain"), "other.myshopify.com"), 401, "other.myshopify"),
        (_changed(("detail", "metadata", "X-Shopify-API-Version"), None), 400, "X-Shopify-API-Version"),
        (_changed(("detail", "metadata", "X-Shopify-Topic"), "products/update"), 400, "unknown webhook topic"),
        (_changed(("detail", "payload"), None), 400, "metadata and payload"),
        (_changed(("detail",), None), 400, "no detail"),
    ],
    ids=["other-source", "other-shop", "no-api-version", "products", "no-payload", "no-detail"],
)
def test_what_is_not_this_connections_webhook_is_refused(event: dict[str, Any], status: int, reason: str) -> None:
    with pytest.raises(WebhookRejected) as refused:
        parser().parse_event(event)
    assert refused.value.status == status and reason in refused.value.reason


def test_a_connection_with_https_delivery_takes_no_partner_events() -> None:
    https = ShopifyWebhooks("shop-psft", ShopifySettings(shop_domain="contract-shop.myshopify.com").model_dump(), {})
    with pytest.raises(WebhookRejected, match="do not come through EventBridge"):
        https.parse_event(ORDER_EVENT)


def test_the_profile_takes_exactly_the_arns_shopify_accepts() -> None:
    published = re.compile(ARNS["pattern"].replace("(?<", "(?P<"))  # JavaScript named groups, as published
    for arn in ARNS["valid"]:
        assert published.fullmatch(arn)
        assert settings(eventbridge_source_arn=arn)["eventbridge_source_arn"] == arn
        assert ORDER_EVENT["source"].startswith("aws.partner/shopify.com/") and event_source_name(arn) in arn
    for arn in ARNS["invalid"]:
        assert not published.fullmatch(arn)
        with pytest.raises(ValidationError, match="not a Shopify EventBridge partner event source ARN"):
            settings(eventbridge_source_arn=arn)
    with pytest.raises(ValidationError, match="needs eventbridge_source_arn"):
        settings(eventbridge_source_arn=None)
    with pytest.raises(ValidationError, match="set it to 'eventbridge'"):
        settings(webhook_delivery="https")


def test_the_keeper_subscribes_the_source_arn_where_the_webhook_url_would_go() -> None:
    url = "https://abc.execute-api.us-east-1.amazonaws.com/live/webhooks/shop-psft"
    assert ShopifySettings(**settings()).webhook_address(url) == ARN
    assert ShopifySettings(shop_domain="contract-shop.myshopify.com").webhook_address(url) == url
    assert SUBSCRIPTION["request"]["body"]["webhook"]["address"].startswith("arn:aws:events:")


@pytest.fixture
def shop() -> Any:
    state = ShopifyState(shop_domain="contract-shop.myshopify.com")
    state.app_id = event_source_name(ARN).split("/")[2]
    server = serve(create_app(state))
    token = state.add_static_token()
    yield state, server.url, token
    server.stop()


SUBSCRIBE = """mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id uri }
    userErrors { field message }
  }
}"""


def test_the_simulator_takes_the_apps_arn_as_shopify_does_and_refuses_another_apps(shop: Any) -> None:
    """The ARN the published subscription names (REST ``address`` at 2025-10), given as GraphQL's ``uri``."""
    _, url, token = shop
    endpoint = f"{url}/admin/api/2025-10/graphql.json"
    headers = {"X-Shopify-Access-Token": token}
    arn = SUBSCRIPTION["request"]["body"]["webhook"]["address"]
    assert SUBSCRIPTION["response"]["webhook"]["address"] == arn

    def subscribe(uri: str) -> dict[str, Any]:
        variables = {"topic": "ORDERS_UPDATED", "sub": {"uri": uri, "format": "JSON"}}
        answer = requests.post(endpoint, json={"query": SUBSCRIBE, "variables": variables}, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]["webhookSubscriptionCreate"]

    created = subscribe(arn)
    assert created["userErrors"] == [] and created["webhookSubscription"]["uri"] == arn
    refused = subscribe(ARNS["valid"][1])  # another app's id
    assert refused["webhookSubscription"] is None and "instead of" in refused["userErrors"][0]["message"]


def test_the_simulator_puts_the_published_event_shape_for_an_arn_subscription(shop: Any) -> None:
    state, _, _ = shop
    put: list[tuple[str, dict[str, Any]]] = []
    state.eventbridge = lambda arn, event: put.append((arn, event))
    state.create_subscription("customers/update", ARN)
    customer = state.add_customer(email="grace@example.com", first_name="Grace", last_name="Hopper", deliver=False)
    state.update_customer(customer["id"], note="vip")
    delivery = state.deliveries[-1]
    ((arn, event),) = put
    assert arn == ARN and delivery.ok
    assert event["source"] == ORDER_EVENT["source"] and event["detail-type"] == ORDER_EVENT["detail-type"]
    assert set(event["detail"]) == set(ORDER_EVENT["detail"])
    assert set(event["detail"]["metadata"]) <= set(ORDER_EVENT["detail"]["metadata"]) | {"X-Shopify-Name"}
    (envelope,) = parser().parse_event(event).envelopes
    assert envelope.kind is RecordKind.CUSTOMER and envelope.object_id == str(customer["id"])
