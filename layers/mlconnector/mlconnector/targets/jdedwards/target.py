"""``JdeTarget``: Address Book customers and GL batches through AIS orchestrations, lookups via data service."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from mlconnector.documents import Posting, PostingKind
from mlconnector.errors import AuthError, ReviewError, TransientError
from mlconnector.models import Customer
from mlconnector.targets.base import ErpTarget, FoundInErp
from mlconnector.targets.jdedwards.client import AisClient, JdeError
from mlconnector.targets.jdedwards.dates import JdeDateFormat
from mlconnector.targets.jdedwards.mapping import (
    F0101_COLUMNS,
    F0911_COLUMNS,
    browse_request,
    browse_rows,
    check_reference,
    condition,
    customer_key,
    customer_payload,
    erp_id,
    gl_batch_payload,
    parse_jde_date,
)
from mlconnector.targets.jdedwards.settings import DATA_SERVICE, JdeSettings

log = logging.getLogger(__name__)


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value).strip() or "0") if value is not None else Decimal("0")


class JdeTarget(ErpTarget):
    """JD Edwards EnterpriseOne through the AIS server (orchestrator + data service)."""

    def __init__(
        self,
        settings: JdeSettings,
        credentials: dict[str, str],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self.client = AisClient(settings, credentials, sleep=sleep)

    # -- exactly-once creation ------------------------------------------------------------------

    def _create_once(self, what: str, create: Callable[[], str], find: Callable[[], str | None]) -> str:
        """Send a non-idempotent create once per attempt; after a lost answer, look before sending again.

        A timeout or 5xx may arrive after JDE committed: the lookup then finds the record and
        its id is returned instead of creating a second one. A duplicate refusal from the
        orchestration (a parallel worker, or a commit the lookup missed) resolves the same way.
        """
        policy = self.client.policy
        last: TransientError | None = None
        for attempt in range(1, policy.attempts + 1):
            try:
                return create()
            except JdeError as error:
                if not error.is_duplicate():
                    raise
                found = find()
                if found is None:
                    raise TransientError(
                        f"JD Edwards reports {what} exists but the lookup does not return it"
                    ) from None
                log.info("JD Edwards %s already existed (refused as a duplicate): %s", what, found)
                return FoundInErp(found)
            except AuthError:
                raise
            except TransientError as error:
                last = error
                found = find()
                if found is not None:
                    log.info("JD Edwards %s was committed before its answer was lost: %s", what, found)
                    return found
                if attempt < policy.attempts:
                    delay = min(policy.max_delay, policy.initial_delay * 2 ** (attempt - 1))
                    self._sleep(delay * (0.5 + random.random() / 2))
        assert last is not None
        raise last

    # -- customers ------------------------------------------------------------------------------

    def _browse_f0101(self, conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = self.client.browse(browse_request("F0101", F0101_COLUMNS, conditions, self.settings.max_page_size))
        return browse_rows(body, "F0101")[0]

    def address(self, an8: str) -> dict[str, Any] | None:
        """The F0101 row of address number ``an8``, or None."""
        if not an8.strip().isdigit():
            return None
        rows = self._browse_f0101([condition("F0101.AN8", "EQUAL", str(int(an8)))])
        return rows[0] if rows else None

    def find_customer(self, customer: Customer) -> str | None:
        """AN8 of the customer entry whose Long Address Number (ALKY) holds this store customer's key."""
        key = customer_key(customer.source_id, self.settings.customer_key_prefix)
        rows = self._browse_f0101(
            [
                condition("F0101.ALKY", "EQUAL", key),
                condition("F0101.AT1", "EQUAL", self.settings.address_book_search_type),
            ]
        )
        numbers = sorted({int(_decimal(r["F0101_AN8"])) for r in rows if str(r.get("F0101_ALKY", "")).strip() == key})
        if not numbers:
            return None
        if len(numbers) > 1:
            log.warning("JD Edwards: %d entries carry one store customer; using %s", len(numbers), numbers[0])
        return str(numbers[0])

    def upsert_customer(self, customer: Customer, known_erp_id: str | None = None) -> str:
        inputs = customer_payload(customer, self.settings)
        an8 = known_erp_id.strip() if known_erp_id and self.address(known_erp_id) is not None else None
        if an8 is None:
            an8 = self.find_customer(customer)
        if an8 is None:

            def create() -> str:
                body = self.client.orchestrate(self.settings.customer_orchestration, inputs, retry=False)
                number = str(body.get("AddressNumber") or "").strip()
                if not number.isdigit():
                    raise TransientError("JD Edwards customer orchestration answered without an AddressNumber")
                return str(int(number))

            what = f"customer {inputs['LongAddressNumber']}"
            return self._create_once(what, create, lambda: self.find_customer(customer))
        if self.settings.customer_update_orchestration:
            self.client.orchestrate(self.settings.customer_update_orchestration, {"AddressNumber": an8, **inputs})
        return an8

    # -- postings -------------------------------------------------------------------------------

    def find_posting(self, posting: Posting) -> str | None:
        if posting.kind != PostingKind.JOURNAL:
            raise ReviewError(f"posting kind {posting.kind} is not supported by the JD Edwards target (journals only)")
        reference = check_reference(posting.reference)
        if self.settings.gl_lookup != DATA_SERVICE:
            body = self.client.orchestrate(
                self.settings.gl_lookup,
                {
                    "BatchReference": reference,
                    "Company": self.settings.company,
                    "DocumentType": self.settings.document_type,
                },
            )
            batch, document = body.get("BatchNumber"), body.get("DocumentNumber")
            return erp_id(batch, document) if str(batch or "").strip() and str(document or "").strip() else None
        rows = self._browse_f0911(
            [
                condition("F0911.VR01", "EQUAL", reference),
                condition("F0911.KCO", "EQUAL", self.settings.company),
                condition("F0911.DCT", "EQUAL", self.settings.document_type),
                condition("F0911.LT", "EQUAL", self.settings.ledger_type),
            ]
        )[0]
        rows = [r for r in rows if str(r.get("F0911_VR01", "")).strip() == reference]
        if not rows:
            return None
        ids = sorted({erp_id(r["F0911_ICU"], r["F0911_DOC"]) for r in rows})
        if len(ids) > 1:
            log.warning("JD Edwards: reference %s is on %d GL entries (%s)", reference, len(ids), ", ".join(ids))
        return erp_id(rows[0]["F0911_ICU"], rows[0]["F0911_DOC"])

    def create_posting(self, posting: Posting, customer_erp_id: str | None) -> str:
        inputs = gl_batch_payload(posting, self.settings, self.client.date_format(), customer_erp_id)

        def create() -> str:
            body = self.client.orchestrate(self.settings.gl_orchestration, inputs, retry=False)
            batch, document = body.get("BatchNumber"), body.get("DocumentNumber")
            if not str(batch or "").strip() or not str(document or "").strip():
                raise TransientError("JD Edwards GL orchestration answered without BatchNumber/DocumentNumber")
            return erp_id(batch, document)

        return self._create_once(f"GL batch for {posting.reference}", create, lambda: self.find_posting(posting))

    # -- read back (reconciler) -----------------------------------------------------------------

    def _browse_f0911(self, conditions: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
        body = self.client.browse(browse_request("F0911", F0911_COLUMNS, conditions, self.settings.max_page_size))
        return browse_rows(body, "F0911")

    def read_back(self, start: date | datetime, end: date | datetime) -> list[dict[str, Any]]:
        """GL lines of this company, document type and ledger with a G/L date in [start, end].

        A range holding more rows than one page is split in halves until each part fits.
        """
        first = start.date() if isinstance(start, datetime) else start
        last = end.date() if isinstance(end, datetime) else end
        if last < first:
            return []
        dates = self.client.date_format()
        rows, more = self._browse_f0911(
            [
                condition("F0911.KCO", "EQUAL", self.settings.company),
                condition("F0911.DCT", "EQUAL", self.settings.document_type),
                condition("F0911.LT", "EQUAL", self.settings.ledger_type),
                condition("F0911.DGJ", "BETWEEN", dates.format(first), dates.format(last)),
            ]
        )
        if more:
            if first == last:
                raise TransientError(
                    f"JD Edwards holds more than {self.settings.max_page_size} GL lines "
                    f"for {first}; raise max_page_size"
                )
            middle = first + timedelta(days=(last - first).days // 2)
            return self.read_back(first, middle) + self.read_back(middle + timedelta(days=1), last)
        return [self._gl_line(row, dates) for row in rows]

    def _gl_line(self, row: dict[str, Any], dates: JdeDateFormat) -> dict[str, Any]:
        return {
            "erp_id": erp_id(row["F0911_ICU"], row["F0911_DOC"]),
            "batch": erp_id(row["F0911_ICU"], "").rstrip("/"),
            "document": erp_id(row["F0911_DOC"], "").rstrip("/"),
            "line": int(_decimal(row.get("F0911_JELN"))),
            "reference": str(row.get("F0911_VR01", "")).strip(),
            "date": parse_jde_date(row["F0911_DGJ"], dates),
            "account": str(row.get("F0911_ANI", "")).strip(),
            "amount": _decimal(row.get("F0911_AA")),
            "foreign_amount": _decimal(row.get("F0911_ACR")),
            "currency": str(row.get("F0911_CRCD", "")).strip(),
            "explanation": str(row.get("F0911_EXA", "")).strip(),
            "line_explanation": str(row.get("F0911_EXR", "")).strip(),
            "company": str(row.get("F0911_KCO", "")).strip(),
            "document_type": str(row.get("F0911_DCT", "")).strip(),
            "ledger_type": str(row.get("F0911_LT", "")).strip(),
        }

    def close(self) -> None:
        self.client.close()
