"""WooCommerce REST payloads → the canonical model (the "mapper").

WooCommerce stores line, shipping and fee totals tax-exclusive even when the store enters prices
tax-inclusive (``prices_include_tax`` only says how prices were entered), so its amounts map onto
the canonical tax-exclusive lines directly. Money arrives as JSON strings and is parsed straight
into ``Decimal``; the few JSON numbers (quantity, rate_percent, gift-card amounts) go through
``str`` first so no binary float value ever becomes an amount.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from mlconnector.errors import ReviewError
from mlconnector.models import (
    ZERO,
    Customer,
    DiscountLine,
    FeeLine,
    Order,
    OrderLine,
    Payment,
    PaymentKind,
    Refund,
    RefundLine,
    ShippingLine,
    TaxLine,
)
from mlconnector.sources.addresses import AddressFields
from mlconnector.sources.amounts import parse_amount
from mlconnector.sources.woocommerce.webhooks import gmt, modified_at

CATEGORY_META_KEYS = ("_categories", "categories", "_product_categories", "product_categories")
#: ``wc_get_is_paid_statuses()`` without a store's ``woocommerce_order_is_paid_statuses`` filter.
DEFAULT_PAID_STATUSES = ("processing", "completed")
#: ``wc_get_is_pending_statuses()`` and ``failed``: statuses that say the order has not been paid.
AWAITING_PAYMENT = frozenset({"pending", "failed"})


def money(value: Any, field: str = "amount") -> Decimal:
    """A WooCommerce amount (string, or int/float for the few numeric fields) as Decimal; '' and None are 0."""
    return parse_amount(value, field, "WooCommerce")


_address = AddressFields(
    line1=("address_1",),
    line2=("address_2",),
    city=("city",),
    state=("state",),
    postcode=("postcode",),
    country=("country",),
).read


def _meta(items: Iterable[Mapping[str, Any]] | None, keys: Iterable[str]) -> Any:
    wanted = set(keys)
    for item in items or ():
        if item.get("key") in wanted:
            return item.get("value")
    return None


def _categories(line: Mapping[str, Any]) -> tuple[str, ...]:
    """Order lines carry no categories in WooCommerce; some stores copy them into line meta."""
    value = _meta(line.get("meta_data"), CATEGORY_META_KEYS)
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list):
        names = [str(v.get("name") or v.get("slug") or "") if isinstance(v, dict) else str(v) for v in value]
        return tuple(n for n in names if n)
    return ()


def order_customer(payload: Mapping[str, Any]) -> Customer:
    """The order's customer: a registered customer by id, a guest by lowercased billing email."""
    billing = payload.get("billing") or {}
    email = str(billing.get("email") or "").strip()
    customer_id = int(payload.get("customer_id") or 0)
    if customer_id:
        source_id = str(customer_id)
    elif email:
        source_id = f"guest:{email.lower()}"
    else:
        source_id = f"guest:order:{payload.get('id')}"
    return Customer(
        source_id=source_id,
        email=email,
        first_name=str(billing.get("first_name") or ""),
        last_name=str(billing.get("last_name") or ""),
        company=str(billing.get("company") or ""),
        phone=str(billing.get("phone") or ""),
        billing=_address(billing),
        shipping=_address(payload.get("shipping")),
    )


def order_paid(payload: Mapping[str, Any], paid_statuses: Iterable[str] = DEFAULT_PAID_STATUSES) -> bool:
    """Whether money was taken for the order, from what WooCommerce recorded rather than its status alone.

    WooCommerce sets ``date_paid`` once, when payment completes or the order first reaches processing or
    completed (``payment_complete``, ``maybe_set_date_paid``), sets ``date_completed`` on completion, and
    clears neither afterwards: an order refunded (``wc_create_refund`` sets ``refunded`` once nothing is
    left to refund), cancelled or put on hold after payment still carries them. So an order is paid when
    its status is one of ``paid_statuses`` (``wc_get_is_paid_statuses()``: processing, completed; orders
    completed by hand before WooCommerce 3.0 have no ``date_paid``) or when either date is set.

    Where the two contradict nothing is assumed, the order goes to review: a pending or failed order
    (awaiting payment) that has a payment date, and a refunded order with no sign it was ever paid.
    """
    order_id = payload.get("id")
    status = str(payload.get("status") or "")
    payment_date = payload.get("date_paid_gmt") or payload.get("date_paid")
    completion_date = payload.get("date_completed_gmt") or payload.get("date_completed")
    if status in AWAITING_PAYMENT:
        if payment_date:
            raise ReviewError(
                f"WooCommerce order {order_id} is {status!r} (awaiting payment) but records a payment on "
                f"{payment_date}; check in the store whether it was paid before it is posted"
            )
        return False
    if status in set(paid_statuses) or payment_date or completion_date:
        return True
    if status == "refunded":
        raise ReviewError(
            f"WooCommerce order {order_id} is refunded but records no payment (no date_paid, never completed): "
            "post its sale and refunds by hand if money was taken, or dismiss it"
        )
    return False


def to_order(payload: Mapping[str, Any], paid_statuses: Iterable[str] = DEFAULT_PAID_STATUSES) -> Order:
    """A ``GET /orders/{id}`` payload (or an order webhook body) as a canonical Order.

    ``paid`` comes from ``order_paid``; a paid order carries its capture (the order ``total``) even when
    it has since been refunded or cancelled: the sale posts, then each refund posts against it.

    Gift cards (WooCommerce Gift Cards extension, ``gift_cards[]``) are a method of payment: the
    order ``total`` is what remains for the gateway, so the canonical total adds them back and each
    becomes a gift-card Payment next to the gateway capture.
    """
    try:
        order_id = str(payload["id"])
        currency = str(payload["currency"])
    except KeyError as missing:
        raise ReviewError(f"WooCommerce order payload lacks {missing}") from None
    rate_codes = {t.get("rate_id"): str(t.get("rate_code") or "") for t in payload.get("tax_lines") or ()}

    lines = []
    for line in payload.get("line_items") or ():
        codes = [rate_codes.get(t.get("id"), "") for t in line.get("taxes") or () if money(t.get("total")) != ZERO]
        lines.append(
            OrderLine(
                line_id=str(line["id"]),
                sku=str(line.get("sku") or ""),
                product_id=str(line.get("variation_id") or line.get("product_id") or ""),
                name=str(line.get("name") or ""),
                categories=_categories(line),
                quantity=money(line.get("quantity"), "line_items.quantity"),
                subtotal=money(line.get("subtotal"), "line_items.subtotal"),
                total=money(line.get("total"), "line_items.total"),
                tax=money(line.get("total_tax"), "line_items.total_tax"),
                tax_code="+".join(c for c in codes if c),
            )
        )
    tax_lines = tuple(
        TaxLine(
            code=str(t.get("rate_code") or t.get("rate_id") or ""),
            label=str(t.get("label") or ""),
            rate=money(t["rate_percent"], "tax_lines.rate_percent") if t.get("rate_percent") is not None else None,
            amount=money(t.get("tax_total"), "tax_lines.tax_total"),
            shipping_amount=money(t.get("shipping_tax_total"), "tax_lines.shipping_tax_total"),
        )
        for t in payload.get("tax_lines") or ()
    )
    shipping = tuple(
        ShippingLine(
            method=str(s.get("method_title") or s.get("method_id") or ""),
            total=money(s.get("total"), "shipping_lines.total"),
            tax=money(s.get("total_tax"), "shipping_lines.total_tax"),
        )
        for s in payload.get("shipping_lines") or ()
    )
    fees = tuple(
        FeeLine(
            name=str(f.get("name") or ""),
            total=money(f.get("total"), "fee_lines.total"),
            tax=money(f.get("total_tax"), "fee_lines.total_tax"),
        )
        for f in payload.get("fee_lines") or ()
    )
    discounts = tuple(
        DiscountLine(
            code=str(c.get("code") or ""),
            amount=money(c.get("discount"), "coupon_lines.discount"),
            tax=money(c.get("discount_tax"), "coupon_lines.discount_tax"),
        )
        for c in payload.get("coupon_lines") or ()
    )

    status = str(payload.get("status") or "")
    paid = order_paid(payload, paid_statuses)
    gateway_total = money(payload.get("total"), "total")
    gift_cards = [g for g in payload.get("gift_cards") or () if isinstance(g, Mapping)]
    gift_total = sum((money(g.get("amount"), "gift_cards.amount") for g in gift_cards), ZERO)
    paid_at = gmt(payload.get("date_paid_gmt"))
    payments: list[Payment] = []
    if paid:
        for card in gift_cards:
            payments.append(
                Payment(
                    payment_id=f"{order_id}:gift_card:{card.get('id') or card.get('code')}",
                    method="gift_card",
                    kind=PaymentKind.GIFT_CARD,
                    amount=money(card.get("amount"), "gift_cards.amount"),
                    currency=currency,
                    gateway="woocommerce-gift-cards",
                    transaction_id=str(card.get("code") or ""),
                    captured_at=paid_at,
                )
            )
        if gateway_total != ZERO:
            payments.append(
                Payment(
                    payment_id=f"{order_id}:payment",
                    method=str(payload.get("payment_method") or payload.get("payment_method_title") or ""),
                    kind=PaymentKind.CAPTURE,
                    amount=gateway_total,
                    currency=currency,
                    gateway=str(payload.get("payment_method") or ""),
                    transaction_id=str(payload.get("transaction_id") or ""),
                    captured_at=paid_at,
                )
            )
    refunds = tuple(
        Refund(
            source_id=str(r["id"]),
            order_id=order_id,
            amount=abs(money(r.get("total"), "refunds.total")),
            currency=currency,
            reason=str(r.get("reason") or r.get("refund") or ""),
        )
        for r in payload.get("refunds") or ()
    )
    created = gmt(payload.get("date_created_gmt"))
    if created is None:
        raise ReviewError(f"WooCommerce order {order_id} lacks date_created_gmt")
    return Order(
        source_id=order_id,
        number=str(payload.get("number") or order_id),
        status=status,
        paid=paid,
        currency=currency,
        created_at=created,
        updated_at=modified_at(payload),
        paid_at=paid_at,
        prices_include_tax=bool(payload.get("prices_include_tax")),
        customer=order_customer(payload),
        lines=tuple(lines),
        tax_lines=tax_lines,
        shipping_lines=shipping,
        fee_lines=fees,
        discounts=discounts,
        payments=tuple(payments),
        refunds=refunds,
        total=gateway_total + gift_total,
        total_tax=money(payload.get("total_tax"), "total_tax"),
    )


def refund_in_order(refund: Mapping[str, Any], order: Mapping[str, Any]) -> dict[str, Any]:
    """A refund with its order's id, currency and gateway: WooCommerce's refund names none of them."""
    return {
        **refund,
        "order_id": int(order["id"]),
        "currency": order.get("currency"),
        "payment_method": order.get("payment_method", ""),
        "payment_method_title": order.get("payment_method_title", ""),
    }


def to_refund(payload: Mapping[str, Any]) -> Refund:
    """A ``GET /orders/{order}/refunds/{refund}`` payload as a canonical Refund.

    WooCommerce's refund representation names neither its order nor the currency, so the adapter
    injects ``order_id`` and ``currency`` (``refund_in_order``) before mapping; both are required.
    Refund line amounts arrive negative and become positive; ``_refunded_item_id`` meta links a
    refund line to the order line it refunds.
    """
    missing = [k for k in ("id", "order_id", "currency") if payload.get(k) in (None, "")]
    if missing:
        raise ReviewError(f"WooCommerce refund payload lacks {', '.join(missing)} (inject order_id/currency)")
    refund_id, order_id, currency = str(payload["id"]), str(payload["order_id"]), str(payload["currency"])
    lines = []
    for line in payload.get("line_items") or ():
        original = _meta(line.get("meta_data"), ("_refunded_item_id",))
        lines.append(
            RefundLine(
                line_id=str(original or line.get("id")),
                quantity=abs(money(line.get("quantity"), "line_items.quantity")),
                amount=abs(money(line.get("total"), "line_items.total")),
                tax=abs(money(line.get("total_tax"), "line_items.total_tax")),
            )
        )
    shipping_lines = payload.get("shipping_lines") or ()
    amount = money(payload.get("amount"), "amount")
    transactions: tuple[Payment, ...] = ()
    if payload.get("refunded_payment"):
        transactions = (
            Payment(
                payment_id=f"{order_id}:refund:{refund_id}",
                method=str(payload.get("payment_method") or payload.get("payment_method_title") or ""),
                amount=abs(amount),
                currency=currency,
                gateway=str(payload.get("payment_method") or ""),
                transaction_id=str(payload.get("transaction_id") or ""),
                captured_at=gmt(payload.get("date_created_gmt")),
            ),
        )
    return Refund(
        source_id=refund_id,
        order_id=order_id,
        amount=abs(amount),
        currency=currency,
        reason=str(payload.get("reason") or ""),
        created_at=gmt(payload.get("date_created_gmt")),
        lines=tuple(lines),
        shipping=abs(sum((money(s.get("total"), "shipping_lines.total") for s in shipping_lines), ZERO)),
        shipping_tax=abs(sum((money(s.get("total_tax"), "shipping_lines.total_tax") for s in shipping_lines), ZERO)),
        transactions=transactions,
    )


def to_customer(payload: Mapping[str, Any]) -> Customer:
    """A ``GET /customers/{id}`` payload (or a customer webhook body) as a canonical Customer."""
    if payload.get("id") in (None, ""):
        raise ReviewError("WooCommerce customer payload lacks id")
    billing = payload.get("billing") or {}
    return Customer(
        source_id=str(payload["id"]),
        email=str(payload.get("email") or billing.get("email") or ""),
        first_name=str(payload.get("first_name") or billing.get("first_name") or ""),
        last_name=str(payload.get("last_name") or billing.get("last_name") or ""),
        company=str(billing.get("company") or ""),
        phone=str(billing.get("phone") or ""),
        billing=_address(billing),
        shipping=_address(payload.get("shipping")),
        updated_at=gmt(payload.get("date_modified_gmt")) or gmt(payload.get("date_created_gmt")),
    )
