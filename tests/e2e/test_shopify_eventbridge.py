"""Shopify → PeopleSoft with the shop's webhooks delivered through Amazon EventBridge, on the local runtime.

The profile says the connection's webhooks come through a partner event source; the local stack creates
its partner event bus and rule (template.yaml, ShopifyEventSourceName), the keeper subscribes the source's
ARN in the simulated shop, and the shop puts each webhook on the bus as Shopify does. The rule sends it to
the events queue, the EventBridge receiver enqueues the envelope the HTTPS receiver would, and the poster
posts it: exactly once, however many times and whichever way it arrives.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from local.runtime import ACCOUNT, REGION
from local.stack import LocalStack
from mlconnector.ops.stack import write_outputs_file
from mlconnector_cli.main import cli
from tests.support.eventbridge import ARN, SOURCE, eventbridge_profile
from tests.support.stack import audit_items, journals_for
from tests.support.waiting import wait_for


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(profile_path=eventbridge_profile(tmp_path), connections=["shop-psft"]) as stack:
        yield stack


def drained(stack: LocalStack) -> None:
    assert stack.runtime
    events_queue = stack.runtime.queue_url_for_arn(stack.runtime.outputs["ShopifyEventsQueueArn"])
    wait_for(lambda: stack.runtime.queue_depth(events_queue) == 0, timeout=60, interval=0.25)
    assert stack.runtime.wait_until_drained(timeout=60)


def paid_order(shop: Any) -> dict[str, Any]:
    return shop.create_order(
        line_items=[{"sku": "COF-ORG-1KG", "title": "Organic Coffee Beans 1kg", "price": "24.95", "quantity": 2}],
        email="grace@example.com",
        shipping=("Standard", "5.00"),
    )


def history(stack: LocalStack, record_key: str) -> list[dict[str, Any]]:
    return sorted((i for i in audit_items(stack) if i["pk"]["S"] == record_key), key=lambda i: i["sk"]["S"])


def test_the_keeper_subscribes_the_partner_event_source_and_the_source_is_active(stack):
    shop = stack.stores["shop-psft"].state
    addresses = {(h.topic, h.address) for h in shop.subscriptions.values()}
    assert addresses == {(topic, ARN) for topic in stack.profile.connection("shop-psft").store.webhook_topics}
    events = stack.runtime.client("events")
    assert events.describe_event_source(Name=SOURCE)["State"] == "ACTIVE"
    keeper_runs = history(stack, "shop-psft|webhooks|keeper")
    assert keeper_runs and {i["detail"]["M"]["delivery_url"]["S"] for i in keeper_runs} == {ARN}  # where they deliver


def test_an_eventbridge_order_posts_once_even_delivered_twice_with_its_audit_trail(stack):
    shop = stack.stores["shop-psft"].state
    shop.duplicate_next_delivery = 1  # orders/create reaches the bus twice; orders/paid once
    order = paid_order(shop)
    drained(stack)

    assert len(journals_for(stack, f"S{order['name']}")) == 1
    deliveries = [d for d in shop.deliveries if d.ok and str(order["id"]) in d.body.decode()]
    assert len(deliveries) == 3 and all(shop.subscriptions[d.subscription_id].address == ARN for d in deliveries)
    items = history(stack, f"shop-psft|order|{order['id']}")
    events = [i["event"]["S"] for i in items]
    received = [i for i in items if i["event"]["S"] == "received"]
    assert len(received) == 3
    assert {i["detail"]["M"]["via"]["S"] for i in received} == {"eventbridge"}
    assert {i["detail"]["M"]["delivery_id"]["S"] for i in received} == {d.webhook_id for d in deliveries}
    assert events.count("posted") == 1 and events.index("received") < events.index("posted")
    assert "processing" in events and events.count("duplicate_suppressed") + events.count("deferred") >= 2


def test_the_same_order_over_https_and_eventbridge_is_one_posting(stack):
    shop = stack.stores["shop-psft"].state
    for topic in ("orders/create", "orders/paid"):  # mid-migration: the HTTPS subscriptions are still there
        shop.create_subscription(topic, stack.runtime.webhook_url("shop-psft"))
    order = paid_order(shop)
    drained(stack)

    assert len(journals_for(stack, f"S{order['name']}")) == 1
    received = [i for i in history(stack, f"shop-psft|order|{order['id']}") if i["event"]["S"] == "received"]
    assert sorted(i["detail"]["M"].get("via", {}).get("S", "https") for i in received) == [
        "eventbridge",
        "eventbridge",
        "https",
        "https",
    ]
    assert len({i["version"]["S"] for i in received}) == 1  # one idempotency key, whichever way it came
    posted = [i for i in history(stack, f"shop-psft|order|{order['id']}") if i["event"]["S"] == "posted"]
    assert len(posted) == 1


def test_events_the_receiver_handed_back_go_back_with_mlc_redrive_and_post_once(stack, tmp_path):
    """Events no connection took (the profile named another source) end in the events DLQ; once the profile is
    right, ``mlc redrive`` moves them back to the events queue and the order posts once."""
    shop = stack.stores["shop-psft"].state
    put_on_the_bus, handed_back = shop.eventbridge, []
    shop.eventbridge = lambda _arn, event: handed_back.append(event)
    order = paid_order(shop)
    shop.eventbridge = put_on_the_bus
    assert len(handed_back) == 2  # orders/create and orders/paid
    events_dlq = stack.runtime.outputs["ShopifyEventsDeadLetterQueueUrl"]
    sqs = stack.runtime.client("sqs")
    for event in handed_back:  # as the rule delivered them: the whole EventBridge event
        envelope = {"version": "0", "id": str(uuid.uuid4()), "account": ACCOUNT, "region": REGION, "resources": []}
        envelope["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        sqs.send_message(QueueUrl=events_dlq, MessageBody=json.dumps({**envelope, **event}))
    outputs = write_outputs_file(stack.runtime.outputs, tmp_path / "local-outputs.json", stack.runtime.endpoint)
    base = [
        "--profile",
        str(stack.profile_path),
        "--endpoint-url",
        stack.runtime.endpoint,
        "--outputs-file",
        str(outputs),
    ]

    dry = CliRunner().invoke(cli, [*base, "redrive", "--dry-run"], catch_exceptions=False)
    assert dry.exit_code == 0, dry.output
    assert "Shopify events dead-letter queue: 2 message(s) would move" in dry.output
    assert f"orders/paid {order['id']}" in dry.output and f"orders/create {order['id']}" in dry.output
    assert stack.runtime.queue_depth(events_dlq) == 2 and journals_for(stack, f"S{order['name']}") == []

    moved = CliRunner().invoke(cli, [*base, "redrive"], catch_exceptions=False)
    assert moved.exit_code == 0, moved.output
    assert "Shopify events: 2 message(s) moved back to the Shopify events queue" in moved.output
    assert "ingest: 0 message(s) moved back" in moved.output
    drained(stack)
    assert stack.runtime.queue_depth(events_dlq) == 0
    assert len(journals_for(stack, f"S{order['name']}")) == 1
    received = [i for i in history(stack, f"shop-psft|order|{order['id']}") if i["event"]["S"] == "received"]
    assert len(received) == 2 and {i["detail"]["M"]["via"]["S"] for i in received} == {"eventbridge"}
