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
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from defusedxml import ElementTree

from mlconnector.accounting.rules import MappingRules
from mlconnector.documents import Posting, PostingKind
from mlconnector.errors import ConnectorError, ReviewError, TransientError
from mlconnector.http import RETRYABLE_STATUSES
from mlconnector.models import Customer
from mlconnector.targets.base import ErpTarget, FoundInErp, PostedWithRemark
from mlconnector.targets.fusion.client import FusionClient, finder_value, refused
from mlconnector.targets.fusion.mapping import (
    BillTo,
    credit_memo_payload,
    customer_account_envelope,
    invoice_payload,
    loads,
    organization_payload,
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
PARTIES = "hubOrganizations"
SITES = "receivablesCustomerAccountSiteActivities"
SITES_FINDER = "CustomerAccountSiteActivitiesFinder"
SOAP_ACTION = "mergeCustomerAccount"
GUEST = "guest:"


#: Why a credit memo stays on account, for the audit trail and the reconciliation report.
ON_ACCOUNT = (
    "on account: Fusion's receivablesCreditMemos REST resource creates on-account credit memos only and Oracle "
    "documents no REST route to apply one (only the CreditMemoService SOAP ApplyOnAccountCreditMemo object); "
    "apply it to invoice {invoice} in Receivables, or refund it"
)


def _tax_difference(entered_amount: Any, store_total: Decimal, currency: str) -> str:
    """'' when Fusion's invoice total is the store's, else what differs (tax calculated by Fusion)."""
    try:
        fusion_total = Decimal(str(entered_amount))
    except ArithmeticError:
        return f"Fusion answered no invoice total to compare with the store's {store_total} {currency}"
    if fusion_total == store_total:
        return ""
    return (
        f"Fusion calculated tax to an invoice total of {fusion_total} {currency}, the store charged {store_total} "
        f"(difference {fusion_total - store_total}); check the tax setup or use tax_mode entered"
    )


class _AlreadyPosted(ConnectorError):
    """Raised inside the retry loop when the look-up finds the document a previous attempt created."""

    def __init__(self, erp_id: str) -> None:
        super().__init__(erp_id)
        self.erp_id = erp_id


def _by_account(sites: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    accounts: dict[str, list[dict[str, Any]]] = {}
    for site in sites:
        accounts.setdefault(str(site["AccountNumber"]), []).append(site)
    return accounts


def _soap_account_number(response: Any, who: str, what: str) -> str:
    """The AccountNumber in a CustomerAccountService answer (or the SOAP fault's text as a refusal)."""
    try:
        root = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        raise TransientError(f"{who}: CustomerAccountService answered HTTP {response.status_code}, not XML") from None
    texts = {element.tag.rpartition("}")[2]: (element.text or "").strip() for element in root.iter()}
    if texts.get("faultstring") or response.status_code >= 400:
        fault = " ".join(texts.get("faultstring", f"HTTP {response.status_code}").split())[:500]
        if response.status_code >= 500 and not texts.get("faultstring"):
            raise TransientError(f"{who}: CustomerAccountService answered HTTP {response.status_code}")
        raise ReviewError(f"{who} refused the customer account for {what}: {fault}", detail={"fusion": fault})
    if not texts.get("AccountNumber"):
        raise TransientError(f"{who}: CustomerAccountService answered without an AccountNumber")
    return texts["AccountNumber"]


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

    def _parties(self, **conditions: str) -> list[dict[str, Any]]:
        q = self._q(**conditions)
        if q is None:  # a value with both quote characters cannot be expressed in q=
            return []
        items = self.client.find_items(f"{self.settings.crm_url}/{PARTIES}", q)
        # Fusion's q= may match case-insensitively or by prefix depending on the attribute; insist on exact.
        return [item for item in items if all(str(item.get(k, "")) == v for k, v in conditions.items())]

    def _sites(self, **conditions: str) -> list[dict[str, Any]]:
        """The bill-to sites (receivablesCustomerAccountSiteActivities items) matching the finder's attributes."""
        items = self.client.find_by_finder(self._fscm(SITES), SITES_FINDER, conditions)
        return [item for item in items if all(str(item.get(k, "")) == v for k, v in conditions.items())]

    def _accounts_of_party(self, party: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The party's customer accounts (AccountNumber → its bill-to sites), found through its name."""
        name = str(party.get("OrganizationName", ""))
        if not finder_value(name):
            raise ReviewError(
                f"the accounts of Fusion party {party.get('PartyNumber')} cannot be looked up by its name "
                "(it holds ; , = or a quote); link the store customer to its account",
                detail={"party": party.get("PartyNumber")},
            )
        sites = self._sites(CustomerName=name)
        return _by_account(site for site in sites if str(site.get("CustomerId")) == str(party.get("PartyId")))

    def _bill_to(self, account: str, sites: list[dict[str, Any]], preferred: str | None = None) -> str:
        """The stored match for ``account``: its number alone when it has one bill-to site (Fusion bills that one),
        with the site number (BillToSite) when it has several and we know which."""
        numbers = sorted(str(site.get("BillToSiteNumber")) for site in sites)
        if len(numbers) <= 1:
            return BillTo(account).erp_id
        if preferred in numbers:
            return BillTo(account, preferred).erp_id
        raise ReviewError(
            f"Fusion customer account {account} has {len(numbers)} bill-to sites ({', '.join(numbers[:5])}); "
            "link the store customer to one of them (account|site)",
            detail={"account": account, "sites": numbers},
        )

    def _one_account(self, accounts: dict[str, list[dict[str, Any]]], what: str) -> str | None:
        if len(accounts) > 1:
            numbers = sorted(accounts)
            raise ReviewError(
                f"{len(numbers)} Fusion customer accounts match the customer's {what} ({', '.join(numbers[:5])}); "
                "link the store customer to one of them",
                detail={"accounts": numbers},
            )
        for account, sites in accounts.items():
            return self._bill_to(account, sites)
        return None

    def _web_account_for(self, customer: Customer) -> bool:
        mode = self.settings.customer_accounts
        return mode == "all_to_web_account" or (
            mode == "guests_to_web_account" and customer.source_id.startswith(GUEST)
        )

    def find_customer(self, customer: Customer, known_erp_id: str | None = None) -> str | None:
        """The stored match (``account`` or ``account|site``) of the Fusion customer for ``customer``, or None.

        Order: the stored match (still an account with bill-to sites), the store id kept as the party's source
        system reference, the exact party name (narrowed by email when several accounts share it), the email.
        """
        if known_erp_id:
            known = BillTo.parse(known_erp_id)
            sites = self._sites(AccountNumber=known.account_number)
            if sites:
                return self._bill_to(known.account_number, sites, known.site_number)
            log.warning("Fusion customer account %s no longer found; matching customer afresh", known.account_number)
        parties = self._parties(SourceSystem=self.settings.source_system, SourceSystemReferenceValue=customer.source_id)
        for party in parties:
            found = self._one_account(self._accounts_of_party(party), "store id")
            if found:
                return found
        name = customer.display_name
        if name and name != customer.email:
            accounts = _by_account(self._sites(CustomerName=name))
            if len(accounts) > 1 and customer.email:
                ids = {str(p.get("PartyId")) for p in self._parties(EmailAddress=customer.email)}
                accounts = {a: s for a, s in accounts.items() if str(s[0].get("CustomerId")) in ids}
            found = self._one_account(accounts, "name")
            if found:
                return found
        if customer.email:
            accounts: dict[str, list[dict[str, Any]]] = {}
            for party in self._parties(EmailAddress=customer.email):
                accounts.update(self._accounts_of_party(party))
            return self._one_account(accounts, "email")
        return None

    def upsert_customer(self, customer: Customer, known_erp_id: str | None = None) -> str:
        """The customer's stored match: found; the pre-created web customers account (guests, by profile); or
        a new party (hubOrganizations), then its customer account with a BILL_TO site (CustomerAccountService)."""
        found = self.find_customer(customer, known_erp_id)
        if found:
            return found
        if self._web_account_for(customer):
            number = str(self.settings.web_customers_account_number)
            sites = self._sites(AccountNumber=number)
            if not sites:
                raise ReviewError(f"the web customers account {number} has no bill-to site in Fusion")
            return self._bill_to(number, sites)
        party = self._party(customer)
        return self._create_account(customer, party)

    def _party(self, customer: Customer) -> dict[str, Any]:
        """The customer's organization party with a party site: the one a previous attempt created, or a new one."""
        conditions = {"SourceSystem": self.settings.source_system, "SourceSystemReferenceValue": customer.source_id}
        body = organization_payload(self.settings, customer)
        if "Address" not in body:
            raise ReviewError(
                f"customer {customer.source_id} has no address country; a Fusion account site needs a party site"
            )

        def before_retry() -> None:
            existing = self._parties(**conditions)
            if existing:
                raise _AlreadyPosted(str(existing[0]["PartyNumber"]))

        existing = self._parties(**conditions)
        if existing:
            return self._with_sites(existing[0])
        url = f"{self.settings.crm_url}/{PARTIES}"
        try:
            response = self.client.post_item(url, body, before_retry=before_retry)
        except _AlreadyPosted:
            return self._with_sites(self._parties(**conditions)[0])
        if response.status_code in (200, 201):
            return self._with_sites(loads(response.content))
        if response.status_code in (400, 409, 422):
            existing = self._parties(**conditions)
            if existing:
                return self._with_sites(existing[0])
            raise refused(self.client.who, f"customer {customer.source_id}", response)
        raise TransientError(f"{self.client.who}: creating a party answered HTTP {response.status_code}")

    def _with_sites(self, party: dict[str, Any]) -> dict[str, Any]:
        """The party with its addresses (party sites), read from the Address child when the item lacks them."""
        addresses = party.get("Address")
        if isinstance(addresses, dict):  # REST-Framework-Version 3+: child collections come as objects
            addresses = addresses.get("items")
        if not addresses:
            url = f"{self.settings.crm_url}/{PARTIES}/{party['PartyNumber']}/child/Address"
            addresses = list(self.client.get_json(url, {"onlyData": "true"}).get("items") or [])
        return {**party, "Address": addresses}

    def _create_account(self, customer: Customer, party: dict[str, Any]) -> str:
        """The party's customer account, account site and BILL_TO use over CustomerAccountService (SOAP)."""
        if not party["Address"]:
            raise ReviewError(f"Fusion party {party.get('PartyNumber')} has no address to make a bill-to site of")
        envelope = customer_account_envelope(
            self.settings, int(party["PartyId"]), int(party["Address"][0]["AddressId"])
        )

        def before_retry() -> None:
            accounts = self._accounts_of_party(party)
            if accounts:
                raise _AlreadyPosted(next(iter(accounts)))

        url = self.settings.customer_account_service_url
        try:
            response = self.client.request(
                "POST",
                url,
                raw=envelope,
                content_type="text/xml; charset=utf-8",
                extra_headers={"SOAPAction": SOAP_ACTION},
                retry_statuses=RETRYABLE_STATUSES - {500},  # a SOAP fault comes as HTTP 500: an answer, not an outage
                before_retry=before_retry,
            )
        except _AlreadyPosted as done:
            account = done.erp_id
        else:
            account = _soap_account_number(response, self.client.who, customer.source_id)
        sites = self._sites(AccountNumber=account)
        if not sites:
            raise TransientError(f"{self.client.who}: account {account} shows no bill-to site yet")
        return self._bill_to(account, sites)

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
        bill_to = BillTo.parse(customer_erp_id) if customer_erp_id else None
        if posting.kind is PostingKind.AR_INVOICE:
            body = invoice_payload(posting, self.settings, bill_to)  # type: ignore[arg-type]
        elif posting.kind is PostingKind.CREDIT_MEMO:
            body = credit_memo_payload(posting, self.settings, bill_to)  # type: ignore[arg-type]
        else:
            body = receipt_payload(posting, self.settings, bill_to)
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
                created = loads(response.content)
                erp_id = str(created[id_field])
            except (ValueError, KeyError, TypeError):
                existing = self.find_posting(posting)
                if existing:
                    return existing
                raise TransientError(f"{self.client.who}: created {resource} answered without {id_field}") from None
            remark = self._remark(posting, created.get("EnteredAmount"))
            return PostedWithRemark(erp_id, remark) if remark else erp_id
        if response.status_code in (400, 409, 422):
            existing = self.find_posting(posting)  # "already exists": the reference is ours, so is the document
            if existing:
                return FoundInErp(existing)
            raise refused(self.client.who, f"{posting.kind} {posting.reference}", response)
        raise TransientError(f"{self.client.who}: POST {resource} answered HTTP {response.status_code}")

    def _remark(self, posting: Posting, entered_amount: Any) -> str:
        """What a finance user must know about a document Fusion accepted (see ``reconcile_check``)."""
        if posting.kind is PostingKind.CREDIT_MEMO:
            return ON_ACCOUNT.format(invoice=posting.reverses)
        if posting.kind is PostingKind.AR_INVOICE and self.settings.tax_mode == "calculated":
            return _tax_difference(entered_amount, posting.source_total, posting.currency)
        return ""

    def reconcile_check(self, kind: str, reference: str, erp_id: str, source_total: Decimal | None) -> tuple[str, str]:
        """(difference, note) for the reconciliation of one posted document.

        A credit memo is reported as on account (a note, not a difference). With calculated tax an invoice whose
        Fusion total differs from the store's order total is a difference: that is how a tax Fusion calculated
        differently from the store is caught.
        """
        if kind == PostingKind.CREDIT_MEMO:
            return "", ON_ACCOUNT.format(invoice=reference.rpartition("-R")[0] or "its invoice")
        if (
            kind == PostingKind.AR_INVOICE
            and self.settings.tax_mode == "calculated"
            and erp_id
            and source_total is not None
        ):
            item = self.client.get_json(self._fscm(f"receivablesInvoices/{erp_id}"), {"onlyData": "true"})
            difference = _tax_difference(
                item.get("EnteredAmount"), source_total, str(item.get("InvoiceCurrencyCode", ""))
            )
            return (f"amount differs: {difference}", "") if difference else ("", "")
        return "", ""

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
