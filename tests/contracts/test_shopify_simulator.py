"""The Shopify simulator against Shopify's published material: the records it serves over the GraphQL
Admin API and delivers as webhooks are what the material shows, and it refuses to send anything else."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from sandbox.runner import RunningServer, serve
from sandbox.shopify import ShopifyState, create_app
from sandbox.shopify_contract import ContractViolation, check, check_delivery, problems

REFUSED = "http://127.0.0.1:9/webhooks"  # nothing listens: the delivery is made, recorded, and fails


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[ShopifyState, RunningServer, str]]:
    state = ShopifyState(seed=7, plan="plus")
    state.generate_orders(40, 7, refund_share=0.5)
    server = serve(create_app(state))
    yield state, server, state.add_static_token()
    server.stop()


def graphql(shop: tuple[ShopifyState, RunningServer, str], query: str, **variables: object) -> requests.Response:
    state, server, token = shop
    return requests.post(
        f"{server.url}/admin/api/{state.api_version}/graphql.json",
        json={"query": query, "variables": variables},
        headers={"X-Shopify-Access-Token": token},
        timeout=10,
    )


ORDERS = (
    "query($after: String) { orders(first: 25, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } }"
)


def test_what_the_simulator_serves_is_what_shopify_shows(shop) -> None:
    """Every record behind the GraphQL answers is one Shopify's material shows (and each answer is typed by
    Shopify's schema: graphql-core refuses a value that does not fit it)."""
    state = shop[0]
    served, after = [], None
    while True:
        answer = graphql(shop, ORDERS, after=after).json()
        assert "errors" not in answer, answer
        served += answer["data"]["orders"]["nodes"]
        if not answer["data"]["orders"]["pageInfo"]["hasNextPage"]:
            break
        after = answer["data"]["orders"]["pageInfo"]["endCursor"]
    assert sorted(int(o["id"].rsplit("/", 1)[1]) for o in served) == sorted(state.orders)
    orders = [state.order_json(oid) for oid in state.orders]
    refunded = [o for o in orders if o["refunds"]]
    assert refunded
    for order in orders:
        assert problems("order", order) == []
        for transaction in state.transactions[order["id"]]:
            assert problems("transaction", transaction) == []
    for order in refunded:
        for refund in state.orders[order["id"]]["refunds"]:
            assert problems("refund", refund) == []
    for customer in state.customers.values():
        assert problems("customer", customer) == []


def test_a_shipping_refund_is_sent_in_both_places_with_one_transaction_for_the_money(shop) -> None:
    state = shop[0]
    order = state.create_order(
        line_items=[{"sku": "MUG", "price": "12.00", "quantity": 2}],
        email="guest@example.net",
        shipping=("Standard", "5.00"),
        deliver=False,
    )
    refund = state.add_refund(order["id"], lines=[(order["line_items"][0]["id"], 1)], shipping=True, deliver=False)
    (ship,) = refund["refund_shipping_lines"]
    (adjustment,) = [a for a in refund["order_adjustments"] if a["kind"] == "shipping_refund"]
    shipping_tax = Decimal(order["shipping_lines"][0]["tax_lines"][0]["price"])
    assert Decimal(ship["subtotal_amount_set"]["shop_money"]["amount"]) == Decimal("5.00")
    assert (Decimal(adjustment["amount"]), Decimal(adjustment["tax_amount"])) == (Decimal("-5.00"), -shipping_tax)
    (txn,) = refund["transactions"]
    (line,) = refund["refund_line_items"]
    items = sum(Decimal(line[name]["shop_money"]["amount"]) for name in ("subtotal_set", "total_tax_set"))
    assert Decimal(txn["amount"]) == items + Decimal("5.00") + shipping_tax
    # an order embeds its refunds as the order example does: the shipping as the adjustment only
    (embedded,) = state.order_json(order["id"])["refunds"]
    assert "refund_shipping_lines" not in embedded and embedded["order_adjustments"] == refund["order_adjustments"]


def test_every_delivery_carries_the_documented_headers(shop) -> None:
    state = shop[0]
    state.create_subscription("refunds/create", REFUSED)
    order = state.create_order(line_items=[{"sku": "CAP", "price": "15.75", "quantity": 1}], deliver=False)
    refund = state.add_refund(order["id"], amount="5.00", deliver=False)
    (delivery,) = state.deliver("refunds/create", refund)
    assert delivery.headers["X-Shopify-API-Version"] == state.api_version
    assert {"X-Shopify-Hmac-Sha256", "X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id"} <= set(
        delivery.headers
    )


def test_the_simulator_refuses_to_send_what_shopify_does_not(shop) -> None:
    state = shop[0]
    order_id = next(iter(state.orders))
    invented = copy.deepcopy(state.orders[order_id])
    invented["line_items"][0]["unit_cost"] = "1.00"
    with pytest.raises(ContractViolation, match=r"line_items\[0\]\.unit_cost is not a field"):
        check("order", [invented])
    with state.lock:
        state.orders[order_id]["total_price"] = 10  # a JSON number where Shopify sends a string
    try:
        response = graphql(shop, "query($id: ID!) { order(id: $id) { name } }", id=f"gid://shopify/Order/{order_id}")
        assert response.status_code == 500 and "order.total_price is number" in response.text
    finally:
        with state.lock:
            state.orders[order_id]["total_price"] = invented["total_price"]


def test_a_refund_that_reports_its_shipping_once_is_refused(shop) -> None:
    """The simulator's old refund: shipping in refund_shipping_lines (with a tax field Shopify's example
    does not have) and no shipping_refund adjustment."""
    state = shop[0]
    order = state.create_order(
        line_items=[{"sku": "MUG", "price": "12.00", "quantity": 1}], shipping=("Standard", "5.00"), deliver=False
    )
    refund = state.add_refund(order["id"], shipping=True, deliver=False)
    old = copy.deepcopy(refund)
    old["order_adjustments"] = []
    old["refund_shipping_lines"][0]["tax_amount_set"] = old["refund_shipping_lines"][0]["subtotal_amount_set"]
    found = problems("refund", old)
    assert any("tax_amount_set is not a field" in p for p in found)
    assert any("without their shipping_refund adjustment" in p for p in found)


def test_a_delivery_without_the_api_version_is_refused() -> None:
    state = ShopifyState()
    state.create_subscription("customers/create", REFUSED)
    customer = state.add_customer(email="ada@example.com", first_name="Ada", deliver=False)
    (delivery,) = state.deliver("customers/create", customer)
    headers = {k: v for k, v in delivery.headers.items() if k != "X-Shopify-API-Version"}
    with pytest.raises(ContractViolation, match="delivery lacks X-Shopify-API-Version"):
        check_delivery(headers, "customers/create", customer)
    with pytest.raises(ContractViolation, match="X-Shopify-Sub-Topic, which Shopify does not document"):
        check_delivery({**delivery.headers, "X-Shopify-Sub-Topic": "x"}, "customers/create", customer)
