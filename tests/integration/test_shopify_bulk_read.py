"""Shopify bulk reads against the sandbox shop over real HTTP: the orders a bulk query operation reads are the
poll's orders (same payloads, same envelopes and idempotency keys), a result is regrouped under its parents
whatever the orders hold, and an operation that failed, was canceled or expired is reported for what it is."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlconnector.envelope import Origin
from mlconnector.pipeline.poller import envelope_for
from mlconnector.sources.bulk import BulkPosition, BulkStatus
from mlconnector.sources.shopify import payloads
from mlconnector.sources.shopify.bulk import BulkOperationBusy, BulkOperationFailed, BulkOperations
from mlconnector.sources.shopify.settings import ShopifySettings
from mlconnector.sources.shopify.source import ShopifySource
from sandbox.runner import RunningServer, serve
from sandbox.shopify import ShopifyState, create_app
from tests.support.clock import Clock

SHOP = "bulk.myshopify.com"
SINCE = datetime(2020, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 10, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shop(clock: Clock) -> Iterator[tuple[ShopifyState, RunningServer]]:
    state = ShopifyState(shop_domain=SHOP, plan="plus", seed=3, clock=clock)
    server = serve(create_app(state))
    yield state, server
    server.stop()


def source_for(state: ShopifyState, server: RunningServer, clock: Clock | None = None) -> ShopifySource:
    settings = ShopifySettings(shop_domain=SHOP, base_url=server.url, bulk_poll_seconds=0.02)
    return ShopifySource("shop-bulk", settings, {"access_token": state.add_static_token()}, clock=clock)


def bulk_read(source: ShopifySource, resume: BulkPosition | None = None) -> tuple[list[Any], list[BulkStatus]]:
    heard: list[BulkStatus] = []
    return list(source.read_in_bulk("orders", SINCE, resume, heard.append)), heard


def test_bulk_orders_are_the_polls_orders_with_the_same_envelopes(shop) -> None:
    state, server = shop
    state.generate_orders(60, 17, end=NOW, span_days=30, refund_share=0.4)
    many = state.create_order(  # more line items than a poll page holds and more refunds than it summarises
        line_items=[{"sku": f"SKU-{i}", "title": f"Item {i}", "price": "3.00", "quantity": 2} for i in range(8)],
        gateways=[("gift_card", "5.00"), ("shopify_payments", None)],
        shipping=("Standard", "4.99"),
        created_at=NOW - timedelta(days=1),
        deliver=False,
    )
    for item in many["line_items"][:4]:
        state.add_refund(many["id"], lines=[(item["id"], 1)], deliver=False)
    source = source_for(state, server)

    polled = {r.object_id: r for r in source.changed_since("orders", SINCE)}
    read, heard = bulk_read(source)

    assert [r.record.object_id for r in read] == list(polled)  # every order once, in the poll's (update) order
    for item in read:
        bulk_envelope = envelope_for("shop-bulk", item.record, Origin.BACKFILL)
        poll_envelope = envelope_for("shop-bulk", polled[item.record.object_id], Origin.BACKFILL)
        assert bulk_envelope.business_key == poll_envelope.business_key  # the poster's idempotency key
        assert bulk_envelope.replace(received_at=NOW) == poll_envelope.replace(received_at=NOW)  # and all the rest
    big = next(r.record.payload for r in read if r.record.object_id == str(many["id"]))
    assert len(big["line_items"]) == 8 and len(big["refunds"]) == 4 and big["transactions"]
    assert heard[0].status == "CREATED" and heard[-1].status == "COMPLETED" and heard[-1].total == len(polled)
    assert read[-1].position.last == payloads.gid("Order", read[-1].record.object_id)
    asked = [name for name, _, _ in state.graphql_costs]
    assert asked.count("BulkRun") == 1
    in_bulk = asked[asked.index("BulkRun") :]
    refunded = sum(1 for r in read if r.record.payload["refunds"])
    assert in_bulk.count("OrderRefunds") == refunded  # a refunded order's refund transactions: one query
    assert "OrdersPage" not in in_bulk and "More" not in in_bulk  # no pages, no follow-ups for line items


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000),
    orders=st.integers(1, 25),
    refund_share=st.floats(0, 1),
    lines=st.lists(st.integers(1, 9), max_size=3),
)
def test_regrouped_bulk_orders_equal_the_polls_for_any_shop(shop, seed, orders, refund_share, lines) -> None:
    state, server = shop
    with state.lock:
        state.orders.clear()
        state.transactions.clear()
    state.generate_orders(orders, seed, end=NOW, refund_share=refund_share)
    for count in lines:  # orders whose line items run past the poll's first page
        state.create_order(
            line_items=[{"sku": f"X{i}", "title": "x", "price": "1.50", "quantity": 1} for i in range(count)],
            created_at=NOW,
            deliver=False,
        )
    source = source_for(state, server)
    polled = [r for r in source.changed_since("orders", SINCE)]
    read, _ = bulk_read(source)
    assert [r.record for r in read] == polled


def test_a_resumed_read_continues_on_the_same_result_after_the_last_order_handed_over(shop) -> None:
    state, server = shop
    state.generate_orders(30, 5, end=NOW)
    source = source_for(state, server)
    first, _ = bulk_read(source)
    cut = first[11].position  # an interrupted backfill enqueued the first 12 orders

    rest, heard = bulk_read(source, cut)

    assert [r.record for r in rest] == [r.record for r in first[12:]]
    assert [name for name, _, _ in state.graphql_costs].count("BulkRun") == 1  # the same operation, read on
    assert heard[-1].operation == cut.operation
    wrong = BulkPosition(cut.operation, cut.lines, payloads.gid("Order", 1))
    with pytest.raises(Exception, match="does not end a record at line"):
        bulk_read(source, wrong)


def test_a_failed_operation_is_reported_with_its_error_code(shop) -> None:
    state, server = shop
    state.generate_orders(12, 7, end=NOW)
    state.bulk_failure = ("TIMEOUT", 5)
    with pytest.raises(BulkOperationFailed, match=r"failed \(TIMEOUT\) after \d+ objects; Shopify kept partial data"):
        bulk_read(source_for(state, server))


def test_a_canceled_operation_is_reported_as_canceled(shop) -> None:
    state, server = shop
    state.generate_orders(12, 7, end=NOW)
    state.bulk_gate = threading.Event()
    source = source_for(state, server)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            bulk_read(source)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    running = _wait_for_operation(state)
    token = state.add_static_token()
    answer = requests.post(
        f"{server.url}/admin/api/{state.api_version}/graphql.json",
        json={"query": f'mutation {{ bulkOperationCancel(id: "{running}") {{ userErrors {{ message }} }} }}'},
        headers={"X-Shopify-Access-Token": token},
        timeout=5,
    ).json()
    assert answer["data"]["bulkOperationCancel"]["userErrors"] == []
    state.bulk_gate.set()
    reader.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], BulkOperationFailed)
    assert "was canceled" in str(outcome[0]) and running in str(outcome[0])


def test_a_second_bulk_query_while_one_runs_is_refused_with_the_running_ones_id(shop) -> None:
    state, server = shop
    state.generate_orders(3, 7, end=NOW)
    state.bulk_gate = threading.Event()
    reader = threading.Thread(target=lambda: bulk_read(source_for(state, server)))
    reader.start()
    running = _wait_for_operation(state)
    try:
        with pytest.raises(BulkOperationBusy, match=f"already in progress: {running}"):
            bulk_read(source_for(state, server))
    finally:
        state.bulk_gate.set()
        reader.join(timeout=30)


def test_an_expired_operation_is_replaced_by_a_new_one_and_reported(shop, clock: Clock) -> None:
    state, server = shop
    state.generate_orders(8, 9, end=NOW)
    source = source_for(state, server, clock)
    first, _ = bulk_read(source)
    clock.now += timedelta(days=8)  # Shopify keeps a result for seven days

    again, heard = bulk_read(source, first[2].position)

    assert heard[0].status == "EXPIRED" and "expired" in heard[0].note
    assert heard[-1].operation != first[2].position.operation
    assert [r.record for r in again] == [r.record for r in first]  # read whole again, from the checkpoint's time
    expired = BulkOperations(source.client, poll_seconds=0.01, sleep=lambda _: None).get(first[0].position.operation)
    assert expired is not None and expired.status == "EXPIRED" and expired.url is None
    assert "has expired: Shopify keeps a result for seven days" in str(BulkOperationFailed(SHOP, expired))


def _wait_for_operation(state: ShopifyState) -> str:
    for _ in range(500):
        with state.lock:
            if state.bulk_operations:
                return max(state.bulk_operations.values(), key=lambda o: o.id).gid
        threading.Event().wait(0.01)
    raise AssertionError("no bulk operation was started")
