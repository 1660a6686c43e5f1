"""BigCommerce adapter over real HTTP against the sandbox simulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from mlconnector.envelope import RecordKind
from mlconnector.errors import AuthError, TransientError
from mlconnector.http import RetryPolicy
from mlconnector.sources.base import WebhookRejected
from mlconnector.sources.bigcommerce.settings import BigCommerceSettings
from mlconnector.sources.bigcommerce.source import BigCommerceSource
from sandbox.bigcommerce import BigCommerceState, create_app
from sandbox.runner import RunningServer, serve

TOKEN_HEADER = "X-Mlc-Webhook-Token"
HOOK_TOKEN = "hook-token-7f3a"
FAST = RetryPolicy(attempts=6, initial_delay=0.01, max_delay=0.05, read_timeout=5)


class Receiver:
    """A tiny webhook endpoint that verifies with the adapter and keeps the envelopes."""

    def __init__(self, source: BigCommerceSource, answer: int | None = None) -> None:
        self.source = source
        self.answer = answer
        self.envelopes: list[Any] = []
        self.rejections: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if self.answer is not None:
            return Response(status=self.answer)(environ, start_response)
        try:
            outcome = self.source.parse_webhook(dict(request.headers), request.get_data())
        except WebhookRejected as exc:
            with self.lock:
                self.rejections.append(exc.status)
            return Response(exc.reason, status=exc.status)(environ, start_response)
        with self.lock:
            self.envelopes.extend(outcome.envelopes)
        return Response(status=200)(environ, start_response)


@pytest.fixture
def state() -> BigCommerceState:
    return BigCommerceState(quota=100_000, client_secret="sandbox-client-secret-xyz", access_token="sandbox-token-123")


@pytest.fixture
def store(state: BigCommerceState) -> Iterator[RunningServer]:
    server = serve(create_app(state))
    yield server
    server.stop()
    # Every request the adapter sent, and every answer it got, is what BigCommerce's specs allow.
    assert state.contract_refusals == []


def make_source(state: BigCommerceState, store: RunningServer, token: str | None = None, **overrides: Any):
    cfg = BigCommerceSettings(store_hash=state.store_hash, api_base_url=store.url, **overrides)
    creds = {
        "access_token": token or state.access_token,
        "client_secret": state.client_secret,
        "webhook_token": HOOK_TOKEN,
    }
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    source = BigCommerceSource("bc-it", cfg, creds, retry_policy=FAST, sleep=sleep)
    source.sleeps = sleeps  # type: ignore[attr-defined]
    return source


def test_stub_webhook_is_verified_then_the_full_order_is_fetched_and_mapped(state, store) -> None:
    source = make_source(state, store)
    receiver = Receiver(source)
    hook_server = serve(receiver)
    try:
        url = f"{hook_server.url}/webhooks/bc"
        state.create_hook("store/order/created", url, headers={TOKEN_HEADER: HOOK_TOKEN})
        state.add_customer("Jane", "Doe", "jane@example.com", deliver=False)
        order = state.create_order(
            [
                {"name": "Able Brewing System", "sku": "ABS", "price": "225.00", "quantity": 1},
                {"name": "Coffee", "sku": "OCB1", "price": "23.99", "quantity": 2, "tax_rate_id": 2},
            ],
            customer_id=1,
            shipping="9.99",
            coupon=("SAVE10", "10.00"),
            store_credit="20.00",
        )
        assert state.deliveries[-1].ok
        assert "webhook-signature" in state.deliveries[-1].headers
        (envelope,) = receiver.envelopes
        assert (envelope.kind, envelope.object_id, envelope.payload) == (RecordKind.ORDER, str(order["id"]), None)
        mapped = source.to_order(source.fetch(envelope.kind, envelope.object_id))
        assert mapped.total == Decimal(order["total_inc_tax"])
        assert mapped.paid and mapped.paid_total == mapped.total
        assert len(mapped.lines) == 2 and mapped.discounts[0].code == "SAVE10"
        paths = {r.path.split("/stores/")[1].split("/", 1)[1] for r in state.requests}
        assert f"v2/orders/{order['id']}/taxes" in paths and f"v3/orders/{order['id']}/transactions" in paths
        assert all(r.status < 400 for r in state.requests)
    finally:
        hook_server.stop()


def test_tampered_or_unauthenticated_deliveries_are_refused(state, store) -> None:
    source = make_source(state, store)
    receiver = Receiver(source)
    hook_server = serve(receiver)
    try:
        state.create_hook("store/order/created", f"{hook_server.url}/bc", headers={TOKEN_HEADER: "wrong"})
        state.create_order([{"name": "Mug", "sku": "MUG", "price": "8.33", "quantity": 1}])
        assert receiver.rejections and set(receiver.rejections) == {401}
        assert not receiver.envelopes
    finally:
        hook_server.stop()


def test_refund_webhook_and_duplicate_delivery(state, store) -> None:
    source = make_source(state, store)
    receiver = Receiver(source)
    hook_server = serve(receiver)
    try:
        state.create_hook("store/order/refund/created", f"{hook_server.url}/bc", headers={TOKEN_HEADER: HOOK_TOKEN})
        order = state.create_order([{"name": "Mug", "sku": "MUG", "price": "10.00", "quantity": 3}], shipping="5")
        line = state.products[order["id"]][0]["id"]
        state.duplicate_next_delivery = 1
        state.add_refund(order["id"], items=[{"item_type": "PRODUCT", "item_id": line, "quantity": 1}])
        first, second = receiver.envelopes
        assert first.business_key == second.business_key
        refund = source.to_refund(source.fetch(first.kind, first.object_id))
        assert refund.amount == Decimal("10.8") and refund.lines[0].tax == Decimal("0.8")
        mapped = source.to_order(source.fetch(RecordKind.ORDER, refund.order_id))
        assert mapped.refunds[0].source_id == refund.source_id
    finally:
        hook_server.stop()


def test_failing_endpoint_gets_the_hook_deactivated_and_the_keeper_reactivates_it(state, store) -> None:
    source = make_source(state, store, webhook_scopes=("store/order/created", "store/order/updated"))
    receiver = Receiver(source, answer=500)
    hook_server = serve(receiver)
    try:
        url = f"{hook_server.url}/bc"
        hook = state.create_hook("store/order/created", url, headers={TOKEN_HEADER: HOOK_TOKEN})
        state.create_order([{"name": "Mug", "sku": "MUG", "price": "8.33", "quantity": 1}])
        assert [d.attempt for d in state.deliveries] == [1, 2, 3]
        assert not state.hooks[hook.id].is_active

        statuses = {s.topic: s for s in source.ensure_webhooks(url)}
        assert statuses["store/order/created"].action == "reactivated"
        assert statuses["store/order/updated"].action == "created"
        assert state.hooks[hook.id].is_active
        created = next(h for h in state.hooks.values() if h.scope == "store/order/updated")
        assert created.destination == url and created.headers == {TOKEN_HEADER: HOOK_TOKEN} and created.is_active
        again = source.ensure_webhooks(url)
        assert {s.action for s in again} == {"ok"}
    finally:
        hook_server.stop()


def test_429_with_reset_header_is_honoured(state, store) -> None:
    source = make_source(state, store)
    state.generate_orders(1, seed=1)
    oid = min(state.orders)
    state.force_429_next(1, with_headers=True, reset_ms=700)
    source.client.get("v2", f"orders/{oid}")
    (first, second) = state.requests[-2:]
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 0.7
    assert sum(1 for r in state.requests if r.status == 429) == 1  # nothing was sent before the reset


def test_429_without_headers_backs_off_longer(state, store) -> None:
    source = make_source(state, store, throttle_backoff_seconds=1.0)
    state.generate_orders(1, seed=2)
    state.force_429_next(1, with_headers=True, reset_ms=200)
    source.client.get("v2", f"orders/{min(state.orders)}")
    with_headers = list(source.sleeps)
    state.force_429_next(2, with_headers=False)
    source.client.get("v2", f"orders/{min(state.orders)}")
    bare = source.sleeps[len(with_headers) :]
    assert max(with_headers) == pytest.approx(0.2, abs=0.05)
    assert bare[:2] == [1.0, 2.0]  # the configured back-off, doubling per consecutive bare 429
    times = [r.at for r in state.requests[-3:]]
    assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 2.0


def test_low_requests_left_slows_down_instead_of_hitting_429(store, state) -> None:
    state.quota, state.window_ms = 4, 700
    source = make_source(state, store, min_requests_left=1)
    state.generate_orders(1, seed=3)
    oid = min(state.orders)
    for _ in range(9):
        source.client.get("v2", f"orders/{oid}")
    assert all(r.status == 200 for r in state.requests)
    assert source.client.gate.waits, "the client should have paused for the window to reset"


def test_v2_orders_paginate_and_yield_full_bundles(state, store) -> None:
    source = make_source(state, store, page_limit=3)
    generated = state.generate_orders(8, seed=5)
    since = datetime.now(UTC) - timedelta(days=10)
    records = list(source.changed_since("orders", since))
    assert sorted(int(r.object_id) for r in records) == sorted(o["id"] for o in generated)
    list_calls = [r for r in state.requests if r.path.endswith("/v2/orders")]
    assert len(list_calls) >= 3 and all(c.query["sort"] == "date_modified:asc" for c in list_calls)
    stamps = [r.modified_at for r in records]
    assert stamps == sorted(stamps)
    for record in records:
        mapped = source.to_order(record.payload)
        assert mapped.total == Decimal(state.orders[int(record.object_id)]["total_inc_tax"])
    later = list(source.changed_since("orders", max(stamps)))
    assert [r.object_id for r in later] == [records[-1].object_id]


def test_v3_customers_and_refunds_follow_meta_pagination(state, store) -> None:
    source = make_source(state, store, page_limit=2)
    for i in range(5):
        state.add_customer("C", f"N{i}", f"c{i}@example.com", deliver=False, address={"street_1": "1 Road"})
    since = datetime.now(UTC) - timedelta(hours=1)
    customers = list(source.changed_since("customers", since))
    assert sorted(int(c.object_id) for c in customers) == sorted(state.customers)
    assert customers[0].payload["addresses"][0]["address1"] == "1 Road"
    assert source.to_customer(customers[0].payload).billing.line1 == "1 Road"
    assert sum(1 for r in state.requests if r.path.endswith("/v3/customers")) >= 3

    orders = [state.create_order([{"name": "Mug", "sku": "MUG", "price": "5", "quantity": 2}]) for _ in range(3)]
    for order in orders:
        state.add_refund(order["id"], amount="1.00", reason="goodwill")
    refunds = list(source.changed_since("refunds", since))
    assert len(refunds) == 3
    mapped = source.to_refund(refunds[0].payload)
    assert mapped.amount == Decimal("1") and mapped.reason == "goodwill" and mapped.lines == ()


def test_customer_fetch_uses_id_filter(state, store) -> None:
    source = make_source(state, store)
    customer = state.add_customer("Ana", "García", "ana@example.com", deliver=False)
    mapped = source.to_customer(source.fetch(RecordKind.CUSTOMER, str(customer["id"])))
    assert (mapped.source_id, mapped.email, mapped.last_name) == (str(customer["id"]), "ana@example.com", "García")


def test_wrong_token_is_an_auth_error_without_the_token(state, store) -> None:
    secret = "definitely-wrong-token-998877"
    source = make_source(state, store, token=secret)
    state.generate_orders(1, seed=9)
    with pytest.raises(AuthError) as err:
        source.fetch(RecordKind.ORDER, str(min(state.orders)))
    text = str(err.value)
    assert secret not in text and state.access_token not in text
    assert "401" in text and "authorized" in text
    assert isinstance(err.value, TransientError)


def test_missing_order_goes_to_review(state, store) -> None:
    from mlconnector.errors import ReviewError

    with pytest.raises(ReviewError, match="not found"):
        make_source(state, store).fetch(RecordKind.ORDER, "999999")
