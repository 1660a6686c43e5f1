"""The Shopify adapter over real HTTP against the sandbox shop's GraphQL Admin API (and moto for Secrets Manager)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from mlconnector.aws import clients
from mlconnector.envelope import RecordKind
from mlconnector.errors import AuthError, ReviewError
from mlconnector.http import RetryPolicy
from mlconnector.sources.base import WebhookRejected
from mlconnector.sources.shopify import queries, webhooks
from mlconnector.sources.shopify.settings import ShopifySettings
from mlconnector.sources.shopify.source import ShopifySource
from sandbox.runner import RunningServer, serve
from sandbox.shopify import ShopifyState, create_app
from tests.support.clock import Clock

SHOP = "acme.myshopify.com"


class Sleeps:
    """Really sleeps (the sandbox bucket leaks in real time) and records every wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def start(state: ShopifyState) -> RunningServer:
    return serve(create_app(state))


@pytest.fixture
def shop(clock: Clock) -> Iterator[tuple[ShopifyState, RunningServer]]:
    state = ShopifyState(shop_domain=SHOP, clock=clock, plan="plus")
    server = start(state)
    yield state, server
    server.stop()


def source_for(
    server: RunningServer,
    credentials: dict[str, str],
    *,
    clock: Clock | None = None,
    sleep: Sleeps | None = None,
    secrets_client: Any = None,
    **settings: Any,
) -> ShopifySource:
    config = ShopifySettings(shop_domain=SHOP, base_url=server.url, **settings)
    return ShopifySource(
        "shop1",
        config,
        credentials,
        clock=clock,
        sleep=sleep or Sleeps(),
        secrets_client=secrets_client,
        retry_policy=RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.05, read_timeout=10),
    )


# ---------------------------------------------------------------- paging


def pages_of(state: ShopifyState, operation: str) -> list[tuple[int, int | None]]:
    """(requested, actual) cost of every ``operation`` query the shop answered."""
    return [(requested, actual) for name, requested, actual in state.graphql_costs if name == operation]


def test_cursor_pages_over_600_orders_lose_none_and_stay_under_the_query_cost_limit(shop, clock) -> None:
    state, server = shop
    generated = state.generate_orders(600, seed=3, end=clock.now)
    source = source_for(server, {"access_token": state.add_static_token()}, clock=clock)
    since = clock.now - timedelta(days=60)
    records = list(source.changed_since("orders", since))
    assert sorted(r.object_id for r in records) == sorted(str(o["id"]) for o in generated)
    assert len({r.object_id for r in records}) == 600
    stamps = [r.modified_at for r in records]
    assert stamps == sorted(stamps)  # sortKey: UPDATED_AT
    per_page = queries.page_size(queries.order_cost(source.sizes), 250)
    pages = pages_of(state, "OrdersPage")
    assert len(pages) == -(-600 // per_page)
    assert all(requested <= queries.MAX_QUERY_COST and actual is not None for requested, actual in pages)
    assert {requested for requested, _ in pages[:-1]} == {queries.orders_page_cost(source.sizes, per_page)}
    assert state.rest_admin_calls == 0
    for record in records:  # every listed order maps; split tenders came with their transactions
        source.to_order(record.payload)


def test_an_order_longer_than_its_page_is_read_whole(shop, clock) -> None:
    """Nested connections report hasNextPage: the rest of the order comes from node(id:) follow-ups."""
    state, server = shop
    lines = [{"sku": f"SKU-{i}", "price": "2.00", "quantity": 1} for i in range(23)]
    order = state.create_order(line_items=lines, email="bulk@example.com", deliver=False)
    for i in range(4):
        state.add_refund(order["id"], lines=[(order["line_items"][i]["id"], 1)], deliver=False)
    source = source_for(server, {"access_token": state.add_static_token()}, clock=clock)
    (record,) = source.changed_since("orders", clock.now - timedelta(days=1))
    assert [li["id"] for li in record.payload["line_items"]] == [li["id"] for li in order["line_items"]]
    assert len(record.payload["refunds"]) == 4
    mapped = source.to_order(record.payload)
    assert mapped.total == Decimal(order["total_price"]) and len(mapped.lines) == 23 and len(mapped.refunds) == 4
    assert len(pages_of(state, "More")) == 1 and len(pages_of(state, "OrderRefunds")) == 1


def test_updated_at_filters_and_customers_are_polled(shop, clock) -> None:
    state, server = shop
    state.generate_orders(20, seed=5, end=clock.now - timedelta(days=2), span_days=5)
    clock.advance(60)
    order = next(iter(state.orders))
    state.update_order(order, note="gift wrap", deliver=False)
    customer = next(iter(state.customers))
    state.update_customer(customer, note="vip", deliver=False)
    source = source_for(server, {"access_token": state.add_static_token()}, clock=clock)
    changed = list(source.changed_since("orders", clock.now - timedelta(seconds=30)))
    assert [r.object_id for r in changed] == [str(order)]
    customers = list(source.changed_since("customers", clock.now - timedelta(seconds=30)))
    assert [r.object_id for r in customers] == [str(customer)]
    assert source.to_customer(customers[0].payload).source_id == str(customer)


def test_polled_refunds_carry_what_validation_needs(shop, clock) -> None:
    state, server = shop
    orders = state.generate_orders(60, seed=11, end=clock.now, refund_share=0.5)
    expected = {f"{o['id']}:{r['id']}" for o in orders for r in o["refunds"]}
    assert expected
    source = source_for(server, {"access_token": state.add_static_token()}, clock=clock)
    records = list(source.changed_since("refunds", clock.now - timedelta(days=60)))
    assert {r.object_id for r in records} == expected
    for record in records:
        refund = source.to_refund(record.payload)
        assert record.kind is RecordKind.REFUND and refund.amount > 0
        assert record.modified_at.isoformat() == webhooks.refund_version(record.payload)
    assert all(requested <= queries.MAX_QUERY_COST for _, requested, _ in state.graphql_costs)


# ---------------------------------------------------------------- rate limits


def test_throttled_queries_are_sent_again_once_the_bucket_has_refilled(shop, clock) -> None:
    state, server = shop
    state.add_customer(email="a@example.com", deliver=False)
    sleeps = Sleeps()
    source = source_for(server, {"access_token": state.add_static_token()}, clock=clock, sleep=sleeps)
    state.force_throttle = 2
    customers = list(source.changed_since("customers", clock.now - timedelta(days=1)))
    assert len(customers) == 1
    assert [actual for _, _, actual in state.graphql_costs] == [None, None, 2 + 2]
    assert len(sleeps.calls) == 2 and all(0 < s <= 1 for s in sleeps.calls)


def test_queries_are_paced_to_the_restore_rate_instead_of_being_throttled(clock) -> None:
    """A bucket that holds one page's cost and a bit: the adapter waits for the refill before each page."""
    state = ShopifyState(shop_domain=SHOP, clock=clock, bucket_size=250, restore_rate=2000.0)
    server = start(state)
    try:
        for i in range(450):
            state.add_customer(email=f"c{i}@example.com", deliver=False)
        sleeps = Sleeps()
        source = source_for(
            server, {"access_token": state.add_static_token()}, clock=clock, sleep=sleeps, page_limit=100
        )
        assert len(list(source.changed_since("customers", clock.now - timedelta(days=1)))) == 450
        costs = state.graphql_costs
        assert len(costs) == 5 and all(actual is not None for _, _, actual in costs)  # never THROTTLED
        assert source.client.throttled_seconds > 0 and len(sleeps.calls) >= 3
    finally:
        server.stop()


def test_a_page_shopify_finds_too_costly_is_asked_for_again_smaller(shop, clock) -> None:
    """Shopify's reckoning of a query may exceed the documented rules the adapter sizes by: MAX_COST_EXCEEDED
    halves the page."""
    state, server = shop
    state.generate_orders(20, seed=8, end=clock.now)
    state.max_query_cost = 500
    source = source_for(server, {"access_token": state.add_static_token()}, clock=clock)
    assert len(list(source.changed_since("orders", clock.now - timedelta(days=60)))) == 20
    pages = pages_of(state, "OrdersPage")
    assert pages[0][1] is None and all(actual is not None for _, actual in pages[1:])
    assert all(requested <= 500 for requested, _ in pages[1:])


# ---------------------------------------------------------------- tokens


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        clients.reset()
        yield clients.client("secretsmanager")
    clients.reset()


def test_expiring_token_refreshes_once_on_401_and_saves_the_rotated_pair(shop, clock, aws) -> None:
    state, server = shop
    state.add_customer(email="a@example.com", deliver=False)
    access, refresh = state.issue_expiring_token()
    credentials = {
        "access_token": access,
        "refresh_token": refresh,
        "client_id": state.client_id,
        "client_secret": state.client_secret,
    }
    aws.create_secret(Name="shop1/store", SecretString=json.dumps({**credentials, "note": "keep me"}))
    source = source_for(server, credentials, clock=clock, token_mode="expiring", token_secret_name="shop1/store")
    assert len(list(source.changed_since("customers", clock.now - timedelta(days=1)))) == 1
    state.expire_token(access)
    assert len(list(source.changed_since("customers", clock.now - timedelta(days=1)))) == 1
    statuses = [s for _, _, s in state.requests]
    assert statuses == [200, 401, 200, 200]  # page, refused, token grant, page again
    saved = json.loads(aws.get_secret_value(SecretId="shop1/store")["SecretString"])
    assert saved["refresh_token"] != refresh and saved["access_token"] != access and saved["note"] == "keep me"
    assert state.refresh_tokens[saved["refresh_token"]].valid
    assert state.refresh_tokens[refresh].valid  # the old one lives until its replacement is used
    assert source.client.tokens.refreshes == 1

    # Proactively refreshed before expiry (no 401), which retires the first refresh token.
    clock.advance(state.token_lifetime - 60)
    before = len(state.requests)
    source.fetch(RecordKind.CUSTOMER, str(next(iter(state.customers))))
    assert [s for _, _, s in state.requests[before:]] == [200, 200]
    assert not state.refresh_tokens[refresh].valid
    latest = json.loads(aws.get_secret_value(SecretId="shop1/store")["SecretString"])
    assert latest["refresh_token"] != saved["refresh_token"] and state.refresh_tokens[latest["refresh_token"]].valid


def test_wrong_credentials_raise_auth_error_without_the_secret(shop, clock, aws) -> None:
    state, server = shop
    bad = "shpat_" + "0123456789abcdef" * 2  # the shape of an admin token, built so no scanner mistakes it
    source = source_for(server, {"access_token": bad}, clock=clock)
    with pytest.raises(AuthError) as caught:
        source.fetch(RecordKind.ORDER, "1")
    assert SHOP in str(caught.value) and bad not in str(caught.value)

    access, _ = state.issue_expiring_token()
    state.expire_token(access)
    stale_refresh = "shprt_not_a_real_refresh_token_000"
    aws.create_secret(Name="shop1/store", SecretString="{}")
    creds = {
        "access_token": access,
        "refresh_token": stale_refresh,
        "client_id": state.client_id,
        "client_secret": state.client_secret,
    }
    source = source_for(server, creds, clock=clock, token_mode="expiring", token_secret_name="shop1/store")
    with pytest.raises(AuthError) as caught:
        source.fetch(RecordKind.ORDER, "1")
    text = str(caught.value)
    assert SHOP in text and all(secret not in text for secret in creds.values())


def test_client_credentials_token_is_requested_again_on_expiry(shop, clock) -> None:
    state, server = shop
    state.client_credentials_lifetime = 600
    customer = state.add_customer(email="a@example.com", deliver=False)["id"]
    creds = {"client_id": state.client_id, "client_secret": state.client_secret}
    source = source_for(server, creds, clock=clock, token_mode="client_credentials", token_refresh_margin_seconds=0)
    source.fetch(RecordKind.CUSTOMER, str(customer))
    first = source.client.tokens.token()
    clock.advance(601)
    source.fetch(RecordKind.CUSTOMER, str(customer))
    second = source.client.tokens.token()
    assert first != second
    grants = [p for _, p, _ in state.requests if p.startswith("/admin/oauth/access_token")]
    assert len(grants) == 2
    state.revoke_token(second)  # a 401 also gets a new token, once
    source.fetch(RecordKind.CUSTOMER, str(customer))
    assert source.client.tokens.token() not in (first, second)
    assert [s for _, _, s in state.requests][-3:] == [401, 200, 200]


# ---------------------------------------------------------------- webhooks


class Receiver:
    """A tiny webhook receiver: verifies with parse_webhook, answers 200/401/400 (or 500 when failing)."""

    def __init__(self, source: ShopifySource) -> None:
        self.source = source
        self.envelopes: list[Any] = []
        self.rejected: list[int] = []
        self.fail = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if self.fail:
            return Response("down", status=500)(environ, start_response)
        try:
            outcome = self.source.parse_webhook(dict(request.headers), request.get_data())
        except WebhookRejected as exc:
            self.rejected.append(exc.status)
            return Response(exc.reason, status=exc.status)(environ, start_response)
        self.envelopes.extend(outcome.envelopes)
        return Response("ok")(environ, start_response)


@pytest.fixture
def receiver(shop, clock) -> Iterator[tuple[Receiver, str]]:
    state, server = shop
    source = source_for(
        server, {"access_token": state.add_static_token(), "client_secret": state.client_secret}, clock=clock
    )
    app = Receiver(source)
    running = serve(app)
    yield app, f"{running.url}/webhooks/shopify"
    running.stop()


def test_sandbox_deliveries_verify_with_parse_webhook(shop, clock, receiver) -> None:
    state, _ = shop
    app, url = receiver
    status = app.source.ensure_webhooks(url)
    assert [(s.topic, s.action) for s in status] == [(t, "created") for t in app.source.settings.webhook_topics]
    customer = state.add_customer(email="ada@example.com", first_name="Ada")
    order = state.create_order(
        line_items=[{"sku": "A", "price": "10.00", "quantity": 2}], customer_id=customer["id"], shipping=("Std", "4.00")
    )
    state.duplicate_next_delivery = 1
    clock.advance(5)
    refund = state.add_refund(order["id"], lines=[(order["line_items"][0]["id"], 1)])
    assert not app.rejected
    topics = [e.topic for e in app.envelopes]
    assert topics == [
        "customers/create",
        "orders/create",
        "orders/paid",
        "refunds/create",
        "refunds/create",
        "orders/updated",
    ]
    create, paid = app.envelopes[1], app.envelopes[2]
    assert create.business_key == paid.business_key and create.delivery_id != paid.delivery_id
    dup1, dup2 = app.envelopes[3], app.envelopes[4]
    assert dup1.delivery_id == dup2.delivery_id and dup1.object_id == f"{order['id']}:{refund['id']}"
    polled = next(r for r in app.source.changed_since("orders", clock.now - timedelta(days=1)))
    assert polled.modified_at.isoformat() == app.envelopes[-1].version  # poll and webhook collapse
    mapped = app.source.to_order(create.payload)
    assert mapped.total == Decimal(order["total_price"]) and mapped.paid
    # The refund webhook body lacks the order context: to_refund fetches and validates it.
    assert app.source.to_refund(dup1.payload).amount == Decimal(refund["transactions"][0]["amount"])


def test_mismatched_refund_from_webhook_goes_to_review(shop, clock, receiver) -> None:
    state, _ = shop
    app, url = receiver
    app.source.ensure_webhooks(url)
    order = state.create_order(line_items=[{"sku": "A", "price": "10.00", "quantity": 1}], email="g@example.com")
    state.add_refund(order["id"], lines=[(order["line_items"][0]["id"], 1)], mismatch="unknown_parent")
    (env,) = [e for e in app.envelopes if e.kind is RecordKind.REFUND]
    with pytest.raises(ReviewError, match="not a successful sale or capture"):
        app.source.to_refund(env.payload)
    with pytest.raises(ReviewError):
        app.source.to_refund(app.source.fetch(RecordKind.REFUND, env.object_id))
    # The order itself (what the poster fetches for a refund) still maps, with its transactions.
    fetched = app.source.fetch(RecordKind.ORDER, str(order["id"]))
    assert "transactions" in fetched and app.source.to_order(fetched).paid_total == Decimal(order["total_price"])


def test_a_shipping_refund_maps_its_shipping_once_delivered_fetched_or_polled(shop, clock, receiver) -> None:
    """The sandbox reports refunded shipping as Shopify does: refund shipping lines and a shipping_refund
    adjustment in the refund, the adjustment only in the order's refunds; one transaction for the money."""
    state, _ = shop
    app, url = receiver
    app.source.ensure_webhooks(url)
    order = state.create_order(
        line_items=[{"sku": "A", "price": "10.00", "quantity": 2}], email="g@example.com", shipping=("Std", "4.00")
    )
    clock.advance(5)
    refund = state.add_refund(order["id"], lines=[(order["line_items"][0]["id"], 1)], shipping=True)
    (env,) = [e for e in app.envelopes if e.kind is RecordKind.REFUND]
    assert {e.api_version for e in app.envelopes} == {state.api_version}
    (polled,) = app.source.changed_since("refunds", clock.now - timedelta(days=1))
    shipping_tax = Decimal(order["shipping_lines"][0]["tax_lines"][0]["price"])
    for payload in (env.payload, app.source.fetch(RecordKind.REFUND, env.object_id), polled.payload):
        mapped = app.source.to_refund(payload)
        assert (mapped.shipping, mapped.shipping_tax) == (Decimal("4.00"), shipping_tax)
        assert mapped.amount == Decimal(refund["transactions"][0]["amount"])
        assert sum((rl.amount + rl.tax for rl in mapped.lines), mapped.shipping + mapped.shipping_tax) == mapped.amount


def test_tampered_delivery_is_rejected_by_the_receiver(shop, receiver) -> None:
    state, _ = shop
    app, url = receiver
    state.create_subscription("orders/create", url)
    state.client_secret = "shpss_rotated_elsewhere"
    state.create_order(line_items=[{"sku": "A", "price": "1.00", "quantity": 1}], email="x@example.com")
    assert app.rejected == [401] and not app.envelopes


def test_keeper_recreates_a_subscription_shopify_deleted(shop, receiver) -> None:
    state, _ = shop
    state.max_failures = 3
    app, url = receiver
    app.source.ensure_webhooks(url)
    assert {s.action for s in app.source.ensure_webhooks(url)} == {"ok"}
    app.fail = True
    for _ in range(3):
        state.create_order(line_items=[{"sku": "A", "price": "1.00", "quantity": 1}], email="x@example.com")
    remaining = {h.topic for h in state.subscriptions.values()}
    assert "orders/create" not in remaining and "orders/paid" not in remaining
    assert "customers/create" in remaining
    app.fail = False
    actions = {s.topic: s.action for s in app.source.ensure_webhooks(url)}
    assert actions["orders/create"] == actions["orders/paid"] == "created"
    assert actions["customers/create"] == "ok"
    state.create_order(line_items=[{"sku": "A", "price": "1.00", "quantity": 1}], email="x@example.com")
    assert [e.topic for e in app.envelopes][-2:] == ["orders/create", "orders/paid"]


def test_keeper_repairs_a_subscription_that_would_trim_or_reshape_the_payload(shop, receiver) -> None:
    """A subscription of ours delivering XML, only some fields, or filtered events would starve the mapper:
    webhookSubscriptionUpdate sets it back to whole JSON payloads."""
    state, _ = shop
    app, url = receiver
    trimmed = state.create_subscription("orders/create", url)
    trimmed.include_fields, trimmed.filter = ["id", "updated_at"], "financial_status:paid"
    xml = state.create_subscription("orders/paid", url)
    xml.format = "xml"
    actions = {s.topic: (s.hook_id, s.action) for s in app.source.ensure_webhooks(url)}
    assert actions["orders/create"] == (str(trimmed.id), "updated")
    assert actions["orders/paid"] == (str(xml.id), "updated")
    assert actions["refunds/create"][1] == "created"
    assert (trimmed.include_fields, trimmed.filter, xml.format) == ([], None, "json")
    assert {s.action for s in app.source.ensure_webhooks(url)} == {"ok"}
    assert state.rest_admin_calls == 0


def test_an_order_with_more_transactions_than_one_query_lists_goes_to_review_not_lost(shop, clock) -> None:
    """Order.transactions is a list Shopify does not page: an order with more than the adapter can ask for is
    still polled, and mapping it (which needs them all) sends it to review with the reason."""
    state, server = shop
    tenders = [("gift_card", "0.01")] * queries.TRANSACTIONS + [("shopify_payments", None)]
    order = state.create_order(
        line_items=[{"sku": "A", "price": "90.00", "quantity": 1}],
        email="g@example.com",
        gateways=tenders,
        deliver=False,
    )
    source = source_for(server, {"access_token": state.add_static_token()}, clock=clock)
    (record,) = source.changed_since("orders", clock.now - timedelta(days=1))
    assert record.object_id == str(order["id"]) and "transactions" not in record.payload
    with pytest.raises(ReviewError, match="more transactions than one query can list"):
        source.to_order(record.payload)


def test_refund_discrepancies_read_with_the_sign_the_profile_names(shop, clock) -> None:
    """No published GraphQL example shows a refund discrepancy: by default its amount is signed as REST's
    order_adjustments (the same records); ``graphql_adjustment_amounts`` turns it round."""
    state, server = shop
    order = state.create_order(line_items=[{"sku": "A", "price": "30.00", "quantity": 2}], email="g@example.com")
    refund = state.add_refund(order["id"], lines=[(order["line_items"][0]["id"], 1)], amount="20.00", deliver=False)
    token = state.add_static_token()
    key = f"{order['id']}:{refund['id']}"
    as_rest = source_for(server, {"access_token": token}, clock=clock)
    delivered = as_rest.to_refund(refund)
    assert as_rest.to_refund(as_rest.fetch(RecordKind.REFUND, key)) == delivered
    assert sum(rl.amount + rl.tax for rl in delivered.lines) == delivered.amount == Decimal("20.00")
    turned = source_for(server, {"access_token": token}, clock=clock, graphql_adjustment_amounts="refund_perspective")
    mapped = turned.to_refund(turned.fetch(RecordKind.REFUND, key))
    assert mapped.amount == Decimal("20.00") and sum(rl.amount + rl.tax for rl in mapped.lines) > mapped.amount


def test_an_order_with_more_refunds_than_one_query_lists_is_polled_and_goes_to_review(shop, clock) -> None:
    state, server = shop
    order = state.create_order(line_items=[{"sku": "A", "price": "90.00", "quantity": 1}], email="g@example.com")
    for _ in range(queries.ALL_REFUNDS):
        state.add_refund(order["id"], amount="0.01", deliver=False)
    source = source_for(server, {"access_token": state.add_static_token()}, clock=clock)
    (record,) = source.changed_since("orders", clock.now - timedelta(days=1))
    assert record.object_id == str(order["id"]) and record.modified_at.isoformat() == webhooks.version_of(order)
    with pytest.raises(ReviewError, match=r"could not be read whole: .*more refunds than one query can list"):
        source.to_order(record.payload)
