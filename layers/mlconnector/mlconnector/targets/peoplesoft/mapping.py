"""Pure mapping from canonical customers and postings to PeopleSoft CI fields.

Keys are deterministic so that a retried post finds what an earlier attempt committed:

* ``JOURNAL_ID`` (10 characters): ``journal_id_prefix`` + the first ``10 - len(prefix)``
  base-36 digits of SHA-256(posting.reference). Always exactly 10 characters, so never
  PeopleSoft's auto-numbering placeholder ``NEXT``. With a 1-character prefix that is
  36^9 (about 10^14) values; a collision is caught by ``find_posting`` comparing the
  reference carried at the start of ``DESCR``.
* ``CUST_ID`` (15 characters): ``customer_id_prefix`` + the store id when it is all digits
  and fits; otherwise prefix + ``H`` + base-36 SHA-256 digits (the ``H`` keeps the two forms apart).
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from mlconnector.documents import Posting
from mlconnector.errors import ReviewError
from mlconnector.models import Customer
from mlconnector.targets.peoplesoft.settings import CHARTFIELD_LENGTHS, PeopleSoftSettings

RATE_QUANTUM = Decimal("0.00000001")

JOURNAL_ID_LENGTH = 10
CUST_ID_LENGTH = 15
DESCR_LENGTH = 254
LINE_DESCR_LENGTH = 30
AMOUNT_PLACES = 3  # MONETARY_AMOUNT / FOREIGN_AMOUNT are 26.3 in PeopleSoft
CUSTOMER_REF_LENGTH = 100

CUSTOMER_FIELD_LENGTHS = {
    "NAME1": 40,
    "EMAILID": 70,
    "PHONE": 24,
    "ADDRESS1": 55,
    "ADDRESS2": 55,
    "CITY": 30,
    "STATE": 6,
    "POSTAL": 12,
    "COUNTRY": 3,
}

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


def descr_marker(reference: str) -> str:
    """What ``DESCR`` starts with; ``find_posting`` checks it to rule out a JOURNAL_ID collision."""
    return f"ref:{reference}"


def journal_descr(posting: Posting) -> str:
    parts = [descr_marker(posting.reference), f"order {posting.order_reference}"]
    if posting.reverses:
        parts.append(f"reverses {posting.reverses}")
    if posting.description:
        parts.append(posting.description)
    return " | ".join(parts)[:DESCR_LENGTH]


def _amount(value: Decimal, what: str) -> Decimal:
    if value != value.quantize(Decimal(1).scaleb(-AMOUNT_PLACES)):
        raise ReviewError(f"{what} {value} has more than {AMOUNT_PLACES} decimal places; PeopleSoft keeps 3")
    return value


def journal_lines(posting: Posting, settings: PeopleSoftSettings) -> list[dict[str, Any]]:
    """COLL_JRNL_LN rows: ACCOUNT from the line, other ChartFields from ``line.chartfields``."""
    allowed = set(settings.chartfields)
    rows = []
    for number, line in enumerate(posting.lines, start=1):
        if not line.account:
            raise ReviewError(f"journal line {number} ({line.line_class}) has no account")
        fields: dict[str, str] = {"ACCOUNT": line.account}
        for name, chartfield in sorted(line.chartfields.items()):
            if name not in allowed or name not in CHARTFIELD_LENGTHS:
                raise ReviewError(
                    f"journal line {number}: ChartField {name} is not allowed for this PeopleSoft profile "
                    f"(allowed: {', '.join(settings.chartfields)})"
                )
            if name == "ACCOUNT" and chartfield != line.account:
                raise ReviewError(f"journal line {number}: ChartField ACCOUNT={chartfield} contradicts {line.account}")
            fields[name] = chartfield
        for name, chartfield in fields.items():
            if len(chartfield) > CHARTFIELD_LENGTHS[name]:
                raise ReviewError(
                    f"journal line {number}: {name}={chartfield} is longer than {CHARTFIELD_LENGTHS[name]} characters"
                )
        row: dict[str, Any] = {"KEYPROP_JOURNAL_LINE": number, "PROP_LEDGER": settings.ledger}
        row.update({f"PROP_{name}": chartfield for name, chartfield in fields.items()})
        row["PROP_MONETARY_AMOUNT"] = _amount(line.base_amount, f"line {number} base amount")
        row["PROP_FOREIGN_AMOUNT"] = _amount(line.amount, f"line {number} amount")
        row["PROP_FOREIGN_CURRENCY"] = posting.currency
        row["PROP_LINE_DESCR"] = (line.description or str(line.line_class))[:LINE_DESCR_LENGTH]
        rows.append(row)
    return rows


def journal_fields(posting: Posting, settings: PeopleSoftSettings) -> dict[str, Any]:
    """All fields of ``Create__CompIntfc__JOURNAL_ENTRY_CI`` for a balanced journal posting."""
    if not posting.lines:
        raise ReviewError(f"journal {posting.reference} has no lines")
    if not posting.balanced:
        raise ReviewError(
            f"journal {posting.reference} does not balance: debits {posting.debits} / credits {posting.credits}, "
            f"base {posting.base_debits} / {posting.base_credits}"
        )
    return {
        "KEYPROP_BUSINESS_UNIT": settings.business_unit,
        "KEYPROP_JOURNAL_ID": journal_id_for(posting.reference, settings.journal_id_prefix),
        "KEYPROP_JOURNAL_DATE": posting.accounting_date,
        "PROP_LEDGER_GROUP": settings.ledger_group,
        "PROP_SOURCE": settings.journal_source,
        "PROP_DESCR": journal_descr(posting),
        "PROP_FOREIGN_CURRENCY": posting.currency,
        "PROP_RT_TYPE": settings.rate_type,
        # RATE_MULT holds 8 decimals; the line amounts are sent converted, so the rate is the record of it.
        "PROP_RATE_MULT": posting.exchange_rate.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP),
        "PROP_REVERSAL_CD": "N",
        "COLL_JRNL_LN": journal_lines(posting, settings),
    }


def customer_props(customer: Customer) -> dict[str, str]:
    """The PROP_ fields kept current from the store: name, status, email, phone, billing address."""
    address = customer.billing
    values = {
        "NAME1": customer.display_name,
        "EMAILID": customer.email,
        "PHONE": customer.phone,
        "ADDRESS1": address.line1,
        "ADDRESS2": address.line2,
        "CITY": address.city,
        "STATE": address.state,
        "POSTAL": address.postcode,
        "COUNTRY": address.country,
    }
    props = {f"PROP_{name}": (text or "")[: CUSTOMER_FIELD_LENGTHS[name]] for name, text in values.items()}
    props["PROP_CUST_STATUS"] = "A"
    props["PROP_CUSTOMER_REF"] = customer_ref(customer.source_id)
    return props
