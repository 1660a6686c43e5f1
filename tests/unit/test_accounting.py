"""Accounting engine: worked examples checked by hand, and properties over generated orders."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlconnector.accounting.engine import AccountingEngine
from mlconnector.accounting.rules import MappingRules
from mlconnector.documents import LineClass, PostingKind
from mlconnector.errors import ReviewError
from mlconnector.models import (
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

T0 = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)

RULES = {
    "base_currency": "USD",
    "default_chartfields": {"DEPTID": "100"},
    "revenue_rules": [
        {"sku": "HOOD-*", "account": "400100", "chartfields": {"PRODUCT": "APP"}},
        {"category": "Books", "account": "400200"},
    ],
    "default_revenue": {"account": "400000"},
    "tax_rules": [{"code": "GB-VAT-*", "account": "220200"}, {"code": "US-*", "account": "220100"}],
    "default_tax": {"account": "220000"},
    "payment_rules": [{"method": "stripe", "account": "101200"}],
    "default_payment": {"account": "101000"},
    "discounts": {"account": "410000"},
    "shipping": {"account": "400500"},
    "fees": {"account": "400600"},
    "receivable": {"account": "120000"},
    "gift_card": {"account": "230000"},
    "store_credit": {"account": "231000"},
    "refunds": {"account": "450000"},
    "rounding": {"account": "999000"},
}


def engine(**overrides) -> AccountingEngine:
    return AccountingEngine("woo-psft", MappingRules.model_validate({**RULES, **overrides}), "W")


def amounts(posting, line_class):
    return [line.amount for line in posting.lines if line.line_class == line_class]


def tax_inclusive_order() -> Order:
    # Hoodie priced 60.00 incl. 20 % VAT, two of them: 100.00 net + 20.00 VAT.
    # Coupon SAVE10 takes 10 % off: net 90.00, VAT 18.00. Shipping 6.00 incl. VAT: 5.00 + 1.00.
    # The customer pays 90 + 18 + 5 + 1 = 114.00 by card.
    return Order(
        source_id="1001",
        number="1001",
        status="processing",
        paid=True,
        currency="USD",
        created_at=T0,
        updated_at=T0,
        prices_include_tax=True,
        customer=Customer(source_id="7", email="a@example.com"),
        lines=(
            OrderLine(
                line_id="1",
                sku="HOOD-RED-M",
                name="Hoodie",
                quantity=D("2"),
                subtotal=D("100.00"),
                total=D("90.00"),
                tax=D("18.00"),
                tax_code="GB-VAT-20",
            ),
        ),
        tax_lines=(TaxLine(code="GB-VAT-20", label="VAT", rate=D("20"), amount=D("18.00"), shipping_amount=D("1.00")),),
        shipping_lines=(ShippingLine(method="flat_rate", total=D("5.00"), tax=D("1.00")),),
        discounts=(DiscountLine(code="SAVE10", amount=D("10.00"), tax=D("2.00")),),
        payments=(Payment(payment_id="1001", method="stripe", amount=D("114.00"), currency="USD"),),
        total=D("114.00"),
        total_tax=D("19.00"),
    )


def test_tax_inclusive_order_with_coupon_and_shipping_worked_example():
    (journal,) = engine().order_postings(tax_inclusive_order())
    assert journal.kind is PostingKind.JOURNAL
    assert journal.reference == "W1001"
    assert amounts(journal, LineClass.REVENUE) == [D("-100.00")]  # gross revenue, credit
    assert amounts(journal, LineClass.DISCOUNT) == [D("10.00")]  # coupon, debit
    assert amounts(journal, LineClass.TAX) == [D("-19.00")]  # 18.00 on goods + 1.00 on shipping
    assert amounts(journal, LineClass.SHIPPING) == [D("-5.00")]
    assert amounts(journal, LineClass.CLEARING) == [D("114.00")]
    assert amounts(journal, LineClass.RECEIVABLE) == []
    assert journal.debits == journal.credits == D("124.00")
    assert journal.source_total == D("114.00")
    revenue = next(line for line in journal.lines if line.line_class == LineClass.REVENUE)
    assert (revenue.account, revenue.chartfields) == ("400100", {"DEPTID": "100", "PRODUCT": "APP"})
    assert revenue.rule == "revenue rule sku=HOOD-*"
    tax = next(line for line in journal.lines if line.line_class == LineClass.TAX)
    assert (tax.account, tax.rule) == ("220200", "tax rule code=GB-VAT-*")


def test_net_revenue_when_no_discount_account():
    (journal,) = engine(discounts=None).order_postings(tax_inclusive_order())
    assert amounts(journal, LineClass.REVENUE) == [D("-90.00")]
    assert amounts(journal, LineClass.DISCOUNT) == []
    assert journal.balanced


def multi_currency_order(rate: D | None) -> Order:
    # EUR order: 80.00 net goods + 16.00 tax + 4.00 shipping = 100.00 EUR.
    return Order(
        source_id="2001",
        number="2001",
        status="completed",
        paid=True,
        currency="EUR",
        created_at=T0,
        updated_at=T0,
        lines=(
            OrderLine(line_id="1", sku="BOOK-1", categories=("Books",), subtotal=D("80"), total=D("80"), tax=D("16")),
        ),
        tax_lines=(TaxLine(code="DE-MWST", amount=D("16.00")),),
        shipping_lines=(ShippingLine(total=D("4.00")),),
        payments=(Payment(payment_id="p1", method="paypal", amount=D("100.00"), currency="EUR"),),
        total=D("100.00"),
        exchange_rate=rate,
    )


def test_multi_currency_order_worked_example():
    # At 1.11115 USD/EUR: goods 88.892 → 88.89, tax 17.7784 → 17.78, shipping 4.4446 → 4.44,
    # payment 111.115 → 111.12. Credits 111.11 against debits 111.12: 0.01 USD to rounding.
    (journal,) = engine().order_postings(multi_currency_order(D("1.11115")))
    by_class = {line.line_class: line for line in journal.lines}
    assert by_class[LineClass.REVENUE].base_amount == D("-88.89")
    assert by_class[LineClass.REVENUE].account == "400200"  # category rule
    assert by_class[LineClass.TAX].base_amount == D("-17.78")
    assert by_class[LineClass.TAX].account == "220000"  # default tax
    assert by_class[LineClass.SHIPPING].base_amount == D("-4.44")
    assert by_class[LineClass.CLEARING].base_amount == D("111.12")
    assert by_class[LineClass.CLEARING].account == "101000"  # default payment
    rounding = by_class[LineClass.ROUNDING]
    assert (rounding.amount, rounding.base_amount, rounding.account) == (D("0"), D("-0.01"), "999000")
    assert journal.debits == journal.credits == D("100.00")
    assert journal.base_debits == journal.base_credits == D("111.12")
    assert (journal.exchange_rate, journal.rate_source) == (D("1.11115"), "store")


def test_multi_currency_uses_profile_rate_and_refuses_without_one():
    (journal,) = engine(exchange_rates={"EUR": "1.25"}).order_postings(multi_currency_order(None))
    assert journal.rate_source == "profile"
    assert journal.base_debits == D("125.00")
    with pytest.raises(ReviewError, match="no exchange rate from EUR to USD"):
        engine().order_postings(multi_currency_order(None))


def test_partial_line_refund_worked_example():
    order = tax_inclusive_order()
    # One of the two hoodies comes back: 45.00 net + 9.00 VAT = 54.00.
    refund = Refund(
        source_id="55",
        order_id="1001",
        amount=D("54.00"),
        currency="USD",
        reason="too small",
        created_at=T0,
        lines=(RefundLine(line_id="1", quantity=D("1"), amount=D("45.00"), tax=D("9.00")),),
    )
    posting = engine().refund_posting(order, refund)
    assert posting.reference == "W1001-R55"
    assert posting.reverses == "W1001"
    assert amounts(posting, LineClass.REVENUE) == [D("45.00")]
    assert amounts(posting, LineClass.TAX) == [D("9.00")]
    assert amounts(posting, LineClass.CLEARING) == [D("-54.00")]
    assert posting.balanced and posting.source_total == D("54.00")


def test_amount_only_refund_goes_to_refunds_account():
    order = tax_inclusive_order()
    refund = Refund(source_id="56", order_id="1001", amount=D("10.00"), currency="USD", reason="goodwill")
    posting = engine().refund_posting(order, refund)
    (line,) = [line for line in posting.lines if line.line_class == LineClass.REVENUE]
    assert (line.account, line.amount, line.rule) == ("450000", D("10.00"), "refunds account")


@pytest.mark.parametrize(("over", "reviewed"), [(D("0.01"), False), (D("0.05"), False), (D("0.06"), True)])
def test_a_refunded_line_may_exceed_its_total_by_the_rounding_tolerance(over, reviewed):
    """Both hoodies back with the discount spread differently: the line by up to 0.05 above its 90.00."""
    refund = Refund(
        source_id="58",
        order_id="1001",
        amount=D("108.00") + over,
        currency="USD",
        lines=(RefundLine(line_id="1", quantity=D("2"), amount=D("90.00") + over, tax=D("18.00")),),
    )
    if reviewed:
        with pytest.raises(ReviewError, match="returns more of line 1 than was sold"):
            engine().refund_posting(tax_inclusive_order(), refund)
    else:
        posting = engine().refund_posting(tax_inclusive_order(), refund)
        assert posting.balanced and amounts(posting, LineClass.REVENUE) == [D("90.00") + over]


def test_refund_larger_than_payment_goes_to_review():
    order = tax_inclusive_order()
    refund = Refund(source_id="57", order_id="1001", amount=D("114.01"), currency="USD")
    with pytest.raises(ReviewError, match="exceeds what remains refundable"):
        engine().refund_posting(order, refund)


def test_refund_counts_earlier_refunds():
    first = Refund(source_id="60", order_id="1001", amount=D("100.00"), currency="USD")
    second = Refund(source_id="61", order_id="1001", amount=D("20.00"), currency="USD")
    order = tax_inclusive_order().model_copy(update={"refunds": (first, second)})
    engine().refund_posting(order, first)
    with pytest.raises(ReviewError, match=r"already refunded 100\.00"):
        engine().refund_posting(order, second)


def test_unmapped_line_goes_to_review_never_guessed():
    order = multi_currency_order(D("1.1"))
    with pytest.raises(ReviewError, match="no revenue rule maps sku='BOOK-1'"):
        engine(default_revenue=None, revenue_rules=[]).order_postings(order)


def test_ar_invoice_style_gives_invoice_and_receipts():
    invoice, receipt = engine(posting_style="ar_invoice").order_postings(tax_inclusive_order())
    assert invoice.kind is PostingKind.AR_INVOICE and receipt.kind is PostingKind.RECEIPT
    assert amounts(invoice, LineClass.RECEIVABLE) == [D("114.00")]
    assert amounts(receipt, LineClass.CLEARING) == [D("114.00")]
    assert amounts(receipt, LineClass.RECEIVABLE) == [D("-114.00")]
    assert invoice.balanced and receipt.balanced


def test_large_unexplained_difference_goes_to_review():
    order = tax_inclusive_order().model_copy(update={"total": D("120.00")})
    with pytest.raises(ReviewError):
        engine().order_postings(order)


# --- properties ------------------------------------------------------------------------------------

money = st.decimals(min_value=D("0.00"), max_value=D("5000"), places=2, allow_nan=False, allow_infinity=False)
rates = st.decimals(min_value=D("0.0001"), max_value=D("200"), places=6, allow_nan=False, allow_infinity=False)


@st.composite
def orders(draw):
    currency = draw(st.sampled_from(["USD", "EUR", "GBP", "JPY", "KWD"]))
    q = D(1).scaleb(-{"JPY": 0, "KWD": 3}.get(currency, 2))
    lines, tax_total = [], D(0)
    for i in range(draw(st.integers(1, 6))):
        subtotal = draw(money).quantize(q)
        discount = min(subtotal, draw(money).quantize(q)) if draw(st.booleans()) else D(0)
        tax = (draw(money) / 10).quantize(q)
        sku = draw(st.sampled_from(["HOOD-1", "BOOK-9", "MUG", ""]))
        lines.append(
            OrderLine(
                line_id=str(i),
                sku=sku,
                categories=("Books",) if sku.startswith("BOOK") else (),
                quantity=D(draw(st.integers(1, 5))),
                subtotal=subtotal,
                total=subtotal - discount,
                tax=tax,
                tax_code="US-CA",
            )
        )
        tax_total += tax
    shipping = (
        [ShippingLine(total=draw(money).quantize(q), tax=(draw(money) / 20).quantize(q))] if draw(st.booleans()) else []
    )
    fees = [FeeLine(name="handling", total=(draw(money) / 10).quantize(q))] if draw(st.booleans()) else []
    ship_tax = sum((s.tax for s in shipping), D(0))
    tax_lines = [TaxLine(code="US-CA", amount=tax_total, shipping_amount=ship_tax)] if draw(st.booleans()) else []
    total = sum((li.total + li.tax for li in lines), D(0)) + sum((s.total + s.tax for s in shipping), D(0))
    total += sum((f.total for f in fees), D(0))
    # A store may round its order total a cent away from the sum of its parts.
    total += draw(st.sampled_from([D(0), D(0), D(0), q, -q])) if currency not in ("JPY",) else D(0)
    total = max(total, D(0))
    payments, left = [], total
    if draw(st.booleans()) and left > 0:
        gift = min(left, draw(money).quantize(q))
        payments.append(Payment(payment_id="g", kind=PaymentKind.GIFT_CARD, amount=gift, currency=currency))
        left -= gift
    if draw(st.booleans()):
        payments.append(Payment(payment_id="c", method="stripe", amount=left, currency=currency))
    rate = None if currency == "USD" else draw(rates)
    return Order(
        source_id="1",
        number=str(draw(st.integers(1, 10**9))),
        status="processing",
        paid=True,
        currency=currency,
        created_at=T0,
        updated_at=T0,
        prices_include_tax=draw(st.booleans()),
        lines=tuple(lines),
        tax_lines=tuple(tax_lines),
        shipping_lines=tuple(shipping),
        fee_lines=tuple(fees),
        payments=tuple(payments),
        total=total,
        exchange_rate=rate,
    )


SETTLEMENT = {LineClass.CLEARING, LineClass.RECEIVABLE, LineClass.GIFT_CARD, LineClass.STORE_CREDIT}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(order=orders(), style=st.sampled_from(["journal", "ar_invoice", "voucher"]), gross=st.booleans())
def test_every_document_balances_and_sums_to_the_order(order, style, gross):
    eng = engine(posting_style=style, **({} if gross else {"discounts": None}))
    postings = eng.order_postings(order)
    main = postings[0]
    for posting in postings:
        assert posting.balanced, posting
        assert sum(line.amount for line in posting.lines) == 0
        assert sum(line.base_amount for line in posting.lines) == 0
    settled = sum(line.amount for line in main.lines if line.line_class in SETTLEMENT)
    assert settled == main.source_total == order.total
    if style == "ar_invoice":
        assert sum(p.source_total for p in postings[1:]) == order.paid_total


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(order=orders(), fractions=st.lists(st.integers(1, 100), min_size=1, max_size=4))
def test_refunds_never_exceed_payments(order, fractions):
    eng = engine()
    q = order.total.as_tuple().exponent
    refunds = [
        Refund(
            source_id=str(i),
            order_id="1",
            amount=(order.total * f / 100 + D(1)).quantize(D(1).scaleb(q)),
            currency=order.currency,
        )
        for i, f in enumerate(fractions, start=1)
    ]
    order = order.model_copy(update={"refunds": tuple(refunds)})
    earlier = D(0)  # what the store already returned, whether or not the connector posted it
    for refund in refunds:
        try:
            posting = eng.refund_posting(order, refund)
        except ReviewError:
            assert earlier + refund.amount > order.paid_total
        else:
            assert posting.balanced and posting.source_total == refund.amount
            assert earlier + refund.amount <= order.paid_total
        earlier += refund.amount
