"""``PeopleSoftTarget``: customers (CUSTOMER_CI), journals (JOURNAL_ENTRY_CI), AR items (AR_PENDING_ITEM_CI),
vouchers (VCHR_EXPRESS) over SOAP; inquiry over REST."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from mlconnector.documents import Posting, PostingKind
from mlconnector.errors import ReviewError, TransientError
from mlconnector.models import Customer
from mlconnector.targets.base import ErpTarget, FoundInErp
from mlconnector.targets.peoplesoft.client import (
    MSG_DUPLICATE,
    MSG_NO_ROWS,
    CIFaultError,
    PeopleSoftClient,
)
from mlconnector.targets.peoplesoft.mapping import (
    ADDRESS_FIELDS,
    AR_ENTRY_TYPES,
    DESCR_LENGTH,
    address_sequences,
    ar_entry_type,
    ar_item,
    ar_item_erp_id,
    ar_item_fields,
    customer_id_for,
    customer_props,
    customer_ref,
    group_id_for,
    invoice_id_for,
    journal_erp_id,
    journal_fields,
    journal_id_for,
    marked_reference,
    same_reference,
    voucher_erp_id,
    voucher_fields,
)
from mlconnector.targets.peoplesoft.settings import (
    AR_ITEM_CI,
    CUSTOMER_CI,
    JOURNAL_CI,
    VOUCHER_CI,
    PeopleSoftSettings,
)

log = logging.getLogger(__name__)

InquiryKind = Literal["journals", "customers"]


#: Keys of each posting CI's documents (what its Get takes).
DOCUMENT_KEYS = {
    JOURNAL_CI: ("BUSINESS_UNIT", "JOURNAL_ID", "JOURNAL_DATE"),
    AR_ITEM_CI: ("GROUP_BU", "GROUP_ID", "BUSINESS_UNIT", "CUST_ID", "ITEM", "ITEM_LINE"),
    VOUCHER_CI: ("BUSINESS_UNIT", "VOUCHER_ID"),
}

#: Effective date of a customer's first address rows: in effect for any document date.
FIRST_ADDRESS_EFFDT = date(1900, 1, 1)


def _rows(result: dict[str, Any], element: str) -> list[dict[str, Any]]:
    """Rows of a Find response (a single row may come back unwrapped)."""
    rows = result.get(element) or []
    return rows if isinstance(rows, list) else [rows]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _effective(rows: list[dict[str, Any]], on: date) -> dict[str, Any] | None:
    """The effective-dated row in effect ``on`` a date (the latest EFFDT not after it)."""
    current = [row for row in rows if isinstance(row.get("EFFDT"), date) and row["EFFDT"] <= on]
    return max(current, key=lambda row: row["EFFDT"], default=None)


class PeopleSoftTarget(ErpTarget):
    """PeopleSoft Financials through Component Interface web services on the Integration Broker."""

    def __init__(
        self,
        settings: PeopleSoftSettings,
        credentials: dict[str, str],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.client = PeopleSoftClient(settings, credentials, sleep=sleep)

    # -- customers --------------------------------------------------------------------------

    def _customer_keys(self, cust_id: str) -> dict[str, str]:
        return {"SETID": self.settings.setid, "CUST_ID": cust_id}

    def get_customer(self, cust_id: str) -> dict[str, Any] | None:
        """The customer's CI data, or None when PeopleSoft has no row for the keys."""
        try:
            result = self.client.service(CUSTOMER_CI).call("G", **self._customer_keys(cust_id))
        except CIFaultError as fault:
            if fault.has(MSG_NO_ROWS):
                return None
            raise
        return result

    def _find_customers(self, **criteria: str) -> list[dict[str, Any]]:
        result = self.client.service(CUSTOMER_CI).call("F", SETID=self.settings.setid, **criteria)
        return _rows(result, CUSTOMER_CI)

    def find_customer(self, customer: Customer) -> str | None:
        """CUST_ID of the customer carrying this store id, else of the one with this e-mail."""
        ref = customer_ref(customer.source_id)
        matches = [r for r in self._find_customers(CUSTOMER_REF=ref) if (r.get("CUSTOMER_REF") or "") == ref]
        if not matches and customer.email:
            email = customer.email.strip().lower()
            matches = [
                r
                for r in self._find_customers(EMAILID=customer.email.strip())
                if (r.get("EMAILID") or "").strip().lower() == email
            ]
        ids = sorted({r["CUST_ID"] for r in matches})
        if not ids:
            return None
        derived = customer_id_for(customer.source_id, self.settings.customer_id_prefix)
        if derived in ids:
            return derived
        if len(ids) > 1:
            log.warning("PeopleSoft: %d customers match store customer; using %s", len(ids), ids[0])
        return ids[0]

    def upsert_customer(self, customer: Customer, known_erp_id: str | None = None) -> str:
        """Create or bring up to date the customer, its addresses as effective-dated CUST_ADDRESS rows
        under their CUST_ADDR_SEQ: a changed address gets a row effective today, history stays."""
        service = self.client.service(CUSTOMER_CI)
        desired = customer_props(customer)
        sequences = address_sequences(customer, self.settings.country_codes)
        cust_id: str | None = None
        current: dict[str, Any] | None = None
        if known_erp_id:
            current = self.get_customer(known_erp_id)
            cust_id = known_erp_id if current is not None else None
        if cust_id is None:
            cust_id = self.find_customer(customer)
            current = self.get_customer(cust_id) if cust_id else None
        if cust_id is None or current is None:
            new_id = customer_id_for(customer.source_id, self.settings.customer_id_prefix)
            addresses = [
                {**seq, "CUST_ADDRESS": [{"EFFDT": FIRST_ADDRESS_EFFDT, "EFF_STATUS": "A", **values}]}
                for seq, values in sequences
            ]
            try:
                service.call("C", **self._customer_keys(new_id), **desired, CUST_ADDR_SEQ=addresses)
                return new_id
            except CIFaultError as fault:
                if not fault.has(MSG_DUPLICATE):
                    raise
            # A previous attempt committed (or another worker won the race): update that row.
            cust_id, current = new_id, self.get_customer(new_id)
            if current is None:
                raise TransientError(f"PeopleSoft reports CUST_ID {new_id} exists but cannot read it back")
            if _text(current.get("CUSTOMER_REF")) not in ("", desired["CUSTOMER_REF"]):
                raise ReviewError(
                    f"PeopleSoft CUST_ID {new_id} already belongs to another store customer",
                    detail={"cust_id": new_id},
                )
        existing_ref = _text(current.get("CUSTOMER_REF"))
        if existing_ref and existing_ref != desired["CUSTOMER_REF"]:
            desired = {**desired, "CUSTOMER_REF": existing_ref}  # matched by e-mail: keep the other link
        changed: dict[str, Any] = {k: v for k, v in desired.items() if _text(current.get(k)) != v.strip()}
        addresses = self._address_changes(current.get("CUST_ADDR_SEQ") or [], sequences)
        if addresses:
            changed["CUST_ADDR_SEQ"] = addresses
        if changed:
            service.call("UP", **self._customer_keys(cust_id), **changed)
        return cust_id

    def _address_changes(
        self, current: list[dict[str, Any]], sequences: list[tuple[dict[str, Any], dict[str, str]]]
    ) -> list[dict[str, Any]]:
        """CUST_ADDR_SEQ rows to send: new sequences, changed flags, and for a changed address a CUST_ADDRESS
        row effective today (PeopleSoft keeps the earlier rows as history)."""
        today = datetime.now(UTC).date()
        by_number = {int(row.get("ADDRESS_SEQ_NUM") or 0): row for row in current}
        out = []
        for seq, values in sequences:
            row = by_number.get(seq["ADDRESS_SEQ_NUM"])
            if row is None:
                rows = [{"EFFDT": FIRST_ADDRESS_EFFDT, "EFF_STATUS": "A", **values}]
                out.append({**seq, "CUST_ADDRESS": rows})
                continue
            change: dict[str, Any] = {k: v for k, v in seq.items() if k == "ADDRESS_SEQ_NUM" or _text(row.get(k)) != v}
            effective = _effective(row.get("CUST_ADDRESS") or [], today)
            if effective is None or any(_text(effective.get(k)) != values[k].strip() for k in ADDRESS_FIELDS):
                change["CUST_ADDRESS"] = [{"EFFDT": today, "EFF_STATUS": "A", **values}]
            if len(change) > 1:
                out.append(change)
        return out

    # -- postings ---------------------------------------------------------------------------
    #
    # journal -> JOURNAL_ENTRY_CI; ar_invoice / receipt / credit_memo -> AR_PENDING_ITEM_CI (IN / PY / CR
    # pending items); voucher -> VCHR_EXPRESS. Every key is derived from posting.reference, so a retry after
    # a lost answer meets a duplicate-key fault and resolves to what the first attempt committed.

    def find_posting(self, posting: Posting) -> str | None:
        if posting.kind == PostingKind.JOURNAL:
            return self._find_journal(posting)
        if posting.kind in AR_ENTRY_TYPES:
            return self._find_ar_item(posting)
        if posting.kind == PostingKind.VOUCHER:
            return self._find_voucher(posting)
        raise ReviewError(f"posting kind {posting.kind} is not supported by the PeopleSoft target")

    def create_posting(self, posting: Posting, customer_erp_id: str | None) -> str:
        if posting.kind == PostingKind.JOURNAL:
            fields = journal_fields(posting, self.settings, self._reference_length(JOURNAL_CI))
            ci, erp_id = JOURNAL_CI, journal_erp_id(self.settings.business_unit, fields["JOURNAL_ID"])
        elif posting.kind in AR_ENTRY_TYPES:
            fields = ar_item_fields(posting, self.settings, customer_erp_id, self._reference_length(AR_ITEM_CI))
            ci = AR_ITEM_CI
            erp_id = ar_item_erp_id(fields["BUSINESS_UNIT"], fields["GROUP_ID"], fields["ITEM"])
        elif posting.kind == PostingKind.VOUCHER:
            fields = voucher_fields(posting, self.settings, self._reference_length(VOUCHER_CI))
            ci = VOUCHER_CI
            erp_id = voucher_erp_id(fields["BUSINESS_UNIT"], fields["VOUCHER_ID"])
        else:
            raise ReviewError(f"posting kind {posting.kind} is not supported by the PeopleSoft target")
        try:
            self.client.service(ci).call("C", **fields)
        except CIFaultError as fault:
            if not fault.has(MSG_DUPLICATE):
                raise
            # An earlier attempt committed before its answer was lost: that document is this posting's.
            existing = self.find_posting(posting)
            if existing is None:
                if ci == VOUCHER_CI:
                    self._voucher_collision(fields, posting)
                raise TransientError(
                    f"PeopleSoft reports {posting.kind} {erp_id} exists but Find does not return it"
                ) from None
            log.info("PeopleSoft %s %s already existed (refused as a duplicate)", posting.kind, existing)
            return FoundInErp(existing)
        return erp_id

    def _reference_length(self, ci: str) -> int:
        """Length of the reference field as the CI's WSDL gives it (DESCR's 30 where it gives none)."""
        return self.client.service(ci).max_length("C", self.settings.reference_field) or DESCR_LENGTH

    def _written_for(self, ci: str, row: dict[str, Any], posting: Posting) -> bool:
        """Whether a Find row's document carries this posting's reference marker (read with Get when the
        CI's Find answer does not return the reference field)."""
        field = self.settings.reference_field
        if field in row:
            text = _text(row[field])
        else:
            keys = {name: row[name] for name in DOCUMENT_KEYS[ci] if name in row}
            text = _text(self.client.service(ci).call("G", **keys).get(field))
        return same_reference(text, posting.reference, self._reference_length(ci))

    def _find_journal(self, posting: Posting) -> str | None:
        bu = self.settings.business_unit
        journal_id = journal_id_for(posting.reference, self.settings.journal_id_prefix)
        result = self.client.service(JOURNAL_CI).call("F", BUSINESS_UNIT=bu, JOURNAL_ID=journal_id)
        rows = [r for r in _rows(result, JOURNAL_CI) if r.get("JOURNAL_ID") == journal_id]
        if not rows:
            return None
        for row in rows:
            if self._written_for(JOURNAL_CI, row, posting):
                return journal_erp_id(bu, journal_id)
        raise ReviewError(
            f"PeopleSoft journal {bu}/{journal_id} exists but was not written for {posting.reference} "
            "(JOURNAL_ID collision); review before posting",
            detail={"journal_id": journal_id},
        )

    def _find_ar_item(self, posting: Posting) -> str | None:
        """The pending item written for this posting, found by ITEM (a receipt's is its invoice's item)."""
        bu = self.settings.ar_business_unit
        item = ar_item(posting)
        entry_type = ar_entry_type(posting)
        group_id = group_id_for(posting.reference, self.settings.journal_id_prefix)
        result = self.client.service(AR_ITEM_CI).call("F", BUSINESS_UNIT=bu, ITEM=item)
        rows = [r for r in _rows(result, AR_ITEM_CI) if (r.get("ITEM") or "").upper() == item.upper()]
        for row in rows:
            if row.get("ENTRY_TYPE") == entry_type and self._written_for(AR_ITEM_CI, row, posting):
                return ar_item_erp_id(row["BUSINESS_UNIT"], row["GROUP_ID"], row["ITEM"])
        # Payments share their invoice's ITEM; anything else with this ITEM (or our GROUP_ID) is not ours.
        clashes = [
            r
            for r in rows
            if r.get("GROUP_ID") == group_id
            or (posting.kind != PostingKind.RECEIPT and r.get("ENTRY_TYPE") == entry_type)
        ]
        if clashes:
            raise ReviewError(
                f"PeopleSoft AR item {bu}/{item} ({entry_type}) exists but was not written for {posting.reference} "
                "(ITEM/GROUP_ID collision); review before posting",
                detail={"item": item},
            )
        return None

    def _voucher_vendor(self, posting: Posting) -> str:
        if not self.settings.voucher_vendor_id:
            raise ReviewError(
                f"voucher {posting.reference}: the PeopleSoft profile has no voucher_vendor_id "
                "(the vendor, usually the payment processor, every web-order voucher is raised against)"
            )
        return self.settings.voucher_vendor_id

    def _find_voucher(self, posting: Posting) -> str | None:
        """The voucher carrying this posting's INVOICE_ID for the configured vendor."""
        vendor = self._voucher_vendor(posting)
        bu = self.settings.voucher_business_unit
        invoice_id = invoice_id_for(posting.reference)
        result = self.client.service(VOUCHER_CI).call("F", BUSINESS_UNIT=bu, INVOICE_ID=invoice_id, VENDOR_ID=vendor)
        rows = [
            r for r in _rows(result, VOUCHER_CI) if r.get("INVOICE_ID") == invoice_id and r.get("VENDOR_ID") == vendor
        ]
        if not rows:
            return None
        for row in rows:
            if self._written_for(VOUCHER_CI, row, posting):
                return voucher_erp_id(row["BUSINESS_UNIT"], row["VOUCHER_ID"])
        raise ReviewError(
            f"PeopleSoft voucher with INVOICE_ID {invoice_id} for vendor {vendor} exists but was not written for "
            f"{posting.reference}; review before posting",
            detail={"invoice_id": invoice_id, "voucher_id": rows[0].get("VOUCHER_ID")},
        )

    def _voucher_collision(self, fields: dict[str, Any], posting: Posting) -> None:
        """After a duplicate VOUCHER_ID that Find by INVOICE_ID does not explain: another invoice owns it."""
        keys = {k: fields[k] for k in ("BUSINESS_UNIT", "VOUCHER_ID")}
        try:
            current = self.client.service(VOUCHER_CI).call("G", **keys)
        except CIFaultError as fault:
            if fault.has(MSG_NO_ROWS):
                return
            raise
        if (current.get("INVOICE_ID") or "") != fields["INVOICE_ID"]:
            raise ReviewError(
                f"PeopleSoft voucher {keys['BUSINESS_UNIT']}/{keys['VOUCHER_ID']} belongs to invoice "
                f"{current.get('INVOICE_ID')}, not {posting.reference} (VOUCHER_ID collision); review",
                detail={"voucher_id": keys["VOUCHER_ID"]},
            )

    # -- inquiry (reconciler) ----------------------------------------------------------------

    def inquire(self, kind: InquiryKind, start: date | datetime, end: date | datetime) -> list[dict[str, Any]]:
        """Journals (by JOURNAL_DATE) or customers (by last update) in [start, end], read in small windows."""
        if kind not in ("journals", "customers"):
            raise ValueError(f"unknown inquiry kind {kind!r}")
        first = start.date() if isinstance(start, datetime) else start
        last = end.date() if isinstance(end, datetime) else end
        operation = self.settings.inquiry_operations[kind]
        key = self.settings.business_unit if kind == "journals" else self.settings.setid
        out: list[dict[str, Any]] = []
        window = timedelta(days=self.settings.inquiry_window_days)
        cursor = first
        while cursor <= last:
            until = min(last, cursor + window - timedelta(days=1))
            body = self.client.connection.rest_get(f"{operation}.v1/{key}/{cursor.isoformat()}/{until.isoformat()}")
            items = body.get("items", []) if isinstance(body, dict) else []
            field = self.settings.reference_field
            out.extend(_journal_item(i, field) if kind == "journals" else _customer_item(i) for i in items)
            cursor = until + timedelta(days=1)
        return out

    def close(self) -> None:
        self.client.close()


def _journal_item(item: dict[str, Any], reference_field: str) -> dict[str, Any]:
    descr = item.get(reference_field) or item.get("DESCR") or ""
    return {
        "erp_id": journal_erp_id(item["BUSINESS_UNIT"], item["JOURNAL_ID"]),
        "business_unit": item["BUSINESS_UNIT"],
        "journal_id": item["JOURNAL_ID"],
        "journal_date": date.fromisoformat(item["JOURNAL_DATE"]),
        "reference": marked_reference(descr),
        "descr": descr,
        "source": item.get("SOURCE", ""),
        "status": item.get("JRNL_HDR_STATUS", ""),
        "currency": item.get("FOREIGN_CURRENCY", ""),
        "total_debits": Decimal(str(item.get("TOTAL_DEBITS", "0"))),
        "line_count": int(item.get("LINE_COUNT", 0)),
    }


def _customer_item(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "erp_id": item["CUST_ID"],
        "setid": item.get("SETID", ""),
        "name": item.get("NAME1", ""),
        "email": item.get("EMAILID", ""),
        "customer_ref": item.get("CUSTOMER_REF", ""),
        "last_updated": date.fromisoformat(item["LASTUPDDT"]) if item.get("LASTUPDDT") else None,
    }
