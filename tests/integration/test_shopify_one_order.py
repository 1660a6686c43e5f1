"""One canonical record whichever way Shopify tells of it: a webhook (the REST-shaped JSON Shopify still
delivers) and a poll of the GraphQL Admin API of the same state give the same envelope key and, mapped the
poster's way (the inline payload, or a fetch when the envelope carries a stub), the same canonical Order,
Refund and Customer. Properties over orders the simulator generates, served both ways over real HTTP.

Also: nothing the adapter reads goes through a REST Admin endpoint (the simulator counts such calls)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.wrappers import Request, Response

from mlconnector.envelope import Envelope, Origin, RecordKind
from mlconnector.errors import ReviewError
from mlconnector.http import RetryPolicy
from mlconnector.pipeline.poller import envelope_for
from mlconnector.sources.shopify import webhooks
from mlconnector.sources.shopify.settings import ShopifySettings
from mlconnector.sources.shopify.source import ShopifySource
from sandbox.runner import RunningServer, serve
from sandbox.shopify import ShopifyState, create_app

SHOP = "acme.myshopify.com"
NOW = datetime(2025, 10, 20, 12, 0, tzinfo=UTC)


class Receiver:
    """The webhook receiver's part: verify each delivery and keep its envelope as it would go on the queue."""

    def __init__(self) -> None:
        self.source: ShopifySource | None = None
        self.envelopes: list[Envelope] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        assert self.source is not None
        outcome = self.source.parse_webhook(dict(request.headers), request.get_data())
        self.envelopes.extend(Envelope.from_json(e.to_json()) for e in outcome.envelopes)
        return Response("ok")(environ, start_response)


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, RunningServer]]:
    app = Receiver()
    running = serve(app)
    yield app, running
    running.stop()


def shop_with_orders(seed: int, receiver: Receiver, url: str) -> tuple[ShopifyState, RunningServer, ShopifySource]:
    state = ShopifyState(shop_domain=SHOP, clock=lambda: NOW, plan="plus", seed=seed)
    server = serve(create_app(state))
    config = ShopifySettings(shop_domain=SHOP, base_url=server.url)
    credentials = {"access_token": state.add_static_token(), "client_secret": state.client_secret}
    source = ShopifySource(
        "shop1",
        config,
        credentials,
        clock=lambda: NOW,
        retry_policy=RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.02, read_timeout=10),
    )
    receiver.source, receiver.envelopes[:] = source, []
    source.ensure_webhooks(url)
    orders = state.generate_orders(8, seed, end=NOW, deliver=True, refund_share=0.5)
    paid = [o for o in orders if o["financial_status"] == "paid" and not o["refunds"]]
    if paid:  # at least one refund, with the shipping when there is some
        state.add_refund(paid[0]["id"], lines=[(paid[0]["line_items"][0]["id"], 1)], shipping=True)
    return state, server, source


def mapped(source: ShopifySource, envelope: Envelope) -> Any:
    """What the poster maps: the envelope's payload, or the record fetched when it carries a stub."""
    payload = envelope.payload if envelope.payload is not None else source.fetch(envelope.kind, envelope.object_id)
    if envelope.kind is RecordKind.ORDER:
        return source.to_order(payload)
    if envelope.kind is RecordKind.REFUND:
        return source.to_refund(payload)
    return source.to_customer(payload)


def latest(envelopes: list[Envelope]) -> dict[tuple[RecordKind, str], Envelope]:
    """Each record's last delivery: the state a poll sees now."""
    return {(e.kind, e.object_id): e for e in envelopes}


@given(seed=st.integers(0, 100_000))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_webhook_and_a_poll_of_the_same_state_are_one_record(receiver, seed: int) -> None:
    app, running = receiver
    state, server, source = shop_with_orders(seed, app, f"{running.url}/webhooks/shopify")
    try:
        delivered = latest(app.envelopes)
        polled = {
            (record.kind, record.object_id): envelope_for("shop1", record, Origin.POLLER)
            for resource in ("orders", "refunds", "customers")
            for record in source.changed_since(resource, NOW - timedelta(days=60))
        }
        assert polled.keys() == delivered.keys()
        assert any(kind is RecordKind.REFUND for kind, _ in polled) or not any(
            o["financial_status"] == "paid" for o in state.orders.values()
        )
        for key, webhook in delivered.items():
            poll = Envelope.from_json(polled[key].to_json())
            assert poll.business_key == webhook.business_key, key
            assert mapped(source, poll) == mapped(source, webhook), key
        assert state.rest_admin_calls == 0
        assert {path.split("?")[0].rsplit("/", 1)[-1] for _, path, _ in state.requests} == {"graphql.json"}
    finally:
        source.close()
        server.stop()


money = st.decimals(min_value="0.01", max_value="500", places=2).map(str)


def outcome(mapper: Any, payload: dict[str, Any]) -> Any:
    """The canonical record, or the reason it goes to review."""
    try:
        return mapper(payload)
    except ReviewError as exc:
        return f"review: {exc.reason}"


@given(
    lines=st.lists(st.tuples(money, st.integers(1, 5)), min_size=1, max_size=12),
    inclusive=st.booleans(),
    rates=st.lists(st.sampled_from(["0.05", "0.0625", "0.0175", "0.2", "0.19"]), max_size=2, unique=True),
    discount=st.one_of(
        st.none(),
        st.tuples(st.just("PCT"), st.just("percentage"), st.sampled_from(["5.0", "10.0", "33.0", "100.0"])),
        st.tuples(st.just("FIX"), st.just("fixed_amount"), money),
    ),
    shipping=st.one_of(st.none(), money),
    tenders=st.sampled_from([[("shopify_payments", None)], [("gift_card", "5.00"), ("shopify_payments", None)]]),
    refunded=st.lists(st.integers(0, 11), max_size=4, unique=True),
    refund_shipping=st.booleans(),
)
@settings(max_examples=30, deadline=None)
def test_any_order_reads_the_same_from_its_webhook_and_from_graphql(
    lines, inclusive, rates, discount, shipping, tenders, refunded, refund_shipping
) -> None:
    """Arbitrary lines (more than a page of them), taxes, discounts, shipping, tenders and refunds: the order
    and each refund as delivered map to what polling the GraphQL Admin API gives for them (or both go to
    review for the same reason)."""
    state = ShopifyState(shop_domain=SHOP, clock=lambda: NOW, plan="plus")
    server = serve(create_app(state))
    source = ShopifySource(
        "shop1", ShopifySettings(shop_domain=SHOP, base_url=server.url), {"access_token": state.add_static_token()}
    )
    try:
        order = state.create_order(
            line_items=[{"sku": f"S{i}", "price": p, "quantity": q} for i, (p, q) in enumerate(lines)],
            email="x@example.com",
            taxes_included=inclusive,
            tax_rates=[(f"T{r}", r) for r in rates],
            discount=discount,
            shipping=("Ship", shipping) if shipping else None,
            gateways=tenders,
            deliver=False,
        )
        made = [
            state.add_refund(
                order["id"],
                lines=[(order["line_items"][i % len(lines)]["id"], 1)],
                shipping=refund_shipping and n == 0,
                deliver=False,
            )
            for n, i in enumerate(dict.fromkeys(i % len(lines) for i in refunded))
        ]
        webhook = state.order_json(order["id"])  # what orders/updated delivers now (a stub when split tender)
        if webhooks.needs_transactions(webhook, source.settings.paid_financial_statuses):
            webhook = source.fetch(RecordKind.ORDER, str(order["id"]))
        (polled,) = source.changed_since("orders", NOW - timedelta(days=1))
        assert outcome(source.to_order, polled.payload) == outcome(source.to_order, webhook)
        polled_refunds = {r.object_id: r.payload for r in source.changed_since("refunds", NOW - timedelta(days=1))}
        for refund in made:  # refunds/create's body, whose order context to_refund fetches
            key = f"{order['id']}:{refund['id']}"
            assert outcome(source.to_refund, polled_refunds[key]) == outcome(source.to_refund, refund)
        assert state.rest_admin_calls == 0
    finally:
        source.close()
        server.stop()
