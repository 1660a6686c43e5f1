"""The GraphQL Admin API documents the Shopify adapter sends, and what each costs.

Shopify admits a query only when its *requested* cost (computed before it runs, from the ``first``
sizes) fits the single-query limit (1000 points) and the bucket; it then charges the *actual* cost
(what came back). The requested cost follows Shopify's documented rules (shopify.dev, "GraphQL Admin
API rate limits"): scalars and enums 0, an object 1, a connection 2 plus ``first`` times the cost of
one node, a list with ``first`` that many times its element. ``*_cost`` below is that sum for the
selections written here (tests/contracts/test_shopify_graphql.py checks each against the simulator,
which computes it from the schema), so a page is sized to stay under the limit before it is sent.

Connections that can outgrow their nested ``first`` report ``pageInfo``; the adapter reads the rest
of such an order or refund with follow-up queries (``*_MORE``), so nothing is cut off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_QUERY_COST = 1000
MUTATION_COST = 10

MONEY = "shopMoney { amount currencyCode }"
BOTH_MONEYS = "shopMoney { amount currencyCode } presentmentMoney { amount currencyCode }"
MONEY_COST = 2  # the MoneyBag and its shopMoney MoneyV2
BOTH_MONEYS_COST = 3
PAGE_INFO = "pageInfo { hasNextPage endCursor }"

ADDRESS = "firstName lastName company address1 address2 city province provinceCode zip country countryCodeV2 phone"
TAX_LINES = f"taxLines {{ title rate priceSet {{ {MONEY} }} }}"
TAX_LINES_COST = 1 + MONEY_COST
DISCOUNT_ALLOCATIONS = (
    f"discountAllocations {{ allocatedAmountSet {{ {MONEY} }} "
    "discountApplication { index ... on DiscountCodeApplication { code } } }"
)
DISCOUNT_ALLOCATIONS_COST = 1 + MONEY_COST + 1

LINE_ITEM = (
    "id sku name title quantity variant { legacyResourceId } "
    f"originalUnitPriceSet {{ {MONEY} }} {DISCOUNT_ALLOCATIONS} {TAX_LINES}"
)
LINE_ITEM_COST = 1 + 1 + MONEY_COST + DISCOUNT_ALLOCATIONS_COST + TAX_LINES_COST
SHIPPING_LINE = f"id title code originalPriceSet {{ {MONEY} }} {DISCOUNT_ALLOCATIONS} {TAX_LINES}"
SHIPPING_LINE_COST = 1 + MONEY_COST + DISCOUNT_ALLOCATIONS_COST + TAX_LINES_COST
TRANSACTION = (
    "id kind status gateway processedAt createdAt authorizationCode "
    f"amountSet {{ {BOTH_MONEYS} }} parentTransaction {{ id }}"
)
TRANSACTION_COST = 1 + BOTH_MONEYS_COST + 1
#: What an order's refund summary needs: its successful refund transactions' amounts.
REFUND_TRANSACTION_SUMMARY = "id kind status amountSet { presentmentMoney { amount currencyCode } }"
REFUND_TRANSACTION_SUMMARY_COST = 1 + 2
REFUND_LINE_ITEM = f"lineItem {{ id }} quantity restockType subtotalSet {{ {MONEY} }} totalTaxSet {{ {MONEY} }}"
REFUND_LINE_ITEM_COST = 1 + 1 + 2 * MONEY_COST
REFUND_SHIPPING_LINE = f"id shippingLine {{ id }} subtotalAmountSet {{ {MONEY} }} taxAmountSet {{ {MONEY} }}"
REFUND_SHIPPING_LINE_COST = 1 + 1 + 2 * MONEY_COST
ORDER_ADJUSTMENT = f"id reason amountSet {{ {MONEY} }} taxAmountSet {{ {MONEY} }}"
ORDER_ADJUSTMENT_COST = 1 + 2 * MONEY_COST
CUSTOMER = f"id email firstName lastName phone createdAt updatedAt defaultAddress {{ {ADDRESS} }}"
CUSTOMER_COST = 1 + 1


def connection_cost(first: int, node_cost: int) -> int:
    return 2 + first * node_cost


@dataclass(frozen=True)
class Sizes:
    """The ``first`` of every nested connection or list; what does not fit is read by a follow-up query."""

    line_items: int = 5
    shipping_lines: int = 2
    refunds: int = 3  # an order's refunds (summaries): a list, re-read at ALL_REFUNDS when it may be cut off
    refund_transactions: int = 2
    refund_line_items: int = 10
    refund_shipping_lines: int = 3
    order_adjustments: int = 3
    refund_ids: int = 20  # the refunds of a changed order, by id, on the refund poller's page
    webhooks: int = 100


#: An order's own fields (no connections, no refunds) as the mapper needs them.
ORDER_OWN = (
    "id legacyResourceId name email phone createdAt updatedAt processedAt cancelledAt closedAt "
    "currencyCode presentmentCurrencyCode displayFinancialStatus taxesIncluded paymentGatewayNames discountCodes "
    f"totalPriceSet {{ {MONEY} }} totalTaxSet {{ {MONEY} }} totalOutstandingSet {{ {MONEY} }} "
    f"totalTipReceivedSet {{ {MONEY} }} originalTotalDutiesSet {{ {MONEY} }} "
    f"originalTotalAdditionalFeesSet {{ {MONEY} }} "
    f"customer {{ id email firstName lastName phone updatedAt defaultAddress {{ {ADDRESS} }} }} "
    f"billingAddress {{ {ADDRESS} }} shippingAddress {{ {ADDRESS} }}"
)


def order_fields(sizes: Sizes) -> str:
    """An order as the mapper needs it, with its refunds summarised (their full form is ``refund_fields``)."""
    return (
        f"{ORDER_OWN} "
        f"lineItems(first: {sizes.line_items}) {{ {PAGE_INFO} nodes {{ {LINE_ITEM} }} }} "
        f"shippingLines(first: {sizes.shipping_lines}) {{ {PAGE_INFO} nodes {{ {SHIPPING_LINE} }} }} "
        f"refunds(first: {sizes.refunds}) {{ id createdAt note "
        f"transactions(first: {sizes.refund_transactions}) "
        f"{{ {PAGE_INFO} nodes {{ {REFUND_TRANSACTION_SUMMARY} }} }} }}"
    )


def order_cost(sizes: Sizes) -> int:
    """The requested cost of one node of ``order_fields``."""
    own = 1 + 6 * MONEY_COST + CUSTOMER_COST + 2  # six money bags, the customer (with its address), two addresses
    refund = 1 + connection_cost(sizes.refund_transactions, REFUND_TRANSACTION_SUMMARY_COST)
    return (
        own
        + connection_cost(sizes.line_items, LINE_ITEM_COST)
        + connection_cost(sizes.shipping_lines, SHIPPING_LINE_COST)
        + sizes.refunds * refund
    )


def refund_fields(sizes: Sizes) -> str:
    """A refund as the mapper needs it (the 2024-10+ shape: refunded shipping in ``refundShippingLines``)."""
    return (
        "id legacyResourceId createdAt note "
        f"transactions(first: {sizes.refund_transactions}) {{ {PAGE_INFO} nodes {{ {TRANSACTION} }} }} "
        f"refundLineItems(first: {sizes.refund_line_items}) {{ {PAGE_INFO} nodes {{ {REFUND_LINE_ITEM} }} }} "
        f"refundShippingLines(first: {sizes.refund_shipping_lines}) "
        f"{{ {PAGE_INFO} nodes {{ {REFUND_SHIPPING_LINE} }} }} "
        f"orderAdjustments(first: {sizes.order_adjustments}) {{ {PAGE_INFO} nodes {{ {ORDER_ADJUSTMENT} }} }}"
    )


def refund_cost(sizes: Sizes) -> int:
    return (
        1
        + connection_cost(sizes.refund_transactions, TRANSACTION_COST)
        + connection_cost(sizes.refund_line_items, REFUND_LINE_ITEM_COST)
        + connection_cost(sizes.refund_shipping_lines, REFUND_SHIPPING_LINE_COST)
        + connection_cost(sizes.order_adjustments, ORDER_ADJUSTMENT_COST)
    )


#: An order's transactions: a list Shopify does not page, read alone (an order with more goes to review).
TRANSACTIONS = 50
#: An order's refund summaries when ``Sizes.refunds`` of them came back: all there can be.
ALL_REFUNDS = 100
#: An order's refund ids when ``Sizes.refund_ids`` of them came back.
ALL_REFUND_IDS_FIRST = 250


def orders_page(sizes: Sizes) -> str:
    return (
        "query OrdersPage($first: Int!, $after: String, $query: String) { "
        "orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { "
        f"{PAGE_INFO} nodes {{ {order_fields(sizes)} }} }} }}"
    )


def orders_page_cost(sizes: Sizes, first: int) -> int:
    return connection_cost(first, order_cost(sizes))


def order_by_id(sizes: Sizes) -> str:
    return f"query Order($id: ID!) {{ order(id: $id) {{ {order_fields(sizes)} }} }}"


def all_refund_summaries(sizes: Sizes, first: int = ALL_REFUNDS) -> str:
    """An order's refund summaries (``first`` of them: all there can be, or as many as a bulk read showed)."""
    return (
        f"query OrderRefunds($id: ID!) {{ order(id: $id) {{ id refunds(first: {first}) {{ id createdAt note "
        f"transactions(first: {sizes.refund_transactions}) "
        f"{{ {PAGE_INFO} nodes {{ {REFUND_TRANSACTION_SUMMARY} }} }} }} }} }}"
    )


def all_refund_summaries_cost(sizes: Sizes, first: int = ALL_REFUNDS) -> int:
    return 1 + first * (1 + connection_cost(sizes.refund_transactions, REFUND_TRANSACTION_SUMMARY_COST))


def refund_ids_page(sizes: Sizes) -> str:
    """Changed orders and the ids of their refunds: where the poller finds refunds (they have no list of their own)."""
    return (
        "query RefundIdsPage($first: Int!, $after: String, $query: String) { "
        "orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { "
        f"{PAGE_INFO} nodes {{ id updatedAt refunds(first: {sizes.refund_ids}) {{ id }} }} }} }}"
    )


def refund_ids_page_cost(sizes: Sizes, first: int) -> int:
    return connection_cost(first, 1 + sizes.refund_ids)


ALL_REFUND_IDS = (
    f"query OrderRefundIds($id: ID!) {{ order(id: $id) {{ id refunds(first: {ALL_REFUND_IDS_FIRST}) {{ id }} }} }}"
)
ALL_REFUND_IDS_COST = 1 + ALL_REFUND_IDS_FIRST

#: What a refund is mapped with from its order: currency, whether prices include tax, and the transactions
#: it is validated against.
ORDER_CONTEXT = (
    "query OrderContext($id: ID!) { order(id: $id) { id currencyCode taxesIncluded "
    f"transactions(first: {TRANSACTIONS}) {{ {TRANSACTION} }} }} }}"
)
ORDER_CONTEXT_COST = 1 + TRANSACTIONS * TRANSACTION_COST
ORDER_TRANSACTIONS = (
    f"query OrderTransactions($id: ID!) {{ order(id: $id) {{ id "
    f"transactions(first: {TRANSACTIONS}) {{ {TRANSACTION} }} }} }}"
)


def refund_by_id(sizes: Sizes) -> str:
    return f"query Refund($id: ID!) {{ refund(id: $id) {{ {refund_fields(sizes)} order {{ id }} }} }}"


def refund_by_id_cost(sizes: Sizes) -> int:
    return refund_cost(sizes) + 1


CUSTOMERS_PAGE = (
    "query CustomersPage($first: Int!, $after: String, $query: String) { "
    "customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { "
    f"{PAGE_INFO} nodes {{ {CUSTOMER} }} }} }}"
)


def customers_page_cost(first: int) -> int:
    return connection_cost(first, CUSTOMER_COST)


CUSTOMER_BY_ID = f"query Customer($id: ID!) {{ customer(id: $id) {{ {CUSTOMER} }} }}"

#: Follow-up pages of an order's or a refund's nested connections, read through ``node(id:)``: the
#: selection of one node and its cost.
MORE = {
    ("Order", "lineItems"): (LINE_ITEM, LINE_ITEM_COST),
    ("Order", "shippingLines"): (SHIPPING_LINE, SHIPPING_LINE_COST),
    ("Refund", "transactions"): (TRANSACTION, TRANSACTION_COST),
    ("Refund", "refundLineItems"): (REFUND_LINE_ITEM, REFUND_LINE_ITEM_COST),
    ("Refund", "refundShippingLines"): (REFUND_SHIPPING_LINE, REFUND_SHIPPING_LINE_COST),
    ("Refund", "orderAdjustments"): (ORDER_ADJUSTMENT, ORDER_ADJUSTMENT_COST),
}
MORE_PAGE = 50


def more_of(owner: str, field: str) -> str:
    selection = MORE[(owner, field)][0]
    return (
        f"query More($id: ID!, $after: String) {{ node(id: $id) {{ ... on {owner} {{ "
        f"{field}(first: {MORE_PAGE}, after: $after) {{ {PAGE_INFO} nodes {{ {selection} }} }} }} }} }}"
    )


def more_cost(owner: str, field: str) -> int:
    return 1 + connection_cost(MORE_PAGE, MORE[(owner, field)][1])


WEBHOOK = "id topic uri format includeFields filter"
WEBHOOKS_PAGE = (
    "query Webhooks($first: Int!, $after: String) { webhookSubscriptions(first: $first, after: $after) { "
    f"{PAGE_INFO} nodes {{ {WEBHOOK} }} }} }}"
)
WEBHOOK_CREATE = (
    "mutation WebhookCreate($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) { "
    "webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) { "
    f"webhookSubscription {{ {WEBHOOK} }} userErrors {{ field message }} }} }}"
)
WEBHOOK_UPDATE = (
    "mutation WebhookUpdate($id: ID!, $subscription: WebhookSubscriptionInput!) { "
    "webhookSubscriptionUpdate(id: $id, webhookSubscription: $subscription) { "
    f"webhookSubscription {{ {WEBHOOK} }} userErrors {{ field message }} }} }}"
)

#: ``mlc check``: who the token reaches, and that it may read orders, customers and webhook subscriptions.
SHOP = "query Shop { shop { name myshopifyDomain currencyCode } }"
PROBE_ORDERS = "query ProbeOrders { orders(first: 1) { nodes { id } } }"
PROBE_CUSTOMERS = "query ProbeCustomers { customers(first: 1) { nodes { id } } }"
PROBE_WEBHOOKS = "query ProbeWebhooks { webhookSubscriptions(first: 1) { nodes { id } } }"


def page_size(per_node: int, limit: int, bucket: float | None = None) -> int:
    """The most nodes (up to ``limit``) a connection can ask for with its requested cost under the single-query
    limit and within the shop's bucket (its ``maximumAvailable``, once known)."""
    budget = int(min(MAX_QUERY_COST, bucket or MAX_QUERY_COST))
    return max(1, min(limit, (budget - 2) // per_node))


# ------------------------------------------------------------------ bulk query operations
#
# A bulk query reads a whole root connection in one operation Shopify runs on its side (no page size, no
# query-cost limit, one result file); mutations and status reads are ordinary queries. Its limits
# (tests/contracts/shopify/bulk-operations/query-rules.json): one to five connections, nested at most two deep,
# none inside a list field. So an order's line items and shipping lines (connections) come as rows of their own,
# its transactions (a list) inline, and its refunds (a list) inline as summaries without their transactions (a
# connection: those are read by ``all_refund_summaries`` for the orders that have refunds, as the poll reads them).

#: The API release from which ``bulkOperationRunQuery`` takes ``groupObjects`` (default true until 2026-01 made
#: it false); before it, output is always grouped: a node's children directly below it.
GROUP_OBJECTS_SINCE = "2025-07"


def _edges(selection: str) -> str:
    return f"{{ edges {{ node {{ {selection} }} }} }}"


def bulk_orders(search: str) -> str:
    """Every order matching ``search``, oldest change first, with everything the poll's order carries."""
    nested = (
        f"lineItems {_edges(LINE_ITEM)} shippingLines {_edges(SHIPPING_LINE)} "
        f"refunds {{ id createdAt note }} transactions {{ {TRANSACTION} }}"
    )
    return f"{{ orders(query: {json.dumps(search)}, sortKey: UPDATED_AT) {_edges(f'{ORDER_OWN} {nested}')} }}"


def bulk_customers(search: str) -> str:
    return f"{{ customers(query: {json.dumps(search)}, sortKey: UPDATED_AT) {_edges(CUSTOMER)} }}"


#: Child rows of a bulk result, by the type in their id: the connection of the parent they belong to.
BULK_CHILDREN = {"LineItem": "lineItems", "ShippingLine": "shippingLines"}

BULK_OPERATION = "id status errorCode objectCount rootObjectCount fileSize url partialDataUrl createdAt completedAt"
BULK_OPERATION_COST = 1


def bulk_run(api_version: str) -> str:
    """``bulkOperationRunQuery``, asking for grouped output where the release takes ``groupObjects``."""
    grouped = ", groupObjects: true" if api_version == "unstable" or api_version >= GROUP_OBJECTS_SINCE else ""
    return (
        f"mutation BulkRun($query: String!) {{ bulkOperationRunQuery(query: $query{grouped}) {{ "
        f"bulkOperation {{ {BULK_OPERATION} }} userErrors {{ field message code }} }} }}"
    )


BULK_STATUS = f"query BulkStatus($id: ID!) {{ node(id: $id) {{ ... on BulkOperation {{ {BULK_OPERATION} }} }} }}"
