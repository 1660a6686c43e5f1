"""GraphQL Admin API nodes as the REST-shaped payloads Shopify's webhooks deliver.

Webhook deliveries are still the REST resource (``X-Shopify-API-Version``), so the poller and the
poster's fetches turn what GraphQL answers into that same shape and one mapper (``mapping``) reads
both: a webhook and a poll of the same record give the same canonical record and the same version.

- Ids: GraphQL's global ids (``gid://shopify/Order/450789469``) become the numeric ids the webhooks
  carry (the ``legacyResourceId``).
- Money: the shop currency (``shopMoney``) wherever the REST resource gives a plain amount or a
  ``*_set`` MoneyBag's ``shop_money``; a transaction's ``amount`` / ``currency`` are the presentment
  money (the currency the customer paid in), as the REST transaction's are. Amounts stay strings
  (GraphQL's ``Decimal`` "10.0" is written "10.00") and become ``Decimal`` in the mapper only.
- Enumerations: ``SALE`` / ``SUCCESS`` / ``PARTIALLY_REFUNDED`` ... as REST spells them (lower case).
- Refunds: refunded shipping is in ``refund_shipping_lines`` (with its tax) and the order adjustments
  are the refund discrepancies only, as Shopify reports both from 2024-10 on; the adjustments carry the
  amounts GraphQL gives, taken as signed like REST's ``order_adjustments`` (the same records) unless the
  profile says otherwise (``graphql_adjustment_amounts``).
- Discount codes: GraphQL lists the codes; a single code's amount is every allocation of the order (REST's
  ``discount_codes[].amount`` for it is the order's discount), several codes' what the lines and shipping
  lines allocate to each code's discount application.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from mlconnector.errors import ReviewError

GID_PREFIX = "gid://shopify/"
_CENTS = Decimal("0.01")


def legacy_id(gid: Any) -> int:
    """``gid://shopify/Order/450789469`` (or a bare number) → 450789469."""
    text = str(gid or "")
    tail = text.rsplit("/", 1)[-1].split("?", 1)[0] if text.startswith(GID_PREFIX) else text
    if not tail.isdigit():
        raise ReviewError(f"Shopify id {text!r} is not a global id of a numbered record")
    return int(tail)


def gid(resource: str, numeric: int | str) -> str:
    """The global id of a REST-numbered record (``Order``, ``Refund``, ``Customer``, ...)."""
    return f"{GID_PREFIX}{resource}/{int(numeric)}"


def amount(value: Any) -> str:
    """A GraphQL ``Decimal`` ("10.0", "3.3300") as REST writes money: at least two decimals."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ReviewError(f"Shopify amount {value!r} is not a decimal") from None
    exponent = number.as_tuple().exponent
    return str(number.quantize(_CENTS) if isinstance(exponent, int) and exponent > -2 else number)


def _money(bag: Mapping[str, Any] | None, side: str = "shopMoney") -> Mapping[str, Any] | None:
    return (bag or {}).get(side)


def shop_amount(bag: Mapping[str, Any] | None) -> str | None:
    money = _money(bag)
    return amount(money["amount"]) if money else None


def money_set(bag: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A GraphQL MoneyBag as a REST ``*_set``: ``shop_money`` (and ``presentment_money`` when asked for)."""
    if not bag:
        return None
    out = {}
    for side, key in (("shopMoney", "shop_money"), ("presentmentMoney", "presentment_money")):
        money = bag.get(side)
        if money:
            out[key] = {"amount": amount(money["amount"]), "currency_code": money["currencyCode"]}
    return out


def _lower(value: Any) -> str | None:
    return str(value).lower() if value is not None else None


def nodes(connection: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return list((connection or {}).get("nodes") or ())


def address(node: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not node:
        return None
    return {
        "first_name": node.get("firstName"),
        "last_name": node.get("lastName"),
        "company": node.get("company"),
        "address1": node.get("address1"),
        "address2": node.get("address2"),
        "city": node.get("city"),
        "province": node.get("province"),
        "province_code": node.get("provinceCode"),
        "zip": node.get("zip"),
        "country": node.get("country"),
        "country_code": node.get("countryCodeV2"),
        "phone": node.get("phone"),
    }


def _taxes(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "title": tax.get("title"),
            "rate": tax.get("rate"),
            "price": shop_amount(tax.get("priceSet")),
            "price_set": money_set(tax.get("priceSet")),
        }
        for tax in items
    ]


def _allocations(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "amount": shop_amount(item.get("allocatedAmountSet")),
            "amount_set": money_set(item.get("allocatedAmountSet")),
            "discount_application_index": (item.get("discountApplication") or {}).get("index"),
        }
        for item in items
    ]


def _discount_codes(order: Mapping[str, Any], codes: list[str]) -> list[dict[str, Any]]:
    """REST's ``discount_codes``: one code takes the order's whole discount (as REST reports it); several
    take what is allocated to each code's application."""
    allocated: dict[str | None, Decimal] = {}
    for item in [*nodes(order.get("lineItems")), *nodes(order.get("shippingLines"))]:
        for allocation in item.get("discountAllocations") or ():
            code = (allocation.get("discountApplication") or {}).get("code")
            share = Decimal(shop_amount(allocation.get("allocatedAmountSet")) or "0")
            allocated[code] = allocated.get(code, Decimal(0)) + share
    if len(codes) == 1:
        return [{"code": codes[0], "amount": amount(sum(allocated.values(), Decimal(0)))}]
    return [{"code": code, "amount": amount(allocated.get(code, Decimal(0)))} for code in codes]


def transaction(node: Mapping[str, Any], order_id: int) -> dict[str, Any]:
    """An ``OrderTransaction`` as ``orders/{id}/transactions.json`` lists it."""
    presentment = _money(node.get("amountSet"), "presentmentMoney") or _money(node.get("amountSet")) or {}
    parent = node.get("parentTransaction")
    return {
        "id": legacy_id(node["id"]),
        "order_id": order_id,
        "kind": _lower(node.get("kind")),
        "status": _lower(node.get("status")),
        "gateway": node.get("gateway"),
        "amount": amount(presentment["amount"]) if presentment else None,
        "currency": presentment.get("currencyCode"),
        "parent_id": legacy_id(parent["id"]) if parent else None,
        "authorization": node.get("authorizationCode"),
        "processed_at": node.get("processedAt"),
        "created_at": node.get("createdAt"),
    }


def customer(node: Mapping[str, Any]) -> dict[str, Any]:
    """A ``Customer`` as the ``customers/*`` webhooks deliver it (the fields the mapper reads)."""
    default = address(node.get("defaultAddress"))
    return {
        "id": legacy_id(node["id"]),
        "email": node.get("email"),
        "first_name": node.get("firstName"),
        "last_name": node.get("lastName"),
        "phone": node.get("phone"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "default_address": default,
        "addresses": [default] if default else [],
    }


def _negated(bag: dict[str, Any] | None) -> dict[str, Any] | None:
    if not bag:
        return bag
    return {side: {**money, "amount": amount(-Decimal(money["amount"]))} for side, money in bag.items()}


def refund(node: Mapping[str, Any], order_id: int, *, adjustments_negated: bool = False) -> dict[str, Any]:
    """A ``Refund`` as the ``refunds/create`` webhook delivers it (summaries carry only their transactions).

    ``adjustments_negated``: GraphQL signs the order adjustments the other way round from REST (a profile
    setting: no published GraphQL example shows a refund discrepancy).
    """
    sign = _negated if adjustments_negated else (lambda bag: bag)
    return {
        "id": legacy_id(node["id"]),
        "order_id": order_id,
        "created_at": node.get("createdAt"),
        "note": node.get("note"),
        "transactions": [transaction(t, order_id) for t in nodes(node.get("transactions"))],
        "refund_line_items": [
            {
                "line_item_id": legacy_id(item["lineItem"]["id"]),
                "quantity": item.get("quantity"),
                "restock_type": _lower(item.get("restockType")),
                "subtotal_set": money_set(item.get("subtotalSet")),
                "total_tax_set": money_set(item.get("totalTaxSet")),
            }
            for item in nodes(node.get("refundLineItems"))
        ],
        "refund_shipping_lines": [
            {
                "id": legacy_id(line["id"]),
                "shipping_line_id": legacy_id(line["shippingLine"]["id"]) if line.get("shippingLine") else None,
                "subtotal_amount_set": money_set(line.get("subtotalAmountSet")),
                "tax_amount_set": money_set(line.get("taxAmountSet")),
            }
            for line in nodes(node.get("refundShippingLines"))
        ],
        "order_adjustments": [
            {
                "id": legacy_id(adjustment["id"]),
                "order_id": order_id,
                "refund_id": legacy_id(node["id"]),
                "reason": _lower(adjustment.get("reason")),
                "amount_set": sign(money_set(adjustment.get("amountSet"))),
                "tax_amount_set": sign(money_set(adjustment.get("taxAmountSet"))),
            }
            for adjustment in nodes(node.get("orderAdjustments"))
        ],
    }


def order(node: Mapping[str, Any], transactions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An ``Order`` as the ``orders/*`` webhooks deliver it; ``transactions`` (REST-shaped) merged when given."""
    order_id = legacy_id(node["id"])
    buyer = node.get("customer")
    out: dict[str, Any] = {
        "id": order_id,
        "admin_graphql_api_id": node["id"],
        "name": node.get("name"),
        "email": node.get("email"),
        "phone": node.get("phone"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "processed_at": node.get("processedAt"),
        "cancelled_at": node.get("cancelledAt"),
        "closed_at": node.get("closedAt"),
        "currency": node.get("currencyCode"),
        "presentment_currency": node.get("presentmentCurrencyCode"),
        "financial_status": _lower(node.get("displayFinancialStatus")),
        "taxes_included": bool(node.get("taxesIncluded")),
        "payment_gateway_names": list(node.get("paymentGatewayNames") or ()),
        "total_price": shop_amount(node.get("totalPriceSet")),
        "total_tax": shop_amount(node.get("totalTaxSet")),
        "total_outstanding": shop_amount(node.get("totalOutstandingSet")),
        "total_tip_received": shop_amount(node.get("totalTipReceivedSet")),
        "original_total_duties_set": money_set(node.get("originalTotalDutiesSet")),
        "original_total_additional_fees_set": money_set(node.get("originalTotalAdditionalFeesSet")),
        "discount_codes": _discount_codes(node, list(node.get("discountCodes") or ())),
        "customer": (
            {
                "id": legacy_id(buyer["id"]),
                "email": buyer.get("email"),
                "first_name": buyer.get("firstName"),
                "last_name": buyer.get("lastName"),
                "phone": buyer.get("phone"),
                "updated_at": buyer.get("updatedAt"),
                "default_address": address(buyer.get("defaultAddress")),
            }
            if buyer
            else None
        ),
        "billing_address": address(node.get("billingAddress")),
        "shipping_address": address(node.get("shippingAddress")),
        "line_items": [
            {
                "id": legacy_id(item["id"]),
                "sku": item.get("sku"),
                "name": item.get("name"),
                "title": item.get("title"),
                "quantity": item.get("quantity"),
                "variant_id": legacy_id(item["variant"]["legacyResourceId"]) if item.get("variant") else None,
                "price": shop_amount(item.get("originalUnitPriceSet")),
                "price_set": money_set(item.get("originalUnitPriceSet")),
                "discount_allocations": _allocations(item.get("discountAllocations") or ()),
                "tax_lines": _taxes(item.get("taxLines") or ()),
            }
            for item in nodes(node.get("lineItems"))
        ],
        "shipping_lines": [
            {
                "id": legacy_id(line["id"]) if line.get("id") else None,
                "title": line.get("title"),
                "code": line.get("code"),
                "price": shop_amount(line.get("originalPriceSet")),
                "price_set": money_set(line.get("originalPriceSet")),
                "discount_allocations": _allocations(line.get("discountAllocations") or ()),
                "tax_lines": _taxes(line.get("taxLines") or ()),
            }
            for line in nodes(node.get("shippingLines"))
        ],
        "refunds": [refund(r, order_id) for r in node.get("refunds") or ()],
    }
    if transactions is not None:
        out["transactions"] = transactions
    return out
