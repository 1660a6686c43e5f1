"""The WooCommerce simulator against the REST API docs (tests/contracts/woocommerce/), over real HTTP.

What it serves is checked here with a validator of our own over the transcribed schemas, not the simulator's:
every order, refund and customer as the docs describe them, nothing more. It refuses to serve anything else,
and it moves an order the way WooCommerce core does: a full refund makes it ``refunded``
(``wc_create_refund``), setting ``refunded`` by hand refunds what remains (``wc_order_fully_refunded``), and
``date_paid`` is recorded when payment completes and never cleared (``maybe_set_date_paid``).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator

from sandbox.contracts import contract_json
from sandbox.runner import RunningServer, serve
from sandbox.woocommerce import REST_PREFIX, ApiKey, ContractViolation, WooState, create_app

SCHEMAS = {"order": "order.schema.json", "refund": "order-refund.schema.json", "customer": "customer.schema.json"}
KETTLE = {"product_id": 103, "name": "Stainless Kettle 1.2L", "sku": "KET-SS-12", "price": "59.99", "quantity": 1}
BEANS = {"product_id": 102, "name": "Organic Coffee Beans 1kg", "sku": "COF-ORG-1KG", "price": "24.95", "quantity": 2}


def problems(kind: str, document: Any) -> list[str]:
    validator = Draft202012Validator(contract_json("woocommerce", SCHEMAS[kind]))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture
def state() -> WooState:
    return WooState()


@pytest.fixture
def store(state: WooState) -> Iterator[RunningServer]:
    server = serve(create_app(state))
    state.home_url = server.url
    yield server
    server.stop()


@pytest.fixture
def key(state: WooState) -> ApiKey:
    return state.add_key("read_write")


def call(store: RunningServer, key: ApiKey, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method, f"{store.url}{REST_PREFIX}/{path}", auth=(key.consumer_key, key.consumer_secret), timeout=10, **kwargs
    )


def order(state: WooState, **knobs: Any) -> dict[str, Any]:
    return state.create_order(lines=[KETTLE, BEANS], billing={"email": "ada@example.com"}, shipping="7.50", **knobs)


def test_everything_served_is_as_the_docs_describe(state: WooState, store: RunningServer, key: ApiKey) -> None:
    orders = state.generate_orders(40, seed=5)
    for customer in state.customers.values():
        state.update_customer(customer["id"], first_name=customer["first_name"] + "!")
    paid = [o for o in orders if o["date_paid_gmt"]]
    state.add_refund(paid[0]["id"], lines={paid[0]["line_items"][0]["id"]: 1}, refund_shipping=True, reason="damaged")
    state.add_refund(paid[1]["id"], "5.00")
    state.update_order(paid[2]["id"], status="refunded")
    served = call(store, key, "GET", "orders", params={"per_page": 100}).json()
    assert len(served) == 40
    for kind, documents in (
        ("order", served),
        ("order", [call(store, key, "GET", f"orders/{o['id']}").json() for o in paid[:3]]),
        ("refund", [r for o in paid[:3] for r in call(store, key, "GET", f"orders/{o['id']}/refunds").json()]),
        ("customer", call(store, key, "GET", "customers", params={"per_page": 100}).json()),
    ):
        assert documents
        for document in documents:
            assert problems(kind, document) == [], (kind, document["id"])


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("currency_symbol", "$", "'currency_symbol' was unexpected"),
        ("total", 29.35, "29.35 is not of type 'string'"),
        ("status", "shipped", "'shipped' is not one of"),
    ],
)
def test_an_order_the_docs_would_not_describe_is_refused_loudly(
    state: WooState, store: RunningServer, key: ApiKey, field: str, value: Any, reason: str
) -> None:
    placed = order(state)
    state.orders[placed["id"]][field] = value  # as a test or a careless change to the simulator could
    for path in (f"orders/{placed['id']}", "orders"):
        answer = call(store, key, "GET", path)
        assert answer.status_code == 500
        assert answer.json()["code"] == "simulator_contract_violation"
        assert reason in answer.json()["message"]
    with pytest.raises(ContractViolation, match=reason.split(" is ")[0]):
        state.deliver("order.updated", state.orders[placed["id"]])


def test_changes_outside_the_docs_are_refused_where_they_are_made(state: WooState) -> None:
    placed = order(state)
    with pytest.raises(ContractViolation, match="'payment_url' was unexpected"):
        state.update_order(placed["id"], payment_url="https://example.com/pay")
    assert "payment_url" not in state.orders[placed["id"]]
    customer = state.add_customer(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    with pytest.raises(ContractViolation, match="'phone' was unexpected"):
        state.update_customer(customer["id"], shipping={**customer["shipping"], "phone": "555"})


def test_a_full_refund_makes_the_order_refunded_and_keeps_its_payment_date(
    state: WooState, store: RunningServer, key: ApiKey
) -> None:
    placed = order(state)
    first = call(store, key, "POST", f"orders/{placed['id']}/refunds", json={"amount": "10.00", "reason": "late"})
    assert first.status_code == 201 and call(store, key, "GET", f"orders/{placed['id']}").json()["status"] == (
        "processing"
    )
    rest = str(Decimal(placed["total"]) - Decimal("10.00"))
    assert call(store, key, "POST", f"orders/{placed['id']}/refunds", json={"amount": rest}).status_code == 201
    refunded = call(store, key, "GET", f"orders/{placed['id']}").json()
    assert refunded["status"] == "refunded"
    assert refunded["date_paid_gmt"] == placed["date_paid_gmt"] is not None
    assert sum(-Decimal(r["total"]) for r in refunded["refunds"]) == Decimal(refunded["total"])
    too_much = call(store, key, "POST", f"orders/{placed['id']}/refunds", json={"amount": "0.01"})
    assert too_much.status_code == 500 and too_much.json()["message"] == "Invalid refund amount."


def test_setting_refunded_by_hand_refunds_what_remains(state: WooState, store: RunningServer, key: ApiKey) -> None:
    placed = order(state)
    state.add_refund(placed["id"], "5.00", reason="goodwill")
    answer = call(store, key, "PUT", f"orders/{placed['id']}", json={"status": "refunded"})
    assert answer.status_code == 200 and answer.json()["status"] == "refunded"
    newest, goodwill = call(store, key, "GET", f"orders/{placed['id']}/refunds").json()
    assert goodwill["amount"] == "5.00"
    assert (newest["amount"], newest["reason"], newest["refunded_payment"], newest["line_items"]) == (
        str(Decimal(placed["total"]) - Decimal("5.00")),
        "Order fully refunded.",
        False,
        [],
    )


def test_date_paid_is_recorded_when_payment_completes_and_never_cleared(state: WooState) -> None:
    transfer = order(state, status="on-hold", payment_method="bacs")
    assert (transfer["date_paid"], transfer["date_paid_gmt"]) == (None, None)
    settled = state.update_order(transfer["id"], status="processing")
    assert settled["date_paid_gmt"] is not None and settled["date_paid"] is not None
    for status in ("on-hold", "cancelled", "refunded"):
        assert state.update_order(transfer["id"], status=status)["date_paid_gmt"] == settled["date_paid_gmt"]
    never_paid = order(state, status="pending")
    assert state.update_order(never_paid["id"], status="cancelled")["date_paid_gmt"] is None
