"""The Shopify simulator's GraphQL Admin API: a real GraphQL executor (graphql-core) over the schema
Shopify publishes (``tests/contracts/shopify/admin-*.graphql``: exactly the types and fields the
adapter uses), serving the simulated shop's records, with Shopify's calculated query cost.

- **Cost** (``tests/contracts/shopify/graphql-cost.json``, from shopify.dev "GraphQL Admin API rate
  limits"): scalars and enums 0, an object 1, an interface the most costly of its possible selections,
  a connection 2 plus ``first`` (or ``last``) times the cost of one node, a list with ``first`` that
  many times its element, a mutation 10. The *requested* cost is computed before execution from the
  sizes asked for; the *actual* cost from what came back.
- **Limits**: a query whose requested cost is over the single-query limit is refused
  (``MAX_COST_EXCEEDED``) without running; the shop's bucket (``maximumAvailable`` points, refilling at
  ``restoreRate`` a second, as the plan says) must hold the requested cost or the query is answered
  ``THROTTLED``; otherwise the requested cost is taken and the difference to the actual cost given back.
  Every answer carries ``extensions.cost`` (``requestedQueryCost``, ``actualQueryCost``,
  ``throttleStatus``) as Shopify's does.
- **Bulk query operations** (``bulkOperationRunQuery``, ``currentBulkOperation``, ``node`` on a
  ``BulkOperation``, ``bulkOperationCancel``): ``sandbox.shopify_bulk``.
- **Connections** need ``first`` or ``last`` (at most 250) and page with opaque cursors; ``orders`` and
  ``customers`` take Shopify's search syntax for ``updated_at`` / ``created_at`` / ``id`` and ignore any
  other term with a warning in ``extensions.search``, as Shopify does.

The records are the simulator's REST-shaped ones (what its webhooks deliver), read through views that
name them as the GraphQL schema does; the simulator never imports the adapter.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    build_schema,
    execute,
    is_leaf_type,
    parse,
    validate,
    value_from_ast_untyped,
)

from sandbox import shopify_bulk
from sandbox.contracts import contract_json, contract_path
from sandbox.shopify_contract import ContractViolation, check
from sandbox.shopify_eventbridge import address_problem, is_eventbridge_address

if TYPE_CHECKING:
    from sandbox.shopify import ShopifyState, Subscription

VENDOR = "shopify"
SCHEMA_FILES = ("admin-2025-01.graphql", "admin-2025-10.graphql", "admin-2025-10-bulk.graphql")
MAX_PAGE = 250
GID = "gid://shopify/"


# ------------------------------------------------------------------ the schema


def _decimal(value: Any) -> str:
    """Shopify's ``Decimal``: "10.0", "3.33", "0.0" (trailing zeros trimmed, one decimal kept)."""
    text = format(Decimal(str(value)).normalize(), "f")
    return text if "." in text else f"{text}.0"


def _datetime(value: Any) -> str:
    """Shopify's ``DateTime``: ISO 8601 in UTC with ``Z``."""
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@cache
def schema() -> GraphQLSchema:
    sdl = "\n".join(contract_path(VENDOR, name).read_text(encoding="utf-8") for name in SCHEMA_FILES)
    built = build_schema(sdl)
    serializers = {"Decimal": _decimal, "DateTime": _datetime, "UnsignedInt64": str, "URL": str}
    for name, serialize in serializers.items():
        built.type_map[name].coerce_output_value = serialize  # type: ignore[union-attr]
    return built


@cache
def cost_rules() -> dict[str, Any]:
    return contract_json(VENDOR, "graphql-cost.json")


# ------------------------------------------------------------------ query cost


def _unwrap(type_: Any) -> tuple[bool, GraphQLNamedType]:
    """(is a list, the named type) of a field's type."""
    listed = False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        listed = listed or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return listed, type_


class _Cost:
    """Requested or actual cost of one operation, by Shopify's documented rules."""

    def __init__(self, document: DocumentNode, variables: Mapping[str, Any]) -> None:
        self.schema = schema()
        self.rules = cost_rules()["field_costs"]
        self.variables = dict(variables)
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def _argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return value_from_ast_untyped(argument.value, self.variables)
        return None

    def _fields(self, selection_set: SelectionSetNode | None, type_: GraphQLNamedType) -> Iterable[FieldNode]:
        """The fields selected on ``type_`` (a concrete type), fragments spread."""
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                yield selection
                continue
            if isinstance(selection, InlineFragmentNode):
                condition, inner = selection.type_condition, selection.selection_set
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                condition, inner = fragment.type_condition, fragment.selection_set
            else:  # pragma: no cover - no other selection kinds exist
                continue
            if condition is None or self._applies(condition.name.value, type_):
                yield from self._fields(inner, type_)

    def _applies(self, condition: str, type_: GraphQLNamedType) -> bool:
        target = self.schema.get_type(condition)
        if target is type_:
            return True
        return (
            isinstance(target, GraphQLInterfaceType | GraphQLUnionType)
            and isinstance(type_, GraphQLObjectType)
            and (self.schema.is_sub_type(target, type_))
        )

    def _concrete(self, type_: GraphQLNamedType) -> list[GraphQLObjectType]:
        if isinstance(type_, GraphQLObjectType):
            return [type_]
        return list(self.schema.get_possible_types(type_))  # type: ignore[arg-type]

    def requested(self, selection_set: SelectionSetNode | None, type_: GraphQLNamedType) -> int:
        """The cost of a selection on an object of ``type_`` (an interface: its most costly possible type)."""
        return max(
            (
                sum(self._field_requested(node, concrete) for node in self._fields(selection_set, concrete))
                for concrete in self._concrete(type_)
            ),
            default=0,
        )

    def _field_requested(self, node: FieldNode, parent: GraphQLObjectType) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        listed, named = _unwrap(parent.fields[name].type)
        if is_leaf_type(named):
            return self.rules["scalar"]
        one = self.rules["object"] + self.requested(node.selection_set, named)
        if named.name.endswith("Connection"):
            size = self._argument(node, "first") or self._argument(node, "last") or 0
            return self.rules["connection"] + int(size) * self._node_requested(node, named)
        if listed:
            return int(self._argument(node, "first") or 1) * one
        return one

    def _node_requested(self, node: FieldNode, connection: GraphQLNamedType) -> int:
        node_type = _unwrap(connection.fields["nodes"].type)[1]  # type: ignore[union-attr]
        nodes = [s for s in self._fields(node.selection_set, connection) if s.name.value == "nodes"]
        return max((self.rules["object"] + self.requested(s.selection_set, node_type) for s in nodes), default=0)

    def actual(self, selection_set: SelectionSetNode | None, type_: GraphQLNamedType, value: Any) -> int:
        """The cost of what came back for a selection on ``value`` (an object of ``type_``)."""
        if not isinstance(value, Mapping):
            return 0
        concrete = self.schema.get_type(value.get("__typename", "")) if "__typename" in value else None
        candidates = [concrete] if isinstance(concrete, GraphQLObjectType) else self._concrete(type_)
        return max(
            (sum(self._field_actual(node, c, value) for node in self._fields(selection_set, c)) for c in candidates),
            default=0,
        )

    def _field_actual(self, node: FieldNode, parent: GraphQLObjectType, value: Mapping[str, Any]) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        listed, named = _unwrap(parent.fields[name].type)
        result = value.get(node.alias.value if node.alias else name)
        if is_leaf_type(named) or result is None:
            return 0
        if named.name.endswith("Connection"):
            node_type = _unwrap(named.fields["nodes"].type)[1]  # type: ignore[union-attr]
            nodes = [s for s in self._fields(node.selection_set, named) if s.name.value == "nodes"]
            per_node = [
                self.rules["object"] + self.actual(s.selection_set, node_type, item)
                for s in nodes[:1]
                for item in result[s.alias.value if s.alias else "nodes"]
            ]
            return self.rules["connection"] + sum(per_node)
        if listed:
            return sum(self.rules["object"] + self.actual(node.selection_set, named, item) for item in result)
        return self.rules["object"] + self.actual(node.selection_set, named, result)


def requested_cost(document: DocumentNode, operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> int:
    cost = _Cost(document, variables)
    if operation.operation is OperationType.MUTATION:
        return cost.rules["mutation"] * sum(1 for _ in cost._fields(operation.selection_set, schema().mutation_type))  # type: ignore[arg-type]
    return cost.requested(operation.selection_set, schema().query_type)  # type: ignore[arg-type]


def actual_cost(
    document: DocumentNode, operation: OperationDefinitionNode, variables: Mapping[str, Any], data: Any
) -> int:
    cost = _Cost(document, variables)
    if operation.operation is OperationType.MUTATION:
        return requested_cost(document, operation, variables)
    return cost.actual(operation.selection_set, schema().query_type, data)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the bucket


@dataclass
class CostBucket:
    """One shop's (app's) query-cost bucket: ``maximum`` points, refilling ``restore_rate`` a second."""

    maximum: float
    restore_rate: float
    monotonic: Callable[[], float] = time.monotonic
    available: float = field(init=False)
    at: float = field(init=False)

    def __post_init__(self) -> None:
        self.available = self.maximum
        self.at = self.monotonic()

    def refill(self) -> None:
        now = self.monotonic()
        self.available = min(self.maximum, self.available + (now - self.at) * self.restore_rate)
        self.at = now

    def status(self) -> dict[str, Any]:
        return {
            "maximumAvailable": float(self.maximum),
            "currentlyAvailable": int(self.available),
            "restoreRate": float(self.restore_rate),
        }


# ------------------------------------------------------------------ views of the records


def gid(resource: str, numeric: Any) -> str:
    return f"{GID}{resource}/{numeric}"


def _legacy(value: str) -> int:
    return int(str(value).rsplit("/", 1)[-1])


def _bag(rest_set: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not rest_set:
        return None
    shop = rest_set["shop_money"]
    presentment = rest_set.get("presentment_money") or shop
    return {
        "shopMoney": {"amount": shop["amount"], "currencyCode": shop["currency_code"]},
        "presentmentMoney": {"amount": presentment["amount"], "currencyCode": presentment["currency_code"]},
    }


def _amount_bag(amount: Any, currency: str) -> dict[str, Any]:
    money = {"amount": amount or "0.00", "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": dict(money)}


def _encode(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
    except ValueError:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor!r}") from None


def page(items: list[Any], keys: list[Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """A connection over ``items`` (sorted by ``keys``, JSON-comparable, ascending) as Shopify pages it: ``nodes``,
    ``edges`` (``cursor`` and ``node``, what bulk queries select) and ``pageInfo``."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    if (first is not None and not 0 <= first <= MAX_PAGE) or (last is not None and not 0 <= last <= MAX_PAGE):
        raise GraphQLError(f"The first and last arguments must be between 0 and {MAX_PAGE}")
    ascending = not args.get("reverse")
    if not ascending:
        items, keys = items[::-1], keys[::-1]
    start, stop = 0, len(items)
    if args.get("after"):
        start = _position(keys, _decode(args["after"]), ascending) + 1
    if args.get("before"):
        before = _decode(args["before"])
        stop = next((i for i in range(start, len(keys)) if keys[i] == before), len(keys))
    window = max(0, stop - start)
    if first is not None:
        chosen = range(start, start + min(first, window))
    else:
        chosen = range(stop - min(last, window), stop) if last else range(0)
    return {
        "nodes": [items[i] for i in chosen],
        "edges": lambda _info=None: [{"cursor": _encode(keys[i]), "node": items[i]} for i in chosen],
        "pageInfo": {
            "hasNextPage": first is not None and window > first,
            "hasPreviousPage": last is not None and window > len(chosen),
            "startCursor": _encode(keys[chosen[0]]) if chosen else None,
            "endCursor": _encode(keys[chosen[-1]]) if chosen else None,
        },
    }


def _position(keys: list[Any], key: Any, ascending: bool) -> int:
    """Where a cursor's key is: a binary search in ascending keys, a scan otherwise."""
    if ascending:
        try:
            index = bisect.bisect_left(keys, key)
        except TypeError:
            index = len(keys)
        if index < len(keys) and keys[index] == key:
            return index
    else:
        found = next((i for i, k in enumerate(keys) if k == key), None)
        if found is not None:
            return found
    raise GraphQLError("Invalid cursor for current pagination sort")


def whole(items: list[Any]) -> dict[str, Any]:
    """A nested connection as a bulk operation reads it: every node (Shopify pages it, not the query)."""
    return {
        "nodes": items,
        "edges": lambda _info=None: [{"cursor": _encode(i), "node": item} for i, item in enumerate(items)],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None},
    }


def connection(items: list[Any], whole_in_bulk: bool = False) -> Callable[..., dict[str, Any]]:
    """A nested connection field (positions as cursors); whole when a bulk operation reads it."""

    def resolve(_info: Any = None, **args: Any) -> dict[str, Any]:
        if whole_in_bulk and args.get("first") is None and args.get("last") is None:
            return whole(items)
        return page(items, list(range(len(items))), args)

    return resolve


def first_of(items: list[Any]) -> Callable[..., list[Any]]:
    """A list field with an optional ``first``."""

    def resolve(_info: Any = None, first: int | None = None, **_: Any) -> list[Any]:
        return items if first is None else items[:first]

    return resolve


class Views:
    """The simulated shop's REST-shaped records as the GraphQL schema names them."""

    def __init__(self, state: ShopifyState, *, bulk: bool = False) -> None:
        self.state = state
        self.bulk = bulk  # nested connections are read whole

    def address(self, rest: Mapping[str, Any] | None, owner: str) -> dict[str, Any] | None:
        if not rest:
            return None
        return {
            "id": gid("MailingAddress", f"{rest.get('id') or 0}?model_name={owner}"),
            "firstName": rest.get("first_name"),
            "lastName": rest.get("last_name"),
            "company": rest.get("company"),
            "address1": rest.get("address1"),
            "address2": rest.get("address2"),
            "city": rest.get("city"),
            "province": rest.get("province"),
            "provinceCode": rest.get("province_code"),
            "zip": rest.get("zip"),
            "country": rest.get("country"),
            "countryCodeV2": rest.get("country_code"),
            "phone": rest.get("phone"),
        }

    def customer(self, rest: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "__typename": "Customer",
            "id": gid("Customer", rest["id"]),
            "email": rest.get("email"),
            "firstName": rest.get("first_name"),
            "lastName": rest.get("last_name"),
            "phone": rest.get("phone"),
            "createdAt": rest["created_at"],
            "updatedAt": rest["updated_at"],
            "defaultAddress": self.address(rest.get("default_address"), "Customer"),
        }

    def transaction(self, rest: Mapping[str, Any], order: Mapping[str, Any]) -> dict[str, Any]:
        parent = next(
            (t for t in self.state.transactions.get(order["id"], []) if t["id"] == rest.get("parent_id")), None
        )
        return {
            "__typename": "OrderTransaction",
            "id": gid("OrderTransaction", rest["id"]),
            "kind": str(rest["kind"]).upper(),
            "status": str(rest["status"]).upper(),
            "gateway": rest.get("gateway"),
            "processedAt": rest.get("processed_at"),
            "createdAt": rest["created_at"],
            "authorizationCode": rest.get("authorization"),
            "amountSet": {
                "shopMoney": {"amount": rest["amount"], "currencyCode": order["currency"]},
                "presentmentMoney": {"amount": rest["amount"], "currencyCode": rest["currency"]},
            },
            "parentTransaction": self.transaction(parent, order) if parent else None,
        }

    def _applications(self, order: Mapping[str, Any]) -> list[dict[str, Any]]:
        types = {"discount_code": "DiscountCodeApplication", "manual": "ManualDiscountApplication"}
        types |= {"automatic": "AutomaticDiscountApplication", "script": "ScriptDiscountApplication"}
        return [
            {"__typename": types[application["type"]], "index": index, "code": application.get("code")}
            for index, application in enumerate(order.get("discount_applications") or ())
        ]

    def _allocations(self, items: Iterable[Mapping[str, Any]], order: Mapping[str, Any]) -> list[dict[str, Any]]:
        applications = self._applications(order)
        return [
            {
                "allocatedAmountSet": _bag(a["amount_set"]),
                "discountApplication": applications[a["discount_application_index"]],
            }
            for a in items
        ]

    @staticmethod
    def _taxes(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [{"title": t["title"], "rate": t.get("rate"), "priceSet": _bag(t["price_set"])} for t in items]

    def line_item(self, rest: Mapping[str, Any], order: Mapping[str, Any]) -> dict[str, Any]:
        variant = rest.get("variant_id")
        return {
            "__typename": "LineItem",
            "id": gid("LineItem", rest["id"]),
            "sku": rest.get("sku"),
            "name": rest.get("name"),
            "title": rest.get("title"),
            "quantity": rest["quantity"],
            "variant": {"id": gid("ProductVariant", variant), "legacyResourceId": variant} if variant else None,
            "originalUnitPriceSet": _bag(rest["price_set"]),
            "discountAllocations": self._allocations(rest.get("discount_allocations") or (), order),
            "taxLines": first_of(self._taxes(rest.get("tax_lines") or ())),
        }

    def shipping_line(self, rest: Mapping[str, Any], order: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": gid("ShippingLine", rest["id"]),
            "title": rest.get("title"),
            "code": rest.get("code"),
            "originalPriceSet": _bag(rest["price_set"]),
            "discountAllocations": self._allocations(rest.get("discount_allocations") or (), order),
            "taxLines": self._taxes(rest.get("tax_lines") or ()),
        }

    def refund(self, rest: Mapping[str, Any], order: Mapping[str, Any]) -> dict[str, Any]:
        """A refund as GraphQL reports it from 2024-10: shipping in ``refundShippingLines`` (with its tax, the
        tax of its ``shipping_refund`` adjustment), the adjustments only the refund discrepancies."""
        lines = {li["id"]: li for li in order["line_items"]}
        ships = {s["id"]: s for s in order["shipping_lines"]}
        shipping_refunds = [a for a in rest.get("order_adjustments") or () if a.get("kind") == "shipping_refund"]
        shipping = [
            {
                "__typename": "RefundShippingLine",
                "id": gid("RefundShippingLine", line["id"]),
                "shippingLine": self.shipping_line(ships[line["shipping_line_id"]], order),
                "subtotalAmountSet": _bag(line["subtotal_amount_set"]),
                "taxAmountSet": _amount_bag(
                    str(-Decimal(adjustment["tax_amount"])) if adjustment else "0.00", order["currency"]
                ),
            }
            for line, adjustment in zip(
                rest.get("refund_shipping_lines") or (),
                [*shipping_refunds, *[None] * len(rest.get("refund_shipping_lines") or ())],
                strict=False,
            )
        ]
        discrepancies = [
            {
                "__typename": "OrderAdjustment",
                "id": gid("OrderAdjustment", a["id"]),
                "reason": "REFUND_DISCREPANCY",
                "amountSet": _bag(a["amount_set"]),
                "taxAmountSet": _bag(a["tax_amount_set"]),
            }
            for a in rest.get("order_adjustments") or ()
            if a.get("kind") != "shipping_refund"
        ]
        return {
            "__typename": "Refund",
            "id": gid("Refund", rest["id"]),
            "legacyResourceId": rest["id"],
            "createdAt": rest["created_at"],
            "note": rest.get("note"),
            "order": lambda _info=None: self.order(order),
            "transactions": connection([self.transaction(t, order) for t in rest.get("transactions") or ()], self.bulk),
            "refundLineItems": connection(
                [
                    {
                        "lineItem": self.line_item(lines[item["line_item_id"]], order),
                        "quantity": item["quantity"],
                        "restockType": str(item.get("restock_type") or "no_restock").upper(),
                        "subtotalSet": _bag(item["subtotal_set"]),
                        "totalTaxSet": _bag(item["total_tax_set"]),
                    }
                    for item in rest.get("refund_line_items") or ()
                ],
                self.bulk,
            ),
            "refundShippingLines": connection(shipping, self.bulk),
            "orderAdjustments": connection(discrepancies, self.bulk),
        }

    def order(self, rest: Mapping[str, Any]) -> dict[str, Any]:
        currency = rest["currency"]
        buyer = rest.get("customer")
        current = self.state.customers.get(buyer["id"]) if buyer else None
        full = self.state.orders[rest["id"]]  # the refunds as the shop keeps them (with their shipping lines)
        transactions = self.state.transactions.get(rest["id"], [])
        return {
            "__typename": "Order",
            "id": gid("Order", rest["id"]),
            "legacyResourceId": rest["id"],
            "name": rest["name"],
            "email": rest.get("email"),
            "phone": rest.get("phone"),
            "createdAt": rest["created_at"],
            "updatedAt": rest["updated_at"],
            "processedAt": rest["processed_at"],
            "cancelledAt": rest.get("cancelled_at"),
            "closedAt": rest.get("closed_at"),
            "currencyCode": currency,
            "presentmentCurrencyCode": rest.get("presentment_currency") or currency,
            "displayFinancialStatus": str(rest["financial_status"]).upper() if rest.get("financial_status") else None,
            "taxesIncluded": rest["taxes_included"],
            "paymentGatewayNames": list(rest.get("payment_gateway_names") or ()),
            "discountCodes": [c["code"] for c in rest.get("discount_codes") or ()],
            "totalPriceSet": _bag(rest["total_price_set"]),
            "totalTaxSet": _bag(rest["total_tax_set"]),
            "totalOutstandingSet": _amount_bag(rest.get("total_outstanding"), currency),
            "totalTipReceivedSet": _amount_bag(rest.get("total_tip_received"), currency),
            "originalTotalDutiesSet": _bag(rest.get("original_total_duties_set")),
            "originalTotalAdditionalFeesSet": _bag(rest.get("original_total_additional_fees_set")),
            "customer": self.customer(current) if current else None,
            "billingAddress": self.address(rest.get("billing_address"), "Order"),
            "shippingAddress": self.address(rest.get("shipping_address"), "Order"),
            "lineItems": connection([self.line_item(li, rest) for li in rest["line_items"]], self.bulk),
            "shippingLines": connection([self.shipping_line(s, rest) for s in rest["shipping_lines"]], self.bulk),
            "refunds": first_of([self.refund(r, full) for r in full["refunds"]]),
            "transactions": first_of([self.transaction(t, rest) for t in transactions]),
        }

    def subscription(self, hook: Subscription) -> dict[str, Any]:
        return {
            "__typename": "WebhookSubscription",
            "id": gid("WebhookSubscription", hook.id),
            "topic": hook.topic.replace("/", "_").upper(),
            "uri": hook.address,
            "format": hook.format.upper(),
            "includeFields": list(hook.include_fields),
            "filter": hook.filter,
        }


# ------------------------------------------------------------------ search


_TERM = re.compile(r"""(?P<field>\w+):(?P<op>>=|<=|>|<)?(?P<value>'[^']*'|"[^"]*"|\S+)""")
_SEARCHABLE = {"updated_at", "created_at", "id"}


def search_filter(query: str | None) -> tuple[Callable[[Mapping[str, Any]], bool], list[dict[str, str]]]:
    """Shopify's search syntax for the terms the simulator knows; unknown terms are ignored with a warning."""
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    warnings: list[dict[str, str]] = []
    for match in _TERM.finditer(query or ""):
        name, op, raw = match["field"], match["op"] or ":", match["value"].strip("'\"")
        if name not in _SEARCHABLE:
            warnings.append({"field": name, "message": "Invalid search field for this query."})
            continue
        if name == "id":
            bound: Any = int(raw)
        else:
            bound = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            bound = bound.replace(tzinfo=UTC) if bound.tzinfo is None else bound.astimezone(UTC)

        def test(record: Mapping[str, Any], name: str = name, op: str = op, bound: Any = bound) -> bool:
            value = record["id"] if name == "id" else datetime.fromisoformat(record[name]).astimezone(UTC)
            return {
                ">=": value >= bound,
                "<=": value <= bound,
                ">": value > bound,
                "<": value < bound,
                ":": value == bound,
            }[op]

        tests.append(test)
    return (lambda record: all(t(record) for t in tests)), warnings


_SORTS = {"UPDATED_AT": "updated_at", "CREATED_AT": "created_at", "PROCESSED_AT": "processed_at", "ID": "id"}


def sorted_by(records: list[Mapping[str, Any]], sort_key: str) -> tuple[list[Mapping[str, Any]], list[Any]]:
    name = _SORTS.get(sort_key)
    if name is None:
        raise GraphQLError(f"The simulator does not sort by {sort_key}")

    def key(record: Mapping[str, Any]) -> list[Any]:
        if name == "id":
            return [record["id"]]
        return [datetime.fromisoformat(record[name]).astimezone(UTC).isoformat(), record["id"]]

    ordered = sorted(records, key=key)
    return ordered, [key(r) for r in ordered]


# ------------------------------------------------------------------ the root


class Root:
    """The ``QueryRoot`` and ``Mutation`` of one simulated shop (read under the state's lock)."""

    def __init__(self, state: ShopifyState) -> None:
        self.state = state
        self.views = Views(state)
        self.search: list[dict[str, Any]] = []

    def _listing(
        self, what: str, records: list[Mapping[str, Any]], args: Mapping[str, Any], default: str
    ) -> dict[str, Any]:
        """One page of ``records`` (the shop's own, read only) matching ``args["query"]``, in ``sortKey`` order."""
        chosen, keys = self._matching(what, records, args, default)
        return page(chosen, keys, args)

    def _matching(
        self, what: str, records: list[Mapping[str, Any]], args: Mapping[str, Any], default: str
    ) -> tuple[list[Mapping[str, Any]], list[Any]]:
        """``records`` matching ``args["query"]`` in ``sortKey`` order, with their sort keys. Kept between pages
        until the shop's records change (``ShopifyState.revision``), so paging through a large shop stays linear."""
        matches, warnings = search_filter(args.get("query"))
        if warnings:
            self.search.append({"path": [what], "query": args.get("query"), "warnings": warnings})
        key = (what, args.get("query"), args.get("sortKey") or default)
        stamp = (self.state.revision, len(records))
        kept = self.state.listings.get(key)
        if kept is None or kept[0] != stamp:
            chosen, keys = sorted_by([r for r in records if matches(r)], key[2])
            self.state.listings = {k: v for k, v in self.state.listings.items() if v[0] == stamp}
            self.state.listings[key] = kept = (stamp, chosen, keys)
        return kept[1], kept[2]

    def sorted_records(self, field: str, args: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """What a bulk operation's root connection (``orders`` or ``customers``) reads, in order."""
        if field == "orders":
            return self._matching("orders", list(self.state.orders.values()), args, "PROCESSED_AT")[0]
        if field == "customers":
            return self._matching("customers", list(self.state.customers.values()), args, "ID")[0]
        raise GraphQLError(f"The simulator runs bulk operations over orders and customers, not {field}")

    @staticmethod
    def _viewed(paged: dict[str, Any], view: Callable[[Mapping[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        paged["nodes"] = [view(r) for r in paged["nodes"]]
        return paged

    def _checked_order(self, record: Mapping[str, Any]) -> dict[str, Any]:
        rest = self.state.order_json(record["id"])
        check("order", [rest])
        return self.views.order(rest)

    def orders(self, _info: Any = None, **args: Any) -> dict[str, Any]:
        paged = self._listing("orders", list(self.state.orders.values()), args, "PROCESSED_AT")
        return self._viewed(paged, self._checked_order)

    def order(self, _info: Any = None, id: str = "") -> dict[str, Any] | None:
        oid = _legacy_or_none(id, "Order")
        if oid not in self.state.orders:
            return None
        record = self.state.order_json(oid)
        check("order", [record])
        return self.views.order(record)

    def refund(self, _info: Any = None, id: str = "") -> dict[str, Any] | None:
        rid = _legacy_or_none(id, "Refund")
        for order in self.state.orders.values():
            for refund in order["refunds"]:
                if refund["id"] == rid:
                    check("refund", [refund])
                    return self.views.refund(refund, order)
        return None

    def _checked_customer(self, record: Mapping[str, Any]) -> dict[str, Any]:
        check("customer", [record])
        return self.views.customer(record)

    def customers(self, _info: Any = None, **args: Any) -> dict[str, Any]:
        paged = self._listing("customers", list(self.state.customers.values()), args, "ID")
        return self._viewed(paged, self._checked_customer)

    def customer(self, _info: Any = None, id: str = "") -> dict[str, Any] | None:
        record = self.state.customers.get(_legacy_or_none(id, "Customer"))
        return self.views.customer(record) if record else None

    def node(self, _info: Any = None, id: str = "") -> dict[str, Any] | None:
        kind = id.removeprefix(GID).split("/", 1)[0]
        finders = {"Order": self.order, "Refund": self.refund, "Customer": self.customer}
        finders["BulkOperation"] = self.bulk_operation
        return finders[kind](id=id) if kind in finders else None

    def bulk_operation(self, _info: Any = None, id: str = "") -> dict[str, Any] | None:
        operation = self.state.bulk_operations.get(_legacy_or_none(id, "BulkOperation"))  # type: ignore[arg-type]
        return shopify_bulk.view(self.state, operation) if operation else None

    def currentBulkOperation(self, _info: Any = None, type: str = "QUERY") -> dict[str, Any] | None:
        """The app's most recent bulk operation of the type (the simulator runs queries only)."""
        if type != "QUERY" or not self.state.bulk_operations:
            return None
        return shopify_bulk.view(self.state, self.state.bulk_operations[max(self.state.bulk_operations)])

    def shop(self, _info: Any = None) -> dict[str, Any]:
        return {
            "id": gid("Shop", 1),
            "name": self.state.shop_domain.split(".", 1)[0],
            "myshopifyDomain": self.state.shop_domain,
            "currencyCode": self.state.currency,
        }

    def webhookSubscriptions(self, _info: Any = None, **args: Any) -> dict[str, Any]:
        hooks = sorted(self.state.subscriptions.values(), key=lambda h: h.id)
        return self._viewed(page(hooks, [h.id for h in hooks], args), self.views.subscription)

    # ---------------------------------------------------------------- mutations

    def bulkOperationRunQuery(self, _info: Any = None, query: str = "", groupObjects: bool = True) -> dict[str, Any]:
        return shopify_bulk.submit(self.state, query, groupObjects, schema())

    def bulkOperationCancel(self, _info: Any = None, id: str = "") -> dict[str, Any]:
        return shopify_bulk.cancel(self.state, id)

    def webhookSubscriptionCreate(
        self,
        _info: Any = None,
        topic: str = "",
        webhookSubscription: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        given = dict(webhookSubscription or {})
        rest_topic = _rest_topic(topic)
        problems = self._invalid(given, rest_topic)
        if not problems and any(
            h.topic == rest_topic and h.address == given["uri"] for h in self.state.subscriptions.values()
        ):
            problems.append(
                {"field": ["webhookSubscription", "uri"], "message": "Address for this topic has already been taken"}
            )
        if problems:
            return {"webhookSubscription": None, "userErrors": problems}
        hook = self.state.create_subscription(rest_topic, given["uri"])
        self._apply(hook, given)
        return {"webhookSubscription": self.views.subscription(hook), "userErrors": []}

    def webhookSubscriptionUpdate(
        self,
        _info: Any = None,
        id: str = "",
        webhookSubscription: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        hook = self.state.subscriptions.get(_legacy_or_none(id, "WebhookSubscription"))
        if hook is None:
            return {
                "webhookSubscription": None,
                "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}],
            }
        given = dict(webhookSubscription or {})
        problems = self._invalid({"uri": hook.address, **given}, hook.topic)
        if problems:
            return {"webhookSubscription": None, "userErrors": problems}
        self._apply(hook, given)
        hook.updated_at = self.state.iso(self.state.now())
        return {"webhookSubscription": self.views.subscription(hook), "userErrors": []}

    def _invalid(self, given: Mapping[str, Any], rest_topic: str) -> list[dict[str, Any]]:
        from sandbox.shopify import TOPICS

        problems = []
        if rest_topic not in TOPICS:
            problems.append({"field": ["topic"], "message": "Invalid topic specified."})
        uri = str(given.get("uri") or "")
        if is_eventbridge_address(uri):
            refused = address_problem(uri, self.state.app_id)
            if refused:
                problems.append({"field": ["webhookSubscription", "uri"], "message": f"Address {refused}"})
        elif not uri.startswith(("https://", "http://")):
            problems.append({"field": ["webhookSubscription", "uri"], "message": "Address is invalid"})
        return problems

    @staticmethod
    def _apply(hook: Subscription, given: Mapping[str, Any]) -> None:
        if given.get("uri"):
            hook.address = given["uri"]
        if given.get("format"):
            hook.format = str(given["format"]).lower()
        if given.get("includeFields") is not None:
            hook.include_fields = list(given["includeFields"])
        if "filter" in given:
            hook.filter = given["filter"] or None


class BulkChunk(Root):
    """The root a bulk operation's query runs against, one chunk of its root connection's records at a time:
    the connection gives them all (Shopify pages a bulk query, not the query), nested connections whole."""

    def __init__(self, state: ShopifyState, field: str, records: list[Mapping[str, Any]]) -> None:
        super().__init__(state)
        self.views = Views(state, bulk=True)
        self.records = records
        self.field = field

    def _chunk(self, view: Callable[[Mapping[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        return whole([view(r) for r in self.records])

    def orders(self, _info: Any = None, **args: Any) -> dict[str, Any]:
        return self._chunk(self._checked_order)

    def customers(self, _info: Any = None, **args: Any) -> dict[str, Any]:
        return self._chunk(self._checked_customer)


def _legacy_or_none(value: str, resource: str) -> int | None:
    if not str(value).startswith(f"{GID}{resource}/"):
        return None
    try:
        return _legacy(value)
    except ValueError:
        return None


def _rest_topic(topic: str) -> str:
    """``ORDERS_CREATE`` → ``orders/create``, ``BULK_OPERATIONS_FINISH`` → ``bulk_operations/finish``."""
    from sandbox.shopify import TOPICS

    known = {t.replace("/", "_").upper(): t for t in TOPICS}
    resource, _, event = str(topic).lower().partition("_")
    return known.get(str(topic), f"{resource}/{event}")


# ------------------------------------------------------------------ one request


def run(state: ShopifyState, body: Any) -> dict[str, Any]:
    """Answer one ``POST graphql.json`` body: the ``data`` / ``errors`` / ``extensions`` Shopify would."""
    rules = cost_rules()
    if not isinstance(body, Mapping) or not isinstance(body.get("query"), str):
        return {"errors": [{"message": "Parameter Missing or Invalid", "extensions": {"code": "BAD_REQUEST"}}]}
    variables = body.get("variables") or {}
    try:
        document = parse(body["query"])
    except GraphQLError as exc:
        return {"errors": [exc.formatted]}
    problems = validate(schema(), document)
    if problems:
        return {"errors": [p.formatted for p in problems]}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    wanted = body.get("operationName")
    operation = next((o for o in operations if not wanted or (o.name and o.name.value == wanted)), None)
    if operation is None:
        return {"errors": [{"message": "No operation given"}]}
    requested = requested_cost(document, operation, variables)
    with state.lock:
        bucket = state.cost_bucket
        bucket.refill()
        if requested > state.max_query_cost:
            state.graphql_costs.append((_name(operation), requested, None))
            return {
                "errors": [
                    {
                        "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                        f"({state.max_query_cost}).",
                        "extensions": {
                            "code": rules["errors"]["max_cost_exceeded"],
                            "cost": requested,
                            "maxCost": state.max_query_cost,
                        },
                    }
                ]
            }
        if state.force_throttle > 0 or requested > bucket.available:
            state.force_throttle = max(0, state.force_throttle - 1)
            state.graphql_costs.append((_name(operation), requested, None))
            return {
                "errors": [{"message": "Throttled", "extensions": {"code": rules["errors"]["throttled"]}}],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": requested,
                        "actualQueryCost": None,
                        "throttleStatus": bucket.status(),
                    }
                },
            }
        bucket.available -= requested
        root = Root(state)
        result = execute(schema(), document, root_value=root, variable_values=variables, operation_name=wanted)
        for error in result.errors or ():
            if isinstance(error.original_error, ContractViolation):
                raise error.original_error  # the simulator drifted from Shopify's material: a 500, never an answer
        actual = min(requested, actual_cost(document, operation, variables, result.data)) if result.data else 0
        bucket.available = min(bucket.maximum, bucket.available + requested - actual)
        state.graphql_costs.append((_name(operation), requested, actual))
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [e.formatted for e in result.errors]
        extensions: dict[str, Any] = {
            "cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": bucket.status()}
        }
        if root.search:
            extensions["search"] = root.search
        answer["extensions"] = extensions
        return answer


def _name(operation: OperationDefinitionNode) -> str:
    return operation.name.value if operation.name else "anonymous"
