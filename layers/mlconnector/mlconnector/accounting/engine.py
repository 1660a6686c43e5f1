"""The accounting engine: canonical order, refund and payment → balanced ERP documents.

Sign convention: debit positive, credit negative. Every document the engine returns balances in
the document currency and in the base currency, and its settlement side (payments, gift cards,
store credit, receivable) sums to the source document's total to the cent. Differences the
store's own rounding leaves (tax summed per line vs per order, for instance) go to the
configured rounding account when they are within ``rounding_tolerance``; larger differences put
the record in review.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from mlconnector.accounting.rules import AccountRef, MappingRules
from mlconnector.documents import LineClass, Posting, PostingKind, PostingLine
from mlconnector.errors import ReviewError
from mlconnector.models import ZERO, Order, PaymentKind, Refund

# ISO 4217 minor units that are not 2.
_MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV"), 0),
    **dict.fromkeys(("XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-_MINOR_UNITS.get(currency.upper(), 2))


def to_minor(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


@dataclass
class _Builder:
    """Collects lines in the document currency, then converts, rounds and balances them."""

    rules: MappingRules
    currency: str
    base_currency: str
    rate: Decimal
    lines: list[PostingLine] = field(default_factory=list)

    def add(
        self,
        line_class: LineClass,
        ref: AccountRef,
        amount: Decimal,
        description: str,
        rule: str,
        *,
        sku: str = "",
        quantity: Decimal | None = None,
        source_line_id: str = "",
    ) -> None:
        amount = to_minor(amount, self.currency)
        if amount == 0:
            return
        self.lines.append(
            PostingLine(
                line_class=line_class,
                account=ref.account,
                chartfields=self.rules.chartfields(ref),
                amount=amount,
                base_amount=to_minor(amount * self.rate, self.base_currency),
                description=description,
                rule=rule,
                sku=sku,
                quantity=quantity,
                source_line_id=source_line_id,
            )
        )

    def balance(self, what: str) -> tuple[PostingLine, ...]:
        """Send the residual (document and base currency) to the rounding account, or refuse."""
        residual = -sum((line.amount for line in self.lines), ZERO)
        tolerance = self.rules.rounding_tolerance
        if abs(residual) > tolerance:
            raise ReviewError(
                f"{what} does not balance: the parts differ from the total by {residual} {self.currency}"
                f" (rounding tolerance {tolerance})",
                detail={"residual": str(residual)},
            )
        base_residual = -sum((line.base_amount for line in self.lines), ZERO) - to_minor(
            residual * self.rate, self.base_currency
        )
        if residual or base_residual:
            ref = self.rules.rounding
            self.lines.append(
                PostingLine(
                    line_class=LineClass.ROUNDING,
                    account=ref.account,
                    chartfields=self.rules.chartfields(ref),
                    amount=residual,
                    base_amount=to_minor(residual * self.rate, self.base_currency) + base_residual,
                    description="Rounding",
                    rule="rounding account",
                )
            )
        return tuple(self.lines)


def exchange_rate(rules: MappingRules, currency: str, store_rate: Decimal | None) -> tuple[Decimal, str]:
    """The order currency → base currency rate, and where it came from (recorded on the document)."""
    if currency.upper() == rules.base_currency.upper():
        return Decimal("1"), "same currency"
    if store_rate is not None and store_rate > 0:
        return store_rate, "store"
    configured = rules.exchange_rates.get(currency.upper())
    if configured is not None:
        return configured, "profile"
    raise ReviewError(
        f"no exchange rate from {currency} to {rules.base_currency}: the store gave none and the profile has none",
        detail={"currency": currency},
    )


def _accounting_date(moment: datetime | None) -> date:
    return (moment or datetime.now(UTC)).astimezone(UTC).date()


class AccountingEngine:
    """Builds postings for one connection from its mapping rules."""

    def __init__(self, connection: str, rules: MappingRules, reference_prefix: str) -> None:
        self.connection = connection
        self.rules = rules
        self.prefix = reference_prefix

    # --- references (deterministic, so a retry finds what the first attempt created) -------------
    def order_reference(self, order: Order) -> str:
        return f"{self.prefix}{order.reference}"

    def refund_reference(self, order: Order, refund: Refund) -> str:
        return f"{self.prefix}{order.reference}-R{refund.source_id}"

    def receipt_reference(self, order: Order, payment_id: str) -> str:
        return f"{self.prefix}{order.reference}-P{payment_id}"

    # --- orders ------------------------------------------------------------------------------------
    def order_postings(self, order: Order) -> list[Posting]:
        """The documents one paid order produces, in posting order."""
        if self.rules.posting_style == "ar_invoice":
            invoice = self._order_document(order, PostingKind.AR_INVOICE, settle_with_payments=False)
            return [invoice, *self._receipts(order)]
        kind = PostingKind.VOUCHER if self.rules.posting_style == "voucher" else PostingKind.JOURNAL
        return [self._order_document(order, kind, settle_with_payments=True)]

    def _order_document(self, order: Order, kind: PostingKind, *, settle_with_payments: bool) -> Posting:
        rules = self.rules
        rate, rate_source = exchange_rate(rules, order.currency, order.exchange_rate)
        b = _Builder(rules, order.currency, rules.base_currency, rate)

        for line in order.lines:
            ref, why = rules.revenue_for(line.sku, line.product_id, line.categories)
            gross = line.subtotal if rules.discounts else line.total
            b.add(
                LineClass.REVENUE,
                ref,
                -gross,
                f"{line.name or line.sku} x{line.quantity}",
                why,
                sku=line.sku,
                quantity=line.quantity,
                source_line_id=line.line_id,
            )
            if rules.discounts and line.discount:
                b.add(LineClass.DISCOUNT, rules.discounts, line.discount, f"Discount {line.sku}", "discounts account")

        for tax_account, amount, why, label in self._order_taxes(order):
            b.add(LineClass.TAX, tax_account, -amount, f"Tax {label}", why)
        for ship in order.shipping_lines:
            b.add(
                LineClass.SHIPPING, rules.shipping, -ship.total, f"Shipping {ship.method}".strip(), "shipping account"
            )
        for fee in order.fee_lines:
            b.add(LineClass.FEE, rules.fees, -fee.total, f"Fee {fee.name}".strip(), "fees account")

        settled = ZERO
        if settle_with_payments:
            for payment in order.payments:
                ref, line_class, why = self._payment_account(payment.kind, payment.method)
                b.add(line_class, ref, payment.amount, f"Payment {payment.method} {payment.transaction_id}", why)
                settled += to_minor(payment.amount, order.currency)
        outstanding = to_minor(order.total, order.currency) - settled
        if outstanding < 0:
            raise ReviewError(
                f"payments {settled} exceed the order total {order.total} {order.currency}",
                detail={"paid": str(settled), "total": str(order.total)},
            )
        b.add(LineClass.RECEIVABLE, rules.receivable, outstanding, "Receivable", "receivable account")

        return Posting(
            kind=kind,
            reference=self.order_reference(order),
            connection=self.connection,
            source_kind="order",
            source_id=order.source_id,
            order_reference=order.reference,
            accounting_date=_accounting_date(order.paid_at or order.created_at),
            currency=order.currency,
            base_currency=rules.base_currency,
            exchange_rate=rate,
            rate_source=rate_source,
            description=f"Web order {order.reference}",
            source_total=to_minor(order.total, order.currency),
            lines=b.balance(f"order {order.reference}"),
            customer_source_id=order.customer.source_id if order.customer else None,
        )

    def _order_taxes(self, order: Order) -> list[tuple[AccountRef, Decimal, str, str]]:
        """Tax per rate from the order's tax lines; per line tax code when the store gives no tax lines."""
        if order.tax_lines:
            out = []
            for tax in order.tax_lines:
                ref, why = self.rules.tax_for(tax.code, tax.label)
                out.append((ref, tax.amount + tax.shipping_amount, why, tax.label or tax.code))
            return out
        grouped: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for line in order.lines:
            grouped[line.tax_code] += line.tax
        for ship in order.shipping_lines:
            grouped[""] += ship.tax
        for fee in order.fee_lines:
            grouped[""] += fee.tax
        out = []
        for code, amount in grouped.items():
            if amount:
                ref, why = self.rules.tax_for(code, "")
                out.append((ref, amount, why, code or "tax"))
        return out

    def _payment_account(self, kind: PaymentKind, method: str) -> tuple[AccountRef, LineClass, str]:
        if kind is PaymentKind.GIFT_CARD:
            if not self.rules.gift_card:
                raise ReviewError("order paid with a gift card but the profile has no gift_card account")
            return self.rules.gift_card, LineClass.GIFT_CARD, "gift card account"
        if kind is PaymentKind.STORE_CREDIT:
            if not self.rules.store_credit:
                raise ReviewError("order paid with store credit but the profile has no store_credit account")
            return self.rules.store_credit, LineClass.STORE_CREDIT, "store credit account"
        ref, why = self.rules.payment_for(method)
        return ref, LineClass.CLEARING, why

    def _receipts(self, order: Order) -> list[Posting]:
        """AR style: one receipt per captured payment, clearing debited and the receivable credited."""
        rate, rate_source = exchange_rate(self.rules, order.currency, order.exchange_rate)
        receipts = []
        for payment in order.payments:
            b = _Builder(self.rules, order.currency, self.rules.base_currency, rate)
            ref, line_class, why = self._payment_account(payment.kind, payment.method)
            b.add(line_class, ref, payment.amount, f"Payment {payment.method}", why)
            b.add(LineClass.RECEIVABLE, self.rules.receivable, -payment.amount, "Receivable", "receivable account")
            receipts.append(
                Posting(
                    kind=PostingKind.RECEIPT,
                    reference=self.receipt_reference(order, payment.payment_id),
                    connection=self.connection,
                    source_kind="payment",
                    source_id=payment.payment_id,
                    order_reference=order.reference,
                    accounting_date=_accounting_date(payment.captured_at or order.paid_at or order.created_at),
                    currency=order.currency,
                    base_currency=self.rules.base_currency,
                    exchange_rate=rate,
                    rate_source=rate_source,
                    description=f"Receipt {payment.transaction_id or payment.payment_id} for order {order.reference}",
                    source_total=to_minor(payment.amount, order.currency),
                    lines=b.balance(f"receipt for order {order.reference}"),
                    reverses=None,
                    customer_source_id=order.customer.source_id if order.customer else None,
                )
            )
        return receipts

    # --- refunds -----------------------------------------------------------------------------------
    def validate_refund(self, order: Order, refund: Refund) -> None:
        """A refund may not exceed what was paid minus what earlier refunds already returned.

        A refunded line may exceed the line's total by ``rounding_tolerance`` (as the order side
        allows): stores spread an order discount over the refunded lines again, and a line can come
        back a cent above what it was sold for while the refund as a whole still matches.
        """
        currency = order.currency
        if refund.currency.upper() != currency.upper():
            raise ReviewError(f"refund currency {refund.currency} differs from the order's {currency}")
        if refund.amount <= 0 or to_minor(refund.amount, currency) != refund.amount:
            raise ReviewError(f"refund {refund.source_id} amount {refund.amount} is not a positive {currency} amount")
        earlier = sum((r.amount for r in order.refunds if r.source_id != refund.source_id and _before(r, refund)), ZERO)
        available = to_minor(order.paid_total - earlier, currency)
        if to_minor(refund.amount, currency) > available:
            raise ReviewError(
                f"refund {refund.source_id} of {refund.amount} {currency} exceeds what remains refundable on order "
                f"{order.reference}: paid {order.paid_total}, already refunded {earlier}, available {available}",
                detail={"refund": str(refund.amount), "available": str(available)},
            )
        by_id = {line.line_id: line for line in order.lines}
        for rl in refund.lines:
            original = by_id.get(rl.line_id)
            if original is None:
                raise ReviewError(f"refund {refund.source_id} names line {rl.line_id} the order does not have")
            if rl.quantity > original.quantity or rl.amount > original.total + self.rules.rounding_tolerance:
                raise ReviewError(
                    f"refund {refund.source_id} returns more of line {rl.line_id} than was sold "
                    f"({rl.quantity} of {original.quantity}, {rl.amount} of {original.total})"
                )

    def refund_posting(self, order: Order, refund: Refund) -> Posting:
        """The offsetting entry (journal) or credit memo (AR style) for one refund."""
        self.validate_refund(order, refund)
        rules = self.rules
        rate, rate_source = exchange_rate(rules, order.currency, order.exchange_rate)
        b = _Builder(rules, order.currency, rules.base_currency, rate)
        by_id = {line.line_id: line for line in order.lines}

        itemised = ZERO
        tax_by_code: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for rl in refund.lines:
            original = by_id[rl.line_id]
            ref, why = rules.revenue_for(original.sku, original.product_id, original.categories)
            b.add(
                LineClass.REVENUE,
                ref,
                rl.amount,
                f"Refund {original.name or original.sku} x{rl.quantity}",
                why,
                sku=original.sku,
                quantity=rl.quantity,
                source_line_id=rl.line_id,
            )
            tax_by_code[original.tax_code or self._single_tax_code(order)] += rl.tax
            itemised += rl.amount + rl.tax
        if refund.shipping:
            b.add(LineClass.SHIPPING, rules.shipping, refund.shipping, "Refund shipping", "shipping account")
        if refund.shipping_tax:
            tax_by_code[self._single_tax_code(order)] += refund.shipping_tax
        itemised += refund.shipping + refund.shipping_tax
        for code, amount in tax_by_code.items():
            if amount:
                ref, why = rules.tax_for(code, self._tax_label(order, code))
                b.add(LineClass.TAX, ref, amount, f"Refund tax {code}".strip(), why)

        unitemised = to_minor(refund.amount - itemised, order.currency)
        if unitemised < -rules.rounding_tolerance:
            raise ReviewError(
                f"refund {refund.source_id} itemises {itemised} but totals {refund.amount} {order.currency}"
            )
        if unitemised > rules.rounding_tolerance:
            ref, why = (rules.refunds, "refunds account") if rules.refunds else self._default_revenue()
            b.add(LineClass.REVENUE, ref, unitemised, refund.reason or "Refund", why)
            unitemised = ZERO

        method = refund.transactions[0].method if refund.transactions else _first_method(order)
        is_invoice = rules.posting_style == "ar_invoice"
        if is_invoice:
            b.add(LineClass.RECEIVABLE, rules.receivable, -refund.amount, "Receivable", "receivable account")
        else:
            ref, line_class, why = self._payment_account(PaymentKind.CAPTURE, method)
            b.add(line_class, ref, -refund.amount, f"Refund {method}".strip(), why)

        return Posting(
            kind=PostingKind.CREDIT_MEMO if is_invoice else PostingKind.JOURNAL,
            reference=self.refund_reference(order, refund),
            connection=self.connection,
            source_kind="refund",
            source_id=refund.source_id,
            order_reference=order.reference,
            accounting_date=_accounting_date(refund.created_at),
            currency=order.currency,
            base_currency=rules.base_currency,
            exchange_rate=rate,
            rate_source=rate_source,
            description=f"Refund {refund.source_id} of web order {order.reference}",
            source_total=to_minor(refund.amount, order.currency),
            lines=b.balance(f"refund {refund.source_id}"),
            reverses=self.order_reference(order),
            customer_source_id=order.customer.source_id if order.customer else None,
        )

    def _default_revenue(self) -> tuple[AccountRef, str]:
        if self.rules.default_revenue:
            return self.rules.default_revenue, "default revenue"
        raise ReviewError("amount-only refund but the profile has neither a refunds nor a default revenue account")

    @staticmethod
    def _single_tax_code(order: Order) -> str:
        return order.tax_lines[0].code if len(order.tax_lines) == 1 else ""

    @staticmethod
    def _tax_label(order: Order, code: str) -> str:
        return next((t.label for t in order.tax_lines if t.code == code), "")


def _before(a: Refund, b: Refund) -> bool:
    """Whether refund ``a`` was issued before ``b`` (by time, then by id)."""
    if a.created_at and b.created_at and a.created_at != b.created_at:
        return a.created_at < b.created_at
    return _id_key(a.source_id) < _id_key(b.source_id)


def _id_key(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (0, value)


def _first_method(order: Order) -> str:
    return next((p.method for p in order.payments if p.kind is PaymentKind.CAPTURE), "")
