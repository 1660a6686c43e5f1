"""Pure PeopleSoft mapping: deterministic keys, journal lines, ChartField filtering, settings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mlconnector.documents import LineClass, Posting, PostingKind, PostingLine
from mlconnector.errors import AuthError, ReviewError
from mlconnector.models import Address, Customer
from mlconnector.targets.peoplesoft import PeopleSoftSettings, customer_id_for, journal_id_for
from mlconnector.targets.peoplesoft.client import PeopleSoftConnection, load_wsdl, parse_ib_responses, wsdl_path
from mlconnector.targets.peoplesoft.mapping import (
    customer_props,
    journal_descr,
    journal_fields,
    journal_lines,
)
from mlconnector.targets.peoplesoft.target import same_reference

SETTINGS = PeopleSoftSettings(base_url="https://erp.example.com:8443", auth="wss")


def posting(reference: str = "woo:order:1001", lines=None, **changes) -> Posting:
    lines = lines or (
        PostingLine(
            line_class=LineClass.CLEARING, account="120000", amount=Decimal("118.00"), base_amount=Decimal("107.27")
        ),
        PostingLine(
            line_class=LineClass.REVENUE,
            account="400000",
            chartfields={"DEPTID": "SALES", "PRODUCT": "TEE"},
            amount=Decimal("-100.00"),
            base_amount=Decimal("-90.91"),
            description="Revenue " + "x" * 60,
        ),
        PostingLine(
            line_class=LineClass.TAX, account="220000", amount=Decimal("-18.00"), base_amount=Decimal("-16.36")
        ),
    )
    values = dict(
        kind=PostingKind.JOURNAL,
        reference=reference,
        connection="c",
        source_kind="order",
        source_id="1001",
        order_reference="1001",
        accounting_date=date(2024, 5, 1),
        currency="EUR",
        base_currency="USD",
        exchange_rate=Decimal("0.90909"),
        description="Web order 1001",
        source_total=Decimal("118.00"),
        lines=tuple(lines),
    )
    values.update(changes)
    return Posting(**values)


# -- JOURNAL_ID ------------------------------------------------------------------------------------


def test_journal_id_is_deterministic_ten_characters():
    first = journal_id_for("woo:order:1001", "W")
    assert first == journal_id_for("woo:order:1001", "W")
    assert len(first) == 10 and first.startswith("W") and first.isalnum() and first.isupper()
    assert first != journal_id_for("woo:order:1002", "W")
    assert len(journal_id_for("woo:order:1001", "WEB")) == 10


def test_journal_id_needs_a_reference():
    with pytest.raises(ReviewError):
        journal_id_for("", "W")


@given(reference=st.text(min_size=1, max_size=300), prefix=st.from_regex(r"[A-Z][A-Z0-9]{0,2}", fullmatch=True))
def test_journal_id_stable_and_short_for_any_reference(reference, prefix):
    journal_id = journal_id_for(reference, prefix)
    assert journal_id == journal_id_for(reference, prefix)
    assert len(journal_id) == 10
    assert journal_id != "NEXT"
    assert journal_id.startswith(prefix)
    assert all(ch.isascii() and (ch.isdigit() or ch.isupper()) for ch in journal_id)


@settings(max_examples=20)
@given(st.lists(st.text(min_size=1, max_size=40), min_size=200, max_size=400, unique=True))
def test_distinct_references_rarely_collide(references):
    ids = {journal_id_for(ref, "W") for ref in references}
    assert len(ids) == len(references)


def test_no_collisions_over_many_sequential_order_references():
    refs = [f"woo:order:{n}" for n in range(50_000)]
    assert len({journal_id_for(r, "W") for r in refs}) == len(refs)


# -- CUST_ID ---------------------------------------------------------------------------------------


def test_customer_id_numeric_store_ids_are_readable():
    assert customer_id_for("42", "W") == "W42"
    assert customer_id_for("12345678901234", "W") == "W12345678901234"


@given(st.text(min_size=1, max_size=200), st.from_regex(r"[A-Z][A-Z0-9]{0,2}", fullmatch=True))
def test_customer_id_fits_and_is_stable(source_id, prefix):
    cust_id = customer_id_for(source_id, prefix)
    assert cust_id == customer_id_for(source_id, prefix)
    assert len(cust_id) <= 15 and cust_id.startswith(prefix)


def test_customer_id_hashed_form_cannot_meet_numeric_form():
    hashed = customer_id_for("guest:ann@example.com", "W")
    assert hashed.startswith("WH") and len(hashed) == 15
    assert customer_id_for("123456789012345", "W").startswith("WH")  # too long for the readable form


def test_customer_props_truncate_to_peoplesoft_lengths():
    customer = Customer(
        source_id="42",
        email="ann@example.com",
        company="A" * 60,
        phone="1" * 30,
        billing=Address(line1="L" * 70, city="Springfield", state="Illinois", postcode="62701", country="USA"),
    )
    props = customer_props(customer)
    assert len(props["PROP_NAME1"]) == 40
    assert len(props["PROP_PHONE"]) == 24
    assert len(props["PROP_ADDRESS1"]) == 55
    assert props["PROP_CUSTOMER_REF"] == "42"
    assert props["PROP_CUST_STATUS"] == "A"


# -- journal lines ---------------------------------------------------------------------------------


def test_line_mapping_carries_chartfields_amounts_and_currency():
    rows = journal_lines(posting(), SETTINGS)
    assert [r["KEYPROP_JOURNAL_LINE"] for r in rows] == [1, 2, 3]
    revenue = rows[1]
    assert revenue["PROP_ACCOUNT"] == "400000"
    assert revenue["PROP_DEPTID"] == "SALES" and revenue["PROP_PRODUCT"] == "TEE"
    assert revenue["PROP_MONETARY_AMOUNT"] == Decimal("-90.91")
    assert revenue["PROP_FOREIGN_AMOUNT"] == Decimal("-100.00")
    assert revenue["PROP_FOREIGN_CURRENCY"] == "EUR"
    assert revenue["PROP_LEDGER"] == "ACTUALS"
    assert len(revenue["PROP_LINE_DESCR"]) == 30
    assert rows[0]["PROP_LINE_DESCR"] == "clearing"
    assert "PROP_DEPTID" not in rows[0]
    assert sum(r["PROP_MONETARY_AMOUNT"] for r in rows) == 0
    assert all(isinstance(r["PROP_MONETARY_AMOUNT"], Decimal) for r in rows)


def test_header_fields():
    fields = journal_fields(posting(), SETTINGS)
    assert fields["KEYPROP_BUSINESS_UNIT"] == "US001"
    assert fields["KEYPROP_JOURNAL_ID"] == journal_id_for("woo:order:1001", "W")
    assert fields["KEYPROP_JOURNAL_DATE"] == date(2024, 5, 1)
    assert fields["PROP_LEDGER_GROUP"] == "ACTUALS" and fields["PROP_SOURCE"] == "WEB"
    assert fields["PROP_FOREIGN_CURRENCY"] == "EUR" and fields["PROP_RATE_MULT"] == Decimal("0.90909")
    assert fields["PROP_DESCR"].startswith("ref:woo:order:1001 | order 1001")


def test_refund_descr_names_the_reversed_document():
    descr = journal_descr(posting("woo:refund:9", reverses="woo:order:1001"))
    assert "reverses woo:order:1001" in descr


def test_descr_is_cut_to_254_and_keeps_the_reference_first():
    long = posting(description="d" * 400)
    descr = journal_descr(long)
    assert len(descr) == 254
    assert same_reference(descr, "woo:order:1001")
    assert not same_reference(descr, "woo:order:100")


def test_unknown_chartfield_is_review():
    bad = posting(
        lines=(
            PostingLine(line_class=LineClass.CLEARING, account="120000", amount=Decimal("1"), base_amount=Decimal("1")),
            PostingLine(
                line_class=LineClass.REVENUE,
                account="400000",
                chartfields={"COST_CENTER": "7"},
                amount=Decimal("-1"),
                base_amount=Decimal("-1"),
            ),
        )
    )
    with pytest.raises(ReviewError, match="COST_CENTER"):
        journal_lines(bad, SETTINGS)


def test_chartfield_not_allowed_by_profile_is_review():
    narrow = SETTINGS.model_copy(update={"chartfields": ["ACCOUNT", "DEPTID"]})
    with pytest.raises(ReviewError, match="PRODUCT"):
        journal_lines(posting(), narrow)


def test_chartfield_too_long_is_review():
    bad = posting(
        lines=(
            PostingLine(
                line_class=LineClass.CLEARING, account="12345678901", amount=Decimal("1"), base_amount=Decimal("1")
            ),
            PostingLine(
                line_class=LineClass.REVENUE, account="400000", amount=Decimal("-1"), base_amount=Decimal("-1")
            ),
        )
    )
    with pytest.raises(ReviewError, match="longer than 10"):
        journal_lines(bad, SETTINGS)


def test_unbalanced_journal_is_review_before_any_call():
    bad = posting(
        lines=(
            PostingLine(
                line_class=LineClass.CLEARING, account="120000", amount=Decimal("10"), base_amount=Decimal("10")
            ),
            PostingLine(
                line_class=LineClass.REVENUE, account="400000", amount=Decimal("-9"), base_amount=Decimal("-9")
            ),
        )
    )
    with pytest.raises(ReviewError, match="does not balance"):
        journal_fields(bad, SETTINGS)


def test_more_than_three_decimals_is_review():
    bad = posting(
        lines=(
            PostingLine(
                line_class=LineClass.CLEARING, account="120000", amount=Decimal("1.0001"), base_amount=Decimal("1.0001")
            ),
            PostingLine(
                line_class=LineClass.REVENUE,
                account="400000",
                amount=Decimal("-1.0001"),
                base_amount=Decimal("-1.0001"),
            ),
        )
    )
    with pytest.raises(ReviewError, match="decimal places"):
        journal_lines(bad, SETTINGS)


# -- settings, WSDLs, faults -----------------------------------------------------------------------


def test_settings_validation():
    with pytest.raises(ValidationError, match="token_url"):
        PeopleSoftSettings(base_url="https://erp", auth="oauth2")
    with pytest.raises(ValidationError, match="no path"):
        PeopleSoftSettings(base_url="https://erp/PSIGW", auth="basic")
    with pytest.raises(ValidationError, match="unknown ChartFields"):
        PeopleSoftSettings(base_url="https://erp", chartfields=["ACCOUNT", "COST_CENTER"])
    with pytest.raises(ValidationError, match="upper-case"):
        PeopleSoftSettings(base_url="https://erp", journal_id_prefix="web")
    with pytest.raises(ValidationError, match="extra"):
        PeopleSoftSettings(base_url="https://erp", password="x")
    ok = PeopleSoftSettings(base_url="https://erp:8443/", auth="oauth2", token_url="https://idcs/oauth2/v1/token")
    assert ok.soap_url == "https://erp:8443/PSIGW/PeopleSoftServiceListeningConnector/PSFT_EP"


def test_missing_credentials_fail_without_echoing_values():
    with pytest.raises(AuthError, match="password") as caught:
        PeopleSoftConnection(SETTINGS, {"username": "secret-user"})
    assert "secret-user" not in str(caught.value)


@pytest.mark.parametrize("ci", ["CUSTOMER_CI", "JOURNAL_ENTRY_CI"])
def test_shipped_wsdls_load_offline_with_peoplesoft_shape(ci):
    document = load_wsdl(wsdl_path(SETTINGS, ci))
    assert load_wsdl(wsdl_path(SETTINGS, ci)) is document  # parsed once per process
    service = document.services[f"CI_{ci}"]
    port = service.ports[f"CI_{ci}_Port"]
    operations = port.binding._operations
    assert set(operations) == {f"CI_{ci}_C", f"CI_{ci}_F", f"CI_{ci}_G", f"CI_{ci}_UP"}
    assert operations[f"CI_{ci}_C"].soapaction == f"CI_{ci}_C.V1"
    assert operations[f"CI_{ci}_C"].input.body.qname.localname == f"Create__CompIntfc__{ci}"
    assert operations[f"CI_{ci}_F"].output.body.qname.localname == f"Find__CompIntfc__{ci}Response"


def test_parse_ib_responses_reads_cifault():
    from lxml import etree

    detail = etree.fromstring(
        "<detail><CIFault xmlns='urn:m'><IBResponse type='error'><DefaultTitle>Integration Broker Response"
        "</DefaultTitle><StatusCode>20</StatusCode><MessageSetID>18</MessageSetID><MessageID>2</MessageID>"
        "<DefaultMessage>Data being added conflicts with existing data.</DefaultMessage>"
        "</IBResponse></CIFault></detail>"
    )
    is_ci, messages = parse_ib_responses(detail)
    assert is_ci and messages[0].number == (18, 2)
    assert messages[0].text.startswith("Data being added")


def test_exchange_rate_fits_rate_mult_precision():
    from mlconnector.targets.peoplesoft.mapping import journal_fields
    from mlconnector.targets.peoplesoft.settings import PeopleSoftSettings

    rate = Decimal(1) / Decimal("0.9123")  # a store's inverse rate: 28 significant digits
    lines = (
        PostingLine(
            line_class=LineClass.CLEARING, account="101000", amount=Decimal("10"), base_amount=Decimal("10.96")
        ),
        PostingLine(
            line_class=LineClass.REVENUE, account="400000", amount=Decimal("-10"), base_amount=Decimal("-10.96")
        ),
    )
    posting = Posting(
        kind=PostingKind.JOURNAL, reference="B1", connection="c", source_kind="order", source_id="1",
        order_reference="1", accounting_date=date(2026, 1, 1), currency="EUR", base_currency="USD",
        exchange_rate=rate, description="d", source_total=Decimal("10"), lines=lines,
    )  # fmt: skip
    payload = journal_fields(posting, PeopleSoftSettings(base_url="http://x"))
    assert payload["PROP_RATE_MULT"] == Decimal("1.09613066")
