"""What the Shopify simulator may send, read from Shopify's published material (tests/contracts/shopify/).

The simulator checks every order, refund, transaction and customer it serves and every webhook it
delivers against this before it goes out, so it cannot drift from what Shopify sends:

- **Fields**: every field, at every depth, is one Shopify's examples carry, with a JSON type they
  show (a money string with two decimals where they use one; ``null`` where they show ``null`` or an
  object); a list holds elements only where an example shows an element. The fields the adapter
  reads are present.
- **Refund money**: a shipping refund is reported as Shopify's 2025-10 example reports it, in
  ``refund_shipping_lines`` and once more as ``order_adjustments`` of kind ``shipping_refund``, for the
  same money, while the refund's transactions carry the whole amount once.
- **Deliveries**: the headers Shopify's own validator requires, non-empty, and no ``X-Shopify-*``
  header beyond those it documents.

It never imports the adapter (``mlconnector``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import cache
from typing import Any

from sandbox.contracts import contract_json

VENDOR = "shopify"
EXAMPLES = {
    "order": (
        "order.json",
        "order-percentage-discount.json",
        "order-two-tax-rates.json",
        "order-eur.json",
        "order-duties.json",
        "order-presentment-currency.json",
    ),
    # the 2025-10 shape: the version the simulator serves (refund-shipping-2024-04.json is the older one)
    "refund": ("refund.json", "refund-shipping.json", "refund-amount-only.json", "refund-duties.json"),
    "transaction": ("order-transactions.json", "transaction-capture-in-full.json"),
    "customer": ("customer.json",),
    "bulk_operation": ("bulk-operations/finish-webhook.json",),
}
#: What the Shopify adapter reads of each resource: the simulator must always send these.
REQUIRED = {
    "order": (
        "id",
        "name",
        "email",
        "created_at",
        "updated_at",
        "currency",
        "financial_status",
        "taxes_included",
        "total_price",
        "total_tax",
        "total_outstanding",
        "line_items",
        "shipping_lines",
        "discount_codes",
        "payment_gateway_names",
        "refunds",
    ),
    "refund": ("id", "order_id", "created_at", "refund_line_items", "refund_shipping_lines", "order_adjustments"),
    "transaction": ("id", "order_id", "kind", "status", "amount", "currency", "parent_id", "gateway"),
    "customer": ("id", "email", "updated_at", "addresses", "default_address"),
    "bulk_operation": ("admin_graphql_api_id", "completed_at", "created_at", "error_code", "status", "type"),
}
TOPIC_KINDS = {"orders": "order", "refunds": "refund", "customers": "customer", "bulk_operations": "bulk_operation"}
_MONEY = re.compile(r"^-?\d+\.\d{2}$")
_NUMBER = "number"


class ContractViolation(AssertionError):
    """The simulator was about to send something Shopify's published material does not show."""


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return _NUMBER
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class Shape:
    """The union of what the examples show at one place in a resource.

    ``lists`` (shared by all the shapes) holds, per field name, the elements seen in any list of that
    name, so a list that is empty in every example at one place (a shipping line's ``tax_lines``, an
    order's refunds' ``order_adjustments``) is checked against the same-named lists elsewhere (a line
    item's ``tax_lines``, a refund's ``order_adjustments``).
    """

    def __init__(self, lists: dict[str, Shape] | None = None) -> None:
        self.kinds: set[str] = set()
        self.fields: dict[str, Shape] = {}
        self.element: Shape | None = None
        self.money = True  # every string seen here was a two-decimal amount
        self.lists = lists if lists is not None else {}

    def learn(self, value: Any, name: str = "") -> None:
        kind = _kind_of(value)
        self.kinds.add(kind)
        if kind == "object":
            for field, item in value.items():
                self.fields.setdefault(field, Shape(self.lists)).learn(item, field)
        elif kind == "array":
            for item in value:
                if self.element is None:
                    self.element = Shape(self.lists)
                self.element.learn(item, name)
                self.lists.setdefault(name, Shape(self.lists)).learn(item, name)
        elif kind == "string":
            self.money = self.money and bool(_MONEY.match(value))

    def problems(self, value: Any, path: str, name: str = "") -> Iterable[str]:
        """What in ``value`` the examples do not show. ``null`` is always allowed (Shopify's fields are
        nullable), and where the examples show only ``null`` the type is not known, so anything is."""
        kind = _kind_of(value)
        known = self.kinds - {"null"}
        if kind == "null" or not known:
            return
        if kind not in known:
            yield f"{path} is {kind}; Shopify's examples show {' or '.join(sorted(known))}"
            return
        if kind == "object":
            for field, item in value.items():
                shape = self.fields.get(field)
                if shape is None:
                    yield f"{path}.{field} is not a field of Shopify's examples"
                else:
                    yield from shape.problems(item, f"{path}.{field}", field)
        elif kind == "array" and value:
            element = self.element or self.lists.get(name)
            if element is None:
                yield f"{path} has elements; Shopify's examples never show one in a {name} list"
            else:
                for index, item in enumerate(value):
                    yield from element.problems(item, f"{path}[{index}]", name)
        elif kind == "string" and self.money and not _MONEY.match(value):
            yield f"{path} is {value!r}; Shopify sends this amount as a string with two decimals"


@cache
def _shapes() -> dict[str, Shape]:
    lists: dict[str, Shape] = {}  # one resource's list elements serve the same-named lists of the others
    shapes = {kind: Shape(lists) for kind in EXAMPLES}
    for kind, names in EXAMPLES.items():
        for name in names:
            (body,) = contract_json(VENDOR, name).values()
            for record in body if isinstance(body, list) else [body]:
                shapes[kind].learn(record)
    return shapes


def shape(kind: str) -> Shape:
    return _shapes()[kind]


def problems(kind: str, record: Mapping[str, Any]) -> list[str]:
    """What in ``record`` (an order, refund, transaction or customer) Shopify's material does not show."""
    found = list(shape(kind).problems(record, kind))
    found += [f"{kind}.{name} is missing" for name in REQUIRED[kind] if name not in record]
    if kind == "order":  # refunds inside an order: the order example's shape, shipping as adjustments only
        found += [p for refund in record.get("refunds") or () for p in _refund_money(refund, embedded=True)]
    if kind == "refund":
        found += _refund_money(record, embedded=False)
    return found


def _money(bag: Mapping[str, Any] | None) -> Decimal:
    return Decimal(((bag or {}).get("shop_money") or {}).get("amount") or "0")


def _refund_money(refund: Mapping[str, Any], *, embedded: bool) -> list[str]:
    """A shipping refund shows as Shopify's examples show it: as ``shipping_refund`` adjustments always
    and, outside an order (refund-shipping.json), as ``refund_shipping_lines`` too, their subtotal the
    adjustments' amount with or without its tax; and the transactions carry all the money once."""
    refund_id = refund.get("id")
    lines = refund.get("refund_shipping_lines") or ()
    adjustments = [a for a in refund.get("order_adjustments") or () if a.get("kind") == "shipping_refund"]
    found = []
    if lines and not adjustments:
        found.append(f"refund {refund_id}: refund_shipping_lines without their shipping_refund adjustment")
    if adjustments and not lines and not embedded:
        found.append(f"refund {refund_id}: a shipping_refund adjustment without refund_shipping_lines")
    amount = -sum((_money(a.get("amount_set")) for a in adjustments), Decimal(0))
    tax = -sum((_money(a.get("tax_amount_set")) for a in adjustments), Decimal(0))
    subtotals = sum((_money(line.get("subtotal_amount_set")) for line in lines), Decimal(0))
    if lines and subtotals not in (amount, amount + tax):
        found.append(f"refund {refund_id}: refund_shipping_lines {subtotals} != shipping_refund {amount} + {tax} tax")
    parents = [t.get("parent_id") for t in refund.get("transactions") or () if t.get("kind") == "refund"]
    if len(parents) != len(set(parents)):
        found.append(f"refund {refund_id}: more than one transaction against one parent")
    return found


def check(kind: str, records: Iterable[Mapping[str, Any]]) -> None:
    """Raise ``ContractViolation`` naming every difference, for any of ``records``."""
    found = [p for record in records for p in problems(kind, record)]
    if found:
        raise ContractViolation("the Shopify simulator drifted from Shopify's material: " + "; ".join(found[:10]))


@cache
def _header_names() -> tuple[tuple[str, ...], frozenset[str]]:
    documented = contract_json(VENDOR, "webhook-headers.json")["webhooks"]
    required = tuple(documented["required"])
    return required, frozenset(required) | frozenset(documented["optional"])


def check_delivery(headers: Mapping[str, str], topic: str, payload: Mapping[str, Any]) -> None:
    """A webhook delivery: Shopify's headers as its validator names them, and a body of the topic's kind."""
    required, documented = _header_names()
    found = [f"delivery lacks {name}" for name in required if not str(headers.get(name) or "").strip()]
    found += [
        f"delivery sends {name}, which Shopify does not document"
        for name in headers
        if name.lower().startswith("x-shopify-") and name not in documented
    ]
    if headers.get("X-Shopify-Topic") != topic:
        found.append(f"X-Shopify-Topic {headers.get('X-Shopify-Topic')!r} is not the delivered topic {topic!r}")
    found += problems(TOPIC_KINDS[topic.partition("/")[0]], payload)
    if found:
        raise ContractViolation("the Shopify simulator drifted from Shopify's material: " + "; ".join(found[:10]))
