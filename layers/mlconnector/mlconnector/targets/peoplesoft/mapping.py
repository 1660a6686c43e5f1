"""Pure mapping from canonical customers and postings to PeopleSoft CI fields.

Keys are deterministic so that a retried post finds what an earlier attempt committed:

* ``JOURNAL_ID`` (10 characters): ``journal_id_prefix`` + the first ``10 - len(prefix)``
  base-36 digits of SHA-256(posting.reference). Always exactly 10 characters, so never
  PeopleSoft's auto-numbering placeholder ``NEXT``. With a 1-character prefix that is
  36^9 (about 10^14) values; a collision is caught by ``find_posting`` comparing the
  reference carried at the start of ``DESCR``.
* ``CUST_ID`` (15 characters): ``customer_id_prefix`` + the store id when it is all digits
  and fits; otherwise prefix + ``H`` + base-36 SHA-256 digits (the ``H`` keeps the two forms apart).
* AR pending items: ``ITEM`` (30) is the posting reference itself when it fits, else ``H`` + hash
  (a receipt's item is its invoice's item: the payment is applied to it); ``GROUP_ID`` (15) is
  ``journal_id_prefix`` + hash, one group per posting.
* Vouchers: ``VOUCHER_ID`` (8) is ``journal_id_prefix`` + hash; ``INVOICE_ID`` (30) is the reference
  (or its hash) and is what ``find_posting`` looks up.

The AR and voucher CIs are modelled on the documented staging records (PS_PENDING_ITEM /
PS_PENDING_DST, VCHR_HDR_STG / VCHR_LINE_STG / VCHR_DIST_STG); their field names are assumptions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from mlconnector.documents import LineClass, Posting, PostingKind, PostingLine
from mlconnector.errors import ReviewError
from mlconnector.models import Address, Customer
from mlconnector.targets.peoplesoft.countries import ALPHA_3, STATE_CODES
from mlconnector.targets.peoplesoft.settings import (
    AR_ITEM_CI,
    CHARTFIELD_LENGTHS,
    CUSTOMER_CI,
    JOURNAL_CI,
    VOUCHER_CI,
    PeopleSoftSettings,
)

RATE_QUANTUM = Decimal("0.00000001")

JOURNAL_ID_LENGTH = 10
CUST_ID_LENGTH = 15
#: PeopleSoft's DESCR is 30 characters (DESCR254 is another field); the WSDL's maxLength, when it has one, rules.
DESCR_LENGTH = 30
AMOUNT_PLACES = 3  # MONETARY_AMOUNT / FOREIGN_AMOUNT are 26.3 in PeopleSoft
CUSTOMER_REF_LENGTH = 100

_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _base36(data: str, width: int) -> str:
    number = int.from_bytes(hashlib.sha256(data.encode("utf-8")).digest(), "big")
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 36)
        digits.append(_B36[rest])
    return "".join(digits)


def journal_id_for(reference: str, prefix: str) -> str:
    """The deterministic 10-character JOURNAL_ID of a posting reference."""
    if not reference:
        raise ReviewError("posting has no reference to derive a PeopleSoft JOURNAL_ID from")
    return prefix + _base36(reference, JOURNAL_ID_LENGTH - len(prefix))


def customer_id_for(source_id: str, prefix: str) -> str:
    """The deterministic CUST_ID (max 15 characters) of a store customer id."""
    if not source_id:
        raise ReviewError("customer has no store id to derive a PeopleSoft CUST_ID from")
    if source_id.isascii() and source_id.isdigit() and len(prefix) + len(source_id) <= CUST_ID_LENGTH:
        return prefix + source_id
    return prefix + "H" + _base36(source_id, CUST_ID_LENGTH - len(prefix) - 1)


def customer_ref(source_id: str) -> str:
    return source_id[:CUSTOMER_REF_LENGTH]


def journal_erp_id(business_unit: str, journal_id: str) -> str:
    return f"{business_unit}/{journal_id}"


REFERENCE_MARKER = "ref:"
HASHED_REFERENCE_MARKER = "rfh:"
MARKER_SEPARATOR = " | "


def reference_marker(reference: str, length: int = DESCR_LENGTH) -> str:
    """What the reference field starts with; ``find_posting`` checks it to rule out a key collision.

    ``ref:<reference>`` when that fits the field's ``length``; else ``rfh:`` + base-36 SHA-256 digits
    filling the field (a reference too long to carry whole is still told apart from every other).
    """
    plain = REFERENCE_MARKER + reference
    if len(plain) <= length:
        return plain
    return HASHED_REFERENCE_MARKER + _base36(reference, length - len(HASHED_REFERENCE_MARKER))


def marked_reference(text: str) -> str | None:
    """The reference a field's ``ref:`` marker names; None for no marker or the hashed form."""
    marker = (text or "").split(MARKER_SEPARATOR, 1)[0].rstrip()
    return marker[len(REFERENCE_MARKER) :] if marker.startswith(REFERENCE_MARKER) else None


def same_reference(text: str, reference: str, length: int = DESCR_LENGTH) -> bool:
    """Whether a reference field was written for ``reference``: its marker, then the end or the separator
    (cut anywhere by the field's length)."""
    marker = reference_marker(reference, length)
    text = (text or "").rstrip()
    if not text.startswith(marker):
        return False
    rest = text[len(marker) :]
    return not rest or MARKER_SEPARATOR.startswith(rest[: len(MARKER_SEPARATOR)])


def posting_descr(posting: Posting, length: int = DESCR_LENGTH) -> str:
    """The reference field's text: the whole marker first, then as much of the description as fits."""
    parts = [reference_marker(posting.reference, length), f"order {posting.order_reference}"]
    if posting.reverses:
        parts.append(f"reverses {posting.reverses}")
    if posting.description:
        parts.append(posting.description)
    return MARKER_SEPARATOR.join(parts)[:length]


def _amount(value: Decimal, what: str) -> Decimal:
    if value != value.quantize(Decimal(1).scaleb(-AMOUNT_PLACES)):
        raise ReviewError(f"{what} {value} has more than {AMOUNT_PLACES} decimal places; PeopleSoft keeps 3")
    return value


def chartfield_props(line: PostingLine, settings: PeopleSoftSettings, what: str) -> dict[str, str]:
    """ChartField values of one line: ACCOUNT from the line, the rest from ``line.chartfields``."""
    if not line.account:
        raise ReviewError(f"{what} ({line.line_class}) has no account")
    allowed = set(settings.chartfields)
    fields: dict[str, str] = {"ACCOUNT": line.account}
    for name, chartfield in sorted(line.chartfields.items()):
        if name not in allowed or name not in CHARTFIELD_LENGTHS:
            raise ReviewError(
                f"{what}: ChartField {name} is not allowed for this PeopleSoft profile "
                f"(allowed: {', '.join(settings.chartfields)})"
            )
        if name == "ACCOUNT" and chartfield != line.account:
            raise ReviewError(f"{what}: ChartField ACCOUNT={chartfield} contradicts {line.account}")
        fields[name] = chartfield
    for name, chartfield in fields.items():
        if len(chartfield) > CHARTFIELD_LENGTHS[name]:
            raise ReviewError(f"{what}: {name}={chartfield} is longer than {CHARTFIELD_LENGTHS[name]} characters")
    return fields


def _line_descr(line: PostingLine) -> str:
    """LINE_DESCR: free text, cut to the WSDL's length when sent."""
    return line.description or str(line.line_class)


def journal_lines(posting: Posting, settings: PeopleSoftSettings) -> list[dict[str, Any]]:
    """JRNL_LN rows: ACCOUNT from the line, other ChartFields from ``line.chartfields``."""
    rows = []
    for number, line in enumerate(posting.lines, start=1):
        row: dict[str, Any] = {"JOURNAL_LINE": number, "LEDGER": settings.ledger}
        row.update(chartfield_props(line, settings, f"journal line {number}"))
        row["MONETARY_AMOUNT"] = _amount(line.base_amount, f"line {number} base amount")
        row["FOREIGN_AMOUNT"] = _amount(line.amount, f"line {number} amount")
        row["FOREIGN_CURRENCY"] = posting.currency
        row["LINE_DESCR"] = _line_descr(line)
        rows.append(row)
    return rows


def journal_fields(
    posting: Posting, settings: PeopleSoftSettings, reference_length: int = DESCR_LENGTH
) -> dict[str, Any]:
    """All fields of ``Create__CompIntfc__JOURNAL_ENTRY_CI`` for a balanced journal posting; the reference
    field (``settings.reference_field``, ``reference_length`` characters) starts with the reference marker."""
    if not posting.lines:
        raise ReviewError(f"journal {posting.reference} has no lines")
    if not posting.balanced:
        raise ReviewError(
            f"journal {posting.reference} does not balance: debits {posting.debits} / credits {posting.credits}, "
            f"base {posting.base_debits} / {posting.base_credits}"
        )
    return {
        "BUSINESS_UNIT": settings.business_unit,
        "JOURNAL_ID": journal_id_for(posting.reference, settings.journal_id_prefix),
        "JOURNAL_DATE": posting.accounting_date,
        "LEDGER_GROUP": settings.ledger_group,
        "SOURCE": settings.journal_source,
        settings.reference_field: posting_descr(posting, reference_length),
        "FOREIGN_CURRENCY": posting.currency,
        "RT_TYPE": settings.rate_type,
        # RATE_MULT holds 8 decimals; the line amounts are sent converted, so the rate is the record of it.
        "RATE_MULT": posting.exchange_rate.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP),
        "REVERSAL_CD": "N",
        "JRNL_LN": journal_lines(posting, settings),
    }


def peoplesoft_country(code: str, overrides: Mapping[str, str] | None = None) -> str:
    """The store's country code as PeopleSoft keys it: ISO alpha-3 for alpha-2 (``US`` → ``USA``), the
    profile's override first; a code neither knows is sent as it came, for PeopleSoft's own edit."""
    code = code.strip().upper()
    if not code:
        return ""
    return (overrides or {}).get(code) or ALPHA_3.get(code, code)


def customer_props(customer: Customer) -> dict[str, str]:
    """The CUSTOMER fields kept current from the store: name, status, e-mail, phone and the store id."""
    return {
        "NAME1": customer.display_name,
        "CUST_STATUS": "A",
        "EMAILID": customer.email.strip(),
        "PHONE": _PHONE_NOISE.sub("", customer.phone),
        "CUSTOMER_REF": customer_ref(customer.source_id),
    }


_PHONE_NOISE = re.compile(r"[\s().\-/]")

#: Address fields of a CUST_ADDRESS row that the store's addresses fill.
ADDRESS_FIELDS = ("COUNTRY", "ADDRESS1", "ADDRESS2", "CITY", "STATE", "POSTAL")


def peoplesoft_state(country: str, state: str) -> str:
    """The store's state as PeopleSoft keys it: a US state or Canadian province name becomes its code
    (``Illinois`` → ``IL``); anything else is sent as it came, for the WSDL length and PeopleSoft's edit."""
    state = state.strip()
    return STATE_CODES.get(country.strip().upper(), {}).get(state.upper(), state)


def address_values(address: Address, country_codes: Mapping[str, str] | None = None) -> dict[str, str]:
    """A store address as CUST_ADDRESS fields."""
    return {
        "COUNTRY": peoplesoft_country(address.country, country_codes),
        "ADDRESS1": address.line1,
        "ADDRESS2": address.line2,
        "CITY": address.city,
        "STATE": peoplesoft_state(address.country, address.state),
        "POSTAL": address.postcode,
    }


def address_sequences(
    customer: Customer, country_codes: Mapping[str, str] | None = None
) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """(CUST_ADDR_SEQ fields, CUST_ADDRESS values) of the customer's addresses.

    Sequence 1 is the billing address: bill-to and sold-to, and ship-to as well when the store has no
    separate shipping address; sequence 2 is a shipping address that differs from it (ship-to only).
    A customer without any address has none.
    """
    billing = address_values(customer.billing, country_codes)
    shipping = address_values(customer.shipping, country_codes)
    has_billing, has_shipping = any(billing.values()), any(shipping.values())
    separate_shipping = has_shipping and shipping != billing
    out: list[tuple[dict[str, Any], dict[str, str]]] = []
    if has_billing:
        flags = {"BILL_TO_ADDR": "Y", "SOLD_TO_ADDR": "Y", "SHIP_TO_ADDR": "N" if separate_shipping else "Y"}
        out.append(({"ADDRESS_SEQ_NUM": 1, **flags}, billing))
    if separate_shipping or (has_shipping and not has_billing):
        flags = {"BILL_TO_ADDR": "N", "SOLD_TO_ADDR": "N", "SHIP_TO_ADDR": "Y"}
        out.append(({"ADDRESS_SEQ_NUM": len(out) + 1, **flags}, shipping))
    return out


# -- AR pending items (AR_PENDING_ITEM_CI) --------------------------------------------------------------

ITEM_LENGTH = 30
GROUP_ID_LENGTH = 15
VOUCHER_ID_LENGTH = 8
INVOICE_ID_LENGTH = 30

#: ENTRY_TYPE of the pending item each AR-style posting becomes (PeopleSoft's delivered entry types).
AR_ENTRY_TYPES: dict[PostingKind, str] = {
    PostingKind.AR_INVOICE: "IN",
    PostingKind.RECEIPT: "PY",
    PostingKind.CREDIT_MEMO: "CR",
}
#: Sign ENTRY_AMT must have per entry type: invoices raise the customer balance, payments and credits lower it.
_ENTRY_SIGN = {"IN": 1, "PY": -1, "CR": -1}

_DOCUMENT_ID_CHARS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-./:#]*$")
_HASHED_DOCUMENT_ID = re.compile(r"^H[0-9A-Z]+$")


def document_id_for(reference: str, length: int = ITEM_LENGTH) -> str:
    """ITEM / INVOICE_ID (max ``length``) of a posting reference: the reference itself when it fits and is
    plain (letters, digits, ``_-./:#``), else ``H`` + base-36 SHA-256 digits filling ``length``.

    A reference that itself looks like the hashed form (``H`` + upper-case letters/digits, full length) is
    hashed too, so the two forms never meet.
    """
    if not reference:
        raise ReviewError("posting has no reference to derive a PeopleSoft document id from")
    plain = len(reference) <= length and _DOCUMENT_ID_CHARS.match(reference) is not None
    if plain and not (len(reference) == length and _HASHED_DOCUMENT_ID.match(reference)):
        return reference
    return "H" + _base36(reference, length - 1)


def item_id_for(reference: str) -> str:
    """The deterministic AR ``ITEM`` (max 30 characters) of a posting reference."""
    return document_id_for(reference, ITEM_LENGTH)


def group_id_for(reference: str, prefix: str) -> str:
    """The deterministic pending-item ``GROUP_ID`` (exactly 15 characters, never ``NEXT``)."""
    if not reference:
        raise ReviewError("posting has no reference to derive a PeopleSoft GROUP_ID from")
    return prefix + _base36(reference, GROUP_ID_LENGTH - len(prefix))


def ar_item_erp_id(business_unit: str, group_id: str, item: str) -> str:
    return f"{business_unit}/{group_id}/{item}"


def invoice_reference_of(receipt: Posting) -> str:
    """Reference of the invoice a receipt pays.

    The engine names receipts ``<invoice reference>-P<payment id>`` (``AccountingEngine.receipt_reference``)
    and does not set ``reverses`` on them; a receipt that does carry ``reverses`` uses that instead.
    """
    if receipt.reverses:
        return receipt.reverses
    suffix = f"-P{receipt.source_id}"
    if not receipt.source_id or not receipt.reference.endswith(suffix) or receipt.reference == suffix:
        raise ReviewError(
            f"receipt {receipt.reference} does not name the invoice it pays (expected <invoice>{suffix})",
            detail={"reference": receipt.reference},
        )
    return receipt.reference[: -len(suffix)]


def ar_item(posting: Posting) -> str:
    """The ``ITEM`` a posting's pending item is keyed on: a payment is applied to its invoice's item."""
    if posting.kind == PostingKind.RECEIPT:
        return item_id_for(invoice_reference_of(posting))
    return item_id_for(posting.reference)


def ar_entry_type(posting: Posting) -> str:
    try:
        return AR_ENTRY_TYPES[posting.kind]
    except KeyError:
        raise ReviewError(f"posting kind {posting.kind} is not an AR pending item") from None


def ar_item_fields(
    posting: Posting, settings: PeopleSoftSettings, cust_id: str | None, reference_length: int = DESCR_LENGTH
) -> dict[str, Any]:
    """All fields of ``Create__CompIntfc__AR_PENDING_ITEM_CI`` for an invoice, receipt or credit memo.

    ``ENTRY_AMT`` is the posting's receivable side (invoice positive, payment and credit memo negative);
    every other line is a ``PENDING_DST`` distribution, signed like a journal line (debit positive,
    credit negative), so the distributions sum to ``-ENTRY_AMT`` and ARUPDATE generates the AR line from
    the item's distribution code. The sign convention and the field names are modelled on PS_PENDING_ITEM /
    PS_PENDING_DST (not confirmed against a delivered CI).
    """
    entry_type = ar_entry_type(posting)
    if not cust_id:
        raise ReviewError(
            f"{posting.kind} {posting.reference} needs the customer's PeopleSoft CUST_ID for an AR item, "
            "and the order has no customer mapped to PeopleSoft",
            detail={"reference": posting.reference},
        )
    if len(cust_id) > CUST_ID_LENGTH:
        raise ReviewError(f"CUST_ID {cust_id} is longer than {CUST_ID_LENGTH} characters")
    if not posting.balanced:
        raise ReviewError(
            f"{posting.kind} {posting.reference} does not balance: debits {posting.debits} / credits "
            f"{posting.credits}, base {posting.base_debits} / {posting.base_credits}"
        )
    receivable = [line for line in posting.lines if line.line_class == LineClass.RECEIVABLE]
    entry_amt = _amount(sum((line.amount for line in receivable), Decimal(0)), "receivable amount")
    if entry_amt == 0 or (entry_amt > 0) != (_ENTRY_SIGN[entry_type] > 0):
        raise ReviewError(
            f"{posting.kind} {posting.reference}: receivable amount {entry_amt} cannot be an AR {entry_type} item",
            detail={"entry_amt": str(entry_amt)},
        )
    distributions = []
    for number, line in enumerate((ln for ln in posting.lines if ln.line_class != LineClass.RECEIVABLE), start=1):
        row: dict[str, Any] = {"DST_SEQ_NUM": number}
        row.update(chartfield_props(line, settings, f"distribution {number}"))
        row["FOREIGN_AMOUNT"] = _amount(line.amount, f"distribution {number} amount")
        row["MONETARY_AMOUNT"] = _amount(line.base_amount, f"distribution {number} base amount")
        row["FOREIGN_CURRENCY"] = posting.currency
        row["LINE_DESCR"] = _line_descr(line)
        distributions.append(row)
    if sum((row["FOREIGN_AMOUNT"] for row in distributions), Decimal(0)) != -entry_amt:
        raise ReviewError(f"{posting.kind} {posting.reference}: distributions do not sum to the item amount")
    unit = settings.ar_business_unit
    fields: dict[str, Any] = {
        "GROUP_BU": unit,
        "GROUP_ID": group_id_for(posting.reference, settings.journal_id_prefix),
        "BUSINESS_UNIT": unit,
        "CUST_ID": cust_id,
        "ITEM": ar_item(posting),
        "ITEM_LINE": 1,
        "GROUP_TYPE": settings.ar_group_type,
        "ENTRY_TYPE": entry_type,
        "ACCOUNTING_DT": posting.accounting_date,
        "DUE_DT": posting.accounting_date,
        "ENTRY_AMT": entry_amt,
        "CURRENCY_CD": posting.currency,
        "RT_TYPE": settings.rate_type,
        "RATE_MULT": posting.exchange_rate.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP),
        settings.reference_field: posting_descr(posting, reference_length),
        "PENDING_DST": distributions,
    }
    if posting.kind == PostingKind.CREDIT_MEMO:
        if not posting.reverses:
            raise ReviewError(f"credit memo {posting.reference} does not name the invoice it credits")
        fields["DOCUMENT"] = item_id_for(posting.reverses)
    return fields


# -- AP vouchers (VCHR_EXPRESS) --------------------------------------------------------------------------

#: Lines that settle the sale (what the processor/customer owes); the voucher's AP side stands in for them.
SETTLEMENT_CLASSES = frozenset({LineClass.CLEARING, LineClass.RECEIVABLE, LineClass.GIFT_CARD, LineClass.STORE_CREDIT})
VOUCHER_STYLE = "ADJ"


def voucher_id_for(reference: str, prefix: str) -> str:
    """The deterministic 8-character ``VOUCHER_ID`` (never ``NEXT``), hashed like ``JOURNAL_ID``."""
    if not reference:
        raise ReviewError("posting has no reference to derive a PeopleSoft VOUCHER_ID from")
    return prefix + _base36(reference, VOUCHER_ID_LENGTH - len(prefix))


def invoice_id_for(reference: str) -> str:
    """``INVOICE_ID`` (max 30) of a voucher: the reference itself when it fits, else its hashed form."""
    return document_id_for(reference, INVOICE_ID_LENGTH)


def voucher_erp_id(business_unit: str, voucher_id: str) -> str:
    return f"{business_unit}/{voucher_id}"


def voucher_fields(
    posting: Posting, settings: PeopleSoftSettings, reference_length: int = DESCR_LENGTH
) -> dict[str, Any]:
    """All fields of ``Create__CompIntfc__VCHR_EXPRESS`` for the engine's ``voucher`` posting.

    A web sale posted as a voucher is the AP-side representation some customers use for marketplace or
    payment-processor settlements: the processor (``voucher_vendor_id``) collects the money and settles
    net, so the sale is booked against the processor as a vendor. The settlement lines of the posting
    (clearing, gift card, store credit, receivable) are what the processor owes; the AP side of the voucher
    stands in for them. Every other line becomes a distribution with its ledger sign (debit positive), so
    revenue and tax stay credits: the voucher is an adjustment (credit) voucher, ``VOUCHER_STYLE`` ADJ,
    ``GROSS_AMT = -posting.source_total`` (a debit to the processor's AP balance), and the distributions sum
    to ``GROSS_AMT``. Field names follow VCHR_HDR_STG / VCHR_LINE_STG / VCHR_DIST_STG and are modelled, not
    confirmed against a delivered VCHR_EXPRESS web service.
    """
    if posting.kind != PostingKind.VOUCHER:
        raise ReviewError(f"posting kind {posting.kind} is not a voucher")
    vendor = settings.voucher_vendor_id
    if not vendor:
        raise ReviewError(
            f"voucher {posting.reference}: the PeopleSoft profile has no voucher_vendor_id "
            "(the vendor, usually the payment processor, every web-order voucher is raised against)"
        )
    if not posting.balanced:
        raise ReviewError(
            f"voucher {posting.reference} does not balance: debits {posting.debits} / credits {posting.credits}"
        )
    if posting.source_total <= 0:
        raise ReviewError(f"voucher {posting.reference}: order total {posting.source_total} is not positive")
    gross = -_amount(posting.source_total, "voucher gross amount")
    distributions = []
    for number, line in enumerate((ln for ln in posting.lines if ln.line_class not in SETTLEMENT_CLASSES), start=1):
        row: dict[str, Any] = {"DISTRIB_LINE_NUM": number}
        row.update(chartfield_props(line, settings, f"voucher distribution {number}"))
        row["MERCHANDISE_AMT"] = _amount(line.amount, f"distribution {number} amount")
        row["LINE_DESCR"] = _line_descr(line)
        distributions.append(row)
    if not distributions or sum((row["MERCHANDISE_AMT"] for row in distributions), Decimal(0)) != gross:
        raise ReviewError(
            f"voucher {posting.reference}: distributions do not sum to the order total {posting.source_total}"
        )
    return {
        "BUSINESS_UNIT": settings.voucher_business_unit,
        "VOUCHER_ID": voucher_id_for(posting.reference, settings.journal_id_prefix),
        "INVOICE_ID": invoice_id_for(posting.reference),
        "INVOICE_DT": posting.accounting_date,
        "ACCOUNTING_DT": posting.accounting_date,
        "VENDOR_ID": vendor,
        "VOUCHER_STYLE": VOUCHER_STYLE,
        "GROSS_AMT": gross,
        "TXN_CURRENCY_CD": posting.currency,
        "RT_TYPE": settings.rate_type,
        "RATE_MULT": posting.exchange_rate.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP),
        settings.reference_field: posting_descr(posting, reference_length),
        "VCHR_LINE_STG": [
            {
                "VOUCHER_LINE_NUM": 1,
                "MERCHANDISE_AMT": gross,
                "LINE_DESCR": posting.description,
                "VCHR_DIST_STG": distributions,
            }
        ],
    }


# -- what the connector sends, for checking a customer's WSDLs ---------------------------------------------


def sample_requests(settings: PeopleSoftSettings) -> dict[str, list[dict[str, Any]]]:
    """The Create requests the connector sends to each CI, built by the mappings above from sample documents:
    ``mlc peoplesoft-wsdl`` checks that a customer's WSDL declares every field of them (in whichever naming
    style it was generated) before it writes the WSDL."""
    address = Address(line1="1 Sample St", city="Springfield", state="IL", postcode="62701", country="US")
    depot = address.model_copy(update={"line1": "2 Sample St"})
    customer = Customer(source_id="1", email="sample@example.com", phone="5550100", billing=address, shipping=depot)
    addresses = [
        {**seq, "CUST_ADDRESS": [{"EFFDT": date(1900, 1, 1), "EFF_STATUS": "A", **values}]}
        for seq, values in address_sequences(customer)
    ]

    def posting(kind: PostingKind, settle: LineClass, reverses: str | None = None, sign: int = 1) -> Posting:
        one, tax = sign * Decimal("1.10"), sign * Decimal("0.10")
        lines = (
            PostingLine(line_class=settle, account="120000", amount=one, base_amount=one),
            PostingLine(line_class=LineClass.REVENUE, account="400000", amount=tax - one, base_amount=tax - one),
            PostingLine(line_class=LineClass.TAX, account="220000", amount=-tax, base_amount=-tax),
        )
        return Posting(
            kind=kind,
            reference="SAMPLE-1",
            connection="sample",
            source_kind="order",
            source_id="1",
            order_reference="1",
            accounting_date=date(2024, 1, 1),
            currency="USD",
            base_currency="USD",
            description="sample",
            source_total=abs(one),
            lines=lines,
            reverses=reverses,
        )

    vendor = settings.model_copy(update={"voucher_vendor_id": settings.voucher_vendor_id or "SAMPLE"})
    credit = posting(PostingKind.CREDIT_MEMO, LineClass.RECEIVABLE, "SAMPLE-0")
    credit = credit.model_copy(
        update={
            "lines": tuple(
                line.model_copy(update={"amount": -line.amount, "base_amount": -line.base_amount})
                for line in credit.lines
            )
        }
    )
    return {
        CUSTOMER_CI: [
            {"SETID": settings.setid, "CUST_ID": "SAMPLE", **customer_props(customer), "CUST_ADDR_SEQ": addresses}
        ],
        JOURNAL_CI: [journal_fields(posting(PostingKind.JOURNAL, LineClass.CLEARING), settings)],
        AR_ITEM_CI: [
            ar_item_fields(posting(PostingKind.AR_INVOICE, LineClass.RECEIVABLE), settings, "SAMPLE"),
            ar_item_fields(credit, settings, "SAMPLE"),
        ],
        VOUCHER_CI: [voucher_fields(posting(PostingKind.VOUCHER, LineClass.CLEARING), vendor)],
    }
