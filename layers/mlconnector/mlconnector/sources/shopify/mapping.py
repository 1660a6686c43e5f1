"""Shopify's REST-shaped payloads (webhook deliveries, and GraphQL answers as ``payloads`` shapes them) →
the canonical model (the "mapper").

Shopify line and shipping prices are entered tax-inclusive when the order says
``taxes_included``; the canonical model is tax-exclusive, so the tax Shopify allocated to each
line (``tax_lines[].price``, computed on the discounted price) is backed out of the discounted
amount. Either way every order maps to parts that add up exactly to ``total_price``: lines,
shipping, tax lines rebuilt from the per-line and per-shipping tax allocations, and fee lines for
tips and duties. An order whose parts do not add up is sent to review rather than guessed at.

Money arrives as JSON strings and is parsed straight into ``Decimal``; the few JSON numbers
(tax ``rate``, ``quantity``) go through ``str`` first so no binary float ever becomes an amount.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
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
from mlconnector.sources.shopify.webhooks import (
    GIFT_CARD_GATEWAYS,
    STORE_CREDIT_GATEWAYS,
    modified_at,
    stamp,
)

CENT = Decimal("0.01")
PAYMENT_KINDS = frozenset({"sale", "capture"})


def money(value: Any, field: str = "amount") -> Decimal:
    """A Shopify amount ("19.99", or a MoneyBag/number) as Decimal; '' and None are 0."""
    if isinstance(value, Mapping):  # a *_set MoneyBag: the shop currency is authoritative
        value = (value.get("shop_money") or {}).get("amount")
    return parse_amount(value, field, "Shopify")


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


_address = AddressFields(
    line1=("address1",),
    line2=("address2",),
    city=("city",),
    state=("province_code", "province"),
    postcode=("zip",),
    country=("country_code", "country"),
).read


def _taxes(items: Iterable[Mapping[str, Any]] | None, field: str) -> list[tuple[str, Decimal | None, Decimal]]:
    """(title, rate, amount) of each tax allocation."""
    out = []
    for tax in items or ():
        rate = tax.get("rate")
        out.append(
            (
                str(tax.get("title") or ""),
                Decimal(str(rate)) if rate is not None else None,
                money(tax.get("price"), f"{field}.tax_lines.price"),
            )
        )
    return out


def _allocated(items: Iterable[Mapping[str, Any]] | None, field: str) -> Decimal:
    return sum((money(a.get("amount"), f"{field}.discount_allocations.amount") for a in items or ()), ZERO)


def order_customer(payload: Mapping[str, Any]) -> Customer:
    """The order's customer: a registered customer by id, a guest by lowercased email."""
    billing = payload.get("billing_address") or {}
    shipping = payload.get("shipping_address") or {}
    block = payload.get("customer") or {}
    email = str(block.get("email") or payload.get("email") or payload.get("contact_email") or "").strip()
    if block.get("id"):
        source_id = str(block["id"])
    elif email:
        source_id = f"guest:{email.lower()}"
    else:
        source_id = f"guest:order:{payload.get('id')}"
    return Customer(
        source_id=source_id,
        email=email,
        first_name=str(block.get("first_name") or billing.get("first_name") or ""),
        last_name=str(block.get("last_name") or billing.get("last_name") or ""),
        company=str(billing.get("company") or ""),
        phone=str(block.get("phone") or billing.get("phone") or payload.get("phone") or ""),
        billing=_address(billing or block.get("default_address")),
        shipping=_address(shipping or billing),
        updated_at=stamp(block.get("updated_at")),
    )


def payment_kind(gateway: str) -> PaymentKind:
    if gateway in GIFT_CARD_GATEWAYS:
        return PaymentKind.GIFT_CARD
    if gateway in STORE_CREDIT_GATEWAYS:
        return PaymentKind.STORE_CREDIT
    return PaymentKind.CAPTURE


def _successful(transactions: Iterable[Mapping[str, Any]] | None, kinds: Iterable[str]) -> list[Mapping[str, Any]]:
    wanted = set(kinds)
    return [t for t in transactions or () if t.get("kind") in wanted and t.get("status") == "success"]


def _transaction_payment(txn: Mapping[str, Any], currency: str, field: str) -> Payment:
    gateway = str(txn.get("gateway") or "")
    txn_currency = str(txn.get("currency") or currency)
    if txn_currency.upper() != currency.upper():
        raise ReviewError(
            f"Shopify transaction {txn.get('id')} is in {txn_currency}, not the shop currency {currency}",
            detail={"transaction_id": str(txn.get("id"))},
        )
    return Payment(
        payment_id=str(txn.get("id")),
        method=gateway,
        kind=payment_kind(gateway),
        amount=money(txn.get("amount"), f"{field}.amount"),
        currency=currency,
        gateway=gateway,
        transaction_id=str(txn.get("authorization") or txn.get("id") or ""),
        captured_at=stamp(txn.get("processed_at")) or stamp(txn.get("created_at")),
    )


def _payments(payload: Mapping[str, Any], order_id: str, currency: str, total: Decimal) -> list[Payment]:
    if isinstance(payload.get("transactions"), list):
        return [
            _transaction_payment(t, currency, "transactions")
            for t in _successful(payload["transactions"], PAYMENT_KINDS)
        ]
    gateways = [str(g) for g in payload.get("payment_gateway_names") or ()]
    gateway = gateways[0] if gateways else str(payload.get("gateway") or "")
    captured = total - money(payload.get("total_outstanding"), "total_outstanding")
    if captured <= ZERO:
        return []
    return [
        Payment(
            payment_id=f"{order_id}:payment",
            method=gateway,
            kind=payment_kind(gateway),
            amount=captured,
            currency=currency,
            gateway=gateway,
            transaction_id="",  # no transaction was read; the GraphQL order has no checkout token to stand in
            captured_at=stamp(payload.get("processed_at")) or stamp(payload.get("created_at")),
        )
    ]


def _refund_summary(refund: Mapping[str, Any], order_id: str, currency: str) -> Refund:
    transactions = _successful(refund.get("transactions"), ("refund",))
    return Refund(
        source_id=str(refund.get("id")),
        order_id=order_id,
        amount=sum((money(t.get("amount"), "refunds.transactions.amount") for t in transactions), ZERO),
        currency=currency,
        reason=str(refund.get("note") or ""),
        created_at=stamp(refund.get("created_at")) or stamp(refund.get("processed_at")),
    )


DEFAULT_PAID = ("paid", "partially_refunded", "refunded")


def to_order(payload: Mapping[str, Any], paid_statuses: Iterable[str] = DEFAULT_PAID) -> Order:
    """A Shopify order (``GET orders/{id}.json`` body or an ``orders/*`` webhook) as a canonical Order.

    ``current_*`` fields describe the order after edits and refunds; the original sale is what is
    posted (refunds post as their own reversals), so only the original fields are read. Payments:
    the successful sale/capture transactions when the payload carries ``transactions`` (merged by
    the adapter), otherwise one capture of what is not outstanding through the first gateway.
    """
    try:
        order_id = str(payload["id"])
        currency = str(payload["currency"])
    except KeyError as missing:
        raise ReviewError(f"Shopify order payload lacks {missing}") from None
    inclusive = bool(payload.get("taxes_included"))
    tax_groups: dict[tuple[str, Decimal | None], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])

    lines = []
    for item in payload.get("line_items") or ():
        quantity = money(item.get("quantity"), "line_items.quantity")
        gross = money(item.get("price"), "line_items.price") * quantity
        discount = _allocated(item.get("discount_allocations"), "line_items")
        taxes = _taxes(item.get("tax_lines"), "line_items")
        tax = sum((t[2] for t in taxes), ZERO)
        for title, rate, amount in taxes:
            tax_groups[(title, rate)][0] += amount
        if inclusive:
            total = gross - discount - tax
            rate_sum = sum((t[1] or ZERO for t in taxes if t[2] != ZERO), ZERO)
            discount_ex_tax = _round(discount / (1 + rate_sum)) if discount else ZERO
            subtotal = total + discount_ex_tax
        else:
            total = gross - discount
            subtotal = gross
        lines.append(
            OrderLine(
                line_id=str(item.get("id")),
                sku=str(item.get("sku") or ""),
                product_id=str(item.get("variant_id") or item.get("product_id") or ""),
                name=str(item.get("name") or item.get("title") or ""),
                quantity=quantity,
                subtotal=subtotal,
                total=total,
                tax=tax,
                tax_code="+".join(t[0] for t in taxes if t[2] != ZERO and t[0]),
            )
        )

    shipping = []
    for ship in payload.get("shipping_lines") or ():
        price = money(ship.get("price"), "shipping_lines.price")
        discount = _allocated(ship.get("discount_allocations"), "shipping_lines")
        if not discount and ship.get("discounted_price") not in (None, ""):
            discount = price - money(ship.get("discounted_price"), "shipping_lines.discounted_price")
        taxes = _taxes(ship.get("tax_lines"), "shipping_lines")
        tax = sum((t[2] for t in taxes), ZERO)
        for title, rate, amount in taxes:
            tax_groups[(title, rate)][1] += amount
        net = price - discount - (tax if inclusive else ZERO)
        shipping.append(ShippingLine(method=str(ship.get("title") or ship.get("code") or ""), total=net, tax=tax))

    tax_lines = tuple(
        TaxLine(code=title or "tax", label=title, rate=rate, amount=amounts[0], shipping_amount=amounts[1])
        for (title, rate), amounts in tax_groups.items()
        if amounts[0] or amounts[1]
    )
    discounts = tuple(
        DiscountLine(code=str(code.get("code") or ""), amount=money(code.get("amount"), "discount_codes.amount"))
        for code in payload.get("discount_codes") or ()
    )

    total = money(payload.get("total_price"), "total_price")
    total_tax = money(payload.get("total_tax"), "total_tax")
    computed_tax = sum((t.amount + t.shipping_amount for t in tax_lines), ZERO)
    if computed_tax != total_tax:
        raise ReviewError(
            f"Shopify order {order_id}: line and shipping taxes add up to {computed_tax}, total_tax is {total_tax}",
            detail={"computed_tax": str(computed_tax), "total_tax": str(total_tax)},
        )
    computed = sum((ln.total + ln.tax for ln in lines), ZERO) + sum((s.total + s.tax for s in shipping), ZERO)
    extras = [
        ("Tip", money(payload.get("total_tip_received"), "total_tip_received")),
        ("Duties", money(payload.get("original_total_duties_set"), "original_total_duties_set")),
        ("Additional fees", money(payload.get("original_total_additional_fees_set"), "additional_fees")),
    ]
    fees: tuple[FeeLine, ...] = ()
    residual = total - computed
    if residual != ZERO:
        present = [(name, amount) for name, amount in extras if amount]
        if sum((a for _, a in present), ZERO) != residual:
            raise ReviewError(
                f"Shopify order {order_id}: lines, shipping and tax add up to {computed}, total_price is {total}",
                detail={"computed": str(computed), "total_price": str(total)},
            )
        fees = tuple(FeeLine(name=name, total=amount) for name, amount in present)

    status = str(payload.get("financial_status") or "")
    paid = status in set(paid_statuses)
    payments = _payments(payload, order_id, currency, total) if paid else []
    created = stamp(payload.get("created_at"))
    if created is None:
        raise ReviewError(f"Shopify order {order_id} lacks created_at")
    paid_at = min((p.captured_at for p in payments if p.captured_at), default=None)
    return Order(
        source_id=order_id,
        number=str(payload.get("name") or payload.get("order_number") or order_id),
        status=status,
        paid=paid,
        currency=currency,
        created_at=created,
        updated_at=modified_at(payload),
        paid_at=paid_at or (stamp(payload.get("processed_at")) if paid else None),
        prices_include_tax=inclusive,
        customer=order_customer(payload),
        lines=tuple(lines),
        tax_lines=tax_lines,
        shipping_lines=tuple(shipping),
        fee_lines=fees,
        discounts=discounts,
        payments=tuple(payments),
        refunds=tuple(_refund_summary(r, order_id, currency) for r in payload.get("refunds") or ()),
        total=total,
        total_tax=total_tax,
    )


def validate_refund_against_order(order_payload: Mapping[str, Any], refund_payload: Mapping[str, Any]) -> list[str]:
    """Problems with a refund's money against the order's transactions; [] when it is consistent.

    ``order_payload`` is the order (or any mapping) carrying ``transactions``, as listed by
    ``orders/{id}/transactions.json``. Every successful refund transaction must name as
    ``parent_id`` a successful sale or capture of the order, in the same currency, and the refunds
    against each parent (this refund's and every earlier one's) may not exceed that parent.
    """
    problems: list[str] = []
    order_txns = order_payload.get("transactions")
    if not isinstance(order_txns, list):
        return ["the order's transactions are not available to validate the refund against"]
    refund_id = str(refund_payload.get("id"))
    parents = {str(t.get("id")): t for t in _successful(order_txns, PAYMENT_KINDS)}
    everything = {str(t.get("id")): t for t in _successful(order_txns, ("refund",))}
    ours = _successful(refund_payload.get("transactions"), ("refund",))
    everything.update({str(t.get("id")): t for t in ours})
    refunded_per_parent: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for txn in everything.values():
        refunded_per_parent[str(txn.get("parent_id"))] += money(txn.get("amount"), "transactions.amount")
    for txn in ours:
        txn_id, parent_id = str(txn.get("id")), str(txn.get("parent_id"))
        amount = money(txn.get("amount"), "transactions.amount")
        if amount <= ZERO:
            problems.append(f"refund transaction {txn_id} has a non-positive amount {amount}")
        if txn.get("parent_id") in (None, ""):
            problems.append(f"refund transaction {txn_id} names no parent transaction")
            continue
        parent = parents.get(parent_id)
        if parent is None:
            problems.append(
                f"refund transaction {txn_id} names parent {parent_id}, which is not a successful sale or capture "
                "of the order"
            )
            continue
        txn_currency, parent_currency = txn.get("currency"), parent.get("currency")
        if txn_currency and parent_currency and txn_currency != parent_currency:
            problems.append(f"refund transaction {txn_id} is in {txn_currency}, its parent in {parent_currency}")
        captured = money(parent.get("amount"), "transactions.amount")
        if refunded_per_parent[parent_id] > captured:
            problems.append(
                f"refunds against transaction {parent_id} total {refunded_per_parent[parent_id]}, "
                f"more than its {captured}"
            )
    if problems:
        problems = [f"refund {refund_id}: {p}" for p in dict.fromkeys(problems)]
    return problems


def _refunded_shipping(
    payload: Mapping[str, Any], refund_id: str, subtotals_include_tax: bool
) -> tuple[Decimal, Decimal]:
    """The shipping a refund returns, as (amount without tax, tax), counted once.

    Shopify reports a shipping refund twice: in ``refund_shipping_lines`` (a subtotal per refunded
    shipping line) and as ``order_adjustments`` of kind ``shipping_refund`` (``amount`` negative,
    ``tax_amount`` the tax added to it). Refunds embedded in an order and API versions before
    2024-10 carry the adjustments only; from 2024-10 on, ``refunds/create`` webhooks leave them out.
    So the adjustments, which split amount and tax, are read when present, and the refund shipping
    lines otherwise (their subtotal tax-inclusive as ``subtotals_include_tax`` says). When both are
    present the lines' subtotal must be the adjustments' amount, with or without its tax, or the
    refund goes to review rather than being guessed at.
    """
    ship_lines = payload.get("refund_shipping_lines") or ()
    subtotals = sum(
        (
            money(ship.get("subtotal_amount_set") or ship.get("subtotal_amount"), "refund_shipping_lines.subtotal")
            for ship in ship_lines
        ),
        ZERO,
    )
    adjustments = [a for a in payload.get("order_adjustments") or () if a.get("kind") == "shipping_refund"]
    if not adjustments:
        tax = sum(
            (
                money(ship.get("tax_amount_set") or ship.get("tax_amount"), "refund_shipping_lines.tax_amount")
                for ship in ship_lines
            ),
            ZERO,
        )
        return (subtotals - tax if subtotals_include_tax else subtotals), tax
    amount = -sum(
        (money(a.get("amount_set") or a.get("amount"), "order_adjustments.amount") for a in adjustments), ZERO
    )
    tax = -sum(
        (money(a.get("tax_amount_set") or a.get("tax_amount"), "order_adjustments.tax_amount") for a in adjustments),
        ZERO,
    )
    if ship_lines and subtotals not in (amount, amount + tax):
        raise ReviewError(
            f"Shopify refund {refund_id}: refund_shipping_lines return {subtotals} of shipping, "
            f"its shipping_refund adjustments {amount} plus {tax} tax",
            detail={"refund_id": refund_id},
        )
    return amount, tax


def to_refund(payload: Mapping[str, Any], subtotals_include_tax: bool | None = None) -> Refund:
    """A Shopify refund (``refunds/create`` body or ``orders/{o}/refunds/{r}.json``) as a canonical Refund.

    The adapter adds ``currency`` and ``taxes_included`` from the order and, for validation,
    ``order_transactions``. With ``order_transactions`` present the refund's money is checked
    against the order's captured transactions first, and a mismatch raises ``ReviewError``.

    The amount is what the successful refund transactions returned. Line amounts are tax-exclusive
    (``subtotal`` less ``total_tax`` when ``subtotals_include_tax``, which follows the order's
    ``taxes_included`` unless the profile says otherwise), in the shop currency of their
    ``*_set`` MoneyBags. Shipping is counted once (see ``_refunded_shipping``). Refunded duties and
    additional fees have no line of their own: they stay unitemised. A ``refund_discrepancy``
    adjustment (order perspective: negative = more money back than itemised) stays unitemised when
    negative, and when positive (less money back than the items) is taken off the line amounts,
    then shipping, so the refund is internally consistent.
    """
    missing = [k for k in ("id", "order_id") if payload.get(k) in (None, "")]
    if missing:
        raise ReviewError(f"Shopify refund payload lacks {', '.join(missing)}")
    refund_id, order_id = str(payload["id"]), str(payload["order_id"])
    if "order_transactions" in payload:
        problems = validate_refund_against_order({"transactions": payload["order_transactions"]}, payload)
        if problems:
            raise ReviewError(
                "; ".join(problems), detail={"refund_id": refund_id, "order_id": order_id, "problems": problems}
            )
    transactions = _successful(payload.get("transactions"), ("refund",))
    currency = str(
        payload.get("currency") or next((t.get("currency") for t in transactions if t.get("currency")), "") or ""
    )
    if not currency:
        raise ReviewError(f"Shopify refund {refund_id} has no currency (no transactions and none injected)")
    inclusive = bool(payload.get("taxes_included")) if subtotals_include_tax is None else subtotals_include_tax

    lines: list[list[Any]] = []
    for item in payload.get("refund_line_items") or ():
        subtotal = money(item.get("subtotal_set") or item.get("subtotal"), "refund_line_items.subtotal")
        tax = money(item.get("total_tax_set") or item.get("total_tax"), "refund_line_items.total_tax")
        line_id = str(item.get("line_item_id") or (item.get("line_item") or {}).get("id") or item.get("id"))
        quantity = money(item.get("quantity"), "refund_line_items.quantity")
        lines.append([line_id, quantity, subtotal - tax if inclusive else subtotal, tax])

    shipping, shipping_tax = _refunded_shipping(payload, refund_id, inclusive)
    discrepancy = ZERO
    for adjustment in payload.get("order_adjustments") or ():
        if adjustment.get("kind") == "shipping_refund":
            continue  # the shipping itself, read by _refunded_shipping
        # refund_discrepancy (and, from 2024-10, an adjustment without kind): money differing from the items
        discrepancy += money(adjustment.get("amount_set") or adjustment.get("amount"), "order_adjustments.amount")
        discrepancy += money(
            adjustment.get("tax_amount_set") or adjustment.get("tax_amount"), "order_adjustments.tax_amount"
        )

    if discrepancy > ZERO:  # less came back than the items are worth: reduce the itemised amounts
        remaining = discrepancy
        for line in lines:
            cut = min(line[2], remaining)
            line[2] -= cut
            remaining -= cut
        cut = min(shipping, remaining)
        shipping -= cut
        remaining -= cut
        if remaining > ZERO:
            raise ReviewError(
                f"Shopify refund {refund_id}: discrepancy {discrepancy} exceeds the itemised refund",
                detail={"refund_id": refund_id},
            )

    return Refund(
        source_id=refund_id,
        order_id=order_id,
        amount=sum((money(t.get("amount"), "transactions.amount") for t in transactions), ZERO),
        currency=currency,
        reason=str(payload.get("note") or ""),
        created_at=stamp(payload.get("created_at")) or stamp(payload.get("processed_at")),
        lines=tuple(RefundLine(line_id=i, quantity=q, amount=a, tax=t) for i, q, a, t in lines),
        shipping=shipping,
        shipping_tax=shipping_tax,
        transactions=tuple(_transaction_payment(t, currency, "refund.transactions") for t in transactions),
    )


def to_customer(payload: Mapping[str, Any]) -> Customer:
    """A ``GET customers/{id}.json`` body (or a ``customers/*`` webhook) as a canonical Customer."""
    if payload.get("id") in (None, ""):
        raise ReviewError("Shopify customer payload lacks id")
    default = payload.get("default_address") or next(iter(payload.get("addresses") or ()), None) or {}
    return Customer(
        source_id=str(payload["id"]),
        email=str(payload.get("email") or ""),
        first_name=str(payload.get("first_name") or default.get("first_name") or ""),
        last_name=str(payload.get("last_name") or default.get("last_name") or ""),
        company=str(default.get("company") or ""),
        phone=str(payload.get("phone") or default.get("phone") or ""),
        billing=_address(default),
        shipping=_address(default),
        updated_at=stamp(payload.get("updated_at")) or stamp(payload.get("created_at")),
    )
