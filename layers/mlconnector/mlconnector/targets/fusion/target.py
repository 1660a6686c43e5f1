"""``FusionTarget``: customers as hubOrganizations, orders as receivables invoices, payments as
standard receipts applied to the invoice, refunds as credit memos.

Exactly once: every document's number is the posting's deterministic reference, ``find_posting``
looks it up by that number, and a create whose previous attempt may have committed (timeout,
5xx) looks again before re-sending; a "duplicate number" refusal resolves to the existing document.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from mlconnector.accounting.rules import MappingRules
from mlconnector.documents import Posting, PostingKind
from mlconnector.errors import ConnectorError, ReviewError, TransientError
from mlconnector.models import Customer
from mlconnector.targets.base import ErpTarget, FoundInErp
from mlconnector.targets.fusion.client import FusionClient, refused
from mlconnector.targets.fusion.mapping import (
    account_number_for,
    credit_memo_payload,
    customer_payload,
    invoice_payload,
    loads,
    payload_combinations,
    q_filter,
    receipt_payload,
    rule_combinations,
)
from mlconnector.targets.fusion.settings import FusionSettings

log = logging.getLogger(__name__)

#: kind → (resource under fscmRestApi, number attribute, id attribute)
RESOURCES: dict[PostingKind, tuple[str, str, str]] = {
    PostingKind.AR_INVOICE: ("receivablesInvoices", "TransactionNumber", "CustomerTransactionId"),
    PostingKind.CREDIT_MEMO: ("receivablesCreditMemos", "TransactionNumber", "CustomerTransactionId"),
    PostingKind.RECEIPT: ("standardReceipts", "ReceiptNumber", "StandardReceiptId"),
}
CUSTOMERS = "hubOrganizations"


class _AlreadyPosted(ConnectorError):
    """Raised inside the retry loop when the look-up finds the document a previous attempt created."""

    def __init__(self, erp_id: str) -> None:
        super().__init__(erp_id)
        self.erp_id = erp_id


def _active(item: dict[str, Any], today: date) -> bool:
    if str(item.get("EnabledFlag", "Y")).upper() not in ("Y", "TRUE"):
        return False
    start, end = item.get("StartDateActive"), item.get("EndDateActive")
    try:
        if start and date.fromisoformat(str(start)[:10]) > today:
            return False
        if end and date.fromisoformat(str(end)[:10]) < today:
            return False
    except ValueError:
        return False
    return True


class FusionTarget(ErpTarget):
    """Oracle Fusion Cloud ERP Receivables over its REST API."""

    def __init__(
        self,
        settings: FusionSettings,
        credentials: dict[str, str],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.client = FusionClient(settings, credentials, sleep=sleep)
        self._combinations: frozenset[str] | None = None
        self._combinations_lock = threading.Lock()

    def _fscm(self, resource: str) -> str:
        return f"{self.settings.fscm_url}/{resource}"

    def _q(self, **conditions: str) -> str | None:
        return q_filter(conditions, self.settings.rest_framework_version)

    # -- customers --------------------------------------------------------------------------

    def _organizations(self, **conditions: str) -> list[dict[str, Any]]:
        q = self._q(**conditions)
        if q is None:  # a value with both quote characters cannot be expressed in q=
            return []
        items = self.client.find_items(f"{self.settings.crm_url}/{CUSTOMERS}", q)
        # Fusion's q= may match case-insensitively or by prefix depending on the attribute; insist on exact.
        return [
            item
            for item in items
            if all(str(item.get(name, "")) == value for name, value in conditions.items()) and item.get("AccountNumber")
        ]

    def find_customer(self, customer: Customer, known_erp_id: str | None = None) -> str | None:
        """The AccountNumber of the Fusion customer matching ``customer``, or None.

        Order: the stored id (AccountNumber), the store id kept as SourceSystemReference, the exact
        organization/person name (narrowed by email when several share it), then the email.
        """
        if known_erp_id:
            found = self._organizations(AccountNumber=known_erp_id)
            if found:
                return str(found[0]["AccountNumber"])
            log.warning("Fusion customer account %s no longer found; matching customer afresh", known_erp_id)
        found = self._organizations(
            SourceSystem=self.settings.source_system, SourceSystemReferenceValue=customer.source_id
        )
        if found:
            return str(found[0]["AccountNumber"])
        name = customer.display_name
        if name and name != customer.email:
            found = self._organizations(OrganizationName=name)
            if len(found) > 1 and customer.email:
                found = [item for item in found if str(item.get("EmailAddress", "")).lower() == customer.email.lower()]
            if len(found) == 1:
                return str(found[0]["AccountNumber"])
        if customer.email:
            found = self._organizations(EmailAddress=customer.email)
            if len(found) == 1:
                return str(found[0]["AccountNumber"])
            if len(found) > 1:
                numbers = sorted(str(item["AccountNumber"]) for item in found)
                raise ReviewError(
                    f"{len(found)} Fusion customer accounts share the customer's email ({', '.join(numbers[:5])}); "
                    "link the store customer to one of them",
                    detail={"accounts": numbers},
                )
        return None

    def upsert_customer(self, customer: Customer, known_erp_id: str | None = None) -> str:
        """The customer's Fusion AccountNumber (used as BillToCustomerNumber): matched, or created."""
        found = self.find_customer(customer, known_erp_id)
        if found:
            return found
        account_number = account_number_for(self.settings, customer)
        body = customer_payload(self.settings, customer, account_number)

        def before_retry() -> None:
            existing = self._organizations(AccountNumber=account_number)
            if existing:
                raise _AlreadyPosted(str(existing[0]["AccountNumber"]))

        try:
            response = self.client.post_item(f"{self.settings.crm_url}/{CUSTOMERS}", body, before_retry=before_retry)
        except _AlreadyPosted as done:
            return done.erp_id
        if response.status_code in (200, 201):
            created = loads(response.content)
            return str(created.get("AccountNumber") or account_number)
        if response.status_code in (400, 409, 422):
            existing = self._organizations(AccountNumber=account_number)
            if existing:
                return str(existing[0]["AccountNumber"])
            raise refused(self.client.who, f"customer {customer.source_id}", response)
        raise TransientError(f"{self.client.who}: creating a customer answered HTTP {response.status_code}")

    # -- documents --------------------------------------------------------------------------

    def find_posting(self, posting: Posting) -> str | None:
        """The Fusion id of the invoice / receipt / credit memo numbered ``posting.reference``, or None."""
        if posting.kind not in RESOURCES:
            return None
        resource, number_field, id_field = RESOURCES[posting.kind]
        q = self._q(**{number_field: posting.reference})
        if q is None:
            raise ReviewError(f"reference {posting.reference!r} cannot be searched in Fusion (quote characters)")
        for item in self.client.find_items(self._fscm(resource), q):
            if str(item.get(number_field, "")) != posting.reference:
                continue
            if item.get("BusinessUnit") not in (None, self.settings.business_unit):
                continue
            return str(item[id_field])
        return None

    def create_posting(self, posting: Posting, customer_erp_id: str | None) -> str:
        """Create the invoice, receipt or credit memo; return its Fusion id.

        Every AccountCombination is checked against Fusion's valid combinations first (when
        ``validate_accounts``): an unknown one raises ReviewError and nothing is posted.
        """
        if posting.kind not in RESOURCES:
            raise ReviewError(
                f"{posting.kind} postings are not supported by the Fusion target; use posting_style ar_invoice"
            )
        if posting.kind is not PostingKind.RECEIPT and not customer_erp_id:
            raise ReviewError(f"{posting.kind} {posting.reference} needs a Fusion bill-to customer account number")
        if posting.kind is PostingKind.AR_INVOICE:
            body = invoice_payload(posting, self.settings, str(customer_erp_id))
        elif posting.kind is PostingKind.CREDIT_MEMO:
            body = credit_memo_payload(posting, self.settings, str(customer_erp_id))
        else:
            body = receipt_payload(posting, self.settings, customer_erp_id)
        if self.settings.validate_accounts:
            self._require_combinations(payload_combinations(body), posting.reference)

        resource, _, id_field = RESOURCES[posting.kind]

        def before_retry() -> None:
            existing = self.find_posting(posting)
            if existing:
                raise _AlreadyPosted(existing)

        try:
            response = self.client.post_item(self._fscm(resource), body, before_retry=before_retry)
        except _AlreadyPosted as done:
            log.info("Fusion %s %s was created by an earlier attempt (id %s)", resource, posting.reference, done.erp_id)
            return done.erp_id
        if response.status_code in (200, 201):
            try:
                return str(loads(response.content)[id_field])
            except (ValueError, KeyError, TypeError):
                existing = self.find_posting(posting)
                if existing:
                    return existing
                raise TransientError(f"{self.client.who}: created {resource} answered without {id_field}") from None
        if response.status_code in (400, 409, 422):
            existing = self.find_posting(posting)  # "already exists": the reference is ours, so is the document
            if existing:
                return FoundInErp(existing)
            raise refused(self.client.who, f"{posting.kind} {posting.reference}", response)
        raise TransientError(f"{self.client.who}: POST {resource} answered HTTP {response.status_code}")

    # -- reference data ---------------------------------------------------------------------

    def _load_combinations(self) -> frozenset[str]:
        conditions = {"EnabledFlag": "Y"}
        if self.settings.chart_of_accounts_id is not None:
            conditions["_CHART_OF_ACCOUNTS_ID"] = str(self.settings.chart_of_accounts_id)
        q = self._q(**conditions)
        segments = len(self.settings.segment_order)
        today = datetime.now(UTC).date()
        found = set()
        for item in self.client.iter_items(self._fscm("accountCombinationsLOV"), q=q):
            values = [item.get(f"_SEGMENT{i}") for i in range(1, segments + 1)]
            if all(values) and _active(item, today):
                found.add(self.settings.segment_separator.join(str(v) for v in values))
        return frozenset(found)

    def valid_account_combinations(self, *, refresh: bool = False) -> frozenset[str]:
        """Fusion's enabled, currently active account combinations (read once per instance, paged)."""
        with self._combinations_lock:
            if self._combinations is None or refresh:
                self._combinations = self._load_combinations()
            return self._combinations

    def check_rules(self, accounts: list[str]) -> list[str]:
        """The combinations in ``accounts`` that Fusion does not have (enabled and active), in input order."""
        valid = self.valid_account_combinations()
        missing = [a for a in dict.fromkeys(accounts) if a not in valid]
        if missing:  # the cache may predate a combination created since: look once more
            valid = self.valid_account_combinations(refresh=True)
            missing = [a for a in missing if a not in valid]
        return missing

    def check_mapping_rules(self, rules: MappingRules) -> dict[str, str]:
        """Rule label → combination, for every rule whose combination Fusion does not have."""
        by_label = rule_combinations(rules, self.settings)
        missing = set(self.check_rules(list(by_label.values())))
        return {label: combo for label, combo in by_label.items() if combo in missing}

    def _require_combinations(self, combinations: list[str], reference: str) -> None:
        missing = self.check_rules(combinations)
        if missing:
            raise ReviewError(
                f"account combination {', '.join(missing)} does not exist in Fusion (or is disabled); "
                f"{reference} was not posted",
                detail={"missing_combinations": missing},
            )

    def close(self) -> None:
        self.client.close()
