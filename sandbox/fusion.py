"""An Oracle Fusion Cloud ERP simulator (WSGI): IAM token endpoint, the REST resources the connector uses and
the CustomerAccountService SOAP endpoint.

Served: ``POST /oauth2/v1/token`` (client credentials, HTTP Basic client auth, tokens with a configurable
lifetime); under ``/fscmRestApi/resources/<version>/``: ``receivablesInvoices``, ``receivablesCreditMemos``,
``standardReceipts``, ``accountCombinationsLOV`` and ``receivablesCustomerAccountSiteActivities`` (finder
``CustomerAccountSiteActivitiesFinder``); under ``/crmRestApi/resources/<version>/``: ``hubOrganizations`` (and its
``Address`` child); and ``POST /crmService/CustomerAccountService`` (``mergeCustomerAccount``).

Every request body is checked against Oracle's documented attributes as transcribed in ``tests/contracts/fusion``
(names, nesting, types, lengths, required): an attribute Oracle does not document for the resource is refused
with HTTP 400, as Fusion refuses it. Customers follow Fusion's model: ``hubOrganizations`` creates the party and
its party sites only; the customer account, account site and BILL_TO use come from CustomerAccountService; an
invoice's BillToCustomerNumber must be an account and its BillToSite one of the account's bill-to sites (the
primary one when absent). Tax is entered (``receivablesInvoiceLineTaxLines`` under a line, Tax distributions
naming ``DetailedTaxLineNumber``) or calculated from the line's ``TaxClassificationCode``; freight is allocated to a
line (``AllocatedFreightAmount``) with Freight distributions. Credit memos are on account: they leave the invoice's
balance as it was.

Protocol as Fusion: ``REST-Framework-Version`` checked and echoed, collections with ``items``/``count``/
``hasMore``/``limit``/``offset`` (``totalResults`` when asked), ``q=`` in both the version-1 (``;``) and expression
(``and``) syntax, errors as plain text (framework < 4) or ``o:errorDetails`` JSON (framework >= 4), a duplicate
transaction number within a transaction source refused with HTTP 400.

Simplifications, on purpose: remittance references apply a receipt to its invoice synchronously (Fusion's
AutoMatch runs later); calculated tax is line amount times the classification's rate, rounded half up.
Fault injection: ``force_429_next``, ``force_503_next``, ``expire_tokens``, ``latency_seconds``,
``timeout_after_commit_first_attempt``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import itertools
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal
from xml.sax.saxutils import escape

from defusedxml import ElementTree
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from sandbox.contracts import contract_json
from sandbox.runner import answer_after, arrival

RESOURCE_VERSIONS = frozenset({"11.13.18.05", "latest"})
RESOURCE_ITEM = "application/vnd.oracle.adf.resourceitem+json"
ERROR_JSON = "application/vnd.oracle.adf.error+json"
SOAP_PATH = "/crmService/CustomerAccountService"

DEFAULT_COMBINATIONS = frozenset(
    {
        "101-12100-000",  # receivable
        "101-11100-000",  # cash clearing
        "101-40100-100",  # web revenue, cost center 100
        "101-40100-200",  # web revenue, cost center 200
        "101-40200-100",  # accessories revenue
        "101-41000-000",  # discounts
        "101-42000-000",  # freight revenue
        "101-43000-000",  # fees
        "101-22100-000",  # sales tax payable
        "101-49900-000",  # rounding
        "101-45000-000",  # sales returns
    }
)
CURRENCY_PRECISION = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}


class FusionError(Exception):
    """A refusal Fusion answers with an HTTP status and a message."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass
class FusionState:
    """Setup data, stored documents and fault-injection knobs of one simulated Fusion pod."""

    client_id: str = "mlc-fusion-client"
    client_secret: str = "sandbox-fusion-client-secret"
    username: str = "MLC.INTEGRATION"
    password: str = "sandbox-fusion-password"
    basic_enabled: bool = True
    scope: str = "urn:opc:resource:consumer::all"
    token_lifetime_seconds: float = 3600.0
    require_framework_version: bool = True
    ledger_currency: str = "USD"
    business_units: set[str] = field(default_factory=lambda: {"US1 Business Unit"})
    transaction_sources: set[str] = field(default_factory=lambda: {"WEB STORE"})
    invoice_types: set[str] = field(default_factory=lambda: {"Invoice"})
    credit_memo_types: set[str] = field(default_factory=lambda: {"Credit Memo"})
    payment_terms: set[str] = field(default_factory=lambda: {"IMMEDIATE", "30 NET"})
    receipt_methods: set[str] = field(default_factory=lambda: {"WEB CARD"})
    bank_accounts: set[str] = field(default_factory=lambda: {"10271-000123"})
    #: Reference data sets an account site may be created in (CustomerAccountService SetId).
    set_ids: set[int] = field(default_factory=lambda: {202})
    #: (TaxRegimeCode, TaxRateCode) pairs entered tax lines may name.
    tax_rate_codes: set[tuple[str, str]] = field(default_factory=lambda: {("US SALES TAX", "US STANDARD")})
    #: TaxClassificationCode → rate Fusion calculates with.
    tax_classifications: dict[str, Decimal] = field(default_factory=lambda: {"US STANDARD": Decimal("0.10")})
    chart_of_accounts_id: int = 101
    segment_separator: str = "-"
    #: Enabled account combinations; ``disabled_combinations`` exist but are disabled.
    valid_combinations: set[str] = field(default_factory=lambda: set(DEFAULT_COMBINATIONS))
    disabled_combinations: set[str] = field(default_factory=set)
    max_limit: int = 500
    # fault injection
    latency_seconds: float = 0.0
    retry_after_seconds: float | None = 0.0
    timeout_after_commit_first_attempt: bool = False
    timeout_after_commit_mode: Literal["sleep", "504"] = "sleep"
    timeout_after_commit_seconds: float = 2.0
    # counters and stored data (use the accessors)
    requests: Counter = field(default_factory=Counter)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _invoices: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _credit_memos: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _receipts: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _parties: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _accounts: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _tokens: dict[str, float] = field(default_factory=dict, repr=False)
    _force: dict[int, int] = field(default_factory=dict, repr=False)
    _timed_out: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _ids: Iterable[int] = field(default_factory=lambda: itertools.count(300000001000001), repr=False)
    _numbers: Iterable[int] = field(default_factory=lambda: itertools.count(100001), repr=False)

    # -- knobs ----------------------------------------------------------------------------------

    def force_429_next(self, n: int) -> None:
        """The next ``n`` resource requests answer 429 Too Many Requests (with Retry-After)."""
        with self.lock:
            self._force[429] = self._force.get(429, 0) + n

    def force_503_next(self, n: int) -> None:
        """The next ``n`` resource requests answer 503 Service Unavailable."""
        with self.lock:
            self._force[503] = self._force.get(503, 0) + n

    def expire_tokens(self) -> None:
        """Every issued token expires now (the client still believes it is valid)."""
        with self.lock:
            self._tokens.clear()

    def count(self, name: str) -> None:
        with self.lock:
            self.requests[name] += 1

    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)  # type: ignore[call-overload]

    def next_number(self) -> int:
        with self.lock:
            return next(self._numbers)  # type: ignore[call-overload]

    # -- accessors --------------------------------------------------------------------------------

    @property
    def invoices(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self._invoices.values()))

    @property
    def credit_memos(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self._credit_memos.values()))

    @property
    def receipts(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self._receipts.values()))

    @property
    def customers(self) -> list[dict[str, Any]]:
        """The organization parties (hubOrganizations)."""
        with self.lock:
            return copy.deepcopy(list(self._parties.values()))

    @property
    def accounts(self) -> list[dict[str, Any]]:
        """The customer accounts with their bill-to sites."""
        with self.lock:
            return copy.deepcopy(list(self._accounts.values()))

    def invoice(self, number: str) -> dict[str, Any] | None:
        with self.lock:
            found = [i for i in self._invoices.values() if i["TransactionNumber"] == number]
            return copy.deepcopy(found[0]) if found else None

    def add_party(self, name: str, *, email: str = "", source_system: str = "", reference: str = "") -> dict[str, Any]:
        """Seed an organization party with one address (party site), as set up by hand or by another integration."""
        with self.lock:
            party_id = self.next_id()
            row = {
                "PartyId": party_id,
                "PartyNumber": f"CDRM_{self.next_number()}",
                "OrganizationName": name,
                "EmailAddress": email,
                "SourceSystem": source_system,
                "SourceSystemReferenceValue": reference,
                "CreatedBy": "SETUP.USER",
                "Address": [self._party_site({"Address1": "1 Setup Street", "Country": "US"})],
            }
            self._parties[party_id] = row
            return copy.deepcopy(row)

    def add_customer(
        self,
        name: str,
        account_number: str,
        *,
        email: str = "",
        source_system: str = "",
        reference: str = "",
    ) -> dict[str, Any]:
        """Seed a customer that already exists in Fusion: party, account and one bill-to site."""
        with self.lock:
            party = self.add_party(name, email=email, source_system=source_system, reference=reference)
            return self.add_account(party["PartyId"], party["Address"][0]["AddressId"], account_number)

    def add_account(self, party_id: int, party_site_id: int, account_number: str | None = None) -> dict[str, Any]:
        """A customer account of the party with a BILL_TO site on one of its party sites."""
        with self.lock:
            account_id = self.next_id()
            row = {
                "CustomerAccountId": account_id,
                "AccountNumber": account_number or str(self.next_number()),
                "PartyId": party_id,
                "sites": [],
            }
            self._accounts[account_id] = row
            self.add_bill_to_site(row["AccountNumber"], party_site_id)
            return copy.deepcopy(self._accounts[account_id])

    def add_bill_to_site(self, account_number: str, party_site_id: int | None = None) -> str:
        """Another bill-to site on the account (a new party site of its party when none is named); its number."""
        with self.lock:
            account = self.account(account_number)
            if account is None:
                raise KeyError(account_number)
            party = self._parties[account["PartyId"]]
            if party_site_id is None:
                party["Address"].append(self._party_site({"Address1": "2 Second Street", "Country": "US"}))
                party_site_id = party["Address"][-1]["AddressId"]
            site = next(a for a in party["Address"] if a["AddressId"] == party_site_id)
            account["sites"].append(
                {
                    "BillToSiteUseId": self.next_id(),
                    "BillToSiteNumber": site["AddressNumber"],
                    "BillToSiteAddress": site.get("Address1", ""),
                    "PartySiteId": party_site_id,
                    "Primary": not account["sites"],
                }
            )
            return str(site["AddressNumber"])

    def account(self, number: str) -> dict[str, Any] | None:
        """The stored account (not a copy: callers hold the lock)."""
        return next((a for a in self._accounts.values() if a["AccountNumber"] == number), None)

    def _party_site(self, address: dict[str, Any]) -> dict[str, Any]:
        return {**address, "AddressId": self.next_id(), "AddressNumber": str(self.next_number())}

    # -- tokens -----------------------------------------------------------------------------------

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime_seconds
        return token

    def token_valid(self, token: str) -> bool:
        with self.lock:
            expiry = self._tokens.get(token)
            return expiry is not None and time.monotonic() < expiry

    def take_forced(self) -> int | None:
        with self.lock:
            for status in (429, 503):
                if self._force.get(status, 0) > 0:
                    self._force[status] -= 1
                    return status
        return None


# -- helpers ------------------------------------------------------------------------------------


def _basic(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, date):
            return o.isoformat()
        return super().default(o)


def _render(value: Any) -> str:
    """JSON with Decimals as exact numbers."""
    marks: list[str] = []

    def walk(v: Any) -> Any:
        if isinstance(v, Decimal):
            marks.append(f"{v:f}")
            return f"\x00NUM{len(marks) - 1}"
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items() if not k.startswith("__")}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    text = json.dumps(walk(value), cls=_Encoder)
    return re.sub(r'"\\u0000NUM(\d+)"', lambda m: marks[int(m.group(1))], text)


def _number(body: dict[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise FusionError(400, f"The attribute {name} is required.", "ORA-REQUIRED")
        return None
    if isinstance(value, bool | float):
        raise FusionError(400, f"The value of the attribute {name} must be an exact number.")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise FusionError(400, f"The value {value!r} of the attribute {name} isn't a number.") from None


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None or str(value).strip() == "":
        if required:
            raise FusionError(400, f"The attribute {name} is required.", "ORA-REQUIRED")
        return ""
    return str(value)


def _date(body: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = _text(body, name, required=required)
    if value:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise FusionError(400, f"The value {value} of the attribute {name} isn't a valid date.") from None
    return value


def _one_of(body: dict[str, Any], name: str, allowed: set[str]) -> str:
    value = _text(body, name)
    if value not in allowed:
        raise FusionError(400, f"The value {value} of the attribute {name} isn't valid.", "AR-VALUE")
    return value


def _precision(currency: str) -> Decimal:
    return Decimal(1).scaleb(-CURRENCY_PRECISION.get(currency, 2))


def _split_q(q: str, framework: int) -> list[str]:
    """Split ``q`` into conditions at ``;`` (version 1) or `` and `` (expressions), outside quotes."""
    parts, current, quote, i = [], "", "", 0
    while i < len(q):
        ch = q[i]
        if quote:
            current += ch
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current += ch
        elif framework < 2 and ch == ";":
            parts.append(current)
            current = ""
        elif framework >= 2 and q[i : i + 5].lower() == " and ":
            parts.append(current)
            current = ""
            i += 4
        else:
            current += ch
        i += 1
    if quote:
        raise FusionError(400, f"URL request parameter q with value {q} isn't valid: unterminated quote.")
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_q(q: str, framework: int, attributes: set[str]) -> dict[str, str]:
    """``{attribute: value}`` for the equality conditions of ``q`` (the only form the sandbox needs)."""
    conditions: dict[str, str] = {}
    for part in _split_q(q, framework):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise FusionError(400, f"URL request parameter q with value {q} isn't valid.")
        if name not in attributes:
            raise FusionError(400, f"The attribute {name} in the q parameter isn't queryable.")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif any(c in value for c in "'\" "):
            raise FusionError(400, f"URL request parameter q with value {q} isn't valid.")
        conditions[name] = value
    return conditions


def parse_finder(spec: str, resource: Any) -> dict[str, str]:
    """``{attribute: value}`` of ``finder=Name;Attr=value;...`` for a resource that has that finder."""
    name, *pairs = spec.split(";")
    if resource.finder is None or name != resource.finder[0]:
        raise FusionError(400, f"The finder {name} isn't available for this resource.")
    conditions = {}
    for pair in pairs:
        attribute, sep, value = pair.partition("=")
        if not sep or attribute not in resource.finder[1]:
            raise FusionError(400, f"The finder attribute {attribute} isn't valid for {name}.")
        conditions[attribute] = value
    if not conditions:
        raise FusionError(400, f"The finder {name} needs at least one of {sorted(resource.finder[1])}.")
    return conditions


# -- Oracle's documented attributes (tests/contracts/fusion) -------------------------------------


def _check_value(name: str, value: Any, spec: dict[str, Any], where: str) -> None:
    kind = spec.get("type")
    if value is None:
        return
    if kind in ("string", "date") and not isinstance(value, str):
        raise FusionError(400, f"The value of the attribute {name} in {where} must be a string.")
    if kind == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            raise FusionError(400, f"The value {value} of the attribute {name} isn't a valid date.") from None
    if kind in ("number", "integer"):
        if isinstance(value, bool | float) or not isinstance(value, int | Decimal | str):
            raise FusionError(400, f"The value of the attribute {name} in {where} must be a number.")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise FusionError(400, f"The value {value!r} of the attribute {name} isn't a number.") from None
        if kind == "integer" and number != number.to_integral_value():
            raise FusionError(400, f"The value {value} of the attribute {name} must be an integer.")
    if "maxLength" in spec and isinstance(value, str) and len(value) > spec["maxLength"]:
        raise FusionError(400, f"The value of the attribute {name} exceeds the maximum length {spec['maxLength']}.")
    if "enum" in spec and value not in spec["enum"]:
        raise FusionError(400, f"The value {value} of the attribute {name} isn't valid.")


def check_attributes(contract: dict[str, Any], body: dict[str, Any], attributes: dict[str, Any], where: str) -> None:
    """Refuse what Oracle does not document for the resource: unknown names, wrong types, lengths, missing required."""
    for name, value in body.items():
        spec = attributes.get(name)
        if spec is None:
            raise FusionError(400, f"The attribute {name} isn't valid for the resource {where}.", "ADF-UNKNOWN-ATTR")
        if spec.get("type") == "array":
            if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
                raise FusionError(400, f"The child {name} of {where} must be an array of objects.")
            for item in value:
                check_attributes(contract, item, contract["children"][spec["child"]], spec["child"])
        else:
            _check_value(name, value, spec, where)
    for name, spec in attributes.items():
        if spec.get("required") and body.get(name) in (None, ""):
            raise FusionError(400, f"The attribute {name} is required.", "ORA-REQUIRED")


def checked(resource: str, body: dict[str, Any]) -> None:
    contract = contract_json("fusion", f"{resource}.json")
    check_attributes(contract, body, contract["attributes"], resource)


# -- resources ----------------------------------------------------------------------------------


@dataclass
class _Resource:
    table: Callable[[], dict[int, dict[str, Any]]]
    id_field: str
    queryable: set[str]
    children: tuple[str, ...] = ()
    create: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    natural_key: Callable[[dict[str, Any]], str] = lambda body: ""
    finder: tuple[str, frozenset[str]] | None = None


@dataclass(frozen=True)
class _Kind:
    """Where an invoice and a credit memo differ in Oracle's names."""

    name: str
    lines: str
    tax_lines: str
    distributions: str
    distribution_line: str
    quantity: str
    currency: str
    credit: bool


INVOICE = _Kind(
    "invoice",
    "receivablesInvoiceLines",
    "receivablesInvoiceLineTaxLines",
    "receivablesInvoiceDistributions",
    "InvoiceLineNumber",
    "Quantity",
    "InvoiceCurrencyCode",
    False,
)
CREDIT_MEMO = _Kind(
    "credit memo",
    "receivablesCreditMemoLines",
    "receivablesCreditMemoLineTaxLines",
    "receivablesCreditMemoDistributions",
    "CreditMemoLineNumber",
    "LineQuantityCredit",
    "CreditMemoCurrency",
    True,
)


class _Pod:
    """The business rules of the resources, all under ``state.lock``."""

    def __init__(self, state: FusionState) -> None:
        self.state = state

    # invoices and credit memos share transaction numbering per source
    def _number_taken(self, source: str, number: str) -> bool:
        s = self.state
        return any(
            row["TransactionSource"] == source and row["TransactionNumber"] == number
            for row in itertools.chain(s._invoices.values(), s._credit_memos.values())
        )

    def _combination_ok(self, combo: str) -> None:
        if combo not in self.state.valid_combinations:
            state = "is disabled" if combo in self.state.disabled_combinations else "isn't valid"
            raise FusionError(400, f"The account combination {combo} {state}.", "GL-COMBINATION")

    def _bill_to(self, body: dict[str, Any], number_field: str, site_field: str) -> tuple[str, str]:
        number = _text(body, number_field)
        account = self.state.account(number)
        if account is None:
            raise FusionError(400, f"The bill-to customer account {number} isn't valid.", "AR-CUSTOMER")
        sites = [site["BillToSiteNumber"] for site in account["sites"]]
        site = _text(body, site_field, required=False)
        if site and site not in sites:
            raise FusionError(400, f"The bill-to site {site} isn't a bill-to site of account {number}.", "AR-SITE")
        if not site:
            site = next(s["BillToSiteNumber"] for s in account["sites"] if s["Primary"])
        return number, site

    def _lines(self, body: dict[str, Any], kind: _Kind, minor: Decimal, currency: str) -> list[dict[str, Any]]:
        """Each line with its amount, freight and tax lines (entered, or calculated from TaxClassificationCode)."""
        lines = body.get(kind.lines) or []
        if not lines:
            raise FusionError(400, f"A {kind.name} needs at least one line.")
        out: list[dict[str, Any]] = []
        for line in lines:
            number = int(_number(line, "LineNumber") or 0)
            if any(o["LineNumber"] == number for o in out):
                raise FusionError(400, f"Line number {number} appears twice.")
            amount = (_number(line, kind.quantity) or Decimal(0)) * (_number(line, "UnitSellingPrice") or Decimal(0))
            if amount != amount.quantize(minor):
                raise FusionError(400, f"Line {number}: the amount {amount} exceeds the precision of {currency}.")
            if kind.credit and amount > 0:
                raise FusionError(400, f"Line {number}: a credit memo line amount must be negative.")
            freight = _number(line, "AllocatedFreightAmount", required=False) or Decimal(0)
            taxes = []
            for tax in line.get(kind.tax_lines) or []:
                pair = (_text(tax, "TaxRegimeCode"), _text(tax, "TaxRateCode"))
                if pair not in self.state.tax_rate_codes:
                    raise FusionError(400, f"The tax rate code {pair[1]} isn't valid for tax regime {pair[0]}.", "ZX")
                tax_amount = _number(tax, "TaxAmount")
                assert tax_amount is not None
                if tax_amount != tax_amount.quantize(minor):
                    raise FusionError(400, f"Line {number}: the tax amount {tax_amount} exceeds the precision.")
                taxes.append(tax_amount)
            classification = _text(line, "TaxClassificationCode", required=False)
            if classification and not taxes:
                rate = self.state.tax_classifications.get(classification)
                if rate is None:
                    raise FusionError(400, f"The tax classification code {classification} isn't valid.", "ZX")
                calculated = (amount * rate).quantize(minor, rounding=ROUND_HALF_UP)
                if calculated:
                    taxes.append(calculated)
            out.append(
                {**line, "LineNumber": number, "Amount": amount.quantize(minor), "Freight": freight, "__taxes": taxes}
            )
        return out

    def _check_distributions(
        self, body: dict[str, Any], kind: _Kind, lines: list[dict[str, Any]], total: Decimal, minor: Decimal
    ) -> None:
        dists = body.get(kind.distributions) or []
        if not dists:
            return  # AutoAccounting derives them
        by_line = {line["LineNumber"]: line for line in lines}
        sums: dict[tuple[int, str, int], Decimal] = {}
        receivable: list[dict[str, Any]] = []
        for dist in dists:
            klass = _text(dist, "AccountClass")
            self._combination_ok(_text(dist, "AccountCombination"))
            if klass == "Receivable":
                receivable.append(dist)
                continue
            amount = _number(dist, "Amount")
            assert amount is not None
            if amount != amount.quantize(minor):
                raise FusionError(400, f"The distribution amount {amount} exceeds the precision.")
            ref = dist.get(kind.distribution_line)
            if ref is None or int(ref) not in by_line:
                raise FusionError(400, f"A {klass} distribution must name an existing {kind.distribution_line}.")
            tax_line = int(dist.get("DetailedTaxLineNumber") or 0)
            if klass == "Tax" and not 1 <= tax_line <= len(by_line[int(ref)]["__taxes"]):
                raise FusionError(400, f"A Tax distribution must name a DetailedTaxLineNumber of line {ref}.")
            if klass != "Tax" and tax_line:
                raise FusionError(400, "Only a Tax distribution names a DetailedTaxLineNumber.")
            key = (int(ref), klass, tax_line)
            sums[key] = sums.get(key, Decimal(0)) + amount
        for number, line in by_line.items():
            expected = {(number, "Revenue", 0): line["Amount"]}
            if line["Freight"]:
                expected[(number, "Freight", 0)] = line["Freight"]
            for index, tax in enumerate(line["__taxes"], start=1):
                expected[(number, "Tax", index)] = tax
            for key, amount in expected.items():
                given = sums.get(key, Decimal(0))
                if given != amount and not (key[1] == "Tax" and key not in sums):
                    raise FusionError(400, f"The {key[1]} distributions of line {number} total {given}, not {amount}.")
        extra = [key for key in sums if key[1] == "Freight" and not by_line[key[0]]["Freight"]]
        if extra:
            raise FusionError(400, f"Line {extra[0][0]} has a Freight distribution but no freight amount.")
        if len(receivable) != 1:
            raise FusionError(400, f"A {kind.name} needs exactly one Receivable distribution.")
        percent = _number(receivable[0], "Percent", required=False)
        amount = _number(receivable[0], "Amount", required=False)
        if (percent is None) == (amount is None) or (percent is not None and percent != 100):
            raise FusionError(400, "The Receivable distribution takes its Amount or a Percent of 100.")
        if amount is not None and amount != total:
            raise FusionError(400, f"The Receivable distribution {amount} doesn't equal the {kind.name} total {total}.")

    def _transaction(self, body: dict[str, Any], kind: _Kind) -> dict[str, Any]:
        s = self.state
        checked("receivablesCreditMemos" if kind.credit else "receivablesInvoices", body)
        bu = _one_of(body, "BusinessUnit", s.business_units)
        source = _one_of(body, "TransactionSource", s.transaction_sources)
        _one_of(body, "TransactionType", s.credit_memo_types if kind.credit else s.invoice_types)
        number = _text(body, "TransactionNumber", required=False) or str(s.next_number())  # source numbering
        if self._number_taken(source, number):
            raise FusionError(
                400,
                f"The transaction number {number} already exists for transaction source {source}. "
                "Enter a unique transaction number.",
                "AR-DUPLICATE-TRX-NUMBER",
            )
        _date(body, "TransactionDate")
        account, site = self._bill_to(body, "BillToCustomerNumber", "BillToSite")
        currency = _text(body, kind.currency).upper()
        if currency != s.ledger_currency and _text(body, "ConversionRateType", required=False) == "User":
            rate = _number(body, "ConversionRate")
            if rate is None or rate <= 0:
                raise FusionError(400, "The conversion rate must be greater than zero.")
        if not kind.credit and body.get("PaymentTerms") is not None:
            _one_of(body, "PaymentTerms", s.payment_terms)
        minor = _precision(currency)
        lines = self._lines(body, kind, minor, currency)
        total = sum((line["Amount"] + line["Freight"] + sum(line["__taxes"], Decimal(0)) for line in lines), Decimal(0))
        self._check_distributions(body, kind, lines, total, minor)
        row = {key: value for key, value in body.items() if not isinstance(value, list | dict)}
        row.update(
            {
                "CustomerTransactionId": s.next_id(),
                "BusinessUnit": bu,
                "TransactionSource": source,
                "TransactionNumber": number,
                "BillToCustomerNumber": account,
                "BillToSite": site,
                kind.currency: currency,
                "EnteredAmount": total,
                "TaxAmount": sum((sum(line["__taxes"], Decimal(0)) for line in lines), Decimal(0)),
                "CreatedBy": "MLC.INTEGRATION",
                kind.lines: [{k: v for k, v in line.items() if not k.startswith("__")} for line in lines],
                kind.distributions: copy.deepcopy(body.get(kind.distributions) or []),
            }
        )
        if kind.credit:  # on account: nothing applies it to an invoice
            row.update({"CreditMemoStatus": "Complete", "TransactionBalanceDue": total})
        else:
            row.update({"InvoiceStatus": "Complete", "InvoiceBalanceAmount": total})
        return row

    def create_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        row = self._transaction(body, INVOICE)
        self.state._invoices[row["CustomerTransactionId"]] = row
        return row

    def create_credit_memo(self, body: dict[str, Any]) -> dict[str, Any]:
        row = self._transaction(body, CREDIT_MEMO)
        self.state._credit_memos[row["CustomerTransactionId"]] = row
        return row

    def create_receipt(self, body: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        checked("standardReceipts", body)
        number = _text(body, "ReceiptNumber")
        _one_of(body, "ReceiptMethod", s.receipt_methods)
        bu = _one_of(body, "BusinessUnit", s.business_units)
        _one_of(body, "RemittanceBankAccountNumber", s.bank_accounts)
        amount = _number(body, "Amount")
        assert amount is not None
        currency = _text(body, "Currency").upper()
        if amount <= 0 or amount != amount.quantize(_precision(currency)):
            raise FusionError(400, f"The receipt amount {amount} isn't valid for {currency}.")
        _date(body, "ReceiptDate", required=False)
        if body.get("CustomerAccountNumber"):
            self._bill_to(body, "CustomerAccountNumber", "CustomerSite")
        if any(r["ReceiptNumber"] == number and r["BusinessUnit"] == bu for r in s._receipts.values()):
            raise FusionError(
                400, f"The receipt number {number} already exists for this business unit.", "AR-DUPLICATE-RECEIPT"
            )
        unapplied = amount
        applications = []
        for ref in body.get("remittanceReferences") or []:
            if _text(ref, "ReceiptMatchBy") != "Transaction Number":
                continue
            reference_number = _text(ref, "ReferenceNumber")
            wanted = _number(ref, "ReferenceAmount", required=False) or unapplied
            invoice = next(
                (
                    i
                    for i in s._invoices.values()
                    if i["TransactionNumber"] == reference_number and i["BusinessUnit"] == bu
                ),
                None,
            )
            if invoice is None or invoice["InvoiceCurrencyCode"] != currency:
                continue  # AutoMatch leaves it unapplied
            applied = min(wanted, unapplied, invoice["InvoiceBalanceAmount"])
            if applied <= 0:
                continue
            invoice["InvoiceBalanceAmount"] -= applied
            if invoice["InvoiceBalanceAmount"] == 0:
                invoice["InvoiceStatus"] = "Closed"
            unapplied -= applied
            applications.append({"TransactionNumber": reference_number, "AmountApplied": applied})
        row = {key: value for key, value in body.items() if not isinstance(value, list | dict)}
        row.update(
            {
                "StandardReceiptId": s.next_id(),
                "BusinessUnit": bu,
                "Currency": currency,
                "Amount": amount,
                "UnappliedAmount": unapplied,
                "State": "Applied" if unapplied == 0 else "Unapplied",
                "remittanceReferences": copy.deepcopy(body.get("remittanceReferences") or []),
                "__applications": applications,
            }
        )
        s._receipts[row["StandardReceiptId"]] = row
        return row

    def create_organization(self, body: dict[str, Any]) -> dict[str, Any]:
        """The party and its party sites: hubOrganizations creates no customer account."""
        s = self.state
        checked("hubOrganizations", body)
        system = _text(body, "SourceSystem", required=False)
        reference = _text(body, "SourceSystemReferenceValue", required=False)
        if bool(system) != bool(reference):
            raise FusionError(400, "SourceSystem and SourceSystemReferenceValue go together.")
        for row in s._parties.values():
            if system and row.get("SourceSystem") == system and row.get("SourceSystemReferenceValue") == reference:
                raise FusionError(
                    400, f"The source system reference {system}/{reference} already exists.", "HZ-DUPLICATE-OSR"
                )
        party_id = s.next_id()
        row = {key: value for key, value in body.items() if not isinstance(value, list | dict)}
        row.update(
            {
                "PartyId": party_id,
                "PartyNumber": f"CDRM_{s.next_number()}",
                "CreatedBy": "MLC.INTEGRATION",
                "Address": [s._party_site(address) for address in body.get("Address") or []],
            }
        )
        s._parties[party_id] = row
        return row

    def merge_customer_account(self, account: dict[str, Any]) -> dict[str, Any]:
        """CustomerAccountService: the party's account with its site and site uses (BILL_TO makes a bill-to site)."""
        s = self.state
        party = s._parties.get(int(account["PartyId"]))
        if party is None:
            raise FusionError(500, f"The party {account['PartyId']} doesn't exist.")
        site = account["CustomerAccountSite"]
        party_site = int(site["PartySiteId"])
        if not any(a["AddressId"] == party_site for a in party["Address"]):
            raise FusionError(500, f"The party site {party_site} doesn't belong to party {party['PartyId']}.")
        if int(site["SetId"]) not in s.set_ids:
            raise FusionError(500, f"The reference data set {site['SetId']} isn't valid.")
        uses = {use["SiteUseCode"] for use in site["CustomerAccountSiteUse"]}
        if "BILL_TO" not in uses:
            raise FusionError(500, "The account site has no BILL_TO site use; receivables can't bill it.")
        return s.add_account(party["PartyId"], party_site)

    def site_activities(self) -> dict[int, dict[str, Any]]:
        rows = {}
        open_items: dict[tuple[str, str], Decimal] = {}
        for trx in itertools.chain(self.state._invoices.values(), self.state._credit_memos.values()):
            key = (trx["BillToCustomerNumber"], trx["BillToSite"])
            balance = trx.get("InvoiceBalanceAmount", trx.get("TransactionBalanceDue", Decimal(0)))
            open_items[key] = open_items.get(key, Decimal(0)) + balance
        for account in self.state._accounts.values():
            party = self.state._parties[account["PartyId"]]
            for site in account["sites"]:
                rows[site["BillToSiteUseId"]] = {
                    "BillToSiteUseId": site["BillToSiteUseId"],
                    "BillToSiteNumber": site["BillToSiteNumber"],
                    "BillToSiteAddress": site["BillToSiteAddress"],
                    "AccountNumber": account["AccountNumber"],
                    "AccountId": account["CustomerAccountId"],
                    "CustomerName": party["OrganizationName"],
                    "CustomerId": party["PartyId"],
                    "TaxRegistrationNumber": None,
                    "TaxpayerIdentificationNumber": None,
                    "TotalOpenReceivablesForSite": open_items.get(
                        (account["AccountNumber"], site["BillToSiteNumber"]), 0
                    ),
                    "TotalTransactionsDueForSite": open_items.get(
                        (account["AccountNumber"], site["BillToSiteNumber"]), 0
                    ),
                }
        return rows

    def combinations(self) -> dict[int, dict[str, Any]]:
        s = self.state
        rows = {}
        everything = sorted(s.valid_combinations | s.disabled_combinations)
        for index, combo in enumerate(everything, start=1):
            ccid = 10000 + index
            row: dict[str, Any] = {
                "_CODE_COMBINATION_ID": ccid,
                "_CHART_OF_ACCOUNTS_ID": s.chart_of_accounts_id,
                "EnabledFlag": "Y" if combo in s.valid_combinations else "N",
                "AccountType": "R",
                "StartDateActive": None,
                "EndDateActive": None,
            }
            for i, segment in enumerate(combo.split(s.segment_separator), start=1):
                row[f"_SEGMENT{i}"] = segment
            rows[ccid] = row
        return rows


# -- CustomerAccountService (SOAP) ---------------------------------------------------------------

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def _soap_tree(element: Any, spec: dict[str, Any], namespaces: dict[str, str]) -> dict[str, Any]:
    """The element's children as a dict, refusing any element the documented use case does not have."""
    allowed = {}
    for qualified, child_spec in spec.items():
        if ":" in qualified:
            prefix, _, local = qualified.partition(":")
            allowed[f"{{{namespaces[prefix]}}}{local}"] = (local, child_spec)
    out: dict[str, Any] = {}
    for child in element:
        if child.tag not in allowed:
            raise FusionError(500, f"Unknown element {child.tag} in {element.tag.rpartition('}')[2]}.")
        local, child_spec = allowed[child.tag]
        nested = {k: v for k, v in child_spec.items() if ":" in k}
        value: Any = _soap_tree(child, child_spec, namespaces) if nested else (child.text or "").strip()
        if not nested:
            _check_soap_value(local, value, child_spec)
        if child_spec.get("repeats"):
            out.setdefault(local, []).append(value)
        else:
            out[local] = value
    for qualified, child_spec in spec.items():
        local = qualified.partition(":")[2]
        if ":" in qualified and child_spec.get("required") and local not in out:
            raise FusionError(500, f"The element {local} is required in {element.tag.rpartition('}')[2]}.")
    return out


def _check_soap_value(name: str, value: str, spec: dict[str, Any]) -> None:
    if spec.get("type") == "long" and not value.isdigit():
        raise FusionError(500, f"The value {value!r} of {name} isn't a long.")
    if "enum" in spec and value not in spec["enum"]:
        raise FusionError(500, f"The value {value} of {name} isn't valid.")


def parse_merge_customer_account(raw: bytes) -> dict[str, Any]:
    contract = contract_json("fusion", "customerAccountService.json")
    namespaces = contract["namespaces"]
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError:
        raise FusionError(500, "The request isn't well-formed XML.") from None
    body = root.find(f"{{{SOAP_ENV}}}Body")
    operation = f"{{{namespaces['typ']}}}{contract['operation']}"
    if root.tag != f"{{{SOAP_ENV}}}Envelope" or body is None or len(body) != 1 or body[0].tag != operation:
        raise FusionError(500, f"The body must hold one {contract['operation']} element.")
    tree = _soap_tree(body[0], contract["request"]["children"], namespaces)
    return tree["customerAccount"]


def soap_answer(result: dict[str, Any]) -> str:
    cus = "http://xmlns.oracle.com/apps/cdm/foundation/parties/customerAccountService/"
    typ = "http://xmlns.oracle.com/apps/cdm/foundation/parties/customerAccountService/applicationModule/types/"
    fields = "".join(f"<ns1:{k}>{escape(str(v))}</ns1:{k}>" for k, v in result.items())
    return (
        f'<env:Envelope xmlns:env="{SOAP_ENV}"><env:Body><ns0:mergeCustomerAccountResponse xmlns:ns0="{typ}">'
        f'<ns2:result xmlns:ns2="{typ}" xmlns:ns1="{cus}">{fields}</ns2:result>'
        "</ns0:mergeCustomerAccountResponse></env:Body></env:Envelope>"
    )


def soap_fault(message: str) -> str:
    return (
        f'<env:Envelope xmlns:env="{SOAP_ENV}"><env:Body><env:Fault><faultcode>env:Server</faultcode>'
        f"<faultstring>{escape(message)}</faultstring></env:Fault></env:Body></env:Envelope>"
    )


def create_app(state: FusionState) -> Callable:
    """The WSGI application simulating ``state``'s Fusion pod."""
    pod = _Pod(state)

    def queryable(resource: str) -> set[str]:
        return set(contract_json("fusion", f"{resource}.json")["queryable"])

    sites = contract_json("fusion", "receivablesCustomerAccountSiteActivities.json")
    resources: dict[tuple[str, str], _Resource] = {
        ("fscmRestApi", "receivablesInvoices"): _Resource(
            lambda: state._invoices,
            "CustomerTransactionId",
            queryable("receivablesInvoices"),
            ("receivablesInvoiceLines", "receivablesInvoiceDistributions"),
            pod.create_invoice,
            lambda body: f"trx:{body.get('TransactionSource')}:{body.get('TransactionNumber')}",
        ),
        ("fscmRestApi", "receivablesCreditMemos"): _Resource(
            lambda: state._credit_memos,
            "CustomerTransactionId",
            queryable("receivablesCreditMemos"),
            ("receivablesCreditMemoLines", "receivablesCreditMemoDistributions"),
            pod.create_credit_memo,
            lambda body: f"trx:{body.get('TransactionSource')}:{body.get('TransactionNumber')}",
        ),
        ("fscmRestApi", "standardReceipts"): _Resource(
            lambda: state._receipts,
            "StandardReceiptId",
            queryable("standardReceipts"),
            ("remittanceReferences",),
            pod.create_receipt,
            lambda body: f"receipt:{body.get('BusinessUnit')}:{body.get('ReceiptNumber')}",
        ),
        ("fscmRestApi", "accountCombinationsLOV"): _Resource(
            pod.combinations,
            "_CODE_COMBINATION_ID",
            {"EnabledFlag", "_CHART_OF_ACCOUNTS_ID", "_CODE_COMBINATION_ID", "AccountType"},
        ),
        ("fscmRestApi", "receivablesCustomerAccountSiteActivities"): _Resource(
            pod.site_activities,
            "BillToSiteUseId",
            set(sites["item"]),
            finder=(sites["finder"], frozenset(sites["finder_attributes"])),
        ),
        ("crmRestApi", "hubOrganizations"): _Resource(
            lambda: state._parties,
            "PartyNumber",
            queryable("hubOrganizations"),
            ("Address",),
            pod.create_organization,
            lambda body: f"org:{body.get('SourceSystem')}:{body.get('SourceSystemReferenceValue')}",
        ),
    }

    def respond(body: Any, status: int, framework: int, content_type: str = "application/json") -> Response:
        response = Response(_render(body), status=status, content_type=content_type)
        response.headers["REST-Framework-Version"] = str(framework)
        return response

    def error(exc: FusionError, framework: int) -> Response:
        if framework >= 4:
            body = {
                "title": {400: "Bad Request", 404: "Not Found", 415: "Unsupported Media Type"}.get(exc.status, "Error"),
                "status": str(exc.status),
                "o:errorDetails": [{"detail": exc.message, "o:errorCode": exc.code or str(exc.status)}],
            }
            return respond(body, exc.status, framework, ERROR_JSON)
        response = Response(exc.message, status=exc.status, content_type="text/plain")
        response.headers["REST-Framework-Version"] = str(framework)
        return response

    def token_endpoint(request: Request) -> Response:
        state.count("token")
        if request.form.get("grant_type") != "client_credentials":
            return Response(json.dumps({"error": "unsupported_grant_type"}), 400, content_type="application/json")
        creds = _basic(request.headers.get("Authorization", ""))
        if creds is None:
            creds = (request.form.get("client_id", ""), request.form.get("client_secret", ""))
        if creds != (state.client_id, state.client_secret):
            state.count("token_refused")
            body = {"error": "invalid_client", "error_description": "Client authentication failed."}
            return Response(json.dumps(body), 401, content_type="application/json")
        if request.form.get("scope", state.scope) != state.scope:
            return Response(json.dumps({"error": "invalid_scope"}), 400, content_type="application/json")
        body = {
            "access_token": state.issue_token(),
            "token_type": "Bearer",
            "expires_in": state.token_lifetime_seconds,
        }
        return Response(json.dumps(body), 200, content_type="application/json")

    def authorised(request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return state.token_valid(header[7:].strip())
        return state.basic_enabled and _basic(header) == (state.username, state.password)

    def collection(request: Request, resource: _Resource, framework: int) -> Response:
        args = request.args
        try:
            limit = int(args.get("limit", 25))
            offset = int(args.get("offset", 0))
        except ValueError:
            raise FusionError(400, "The limit and offset parameters must be integers.") from None
        if limit < 1 or offset < 0:
            raise FusionError(400, "The limit and offset parameters must be positive.")
        limit = min(limit, state.max_limit)
        conditions = parse_q(args["q"], framework, resource.queryable) if args.get("q") else {}
        if args.get("finder"):
            conditions.update(parse_finder(args["finder"], resource))
        elif resource.finder is not None and not conditions:
            raise FusionError(
                400, f"The finder {resource.finder[0]} needs at least one of {sorted(resource.finder[1])}."
            )
        with state.lock:
            rows = [
                copy.deepcopy(row)
                for _, row in sorted(resource.table().items())
                if all(str(row.get(k) if row.get(k) is not None else "") == v for k, v in conditions.items())
            ]
        page = rows[offset : offset + limit]
        fields = [f for f in args.get("fields", "").split(",") if f]
        items = []
        for row in page:
            item = {k: v for k, v in row.items() if k not in resource.children}
            if fields:
                item = {k: v for k, v in item.items() if k in fields}
            items.append(item)
        body: dict[str, Any] = {
            "items": items,
            "count": len(items),
            "hasMore": offset + len(items) < len(rows),
            "limit": limit,
            "offset": offset,
        }
        if args.get("totalResults") == "true":
            body["totalResults"] = len(rows)
        return respond(body, 200, framework)

    def children_shape(row: dict[str, Any], resource: _Resource, framework: int) -> dict[str, Any]:
        if framework < 3:
            return row
        out = dict(row)
        for child in resource.children:
            items = out.get(child) or []
            out[child] = {"items": items, "count": len(items), "hasMore": False, "limit": 25, "offset": 0}
        return out

    def create(request: Request, resource: _Resource, framework: int) -> Response:
        content_type = (request.mimetype or "").lower()
        if content_type not in (RESOURCE_ITEM, "application/json"):
            raise FusionError(415, f"The media type {content_type or 'none'} isn't supported for this request.")
        try:
            body = json.loads(request.get_data(), parse_float=Decimal)
        except ValueError:
            raise FusionError(400, "The request payload isn't valid JSON.") from None
        if not isinstance(body, dict):
            raise FusionError(400, "The request payload must be a JSON object.")
        assert resource.create is not None
        with state.lock:
            row = resource.create(body)
            committed = copy.deepcopy(row)
            key = (resource.id_field, resource.natural_key(body))
            first = key not in state._timed_out
            state._timed_out.add(key)
        if state.timeout_after_commit_first_attempt and first:
            state.count("timeout_after_commit")
            if state.timeout_after_commit_mode == "504":
                return Response("<html><body>504 Gateway Time-out</body></html>", 504, content_type="text/html")
            time.sleep(state.timeout_after_commit_seconds)
        return respond(children_shape(committed, resource, framework), 201, framework, RESOURCE_ITEM)

    def customer_account_service(request: Request) -> Response:
        if not authorised(request):
            state.count("unauthorised")
            return Response("Unauthorized", 401, content_type="text/plain")
        state.count("POST CustomerAccountService")
        try:
            account = parse_merge_customer_account(request.get_data())
            with state.lock:
                created = pod.merge_customer_account(account)
        except FusionError as exc:
            state.count("refused CustomerAccountService")
            return Response(soap_fault(exc.message), 500, content_type="text/xml; charset=utf-8")
        result = {k: created[k] for k in ("CustomerAccountId", "AccountNumber", "PartyId")}
        return Response(soap_answer(result), 200, content_type="text/xml; charset=utf-8")

    def dispatch(request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/oauth2/v1/token" and request.method == "POST":
            return token_endpoint(request)
        if path == SOAP_PATH and request.method == "POST":
            return customer_account_service(request)
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[0] not in ("fscmRestApi", "crmRestApi") or parts[1] != "resources":
            return Response("Not Found", 404, content_type="text/plain")
        raw_version = request.headers.get("REST-Framework-Version")
        framework = 1
        if raw_version is None:
            if state.require_framework_version:
                return error(FusionError(400, "The REST-Framework-Version header is required."), framework)
        elif not raw_version.isdigit() or not 1 <= int(raw_version) <= 9:
            return error(FusionError(400, f"The REST-Framework-Version {raw_version} isn't supported."), framework)
        else:
            framework = int(raw_version)
        forced = state.take_forced()
        if forced is not None:
            state.count(f"forced_{forced}")
            response = Response(
                "Too Many Requests" if forced == 429 else "Service Unavailable", forced, content_type="text/plain"
            )
            if state.retry_after_seconds is not None:
                response.headers["Retry-After"] = f"{state.retry_after_seconds:g}"
            return response
        if not authorised(request):
            state.count("unauthorised")
            response = Response("Unauthorized", 401, content_type="text/plain")
            response.headers["WWW-Authenticate"] = 'Bearer realm="Oracle Fusion"'
            return response
        api, _, version, name, *rest = parts
        if version not in RESOURCE_VERSIONS:
            return error(FusionError(404, f"The resource version {version} isn't available."), framework)
        resource = resources.get((api, name))
        if resource is None:
            return error(FusionError(404, f"The resource {name} isn't available."), framework)
        state.count(f"{request.method} {name}")
        try:
            if not rest and request.method == "GET":
                return collection(request, resource, framework)
            if not rest and request.method == "POST" and resource.create is not None:
                return create(request, resource, framework)
            if len(rest) in (1, 3) and request.method == "GET":
                with state.lock:
                    row = copy.deepcopy(
                        next((r for r in resource.table().values() if str(r.get(resource.id_field)) == rest[0]), None)
                    )
                if row is None:
                    raise FusionError(404, f"The resource item {rest[0]} isn't available.")
                if len(rest) == 3:
                    if rest[1] != "child" or rest[2] not in resource.children:
                        raise FusionError(404, f"The child {rest[-1]} isn't available.")
                    items = row.get(rest[2]) or []
                    body = {"items": items, "count": len(items), "hasMore": False, "limit": 25, "offset": 0}
                    return respond(body, 200, framework)
                return respond(children_shape(row, resource, framework), 200, framework, RESOURCE_ITEM)
            raise FusionError(405, f"The method {request.method} isn't allowed on {name}.")
        except FusionError as exc:
            state.count(f"refused {name}")
            return error(exc, framework)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        arrived = arrival(environ)
        request = Request(environ)
        try:
            response = dispatch(request)
        except HTTPException as exc:
            response = exc.get_response(environ)
        resource_call = request.path.lstrip("/").startswith(
            ("fscmRestApi/resources", "crmRestApi/resources", "crmService")
        )
        if state.latency_seconds and resource_call:  # not the token endpoint
            answer_after(state.latency_seconds, arrived)
        return response(environ, start_response)

    return app
