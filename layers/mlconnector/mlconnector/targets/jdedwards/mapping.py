"""Pure mapping from canonical documents to AIS orchestration inputs and data-service requests.

Money leaves as strings (``Decimal`` rendered without exponent), never as floats. Field
lengths follow the JDE data dictionary: OBJ 6, SUB 8, MCU 12, EXA/EXR 30, ALPH/ADDx 40,
CTY1 25, ADDZ 12, ALKY 20, VR01 25.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from mlconnector.documents import Posting, PostingKind, PostingLine
from mlconnector.errors import ReviewError
from mlconnector.models import Customer
from mlconnector.targets.jdedwards.dates import JdeDateFormat
from mlconnector.targets.jdedwards.settings import JdeSettings

OBJ_LENGTH = 6
SUB_LENGTH = 8
MCU_LENGTH = 12
EXPLANATION_LENGTH = 30
REFERENCE_LENGTH = 25
ALKY_LENGTH = 20
NAME_LENGTH = 40

#: F0911 columns the target reads back (find_posting, read_back).
F0911_COLUMNS = (
    "F0911.KCO",
    "F0911.DCT",
    "F0911.DOC",
    "F0911.JELN",
    "F0911.ICU",
    "F0911.DGJ",
    "F0911.LT",
    "F0911.ANI",
    "F0911.AA",
    "F0911.ACR",
    "F0911.CRCD",
    "F0911.EXA",
    "F0911.EXR",
    "F0911.VR01",
)
F0101_COLUMNS = (
    "F0101.AN8",
    "F0101.ALKY",
    "F0101.ALPH",
    "F0101.AT1",
)

_TRAILING_SEPARATORS = re.compile(r"[^A-Za-z0-9]+$")


def money(value: Decimal) -> str:
    """A Decimal as a plain string ("12.50", "-3", never "1E+2")."""
    return format(value, "f")


def parse_jde_date(text: str, dates: JdeDateFormat) -> date:
    """A date in the AIS user's format, or the raw ``yyyyMMdd`` / ISO forms AIS may also return."""
    try:
        return dates.parse(str(text))
    except ValueError:
        pass
    for fmt in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(str(text).strip(), fmt).date()
        except ValueError:
            continue
    raise ValueError(f"unreadable JDE date {text!r}")


def jde_account(line: PostingLine, settings: JdeSettings) -> str:
    """The line's account as ``BU.OBJ.SUB`` (see the settings module for the rules)."""
    if "." in line.account:
        return line.account.strip()
    bu = (line.chartfields.get("BU") or settings.business_unit).strip()
    obj = line.account.strip()
    sub = (line.chartfields.get("SUB") or "").strip()
    for name, part, length in (("BU", bu, MCU_LENGTH), ("OBJ", obj, OBJ_LENGTH), ("SUB", sub, SUB_LENGTH)):
        if len(part) > length:
            raise ReviewError(
                f"JD Edwards {name} {part!r} is longer than {length} characters", detail={"account": line.account}
            )
    if not bu or not obj:
        raise ReviewError("JD Edwards account needs a business unit and an object account", detail={"account": obj})
    formatted = settings.account_format.format(BU=bu, OBJ=obj, SUB=sub)
    return _TRAILING_SEPARATORS.sub("", formatted) if not sub else formatted


def check_reference(reference: str) -> str:
    if not reference or len(reference) > REFERENCE_LENGTH:
        raise ReviewError(
            f"reference {reference!r} does not fit JD Edwards Reference 1 (VR01, {REFERENCE_LENGTH} characters)"
        )
    return reference


def gl_batch_payload(
    posting: Posting, settings: JdeSettings, dates: JdeDateFormat, customer_erp_id: str | None = None
) -> dict[str, Any]:
    """Inputs of the GL orchestration: document fields plus one ``GridData`` row per line.

    ``Amount`` is the ledger (base) amount; a posting in a foreign currency also carries
    ``ForeignAmount`` per line and is entered in currency mode ``F`` with its exchange rate.
    ``GLDate`` is written in ``dates``, the format the AIS user reads dates in.
    """
    if posting.kind != PostingKind.JOURNAL:
        raise ReviewError(f"posting kind {posting.kind} is not supported by the JD Edwards target (journals only)")
    if not posting.lines:
        raise ReviewError(f"posting {posting.reference} has no lines")
    if not posting.balanced:
        raise ReviewError(
            f"posting {posting.reference} is out of balance: "
            f"debits {posting.base_debits}, credits {posting.base_credits}"
        )
    if settings.company_currency and posting.base_currency != settings.company_currency:
        raise ReviewError(
            f"posting {posting.reference} is in base currency {posting.base_currency}, "
            f"JD Edwards company {settings.company} keeps {settings.company_currency}"
        )
    reference = check_reference(posting.reference)
    foreign = posting.currency != posting.base_currency
    rows = []
    for number, line in enumerate(posting.lines, start=1):
        row: dict[str, Any] = {
            "LineNumber": number,
            "Account": jde_account(line, settings),
            "Amount": money(line.base_amount),
            "LineExplanation": (line.description or str(line.line_class))[:EXPLANATION_LENGTH],
        }
        if foreign:
            row["ForeignAmount"] = money(line.amount)
        rows.append(row)
    payload: dict[str, Any] = {
        "BatchReference": reference,
        "Company": settings.company,
        "DocumentType": settings.document_type,
        "LedgerType": settings.ledger_type,
        "BatchType": settings.batch_type,
        "GLDate": dates.format(posting.accounting_date),
        "Explanation": posting.description[:EXPLANATION_LENGTH],
        "CurrencyCode": posting.currency,
        "CurrencyMode": "F" if foreign else "D",
        "ReversesReference": posting.reverses or "",
        "AddressNumber": customer_erp_id or "",
        "GridData": rows,
    }
    if foreign:
        payload["ExchangeRate"] = money(posting.exchange_rate)
    return payload


def customer_key(source_id: str, prefix: str) -> str:
    """The Long Address Number (ALKY) carrying a store customer id; hashed when it would not fit."""
    key = f"{prefix}{source_id}"
    if len(key) <= ALKY_LENGTH and key.isprintable():
        return key
    digest = hashlib.sha256(source_id.encode()).hexdigest().upper()
    return f"{prefix}H{digest}"[:ALKY_LENGTH]


def customer_payload(customer: Customer, settings: JdeSettings) -> dict[str, Any]:
    """Inputs of the customer orchestration (Address Book entry with search type C)."""
    address = customer.billing if customer.billing.line1 or customer.billing.city else customer.shipping
    return {
        "LongAddressNumber": customer_key(customer.source_id, settings.customer_key_prefix),
        "AlphaName": customer.display_name[:NAME_LENGTH],
        "MailingName": customer.display_name[:NAME_LENGTH],
        "SearchType": settings.address_book_search_type,
        "AddressLine1": address.line1[:NAME_LENGTH],
        "AddressLine2": address.line2[:NAME_LENGTH],
        "City": address.city[:25],
        "State": address.state[:3],
        "PostalCode": address.postcode[:12],
        "Country": address.country[:3],
        "Email": customer.email[:256],
        "Phone": customer.phone[:20],
    }


def erp_id(batch: Any, document: Any) -> str:
    """The id the connector keeps for a JDE GL entry: ``<batch number>/<document number>``."""
    return f"{_number(batch)}/{_number(document)}"


def _number(value: Any) -> str:
    text = str(value).strip()
    return str(int(Decimal(text))) if text and re.fullmatch(r"-?\d+(\.0+)?", text) else text


# -- data service ------------------------------------------------------------------------------------


def condition(control_id: str, operator: str, *values: str) -> dict[str, Any]:
    """One AIS query condition (literal values)."""
    return {
        "controlId": control_id,
        "operator": operator,
        "value": [{"content": str(v), "specialValueId": "LITERAL"} for v in values],
    }


def browse_request(
    table: str, columns: tuple[str, ...], conditions: list[dict[str, Any]], max_page_size: int
) -> dict[str, Any]:
    """A data-service BROWSE request on one table with every condition required (MATCH_ALL)."""
    return {
        "targetName": table,
        "targetType": "table",
        "dataServiceType": "BROWSE",
        "returnControlIDs": "|".join(columns),
        "maxPageSize": str(max_page_size),
        "query": {"autoFind": True, "matchType": "MATCH_ALL", "condition": conditions},
    }


def browse_rows(body: dict[str, Any], table: str) -> tuple[list[dict[str, Any]], bool]:
    """(rows, more records exist) of a data-service BROWSE response."""
    form = body.get(f"fs_DATABROWSE_{table}") or {}
    grid = (form.get("data") or {}).get("gridData") or {}
    rows = grid.get("rowset") or []
    summary = grid.get("summary") or {}
    return list(rows), bool(summary.get("moreRecords"))
