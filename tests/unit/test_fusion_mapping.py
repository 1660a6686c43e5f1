"""Fusion payloads from postings: exact lines, distributions that add up, segment order, properties."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mlconnector.documents import LineClass, Posting, PostingKind, PostingLine
from mlconnector.errors import ReviewError
from mlconnector.models import Address, Customer
from mlconnector.targets.fusion.mapping import (
    BillTo,
    allocate,
    credit_memo_payload,
    customer_account_envelope,
    dumps,
    invoice_payload,
    loads,
    organization_payload,
    q_filter,
    quantity_and_price,
    receipt_payload,
)
from mlconnector.targets.fusion.settings import FusionSettings

BASE = {
    "base_url": "https://abcd.fa.ocs.oraclecloud.com",
    "token_url": "https://idcs-1234.identity.oraclecloud.com/oauth2/v1/token",
    "business_unit": "US1 Business Unit",
    "transaction_source": "WEB STORE",
    "receipt_method": "WEB CARD",
    "remittance_bank_account_number": "10271-000123",
    "segment_defaults": {"COMPANY": "101", "COST_CENTER": "000"},
    "customer_account_set_id": 202,
    "tax_regime_code": "US SALES TAX",
    "default_tax_rate_code": "US STANDARD",
}
C1 = BillTo("C-1")
C = BillTo("C")


def fusion_settings(**overrides) -> FusionSettings:
    return FusionSettings.model_validate({**BASE, **overrides})


def line(cls: LineClass, account: str, amount: str, quantity: str | None = None, **chartfields: str) -> PostingLine:
    return PostingLine(
        line_class=cls,
        account=account,
        chartfields=chartfields,
        amount=D(amount),
        base_amount=D(amount),
        description=f"{cls} {account}",
        quantity=D(quantity) if quantity else None,
    )


def posting(kind: PostingKind, reference: str, lines: list[PostingLine], total: str, **extra) -> Posting:
    return Posting(
        kind=kind,
        reference=reference,
        connection="woo-fusion",
        source_kind="order",
        source_id="1001",
        order_reference="1001",
        accounting_date=date(2026, 3, 2),
        currency=extra.pop("currency", "USD"),
        base_currency="USD",
        description=f"Web order {reference}",
        source_total=D(total),
        lines=tuple(lines),
        **extra,
    )


INVOICE_LINES = [
    line(LineClass.REVENUE, "40100", "-60.00", "3", COST_CENTER="100"),
    line(LineClass.REVENUE, "40200", "-10.00", "3", COST_CENTER="100"),
    line(LineClass.DISCOUNT, "41000", "6.00"),
    line(LineClass.TAX, "22100", "-6.40"),
    line(LineClass.SHIPPING, "42000", "-5.00"),
    line(LineClass.FEE, "43000", "-1.50"),
    line(LineClass.RECEIVABLE, "12100", "76.90"),
]


def test_invoice_payload_lines_freight_tax_and_distributions():
    body = invoice_payload(posting(PostingKind.AR_INVOICE, "W1001", INVOICE_LINES, "76.90"), fusion_settings(), C1)
    assert body["TransactionNumber"] == "W1001"
    assert body["BillToCustomerNumber"] == "C-1" and "BillToSite" not in body
    assert body["InvoiceCurrencyCode"] == "USD"
    assert "ConversionRate" not in body and "AccountingDate" not in body
    lines = [(ln["Quantity"], ln["UnitSellingPrice"]) for ln in body["receivablesInvoiceLines"]]
    # 60.00 / 3 is exact; 10.00 / 3 is not, so quantity 1 carries the whole amount. Shipping is line freight.
    assert lines == [(D(3), D("20.00")), (D(1), D("10.00")), (D(1), D("-6.00")), (D(1), D("1.50"))]
    first = body["receivablesInvoiceLines"][0]
    assert first["AllocatedFreightAmount"] == D("5.00")
    # 6.40 tax over the positive lines by amount (60 + 5 freight, 10, 1.50): 5.44 + 0.84 + 0.12, to the cent.
    shares = {ln["LineNumber"]: ln.get("receivablesInvoiceLineTaxLines") for ln in body["receivablesInvoiceLines"]}
    assert shares[3] is None
    assert sum(t[0]["TaxAmount"] for t in shares.values() if t) == D("6.40")
    assert shares[1] == [{"TaxRegimeCode": "US SALES TAX", "TaxRateCode": "US STANDARD", "TaxAmount": D("5.44")}]
    dists = body["receivablesInvoiceDistributions"]
    assert [
        (d["AccountClass"], d.get("InvoiceLineNumber"), d.get("DetailedTaxLineNumber"), d["Amount"]) for d in dists
    ] == [
        ("Revenue", 1, None, D("60.00")),
        ("Freight", 1, None, D("5.00")),
        ("Tax", 1, 1, D("5.44")),
        ("Revenue", 2, None, D("10.00")),
        ("Tax", 2, 1, D("0.84")),
        ("Revenue", 3, None, D("-6.00")),
        ("Revenue", 4, None, D("1.50")),
        ("Tax", 4, 1, D("0.12")),
        ("Receivable", None, None, D("76.90")),
    ]
    assert sum(d["Amount"] for d in dists[:-1]) == dists[-1]["Amount"]


def test_calculated_tax_sends_classification_codes_and_a_percent_receivable():
    s = fusion_settings(tax_mode="calculated", tax_classification_code="US STANDARD")
    body = invoice_payload(posting(PostingKind.AR_INVOICE, "W1001", INVOICE_LINES, "76.90"), s, C1)
    codes = [ln.get("TaxClassificationCode") for ln in body["receivablesInvoiceLines"]]
    assert codes == ["US STANDARD", "US STANDARD", None, "US STANDARD"]
    assert not any("receivablesInvoiceLineTaxLines" in ln for ln in body["receivablesInvoiceLines"])
    dists = body["receivablesInvoiceDistributions"]
    assert not [d for d in dists if d["AccountClass"] == "Tax"]
    assert dists[-1] == {"AccountClass": "Receivable", "AccountCombination": "101-12100-000", "Percent": D("100")}


def test_bill_to_site_is_sent_when_the_match_names_one():
    body = invoice_payload(
        posting(PostingKind.AR_INVOICE, "W1", INVOICE_LINES, "76.90"), fusion_settings(), BillTo.parse("C-1|1042")
    )
    assert (body["BillToCustomerNumber"], body["BillToSite"]) == ("C-1", "1042")
    assert BillTo.parse("C-1").erp_id == "C-1" and BillTo("C-1", "1042").erp_id == "C-1|1042"


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        ("1.00", ["1", "1", "1"], ["0.34", "0.33", "0.33"]),
        ("-1.00", ["1", "1", "1"], ["-0.34", "-0.33", "-0.33"]),
        ("6.40", ["65", "10", "1.5"], ["5.44", "0.84", "0.12"]),
        ("0.05", ["100"], ["0.05"]),
    ],
)
def test_allocate_is_exact_to_the_cent(total, weights, expected):
    shares = allocate(D(total), [D(w) for w in weights], "USD")
    assert shares == [D(e) for e in expected] and sum(shares) == D(total)


def test_segment_order_and_full_combinations():
    s = fusion_settings(segment_order=["ACCOUNT", "cost_center", "COMPANY"], segment_separator=".")
    lines = [
        line(LineClass.REVENUE, "40100", "-10.00", cost_center="300"),
        line(LineClass.RECEIVABLE, "12100.000.102", "10.00"),
    ]
    body = invoice_payload(posting(PostingKind.AR_INVOICE, "W1", lines, "10.00"), s, C)
    assert [d["AccountCombination"] for d in body["receivablesInvoiceDistributions"]] == [
        "40100.300.101",
        "12100.000.102",
    ]


def test_missing_segment_is_a_review_error():
    s = fusion_settings(segment_defaults={"COMPANY": "101"})
    lines = [line(LineClass.REVENUE, "40100", "-10.00"), line(LineClass.RECEIVABLE, "12100", "10.00")]
    with pytest.raises(ReviewError, match="no value for segment COST_CENTER"):
        invoice_payload(posting(PostingKind.AR_INVOICE, "W1", lines, "10.00"), s, C)


def test_invoice_must_match_source_total_and_carry_no_payments():
    with pytest.raises(ReviewError, match="differs from the order total"):
        invoice_payload(posting(PostingKind.AR_INVOICE, "W1", INVOICE_LINES, "80.00"), fusion_settings(), C)
    lines = [
        line(LineClass.REVENUE, "40100", "-10.00", COST_CENTER="100"),
        line(LineClass.CLEARING, "11100", "10.00"),
    ]
    with pytest.raises(ReviewError, match="payments post as receipts"):
        invoice_payload(posting(PostingKind.AR_INVOICE, "W1", lines, "10.00"), fusion_settings(), C)


def test_foreign_currency_invoice_carries_a_user_rate():
    lines = [
        line(LineClass.REVENUE, "40100", "-100.00", COST_CENTER="100"),
        line(LineClass.RECEIVABLE, "12100", "100.00"),
    ]
    p = posting(PostingKind.AR_INVOICE, "W7", lines, "100.00", currency="EUR", exchange_rate=D("1.0825"))
    body = invoice_payload(p, fusion_settings(), C)
    assert (body["InvoiceCurrencyCode"], body["ConversionRateType"], body["ConversionRate"]) == (
        "EUR",
        "User",
        D("1.0825"),
    )
    assert body["ConversionDate"] == "2026-03-02"


def test_credit_memo_payload_uses_oracles_names_and_is_negative_and_exact():
    lines = [
        line(LineClass.REVENUE, "40100", "20.00", "1", COST_CENTER="100"),
        line(LineClass.SHIPPING, "42000", "5.00"),
        line(LineClass.TAX, "22100", "2.50"),
        line(LineClass.RECEIVABLE, "12100", "-27.50"),
    ]
    p = posting(PostingKind.CREDIT_MEMO, "W1001-R9", lines, "27.50", reverses="W1001")
    body = credit_memo_payload(p, fusion_settings(credit_memo_type="Web Credit Memo"), C1)
    assert body["TransactionType"] == "Web Credit Memo"
    assert body["CreditMemoCurrency"] == "USD" and "W1001" in body["CreditMemoComments"]
    assert not {"CreditMemoCurrencyCode", "Comments", "CrossReference", "AccountingDate"} & set(body)
    memo_lines = body["receivablesCreditMemoLines"]
    # Refunded shipping is its own line on the freight account (credit memos carry no line freight here).
    assert [(ln["LineQuantityCredit"], ln["UnitSellingPrice"]) for ln in memo_lines] == [
        (D(1), D("-20.00")),
        (D(1), D("-5.00")),
    ]
    taxes = [t for ln in memo_lines for t in ln.get("receivablesCreditMemoLineTaxLines", [])]
    assert sum(t["TaxAmount"] for t in taxes) == D("-2.50")
    dists = body["receivablesCreditMemoDistributions"]
    assert dists[-1] == {"AccountClass": "Receivable", "AccountCombination": "101-12100-000", "Amount": D("-27.50")}
    assert sum(d["Amount"] for d in dists[:-1]) == D("-27.50")
    total = sum(ln["LineQuantityCredit"] * ln["UnitSellingPrice"] for ln in memo_lines) + sum(
        t["TaxAmount"] for t in taxes
    )
    assert total == -p.source_total


def test_credit_memo_needs_the_original_invoice():
    lines = [line(LineClass.REVENUE, "40100", "5.00", COST_CENTER="1"), line(LineClass.RECEIVABLE, "12100", "-5.00")]
    with pytest.raises(ReviewError, match="does not name the invoice"):
        credit_memo_payload(posting(PostingKind.CREDIT_MEMO, "W1-R1", lines, "5.00"), fusion_settings(), C)


def test_receipt_payload_applies_to_the_order_invoice():
    lines = [line(LineClass.CLEARING, "11100", "88.55"), line(LineClass.RECEIVABLE, "12100", "-88.55")]
    body = receipt_payload(posting(PostingKind.RECEIPT, "W1001-Pch_1-P2", lines, "88.55"), fusion_settings(), C1)
    assert body["ReceiptNumber"] == "W1001-Pch_1-P2"
    assert (body["Amount"], body["Currency"], body["CustomerAccountNumber"]) == (D("88.55"), "USD", "C-1")
    assert body["remittanceReferences"] == [
        {"ReceiptMatchBy": "Transaction Number", "ReferenceNumber": "W1001-Pch_1", "ReferenceAmount": D("88.55")}
    ]
    with pytest.raises(ReviewError, match="invoice reference"):
        receipt_payload(posting(PostingKind.RECEIPT, "W1001", lines, "88.55"), fusion_settings(), None)


def test_json_numbers_are_exact_decimals():
    raw = dumps({"Amount": D("0.10"), "Rate": D("1.0825"), "Neg": [D("-5.00")], "Text": "0.10"})
    assert raw == b'{"Amount":0.10,"Rate":1.0825,"Neg":[-5.00],"Text":"0.10"}'
    assert loads(raw)["Amount"] == D("0.10")


def test_q_filters():
    assert q_filter({"TransactionNumber": "W1001"}, "4") == "TransactionNumber='W1001'"
    assert q_filter({"A": "x", "B": "y"}, "1") == "A='x';B='y'"
    assert q_filter({"A": "x", "B": "y"}, "2") == "A='x' and B='y'"
    assert q_filter({"OrganizationName": "O'Hara"}, "4") == 'OrganizationName="O\'Hara"'
    assert q_filter({"OrganizationName": 'O\'Hara "Ltd"'}, "4") is None


def test_organization_payload_is_a_party_with_a_site_and_no_account():
    customer = Customer(
        source_id="42", email="a@example.com", company="Acme Ltd", billing=Address(line1="1 Way", country="gb")
    )
    body = organization_payload(fusion_settings(), customer)
    assert body == {
        "OrganizationName": "Acme Ltd",
        "SourceSystem": "WEBSTORE",
        "SourceSystemReferenceValue": "42",
        "EmailAddress": "a@example.com",
        "Address": [{"Address1": "1 Way", "Country": "GB"}],
    }
    envelope = customer_account_envelope(fusion_settings(), 300100, 300200).decode()
    assert "<typ:mergeCustomerAccount>" in envelope and "<cus:PartyId>300100</cus:PartyId>" in envelope
    assert "<cus:PartySiteId>300200</cus:PartySiteId>" in envelope and "<cus:SetId>202</cus:SetId>" in envelope
    assert "<cus:SiteUseCode>BILL_TO</cus:SiteUseCode>" in envelope


def test_settings_validation():
    with pytest.raises(ValidationError, match="token_url is required"):
        fusion_settings(token_url=None)
    with pytest.raises(ValidationError, match="must use https"):
        fusion_settings(base_url="http://abcd.fa.ocs.oraclecloud.com")
    with pytest.raises(ValidationError, match="Extra inputs"):
        fusion_settings(client_secret="x")
    with pytest.raises(ValidationError, match="segment_order must contain ACCOUNT"):
        fusion_settings(segment_order=["COMPANY"])
    with pytest.raises(ValidationError, match="REST-Framework-Version"):
        fusion_settings(rest_framework_version="12")
    with pytest.raises(ValidationError, match="tax_mode calculated needs tax_classification_code"):
        fusion_settings(tax_mode="calculated")
    with pytest.raises(ValidationError, match="tax_mode entered needs tax_regime_code"):
        fusion_settings(tax_regime_code=None)
    with pytest.raises(ValidationError, match="web_customers_account_number is required"):
        fusion_settings(customer_accounts="guests_to_web_account")
    with pytest.raises(ValidationError, match="customer_account_set_id is required"):
        fusion_settings(customer_account_set_id=None)
    assert (
        fusion_settings(
            customer_accounts="all_to_web_account", customer_account_set_id=None, web_customers_account_number="WEB-1"
        ).customer_accounts
        == "all_to_web_account"
    )
    s = fusion_settings(base_url="http://127.0.0.1:8080/", auth="basic", token_url=None)
    assert s.fscm_url == "http://127.0.0.1:8080/fscmRestApi/resources/11.13.18.05"


@pytest.mark.parametrize(
    ("amount", "quantity", "expected"),
    [
        ("60.00", "3", (D(3), D("20.00"))),
        ("10.00", "3", (D(1), D("10.00"))),
        ("7.50", "2.5", (D("2.5"), D("3.00"))),
        ("0.01", "2", (D(1), D("0.01"))),
        ("-20.00", "2", (D(2), D("-10.00"))),
        ("9.99", None, (D(1), D("9.99"))),
    ],
)
def test_quantity_and_price_is_exact(amount, quantity, expected):
    q, p = quantity_and_price(D(amount), D(quantity) if quantity else None, "USD")
    assert (q, p) == expected and q * p == D(amount)


# -- properties --------------------------------------------------------------------------------------

cents = st.integers(min_value=1, max_value=10_000_00).map(lambda c: D(c).scaleb(-2))
quantities = st.one_of(st.none(), st.integers(min_value=1, max_value=12).map(D))


@st.composite
def balanced_invoices(draw) -> Posting:
    lines = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        cc = draw(st.sampled_from(["100", "200"]))
        lines.append(line(LineClass.REVENUE, "40100", str(-draw(cents)), draw(quantities), COST_CENTER=cc))
    for cls, account in ((LineClass.SHIPPING, "42000"), (LineClass.FEE, "43000"), (LineClass.TAX, "22100")):
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            lines.append(line(cls, account, str(-draw(cents))))
    credits = -sum(ln.amount for ln in lines)
    if draw(st.booleans()):
        discount = draw(st.integers(min_value=0, max_value=int(credits * 100) - 1).map(lambda c: D(c).scaleb(-2)))
        if discount:
            lines.append(line(LineClass.DISCOUNT, "41000", str(discount)))
    total = -sum(ln.amount for ln in lines)
    lines.append(line(LineClass.RECEIVABLE, "12100", str(total)))
    return posting(PostingKind.AR_INVOICE, "W9", lines, str(total))


@settings(max_examples=200, deadline=None)
@given(balanced_invoices())
def test_invoice_receivable_equals_revenue_tax_and_freight(p: Posting):
    assert p.balanced
    body = invoice_payload(p, fusion_settings(), C)
    dists = body["receivablesInvoiceDistributions"]
    receivable = [d["Amount"] for d in dists if d["AccountClass"] == "Receivable"]
    others = sum(d["Amount"] for d in dists if d["AccountClass"] in ("Revenue", "Tax", "Freight"))
    assert receivable == [others] == [p.source_total]
    by_line = {ln["LineNumber"]: ln for ln in body["receivablesInvoiceLines"]}
    for dist in dists:
        ln = by_line.get(dist.get("InvoiceLineNumber"))
        if dist["AccountClass"] == "Revenue":
            assert ln["Quantity"] * ln["UnitSellingPrice"] == dist["Amount"]
        elif dist["AccountClass"] == "Freight":
            assert ln["AllocatedFreightAmount"] == dist["Amount"]
        elif dist["AccountClass"] == "Tax":
            assert (
                ln["receivablesInvoiceLineTaxLines"][dist["DetailedTaxLineNumber"] - 1]["TaxAmount"] == dist["Amount"]
            )
    for ln in body["receivablesInvoiceLines"]:
        assert ln["UnitSellingPrice"] == ln["UnitSellingPrice"].quantize(D("0.01"))
    lines = sum(
        ln["Quantity"] * ln["UnitSellingPrice"] + ln.get("AllocatedFreightAmount", 0) for ln in by_line.values()
    )
    taxes = sum(t["TaxAmount"] for ln in by_line.values() for t in ln.get("receivablesInvoiceLineTaxLines", []))
    assert lines + taxes == p.source_total


@settings(max_examples=100, deadline=None)
@given(balanced_invoices())
def test_credit_memo_of_any_invoice_totals_the_refund(p: Posting):
    mirrored = [ln.model_copy(update={"amount": -ln.amount, "base_amount": -ln.base_amount}) for ln in p.lines]
    memo = p.model_copy(
        update={"kind": PostingKind.CREDIT_MEMO, "reference": "W9-R1", "lines": tuple(mirrored), "reverses": "W9"}
    )
    body = credit_memo_payload(memo, fusion_settings(), C)
    lines_total = sum(ln["LineQuantityCredit"] * ln["UnitSellingPrice"] for ln in body["receivablesCreditMemoLines"])
    dists = body["receivablesCreditMemoDistributions"]
    taxes = sum(d["Amount"] for d in dists if d["AccountClass"] == "Tax")
    line_taxes = [
        t["TaxAmount"]
        for ln in body["receivablesCreditMemoLines"]
        for t in ln.get("receivablesCreditMemoLineTaxLines", [])
    ]
    assert lines_total + taxes == lines_total + sum(line_taxes) == -memo.source_total
    assert [d["Amount"] for d in dists if d["AccountClass"] == "Receivable"] == [-memo.source_total]


def test_registry_resolves_the_fusion_target():
    from mlconnector import registry
    from mlconnector.targets.fusion.target import FusionTarget

    assert registry.erp_settings_class("fusion") is FusionSettings
    assert registry.erp_class("fusion") is FusionTarget
    assert fusion_settings(type="fusion").type == "fusion"
