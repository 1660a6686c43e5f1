"""``PeopleSoftTarget``: customers (CUSTOMER_CI), journals (JOURNAL_ENTRY_CI), AR items (AR_PENDING_ITEM_CI),
vouchers (VCHR_EXPRESS) over SOAP; inquiry over REST."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
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
    as_dict,
)
from mlconnector.targets.peoplesoft.mapping import (
    AR_ENTRY_TYPES,
    DESCR_LENGTH,
    ar_entry_type,
    ar_item,
    ar_item_erp_id,
    ar_item_fields,
    customer_id_for,
    customer_props,
    customer_ref,
    descr_marker,
    group_id_for,
    invoice_id_for,
    journal_erp_id,
    journal_fields,
    journal_id_for,
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


def _rows(result: Any, element: str) -> list[dict[str, Any]]:
    """Rows of a Find response, whichever way zeep unwrapped the single repeating child."""
    if result is None:
        return []
    if isinstance(result, list):
        items = result
    elif element in result:
        items = result[element] or []
    else:
        items = [result]
    return [as_dict(item) for item in items]


def same_reference(descr: str, reference: str) -> bool:
    """Whether a journal DESCR was written for ``reference`` (it starts with the reference marker)."""
    marker = descr_marker(reference)
    descr = (descr or "").rstrip()
    if len(marker) >= DESCR_LENGTH:
        return descr == marker[:DESCR_LENGTH]
    return descr == marker or descr.startswith(marker + " | ")


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
        return {"KEYPROP_SETID": self.settings.setid, "KEYPROP_CUST_ID": cust_id}

    def get_customer(self, cust_id: str) -> dict[str, Any] | None:
        """The customer's CI data, or None when PeopleSoft has no row for the keys."""
        try:
            result = self.client.service(CUSTOMER_CI).call("G", **self._customer_keys(cust_id))
        except CIFaultError as fault:
            if fault.has(MSG_NO_ROWS):
                return None
            raise
        return as_dict(result)

    def _find_customers(self, **criteria: str) -> list[dict[str, Any]]:
        result = self.client.service(CUSTOMER_CI).call("F", KEYPROP_SETID=self.settings.setid, **criteria)
        return _rows(result, CUSTOMER_CI)

    def find_customer(self, customer: Customer) -> str | None:
        """CUST_ID of the customer carrying this store id, else of the one with this e-mail."""
        ref = customer_ref(customer.source_id)
        matches = [r for r in self._find_customers(PROP_CUSTOMER_REF=ref) if (r.get("PROP_CUSTOMER_REF") or "") == ref]
        if not matches and customer.email:
            email = customer.email.strip().lower()
            matches = [
                r
                for r in self._find_customers(PROP_EMAILID=customer.email.strip())
                if (r.get("PROP_EMAILID") or "").strip().lower() == email
            ]
        ids = sorted({r["KEYPROP_CUST_ID"] for r in matches})
        if not ids:
            return None
        derived = customer_id_for(customer.source_id, self.settings.customer_id_prefix)
        if derived in ids:
            return derived
        if len(ids) > 1:
            log.warning("PeopleSoft: %d customers match store customer; using %s", len(ids), ids[0])
        return ids[0]

    def upsert_customer(self, customer: Customer, known_erp_id: str | None = None) -> str:
        service = self.client.service(CUSTOMER_CI)
        desired = customer_props(customer, self.settings.country_codes)
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
            try:
                service.call("C", **self._customer_keys(new_id), **desired)
                return new_id
            except CIFaultError as fault:
                if not fault.has(MSG_DUPLICATE):
                    raise
            # A previous attempt committed (or another worker won the race): update that row.
            cust_id, current = new_id, self.get_customer(new_id)
            if current is None:
                raise TransientError(f"PeopleSoft reports CUST_ID {new_id} exists but cannot read it back")
            if (current.get("PROP_CUSTOMER_REF") or "") not in ("", desired["PROP_CUSTOMER_REF"]):
                raise ReviewError(
                    f"PeopleSoft CUST_ID {new_id} already belongs to another store customer",
                    detail={"cust_id": new_id},
                )
        existing_ref = (current.get("PROP_CUSTOMER_REF") or "").strip()
        if existing_ref and existing_ref != desired["PROP_CUSTOMER_REF"]:
            desired = {**desired, "PROP_CUSTOMER_REF": existing_ref}  # matched by e-mail: keep the other link
        changed = {k: v for k, v in desired.items() if (current.get(k) or "").strip() != v.strip()}
        if changed:
            service.call("UP", **self._customer_keys(cust_id), **changed)
        return cust_id

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
            fields = journal_fields(posting, self.settings)
            ci, erp_id = JOURNAL_CI, journal_erp_id(self.settings.business_unit, fields["KEYPROP_JOURNAL_ID"])
        elif posting.kind in AR_ENTRY_TYPES:
            fields = ar_item_fields(posting, self.settings, customer_erp_id)
            ci = AR_ITEM_CI
            erp_id = ar_item_erp_id(fields["KEYPROP_BUSINESS_UNIT"], fields["KEYPROP_GROUP_ID"], fields["KEYPROP_ITEM"])
        elif posting.kind == PostingKind.VOUCHER:
            fields = voucher_fields(posting, self.settings)
            ci = VOUCHER_CI
            erp_id = voucher_erp_id(fields["KEYPROP_BUSINESS_UNIT"], fields["KEYPROP_VOUCHER_ID"])
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

    def _find_journal(self, posting: Posting) -> str | None:
        bu = self.settings.business_unit
        journal_id = journal_id_for(posting.reference, self.settings.journal_id_prefix)
        result = self.client.service(JOURNAL_CI).call("F", KEYPROP_BUSINESS_UNIT=bu, KEYPROP_JOURNAL_ID=journal_id)
        rows = [r for r in _rows(result, JOURNAL_CI) if r.get("KEYPROP_JOURNAL_ID") == journal_id]
        if not rows:
            return None
        for row in rows:
            if same_reference(row.get("PROP_DESCR") or "", posting.reference):
                return journal_erp_id(bu, journal_id)
        raise ReviewError(
            f"PeopleSoft journal {bu}/{journal_id} exists but was not written for {posting.reference} "
            "(JOURNAL_ID collision); review before posting",
            detail={"journal_id": journal_id, "descr": (rows[0].get("PROP_DESCR") or "")[:80]},
        )

    def _find_ar_item(self, posting: Posting) -> str | None:
        """The pending item written for this posting, found by ITEM (a receipt's is its invoice's item)."""
        bu = self.settings.ar_business_unit
        item = ar_item(posting)
        entry_type = ar_entry_type(posting)
        group_id = group_id_for(posting.reference, self.settings.journal_id_prefix)
        result = self.client.service(AR_ITEM_CI).call("F", KEYPROP_BUSINESS_UNIT=bu, KEYPROP_ITEM=item)
        rows = [r for r in _rows(result, AR_ITEM_CI) if (r.get("KEYPROP_ITEM") or "").upper() == item.upper()]
        for row in rows:
            if row.get("PROP_ENTRY_TYPE") == entry_type and same_reference(
                row.get("PROP_DESCR") or "", posting.reference
            ):
                return ar_item_erp_id(row["KEYPROP_BUSINESS_UNIT"], row["KEYPROP_GROUP_ID"], row["KEYPROP_ITEM"])
        # Payments share their invoice's ITEM; anything else with this ITEM (or our GROUP_ID) is not ours.
        clashes = [
            r
            for r in rows
            if r.get("KEYPROP_GROUP_ID") == group_id
            or (posting.kind != PostingKind.RECEIPT and r.get("PROP_ENTRY_TYPE") == entry_type)
        ]
        if clashes:
            raise ReviewError(
                f"PeopleSoft AR item {bu}/{item} ({entry_type}) exists but was not written for {posting.reference} "
                "(ITEM/GROUP_ID collision); review before posting",
                detail={"item": item, "descr": (clashes[0].get("PROP_DESCR") or "")[:80]},
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
        result = self.client.service(VOUCHER_CI).call(
            "F", KEYPROP_BUSINESS_UNIT=bu, PROP_INVOICE_ID=invoice_id, PROP_VENDOR_ID=vendor
        )
        rows = [
            r
            for r in _rows(result, VOUCHER_CI)
            if r.get("PROP_INVOICE_ID") == invoice_id and r.get("PROP_VENDOR_ID") == vendor
        ]
        if not rows:
            return None
        for row in rows:
            if same_reference(row.get("PROP_DESCR") or "", posting.reference):
                return voucher_erp_id(row["KEYPROP_BUSINESS_UNIT"], row["KEYPROP_VOUCHER_ID"])
        raise ReviewError(
            f"PeopleSoft voucher with INVOICE_ID {invoice_id} for vendor {vendor} exists but was not written for "
            f"{posting.reference}; review before posting",
            detail={"invoice_id": invoice_id, "voucher_id": rows[0].get("KEYPROP_VOUCHER_ID")},
        )

    def _voucher_collision(self, fields: dict[str, Any], posting: Posting) -> None:
        """After a duplicate VOUCHER_ID that Find by INVOICE_ID does not explain: another invoice owns it."""
        keys = {k: fields[k] for k in ("KEYPROP_BUSINESS_UNIT", "KEYPROP_VOUCHER_ID")}
        try:
            current = as_dict(self.client.service(VOUCHER_CI).call("G", **keys))
        except CIFaultError as fault:
            if fault.has(MSG_NO_ROWS):
                return
            raise
        if (current.get("PROP_INVOICE_ID") or "") != fields["PROP_INVOICE_ID"]:
            raise ReviewError(
                f"PeopleSoft voucher {keys['KEYPROP_BUSINESS_UNIT']}/{keys['KEYPROP_VOUCHER_ID']} belongs to invoice "
                f"{current.get('PROP_INVOICE_ID')}, not {posting.reference} (VOUCHER_ID collision); review",
                detail={"voucher_id": keys["KEYPROP_VOUCHER_ID"]},
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
            out.extend(_journal_item(i) if kind == "journals" else _customer_item(i) for i in items)
            cursor = until + timedelta(days=1)
        return out

    def close(self) -> None:
        self.client.close()


def _journal_item(item: dict[str, Any]) -> dict[str, Any]:
    descr = item.get("DESCR", "") or ""
    marker = descr.split(" | ", 1)[0]
    return {
        "erp_id": journal_erp_id(item["BUSINESS_UNIT"], item["JOURNAL_ID"]),
        "business_unit": item["BUSINESS_UNIT"],
        "journal_id": item["JOURNAL_ID"],
        "journal_date": date.fromisoformat(item["JOURNAL_DATE"]),
        "reference": marker[4:] if marker.startswith("ref:") else None,
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
