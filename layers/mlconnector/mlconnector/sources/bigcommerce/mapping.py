"""BigCommerce payloads → the canonical model (the "mapper").

The order payload is the combined fetch ``{"order", "products", "shipping_addresses", "coupons",
"taxes", "transactions", "refunds"}``: the v2 order read with ``include=fees`` (so its ``fees`` is
the array of order-level fees), its sub-resources (taxes with ``details=true``), and the v3
transactions and refunds. What each field is, is in ``tests/contracts/bigcommerce/`` (transcribed
from BigCommerce's OpenAPI files).

How BigCommerce's numbers fit together (and how they are read here):

- A product row's ``price_*``/``total_*`` are *before* discounts; coupon and manual discounts are
  listed per row in ``applied_discounts`` (amounts in the store's price-entry basis: tax-inclusive
  when ``is_tax_inclusive_pricing``). Tax is charged on the discounted amount.
- The ``/taxes`` rows give that tax. With ``details=true`` a row names its product
  (``order_product_id``) and what it taxes (``line_item_type`` item | shipping | handling |
  gift-wrapping); without them (BigCommerce's own example: one row per shipping address and rate)
  the items' tax the order states is shared among the products in proportion to their
  ``total_tax`` scaled to the discounted amount.
- So a canonical line has ``subtotal = total_ex_tax`` (price_ex_tax * quantity),
  ``tax = Σ tax rows of the product`` (or its share), and
  ``total = total_ex_tax - discounts`` (tax-exclusive store) or the discounted tax-inclusive amount
  (``discounted_total_inc_tax``) ``- tax`` (tax-inclusive store).
- Shipping, handling and wrapping map to their ``*_ex_tax`` amounts with their ``*_tax``; each
  order-level fee (``fees[]``, ``custom_fee``) to a FeeLine of ``cost_ex_tax`` with ``cost_tax``.
  Tax rows become one TaxLine per rate (item, handling and wrapping tax in ``amount``, shipping tax
  in ``shipping_amount``; a row without ``line_item_type`` counts as item tax).
- The tax rows have no type for fees; when they leave out the fees' tax (they sum to the order's
  ``total_tax`` less the fees' ``cost_tax``), each fee's tax becomes a TaxLine of its own.
- Then lines + tax + shipping + fees = ``total_inc_tax`` (to the store's rounding).

Money arrives as strings ("225.0000") in v2 and as JSON numbers in v3 (transactions, refunds);
fees may carry either. Numbers go through ``str`` first so no binary float ever becomes an amount.
"""

from __future__ import annotations

import email.utils
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
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
from mlconnector.sources.stamps import first_stamp

CENT = Decimal("0.01")
CAPTURE_EVENTS = frozenset({"purchase", "capture"})
SHIPPING_TAX_TYPES = frozenset({"shipping"})


def money(value: Any, field: str = "amount") -> Decimal:
    """A BigCommerce amount (string, or a JSON number in v3) as Decimal; '' and None are 0."""
    return parse_amount(value, field, "BigCommerce")


def rfc2822(value: Any) -> datetime | None:
    """A v2 date ("Tue, 20 Nov 2012 00:00:00 +0000") as an aware UTC datetime."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        parsed = iso(value)
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def iso(value: Any) -> datetime | None:
    """A v3 date (ISO 8601 / RFC 3339, possibly with 'Z') as an aware UTC datetime."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def order_modified_at(order: Mapping[str, Any]) -> datetime:
    return first_stamp(order, ("date_modified", "date_created"), rfc2822, "BigCommerce order")


def customer_modified_at(customer: Mapping[str, Any]) -> datetime:
    return first_stamp(customer, ("date_modified", "date_created"), iso, "BigCommerce customer")


def _round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# --------------------------------------------------------------------------- customers


_address_v2 = AddressFields(
    line1=("street_1",),
    line2=("street_2",),
    city=("city",),
    state=("state",),
    postcode=("zip",),
    country=("country_iso2", "country"),
).read

_address_v3 = AddressFields(
    line1=("address1",),
    line2=("address2",),
    city=("city",),
    state=("state_or_province",),
    postcode=("postal_code",),
    country=("country_code",),
).read


def order_customer(order: Mapping[str, Any], shipping_addresses: Iterable[Mapping[str, Any]]) -> Customer | None:
    """The shopper from the billing address; customer_id 0 is a guest, keyed ``guest:<email>``."""
    billing = order.get("billing_address") or {}
    email = str(billing.get("email") or "").strip()
    customer_id = int(order.get("customer_id") or 0)
    if customer_id:
        source_id = str(customer_id)
    elif email:
        source_id = f"guest:{email.lower()}"
    else:
        return None
    shipping = next(iter(shipping_addresses), None)
    return Customer(
        source_id=source_id,
        email=email,
        first_name=str(billing.get("first_name") or ""),
        last_name=str(billing.get("last_name") or ""),
        company=str(billing.get("company") or ""),
        phone=str(billing.get("phone") or ""),
        billing=_address_v2(billing),
        shipping=_address_v2(shipping) if shipping else _address_v2(billing),
        updated_at=rfc2822(order.get("date_modified")),
    )


def to_customer(payload: Mapping[str, Any]) -> Customer:
    """A v3 customer (``GET /v3/customers?include=addresses``) as a canonical Customer."""
    if payload.get("id") in (None, ""):
        raise ReviewError("BigCommerce customer payload has no id")
    addresses = list(payload.get("addresses") or ())
    billing = next((a for a in addresses if a.get("address_type") != "commercial"), addresses[0] if addresses else None)
    return Customer(
        source_id=str(payload["id"]),
        email=str(payload.get("email") or ""),
        first_name=str(payload.get("first_name") or ""),
        last_name=str(payload.get("last_name") or ""),
        company=str(payload.get("company") or ""),
        phone=str(payload.get("phone") or ""),
        billing=_address_v3(billing),
        shipping=_address_v3(billing),
        updated_at=iso(payload.get("date_modified")),
    )


# --------------------------------------------------------------------------- orders


def _tax_code(row: Mapping[str, Any]) -> str:
    """A stable code for a tax rate: its ``tax_rate_id`` when present, else its name."""
    rate_id = row.get("tax_rate_id")
    return f"rate:{rate_id}" if rate_id not in (None, "", 0) else str(row.get("name") or row.get("class") or "tax")


def _scaled(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """``amount * part / whole`` to the cent (0 when ``whole`` is 0)."""
    return _round2(amount * part / whole) if whole else ZERO


def _line_values(
    product: Mapping[str, Any], tax_rows: list[Mapping[str, Any]], inclusive: bool
) -> tuple[Decimal, Decimal, Decimal]:
    """(subtotal before discounts, total after discounts, tax) of one product row, all tax-exclusive.

    ``tax_rows`` are the product's own rows (``details=true``); without them the tax is the row's
    ``total_tax`` scaled to the discounted amount, which ``_settle_scaled_tax`` then settles
    against the tax the order states.
    """
    pid = product.get("id")
    subtotal = money(product.get("total_ex_tax"), f"products[{pid}].total_ex_tax")
    discounts = sum(
        (
            money(d.get("amount"), f"products[{pid}].applied_discounts.amount")
            for d in product.get("applied_discounts") or ()
        ),
        ZERO,
    )
    listed_tax = money(product.get("total_tax"), f"products[{pid}].total_tax")
    if inclusive:
        before = money(product.get("total_inc_tax"), f"products[{pid}].total_inc_tax")
        if product.get("discounted_total_inc_tax") not in (None, ""):
            after = money(product["discounted_total_inc_tax"], f"products[{pid}].discounted_total_inc_tax")
        else:
            after = before - discounts
    else:
        before = subtotal
        after = subtotal - discounts
    if tax_rows:
        tax = sum((money(t.get("line_amount"), "taxes.line_amount") for t in tax_rows), ZERO)
    else:
        tax = _scaled(after, listed_tax, before)
    return subtotal, (after - tax if inclusive else after), tax


def _tax_rows_by_product(taxes: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in taxes:
        if str(row.get("line_item_type") or "item") == "item" and row.get("order_product_id") not in (None, "", 0):
            grouped[str(row["order_product_id"])].append(row)
    return grouped


def _lines(payload: Mapping[str, Any], inclusive: bool, fee_tax: Decimal) -> tuple[OrderLine, ...]:
    order = payload["order"]
    by_product = _tax_rows_by_product(payload.get("taxes") or ())
    lines: list[OrderLine] = []
    derived: list[int] = []  # lines whose tax is scaled from total_tax, not read from their own rows
    for product in payload.get("products") or ():
        rows = by_product.get(str(product.get("id")), [])
        subtotal, total, tax = _line_values(product, rows, inclusive)
        if not rows:
            derived.append(len(lines))
        codes = {_tax_code(r) for r in rows}
        lines.append(
            OrderLine(
                line_id=str(product["id"]),
                sku=str(product.get("sku") or ""),
                product_id=str(product.get("product_id") or ""),
                name=str(product.get("name") or ""),
                quantity=money(product.get("quantity"), "products.quantity"),
                subtotal=subtotal,
                total=total,
                tax=tax,
                tax_code=codes.pop() if len(codes) == 1 else "",
            )
        )
    if derived:
        _settle_scaled_tax(lines, derived, order, inclusive, fee_tax)
    return tuple(lines)


def _settle_scaled_tax(
    lines: list[OrderLine], derived: list[int], order: Mapping[str, Any], inclusive: bool, fee_tax: Decimal
) -> None:
    """Share the items' tax the order states among the lines whose tax was scaled, in proportion.

    The items' tax is the order's ``total_tax`` less shipping, handling, wrapping and fee tax and
    the tax of lines with rows of their own. Scaling each line's ``total_tax`` to its discounted
    amount gets the proportions between lines; the order's own figure settles the amount, so the
    lines add up whether BigCommerce's ``total_tax`` on a product was before or after its discount
    (its example and its field description disagree). The largest line takes the rounding cents.
    """
    items_tax = money(order.get("total_tax"), "total_tax") - fee_tax
    for prefix in ("shipping_cost", "handling_cost", "wrapping_cost"):
        items_tax -= money(order.get(f"{prefix}_tax"), f"{prefix}_tax")
    items_tax -= sum((line.tax for i, line in enumerate(lines) if i not in derived), ZERO)
    scaled = sum((lines[i].tax for i in derived), ZERO)
    if items_tax < 0 or scaled <= 0 or items_tax == scaled:
        return
    shares = {i: _round2(items_tax * lines[i].tax / scaled) for i in derived}
    largest = max(derived, key=lambda k: lines[k].tax)
    shares[largest] += items_tax - sum(shares.values(), ZERO)
    for i, tax in shares.items():
        line = lines[i]
        total = line.total + line.tax - tax if inclusive else line.total
        lines[i] = line.model_copy(update={"tax": tax, "total": total})


def _tax_lines(taxes: Iterable[Mapping[str, Any]]) -> tuple[TaxLine, ...]:
    amounts: dict[str, list[Any]] = {}
    for row in taxes:
        code = _tax_code(row)
        entry = amounts.setdefault(code, [str(row.get("name") or ""), row.get("rate"), ZERO, ZERO])
        amount = money(row.get("line_amount"), "taxes.line_amount")
        if str(row.get("line_item_type") or "item") in SHIPPING_TAX_TYPES:
            entry[3] += amount
        else:
            entry[2] += amount
    return tuple(
        TaxLine(
            code=code,
            label=label,
            rate=money(rate, "taxes.rate") if rate not in (None, "") else None,
            amount=item_tax,
            shipping_amount=shipping_tax,
        )
        for code, (label, rate, item_tax, shipping_tax) in amounts.items()
    )


def _fee_lines(order: Mapping[str, Any]) -> tuple[list[FeeLine], list[TaxLine]]:
    """The order's ``fees[]`` (read with ``include=fees``) as FeeLines, and their tax per tax class.

    A fee names at least two of ``cost_ex_tax``, ``cost_inc_tax`` and ``cost_tax`` (BigCommerce's
    own example leaves ``cost_ex_tax`` out of one); the third follows from the other two.
    """
    fees = order.get("fees")
    if not isinstance(fees, list):  # the {url, resource} link: read without include=fees
        return [], []
    lines: list[FeeLine] = []
    tax_by_class: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for fee in fees:
        where = f"fees[{fee.get('id')}]"
        given = {k: fee.get(k) for k in ("cost_ex_tax", "cost_inc_tax", "cost_tax") if fee.get(k) not in (None, "")}
        if len(given) < 2:
            raise ReviewError(
                f"BigCommerce order {order.get('id')} fee {fee.get('id')} gives only {sorted(given) or 'no amounts'};"
                " two of cost_ex_tax, cost_inc_tax and cost_tax are needed"
            )
        if "cost_ex_tax" in given and "cost_tax" in given:
            ex, tax = money(given["cost_ex_tax"], f"{where}.cost_ex_tax"), money(given["cost_tax"], f"{where}.cost_tax")
        elif "cost_tax" in given:
            tax = money(given["cost_tax"], f"{where}.cost_tax")
            ex = money(given["cost_inc_tax"], f"{where}.cost_inc_tax") - tax
        else:
            ex = money(given["cost_ex_tax"], f"{where}.cost_ex_tax")
            tax = money(given["cost_inc_tax"], f"{where}.cost_inc_tax") - ex
        name = str(fee.get("display_name_merchant") or fee.get("display_name_customer") or fee.get("type") or "fee")
        lines.append(FeeLine(name=name, total=ex, tax=tax))
        tax_class = fee.get("tax_class_id")
        tax_by_class[f"fee-tax-class:{tax_class if tax_class is not None else 'default'}"] += tax
    taxes = [TaxLine(code=code, label="Fee tax", amount=amount) for code, amount in tax_by_class.items() if amount]
    return lines, taxes


def _order_tax_lines(
    order: Mapping[str, Any], taxes: Iterable[Mapping[str, Any]], fee_taxes: list[TaxLine]
) -> tuple[TaxLine, ...]:
    """The tax rows per rate, plus the fees' tax when the rows leave it out.

    No row type covers fees, and BigCommerce does not say whether ``/taxes`` lists their tax; the
    order's ``total_tax`` does include it. So the fees' tax is added when what the rows fall short
    of ``total_tax`` is nearer to it than to nothing (the store's rounding may leave a cent).
    """
    lines = _tax_lines(taxes)
    if not lines or not fee_taxes:
        return lines
    listed = sum((t.amount + t.shipping_amount for t in lines), ZERO)
    fee_tax = sum((t.amount for t in fee_taxes), ZERO)
    short = money(order.get("total_tax"), "total_tax") - listed
    return (*lines, *fee_taxes) if abs(short - fee_tax) < abs(short) else lines


def _payments(payload: Mapping[str, Any], order: Mapping[str, Any], currency: str) -> tuple[Payment, ...]:
    """Captured gateway transactions, plus store credit and gift certificates the order applied.

    BigCommerce may or may not list store credit / gift certificate redemptions as transactions
    (method ``store_credit`` / ``gift_certificate``); only the part of the order's
    ``store_credit_amount`` / ``gift_certificate_amount`` no transaction covers is added.
    """
    order_id = str(order["id"])
    payments: list[Payment] = []
    covered = {PaymentKind.STORE_CREDIT: ZERO, PaymentKind.GIFT_CARD: ZERO}
    for tx in payload.get("transactions") or ():
        if str(tx.get("event") or "") not in CAPTURE_EVENTS or str(tx.get("status") or "") != "ok":
            continue
        method = str(tx.get("method") or "")
        kind = {"store_credit": PaymentKind.STORE_CREDIT, "gift_certificate": PaymentKind.GIFT_CARD}.get(
            method, PaymentKind.CAPTURE
        )
        amount = money(tx.get("amount"), "transactions.amount")
        if kind in covered:
            covered[kind] += amount
        gateway = str(tx.get("gateway") or "")
        payments.append(
            Payment(
                payment_id=str(tx.get("id")),
                method=gateway or method,
                kind=kind,
                amount=amount,
                currency=str(tx.get("currency") or currency),
                gateway=gateway,
                transaction_id=str(tx.get("gateway_transaction_id") or ""),
                captured_at=iso(tx.get("date_created")),
            )
        )
    for kind, field, method in (
        (PaymentKind.STORE_CREDIT, "store_credit_amount", "store_credit"),
        (PaymentKind.GIFT_CARD, "gift_certificate_amount", "gift_certificate"),
    ):
        rest = money(order.get(field), field) - covered[kind]
        if rest > 0:
            payments.append(
                Payment(
                    payment_id=f"{order_id}:{method}",
                    method=method,
                    kind=kind,
                    amount=rest,
                    currency=currency,
                    captured_at=rfc2822(order.get("date_created")),
                )
            )
    return tuple(payments)


def _exchange_rate(order: Mapping[str, Any]) -> Decimal | None:
    """Order currency → store default currency. BigCommerce records default → order currency; invert it."""
    currency = str(order.get("currency_code") or "")
    default = str(order.get("default_currency_code") or currency)
    if not currency or currency.upper() == default.upper():
        return None
    rate = money(order.get("currency_exchange_rate"), "currency_exchange_rate")
    if rate <= 0:
        return None
    return (Decimal(1) / rate).quantize(Decimal("1.0000000000"), rounding=ROUND_HALF_UP)


def to_order(payload: Mapping[str, Any], paid_status_ids: Collection[int]) -> Order:
    """The combined fetch (see module docstring) as a canonical Order."""
    order = payload.get("order")
    if not isinstance(order, Mapping) or order.get("id") in (None, ""):
        raise ReviewError("BigCommerce order payload lacks 'order' (expected the combined fetch)")
    if "products" not in payload:
        raise ReviewError(f"BigCommerce order {order['id']} payload lacks its products (expected the combined fetch)")
    order_id = str(order["id"])
    currency = str(order.get("currency_code") or order.get("default_currency_code") or "")
    if not currency:
        raise ReviewError(f"BigCommerce order {order_id} has no currency_code")
    inclusive = bool(order.get("is_tax_inclusive_pricing"))
    status_id = int(order.get("status_id") or 0)

    custom_fees, fee_taxes = _fee_lines(order)
    fees = []
    for name, prefix in (("Handling", "handling_cost"), ("Gift wrapping", "wrapping_cost")):
        ex = money(order.get(f"{prefix}_ex_tax"), f"{prefix}_ex_tax")
        tax = money(order.get(f"{prefix}_tax"), f"{prefix}_tax")
        if ex or tax:
            fees.append(FeeLine(name=name, total=ex, tax=tax))
    fees.extend(custom_fees)
    shipping_ex = money(order.get("shipping_cost_ex_tax"), "shipping_cost_ex_tax")
    shipping_tax = money(order.get("shipping_cost_tax"), "shipping_cost_tax")
    methods = [str(a.get("shipping_method") or "") for a in payload.get("shipping_addresses") or ()]
    shipping = (
        (ShippingLine(method=", ".join(m for m in methods if m), total=shipping_ex, tax=shipping_tax),)
        if shipping_ex or shipping_tax
        else ()
    )

    discounts = [
        DiscountLine(
            code=str(c.get("code") or c.get("coupon_id") or ""), amount=money(c.get("discount"), "coupons.discount")
        )
        for c in payload.get("coupons") or ()
    ]
    manual = money(order.get("discount_amount"), "discount_amount")
    if manual:
        discounts.append(DiscountLine(code="manual", amount=manual))

    payments = _payments(payload, order, currency)
    captured = [p.captured_at for p in payments if p.captured_at and p.kind is PaymentKind.CAPTURE]
    refunds = tuple(
        _refund(r, order, payload.get("products") or (), payload.get("taxes") or ())
        for r in payload.get("refunds") or ()
    )
    created = rfc2822(order.get("date_created"))
    if created is None:
        raise ReviewError(f"BigCommerce order {order_id} has no date_created")
    return Order(
        source_id=order_id,
        number=order_id,
        status=str(order.get("status") or status_id),
        paid=status_id in paid_status_ids,
        currency=currency,
        created_at=created,
        updated_at=order_modified_at(order),
        paid_at=min(captured) if captured else None,
        prices_include_tax=inclusive,
        customer=order_customer(order, payload.get("shipping_addresses") or ()),
        lines=_lines(payload, inclusive, sum((t.amount for t in fee_taxes), ZERO)),
        tax_lines=_order_tax_lines(order, payload.get("taxes") or (), fee_taxes),
        shipping_lines=shipping,
        fee_lines=tuple(fees),
        discounts=tuple(discounts),
        payments=payments,
        refunds=refunds,
        total=money(order.get("total_inc_tax"), "total_inc_tax"),
        total_tax=money(order.get("total_tax"), "total_tax"),
        exchange_rate=_exchange_rate(order),
    )


# --------------------------------------------------------------------------- refunds


def _split(gross: Decimal, tax: Decimal, total: Decimal) -> Decimal:
    """The tax part of a tax-inclusive ``gross`` refunded on something that sold at ``total`` + ``tax``."""
    whole = total + tax
    if whole <= 0 or tax == 0:
        return ZERO
    return _round2(gross * tax / whole)


def _refund(
    raw: Mapping[str, Any],
    order: Mapping[str, Any],
    products: Iterable[Mapping[str, Any]],
    taxes: Iterable[Mapping[str, Any]],
) -> Refund:
    """One v3 refund (``payment_actions/refunds``) in the context of its order.

    Item ``requested_amount`` is what the shopper gets back for the item, tax included; the tax
    part is split off in the proportion the item was taxed at. A PRODUCT item without an amount
    refunds ``quantity`` units at the line's discounted, tax-inclusive unit value.
    """
    if raw.get("id") in (None, ""):
        raise ReviewError("BigCommerce refund payload has no id")
    order_id = str(raw.get("order_id") or order.get("id"))
    currency = str(order.get("currency_code") or order.get("default_currency_code") or "")
    inclusive = bool(order.get("is_tax_inclusive_pricing"))
    by_product = _tax_rows_by_product(taxes)
    values = {str(p["id"]): _line_values(p, by_product.get(str(p["id"]), []), inclusive) for p in products}
    quantities = {str(p["id"]): money(p.get("quantity"), "products.quantity") for p in products}

    lines: list[RefundLine] = []
    shipping = shipping_tax = ZERO
    for item in raw.get("items") or ():
        item_type = str(item.get("item_type") or "").upper()
        quantity = money(item.get("quantity"), "refund.items.quantity")
        requested = item.get("requested_amount")
        if item_type == "PRODUCT":
            line_id = str(item.get("item_id"))
            if line_id not in values:
                raise ReviewError(f"BigCommerce refund {raw['id']} names order product {line_id} the order lacks")
            _, total, tax = values[line_id]
            if requested in (None, ""):
                sold = quantities[line_id]
                gross = _round2((total + tax) * quantity / sold) if sold else ZERO
            else:
                gross = money(requested, "refund.items.requested_amount")
            part_tax = _split(gross, tax, total)
            lines.append(RefundLine(line_id=line_id, quantity=quantity, amount=gross - part_tax, tax=part_tax))
        elif item_type == "SHIPPING":
            gross = money(requested, "refund.items.requested_amount")
            part_tax = _split(
                gross,
                money(order.get("shipping_cost_tax"), "shipping_cost_tax"),
                money(order.get("shipping_cost_ex_tax"), "shipping_cost_ex_tax"),
            )
            shipping += gross - part_tax
            shipping_tax += part_tax
        # ORDER (amount-only), HANDLING, GIFT_WRAPPING: not itemised; the engine books the remainder.

    transactions = tuple(
        Payment(
            payment_id=str(p.get("id")),
            method=str(p.get("provider_id") or ""),
            amount=money(p.get("amount"), "refund.payments.amount"),
            currency=currency,
            gateway=str(p.get("provider_id") or ""),
        )
        for p in raw.get("payments") or ()
        if not p.get("is_declined")
    )
    return Refund(
        source_id=str(raw["id"]),
        order_id=order_id,
        amount=money(raw.get("total_amount"), "refund.total_amount"),
        currency=currency,
        reason=str(raw.get("reason") or ""),
        created_at=iso(raw.get("created")),
        lines=tuple(lines),
        shipping=shipping,
        shipping_tax=shipping_tax,
        transactions=transactions,
    )


def to_refund(payload: Mapping[str, Any]) -> Refund:
    """The combined refund fetch ``{"refund", "order", "products", "taxes"}`` as a canonical Refund."""
    raw, order = payload.get("refund"), payload.get("order")
    if not isinstance(raw, Mapping) or not isinstance(order, Mapping):
        raise ReviewError("BigCommerce refund payload lacks 'refund' or 'order' (expected the combined fetch)")
    return _refund(raw, order, payload.get("products") or (), payload.get("taxes") or ())
