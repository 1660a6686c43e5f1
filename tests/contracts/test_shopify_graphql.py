"""The adapter's GraphQL documents against Shopify's published schema and cost rules
(tests/contracts/shopify/admin-*.graphql, graphql-cost.json), and the simulator's enforcement of them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from graphql import OperationDefinitionNode, parse, validate

from mlconnector.errors import ReviewError
from mlconnector.sources.shopify import queries
from mlconnector.sources.shopify.settings import ShopifySettings
from mlconnector.sources.shopify.source import ShopifySource
from sandbox import shopify_graphql
from sandbox.runner import serve
from sandbox.shopify import ShopifyState, create_app
from tests.contracts.published import PublishedOrder, shopify_orders

#: What the adapter adds to a refund from its order (published.py's context), not part of Shopify's refund.
CONTEXT = ("currency", "taxes_included", "order_transactions")

SIZES = queries.Sizes()
#: Every document the adapter sends, the variables it sends it with, and the requested cost it reckons.
DOCUMENTS: list[tuple[str, str, dict[str, Any], int]] = [
    ("orders page", queries.orders_page(SIZES), {"first": 8}, queries.orders_page_cost(SIZES, 8)),
    ("order", queries.order_by_id(SIZES), {"id": "gid://shopify/Order/1"}, queries.order_cost(SIZES)),
    ("refund ids page", queries.refund_ids_page(SIZES), {"first": 40}, queries.refund_ids_page_cost(SIZES, 40)),
    ("order context", queries.ORDER_CONTEXT, {"id": "gid://shopify/Order/1"}, queries.ORDER_CONTEXT_COST),
    ("order transactions", queries.ORDER_TRANSACTIONS, {"id": "gid://shopify/Order/1"}, queries.ORDER_CONTEXT_COST),
    ("refund", queries.refund_by_id(SIZES), {"id": "gid://shopify/Refund/1"}, queries.refund_by_id_cost(SIZES)),
    ("all refund ids", queries.ALL_REFUND_IDS, {"id": "gid://shopify/Order/1"}, queries.ALL_REFUND_IDS_COST),
    (
        "all refund summaries",
        queries.all_refund_summaries(SIZES),
        {"id": "gid://shopify/Order/1"},
        queries.all_refund_summaries_cost(SIZES),
    ),
    ("customers page", queries.CUSTOMERS_PAGE, {"first": 100}, queries.customers_page_cost(100)),
    ("customer", queries.CUSTOMER_BY_ID, {"id": "gid://shopify/Customer/1"}, queries.CUSTOMER_COST),
    ("webhooks page", queries.WEBHOOKS_PAGE, {"first": 100}, queries.connection_cost(100, 1)),
    ("webhook create", queries.WEBHOOK_CREATE, {}, queries.MUTATION_COST),
    ("webhook update", queries.WEBHOOK_UPDATE, {}, queries.MUTATION_COST),
    ("shop", queries.SHOP, {}, 1),
    *[
        (
            f"more {owner}.{field}",
            queries.more_of(owner, field),
            {"id": "gid://shopify/Order/1"},
            queries.more_cost(owner, field),
        )
        for owner, field in queries.MORE
    ],
]


def _requested(document: str, variables: dict[str, Any]) -> int:
    parsed = parse(document)
    (operation,) = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    return shopify_graphql.requested_cost(parsed, operation, variables)


@pytest.mark.parametrize(("name", "document", "variables", "reckoned"), DOCUMENTS, ids=[d[0] for d in DOCUMENTS])
def test_every_document_is_valid_and_costs_what_the_adapter_reckons(name, document, variables, reckoned) -> None:
    assert validate(shopify_graphql.schema(), parse(document)) == []
    assert _requested(document, variables) == reckoned
    assert reckoned <= queries.MAX_QUERY_COST


def test_the_documented_cost_rules() -> None:
    """shopify.dev's example asks for ten nodes of a connection with scalar fields: 2 + 10 x 1 = 12 (through
    edges { node }; the adapter reads nodes, the same nodes at the same cost)."""
    rules = shopify_graphql.cost_rules()
    assert rules["example"]["requestedQueryCost"] == 12
    assert _requested("{ customers(first: 10) { nodes { id email } } }", {}) == 12
    assert _requested("{ shop { name currencyCode } }", {}) == 1  # an object 1, its scalars and enums 0
    # an interface costs its most costly possible selection; a list with first is that many elements
    assert _requested('{ node(id: "x") { ... on Refund { id } ... on Order { id customer { id } } } }', {}) == 2
    assert _requested('{ order(id: "x") { refunds(first: 4) { id } transactions(first: 3) { id } } }', {}) == 8


def test_the_largest_page_stays_under_the_limit_and_one_more_order_does_not() -> None:
    per_page = queries.page_size(queries.order_cost(SIZES), 250)
    assert queries.orders_page_cost(SIZES, per_page) <= 1000 < queries.orders_page_cost(SIZES, per_page + 1)
    state = ShopifyState()
    answer = shopify_graphql.run(state, {"query": queries.orders_page(SIZES), "variables": {"first": per_page + 1}})
    (error,) = answer["errors"]
    assert error["extensions"] == {
        "code": "MAX_COST_EXCEEDED",
        "cost": queries.orders_page_cost(SIZES, per_page + 1),
        "maxCost": 1000,
    }
    assert "data" not in answer


def test_the_bucket_takes_the_requested_cost_and_gives_back_what_was_not_used() -> None:
    state = ShopifyState(bucket_size=1000, restore_rate=0.001)
    state.add_customer(email="a@example.com", deliver=False)
    answer = shopify_graphql.run(state, {"query": queries.CUSTOMERS_PAGE, "variables": {"first": 100}})
    cost = answer["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (202, 4)  # one customer came back
    assert cost["throttleStatus"]["currentlyAvailable"] == 996
    assert cost["throttleStatus"]["maximumAvailable"] == 1000.0


def test_a_query_the_bucket_cannot_hold_is_throttled_without_running() -> None:
    state = ShopifyState(bucket_size=300, restore_rate=0.001)
    state.generate_orders(3, 1)
    first = shopify_graphql.run(state, {"query": queries.orders_page(SIZES), "variables": {"first": 2}})
    assert first["extensions"]["cost"]["actualQueryCost"] is not None
    second = shopify_graphql.run(state, {"query": queries.orders_page(SIZES), "variables": {"first": 2}})
    (error,) = second["errors"]
    assert error["extensions"]["code"] == "THROTTLED" and error["message"] == "Throttled"
    assert second["extensions"]["cost"]["requestedQueryCost"] == queries.orders_page_cost(SIZES, 2)
    assert second["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < queries.orders_page_cost(SIZES, 2)


def test_connections_need_a_size_and_unknown_search_terms_are_ignored_with_a_warning() -> None:
    state = ShopifyState()
    (error,) = shopify_graphql.run(state, {"query": "{ orders { nodes { id } } }"})["errors"]
    assert "first or last" in error["message"]
    answer = shopify_graphql.run(state, {"query": '{ orders(first: 1, query: "flavour:vanilla") { nodes { id } } }'})
    assert answer["extensions"]["search"][0]["warnings"] == [
        {"field": "flavour", "message": "Invalid search field for this query."}
    ]


def test_fields_shopify_does_not_declare_are_refused() -> None:
    (error,) = shopify_graphql.run(ShopifyState(), {"query": "{ orders(first: 1) { nodes { unitCost } } }"})["errors"]
    assert "Cannot query field 'unitCost' on type 'Order'" in error["message"]


def _outcome(mapper: Any, payload: dict[str, Any]) -> Any:
    try:
        return mapper(payload)
    except ReviewError as exc:
        return f"review: {exc.reason}"


@pytest.mark.parametrize("published", shopify_orders(), ids=lambda p: p.name)
def test_each_published_order_and_refund_reads_the_same_over_graphql(published: PublishedOrder) -> None:
    """Shopify's own examples, kept by the simulated shop and read back through its GraphQL Admin API, map to
    what they map to as delivered (or go to review for the same reason): the order as polled, and each
    refund example as refunds/create delivers it (its order context read over GraphQL)."""
    example = copy.deepcopy(published.payload)
    transactions = example.pop("transactions", None) or []
    state = ShopifyState(shop_domain="published.myshopify.com", currency=example["currency"], plan="plus")
    state.orders[example["id"]] = copy.deepcopy(example)
    state.transactions[example["id"]] = copy.deepcopy(transactions)
    if example.get("customer"):
        state.customers[example["customer"]["id"]] = copy.deepcopy(example["customer"])
    server = serve(create_app(state))
    source = ShopifySource(
        "published",
        ShopifySettings(shop_domain="published.myshopify.com", base_url=server.url),
        {"access_token": state.add_static_token()},
    )
    try:
        (polled,) = source.changed_since("orders", datetime(2000, 1, 1, tzinfo=UTC))
        delivered = {**example, "transactions": transactions} if "transactions" in polled.payload else example
        assert _outcome(source.to_order, polled.payload) == _outcome(source.to_order, delivered)
        for name, refund in published.refunds:
            body = {k: v for k, v in refund.items() if k not in CONTEXT}
            assert _outcome(source.to_refund, body) == _outcome(source.to_refund, refund), name
        assert state.rest_admin_calls == 0
    finally:
        source.close()
        server.stop()
