"""The stores' published examples (tests/contracts/<store>/), assembled as each store's adapter reads them.

Each ``PublishedOrder`` is one documented order with the context its adapter adds before mapping, and
the documented refunds of it, each with the context the adapter adds to a refund:

* WooCommerce: every order example, its refunds (the ones it lists, from the refunds examples) in the
  order they were made, each with ``refund_in_order`` (WooCommerce's refund names neither order nor
  currency);
* Shopify: every order example, with its transactions where Shopify's examples give them; each
  refund example of the order is a separate documented case (they are alternatives, not a history).
  The adapter checks a refund against the order's transactions, so a refund of an order whose
  transactions Shopify does not document (duties) is left out here; test_shopify_mapping maps it;
* BigCommerce: every combined fetch example (order, products, taxes, transactions, refunds).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from mlconnector.sources.woocommerce.mapping import refund_in_order
from sandbox.contracts import CONTRACTS


@dataclass(frozen=True)
class PublishedOrder:
    name: str
    payload: dict[str, Any]
    refunds: tuple[tuple[str, dict[str, Any]], ...] = ()
    #: True: the refunds were made one after the other; False: each is a separate example against the order.
    in_turn: bool = True


def _json(store: str, name: str) -> Any:
    return json.loads((CONTRACTS / store / name).read_text(encoding="utf-8"))


def _unwrapped(store: str, name: str) -> Any:
    (value,) = _json(store, name).values()  # Shopify's examples are wrapped: {"order": {...}}
    return value


def woocommerce_orders() -> list[PublishedOrder]:
    refunds = {
        r["id"]: r
        for path in sorted((CONTRACTS / "woocommerce").glob("*-refunds.json"))
        for r in _json("woocommerce", path.name)
    }
    out = []
    for path in sorted((CONTRACTS / "woocommerce").glob("order-*.json")):
        if path.name.endswith(("-refunds.json", ".schema.json")):
            continue
        order = _json("woocommerce", path.name)
        made = sorted((refunds[r["id"]] for r in order.get("refunds") or ()), key=lambda r: r["date_created_gmt"])
        out.append(
            PublishedOrder(path.stem, order, tuple((f"refund {r['id']}", refund_in_order(r, order)) for r in made))
        )
    return out


def woocommerce_customers() -> list[tuple[str, dict[str, Any]]]:
    return [(f"customer {c['id']}", c) for c in _json("woocommerce", "customers.json")]


#: Shopify order example → (its transactions example, its refund examples).
_SHOPIFY = {
    "order.json": (
        "order-transactions.json",
        ("refund.json", "refund-shipping.json", "refund-shipping-2024-04.json", "refund-amount-only.json"),
    ),
    "order-presentment-currency.json": (
        "order-transactions-presentment-currency.json",
        ("refund-presentment-currency.json",),
    ),
    "order-duties.json": (None, ()),
    "order-eur.json": (None, ()),
    "order-percentage-discount.json": (None, ()),
    "order-two-tax-rates.json": (None, ()),
}


def shopify_orders() -> list[PublishedOrder]:
    out = []
    for name, (transactions_name, refund_names) in _SHOPIFY.items():
        order = _unwrapped("shopify", name)
        transactions = _unwrapped("shopify", transactions_name) if transactions_name else None
        if transactions is not None:
            order["transactions"] = transactions
        context = {"currency": order["currency"], "taxes_included": order["taxes_included"]}
        context["order_transactions"] = transactions
        refunds = tuple(
            (n.removesuffix(".json"), {**_unwrapped("shopify", n), **copy.deepcopy(context)}) for n in refund_names
        )
        out.append(PublishedOrder(name.removesuffix(".json"), order, refunds, in_turn=False))
    return out


def shopify_customers() -> list[tuple[str, dict[str, Any]]]:
    return [("customer", _unwrapped("shopify", "customer.json"))]


def bigcommerce_orders() -> list[PublishedOrder]:
    out = []
    for path in sorted((CONTRACTS / "bigcommerce" / "examples").glob("*.json")):
        bundle = _json("bigcommerce", f"examples/{path.name}")
        if "order" not in bundle:
            continue
        parts = {"order": bundle["order"], "products": bundle["products"], "taxes": bundle["taxes"]}
        refunds = tuple((f"refund {r['id']}", {**parts, "refund": r}) for r in bundle.get("refunds") or ())
        out.append(PublishedOrder(path.stem, bundle, refunds))
    return out


def bigcommerce_customers() -> list[tuple[str, dict[str, Any]]]:
    return [("customer", _json("bigcommerce", "examples/customer.json"))]


ORDERS = {"woocommerce": woocommerce_orders, "shopify": shopify_orders, "bigcommerce": bigcommerce_orders}
CUSTOMERS = {"woocommerce": woocommerce_customers, "shopify": shopify_customers, "bigcommerce": bigcommerce_customers}
