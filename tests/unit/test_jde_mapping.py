"""JD Edwards mapping: account strings, orchestration inputs from postings, customer keys, settings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mlconnector.documents import LineClass, Posting, PostingKind, PostingLine
from mlconnector.errors import ReviewError
from mlconnector.models import Address, Customer
from mlconnector.targets.jdedwards.client import JdeError, jde_messages
from mlconnector.targets.jdedwards.dates import JdeDateFormat
from mlconnector.targets.jdedwards.mapping import (
    browse_request,
    condition,
    customer_key,
    customer_payload,
    erp_id,
    gl_batch_payload,
    jde_account,
    parse_jde_date,
)
from mlconnector.targets.jdedwards.settings import JdeSettings

SETTINGS = JdeSettings(base_url="https://ais.example.com:9300")
US = JdeDateFormat.from_pattern("MM/dd/yyyy")


def line(account: str, amount: str, base: str | None = None, **extra) -> PostingLine:
    return PostingLine(
        line_class=extra.pop("line_class", LineClass.REVENUE),
        account=account,
        amount=Decimal(amount),
        base_amount=Decimal(base if base is not None else amount),
        **extra,
    )


def posting(lines: tuple[PostingLine, ...], **changes) -> Posting:
    base = Posting(
        kind=PostingKind.JOURNAL,
        reference="W1001",
        connection="woo-jde",
        source_kind="order",
        source_id="1001",
        order_reference="1001",
        accounting_date=date(2024, 5, 1),
        currency="USD",
        base_currency="USD",
        description="Web order 1001",
        source_total=sum((ln.amount for ln in lines if ln.amount > 0), Decimal("0")),
        lines=lines,
    )
    return base.model_copy(update=changes) if changes else base


BALANCED = (
    line("1210", "110.00", line_class=LineClass.CLEARING),
    line("4110", "-100.00", chartfields={"BU": "200", "SUB": "WEB"}, description="Revenue"),
    line("2150", "-10.00", line_class=LineClass.TAX),
)


# -- accounts ------------------------------------------------------------------------------------


def test_account_uses_default_business_unit_and_drops_blank_subsidiary():
    assert jde_account(line("4110", "1"), SETTINGS) == "100.4110"


def test_account_takes_bu_and_sub_from_chartfields():
    assert jde_account(line("4110", "1", chartfields={"BU": "200", "SUB": "WEB"}), SETTINGS) == "200.4110.WEB"
    assert jde_account(line("4110", "1", chartfields={"SUB": "WEB"}), SETTINGS) == "100.4110.WEB"


def test_full_account_string_is_used_as_it_is():
    assert jde_account(line("30.1110.BEAR", "1"), SETTINGS) == "30.1110.BEAR"


def test_custom_account_format():
    custom = SETTINGS.model_copy(update={"account_format": "{BU}-{OBJ}-{SUB}"})
    assert jde_account(line("4110", "1"), custom) == "100-4110"
    assert jde_account(line("4110", "1", chartfields={"SUB": "X1"}), custom) == "100-4110-X1"


@pytest.mark.parametrize(
    ("account", "chartfields", "part"),
    [("1234567", {}, "OBJ"), ("4110", {"SUB": "123456789"}, "SUB"), ("4110", {"BU": "1234567890123"}, "BU")],
)
def test_account_parts_longer_than_jde_fields_are_review(account, chartfields, part):
    with pytest.raises(ReviewError, match=part):
        jde_account(line(account, "1", chartfields=chartfields), SETTINGS)


def test_settings_reject_bad_account_format_and_url():
    with pytest.raises(ValidationError, match="OBJ"):
        JdeSettings(base_url="https://ais.example.com", account_format="{BU}.{SUB}")
    with pytest.raises(ValidationError, match="placeholders"):
        JdeSettings(base_url="https://ais.example.com", account_format="{BU}.{OBJ}.{ACCOUNT}")
    with pytest.raises(ValidationError, match="no path"):
        JdeSettings(base_url="https://ais.example.com/jderest")
    with pytest.raises(ValidationError, match="extra"):
        JdeSettings(base_url="https://ais.example.com", password="x")


def test_token_refresh_age_keeps_a_margin():
    assert SETTINGS.refresh_after_seconds == 1680
    short = SETTINGS.model_copy(update={"token_lifetime_seconds": 60, "token_refresh_margin_seconds": 120})
    assert short.refresh_after_seconds == 30


# -- GL payload ----------------------------------------------------------------------------------


def test_gl_payload_shape():
    payload = gl_batch_payload(posting(BALANCED), SETTINGS, US, "7000")
    assert {k: v for k, v in payload.items() if k != "GridData"} == {
        "BatchReference": "W1001",
        "Company": "00001",
        "DocumentType": "JE",
        "LedgerType": "AA",
        "BatchType": "G",
        "GLDate": "05/01/2024",
        "Explanation": "Web order 1001",
        "CurrencyCode": "USD",
        "CurrencyMode": "D",
        "ReversesReference": "",
        "AddressNumber": "7000",
    }
    assert payload["GridData"] == [
        {"LineNumber": 1, "Account": "100.1210", "Amount": "110.00", "LineExplanation": "clearing"},
        {"LineNumber": 2, "Account": "200.4110.WEB", "Amount": "-100.00", "LineExplanation": "Revenue"},
        {"LineNumber": 3, "Account": "100.2150", "Amount": "-10.00", "LineExplanation": "tax"},
    ]
    assert all(isinstance(row["Amount"], str) for row in payload["GridData"])


def test_foreign_currency_payload_sends_base_and_foreign_amounts():
    lines = (line("1210", "100", "108.00"), line("4110", "-100", "-108.00"))
    payload = gl_batch_payload(
        posting(lines, currency="EUR", base_currency="USD", exchange_rate=Decimal("1.08")), SETTINGS, US
    )
    assert (payload["CurrencyCode"], payload["CurrencyMode"], payload["ExchangeRate"]) == ("EUR", "F", "1.08")
    assert [(r["Amount"], r["ForeignAmount"]) for r in payload["GridData"]] == [("108.00", "100"), ("-108.00", "-100")]


def test_amounts_never_use_exponent_notation():
    lines = (line("1210", "1E+2"), line("4110", "-100"))
    assert gl_batch_payload(posting(lines), SETTINGS, US)["GridData"][0]["Amount"] == "100"


def test_refund_carries_the_reversed_reference():
    lines = tuple(ln.model_copy(update={"amount": -ln.amount, "base_amount": -ln.base_amount}) for ln in BALANCED)
    payload = gl_batch_payload(posting(lines, reference="W1001-R55", reverses="W1001"), SETTINGS, US)
    assert payload["BatchReference"] == "W1001-R55"
    assert payload["ReversesReference"] == "W1001"
    assert [r["Amount"] for r in payload["GridData"]] == ["-110.00", "100.00", "10.00"]


def test_explanations_are_cut_to_jde_length():
    long_line = line("4110", "-1", description="x" * 50)
    payload = gl_batch_payload(posting((line("1210", "1"), long_line), description="y" * 40), SETTINGS, US)
    assert payload["Explanation"] == "y" * 30
    assert payload["GridData"][1]["LineExplanation"] == "x" * 30


def test_unbalanced_posting_is_review_before_any_call():
    with pytest.raises(ReviewError, match="out of balance"):
        gl_batch_payload(posting((line("1210", "10"), line("4110", "-9"))), SETTINGS, US)


def test_other_kinds_and_long_references_are_review():
    with pytest.raises(ReviewError, match="not supported by the JD Edwards target"):
        gl_batch_payload(posting(BALANCED, kind=PostingKind.VOUCHER), SETTINGS, US)
    with pytest.raises(ReviewError, match="VR01"):
        gl_batch_payload(posting(BALANCED, reference="W" + "1" * 30), SETTINGS, US)


def test_base_currency_other_than_the_company_currency_is_review():
    usd = SETTINGS.model_copy(update={"company_currency": "USD"})
    with pytest.raises(ReviewError, match="keeps USD"):
        gl_batch_payload(posting(BALANCED, base_currency="CAD", currency="CAD"), usd, US)


cents = st.integers(min_value=-10_000_000, max_value=10_000_000).filter(lambda n: n != 0)


@settings(max_examples=200, deadline=None)
@given(
    amounts=st.lists(cents, min_size=1, max_size=12),
    objects=st.lists(st.sampled_from(["1110", "1210", "2150", "4110", "4190", "4300"]), min_size=13, max_size=13),
    subs=st.lists(st.sampled_from(["", "WEB", "B2C"]), min_size=13, max_size=13),
    rate=st.sampled_from([None, Decimal("1.0825"), Decimal("0.91")]),
)
def test_generated_balanced_postings_map_to_lines_summing_to_zero(amounts, objects, subs, rate):
    values = [Decimal(n).scaleb(-2) for n in amounts]
    values.append(-sum(values, Decimal("0")))  # balancing line (may be zero: a legal zero line)
    lines = []
    for i, value in enumerate(values):
        base = (value * rate).quantize(Decimal("0.01")) if rate else value
        lines.append(line(objects[i], str(value), str(base), chartfields={"SUB": subs[i]} if subs[i] else {}))
    if rate:  # rounding difference to the last line, as the engine's rounding account would take it
        diff = sum((ln.base_amount for ln in lines), Decimal("0"))
        lines[-1] = lines[-1].model_copy(update={"base_amount": lines[-1].base_amount - diff})
    doc = posting(tuple(lines), currency="EUR" if rate else "USD", exchange_rate=rate or Decimal("1"))
    assert doc.balanced
    payload = gl_batch_payload(doc, SETTINGS, US)
    rows = payload["GridData"]
    assert len(rows) == len(lines)
    assert sum(Decimal(r["Amount"]) for r in rows) == 0
    assert [Decimal(r["Amount"]) for r in rows] == [ln.base_amount for ln in lines]
    if rate:
        assert sum(Decimal(r["ForeignAmount"]) for r in rows) == 0
    assert all("E" not in r["Amount"] for r in rows)
    assert all(r["Account"].startswith("100.") for r in rows)


# -- customers, ids, data service ----------------------------------------------------------------


def test_customer_payload_and_key():
    cust = Customer(
        source_id="42",
        email="ann@example.com",
        first_name="Ann",
        last_name="Lee",
        phone="+1 555 0100",
        shipping=Address(line1="2 Side St", city="Ogden", country="US"),
    )
    payload = customer_payload(cust, SETTINGS)
    assert payload["LongAddressNumber"] == "W42"
    assert (payload["AlphaName"], payload["SearchType"], payload["AddressLine1"]) == ("Ann Lee", "C", "2 Side St")
    assert customer_key("42", "") == "42"
    long_key = customer_key("guest:someone.with.a.long.address@example.com", "W")
    assert len(long_key) == 20 and long_key.startswith("WH")
    assert long_key == customer_key("guest:someone.with.a.long.address@example.com", "W")


def test_erp_id_normalises_numbers():
    assert erp_id("1000", 5000) == "1000/5000"
    assert erp_id(Decimal("1000.0"), "5000") == "1000/5000"


def test_browse_request_shape():
    request = browse_request("F0911", ("F0911.ICU", "F0911.DOC"), [condition("F0911.VR01", "EQUAL", "W1")], 10)
    assert request["targetName"] == "F0911" and request["dataServiceType"] == "BROWSE"
    assert request["returnControlIDs"] == "F0911.ICU|F0911.DOC"
    assert request["query"]["condition"] == [
        {"controlId": "F0911.VR01", "operator": "EQUAL", "value": [{"content": "W1", "specialValueId": "LITERAL"}]}
    ]


def test_dates_parse_in_every_form_ais_returns():
    assert parse_jde_date("05/01/2024", US) == date(2024, 5, 1)
    assert parse_jde_date("20240501", US) == date(2024, 5, 1)
    assert parse_jde_date("2024-05-01", US) == date(2024, 5, 1)
    assert parse_jde_date("01.05.2024", JdeDateFormat.from_pattern("dd.MM.yyyy")) == date(2024, 5, 1)
    with pytest.raises(ValueError):
        parse_jde_date("01.05.2024", US)


def test_jde_messages_found_in_form_errors_and_custom_text():
    body = {
        "message": {
            "ServiceRequest1": {
                "fs_P0911_W0911A": {"errors": [{"CODE": "0030", "TITLE": "Error: Account Number Invalid"}]}
            }
        }
    }
    [message] = jde_messages(body)
    assert message.text == "Error: Account Number Invalid (0030)"
    duplicate = JdeError("orchestration X", 400, jde_messages({"userDefinedErrorText": "Batch W1 already exists"}))
    assert duplicate.is_duplicate() and "already exists" in duplicate.reason
    assert jde_messages({"message": "Unable to connect", "exception": "E"}) == []
