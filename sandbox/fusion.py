"""An Oracle Fusion Cloud ERP simulator (WSGI): IAM token endpoint plus the REST resources the
connector uses.

Served: ``POST /oauth2/v1/token`` (client credentials, HTTP Basic client auth, tokens with a
configurable lifetime), and under ``/fscmRestApi/resources/<version>/``: ``receivablesInvoices``,
``receivablesCreditMemos``, ``standardReceipts`` and ``accountCombinationsLOV``; under
``/crmRestApi/resources/<version>/``: ``hubOrganizations``. Behaviour follows Fusion where it is
known: ``REST-Framework-Version`` checked and echoed, collections with ``items``/``count``/
``hasMore``/``limit``/``offset`` (``totalResults`` when asked), ``q=`` in both the version-1 (``;``)
and expression (``and``) syntax, POST bodies as ``application/vnd.oracle.adf.resourceitem+json``,
errors as plain text (framework < 4) or ``o:errorDetails`` JSON (framework >= 4), a duplicate
transaction number within a transaction source refused with HTTP 400.

Simplifications, on purpose: remittance references apply a receipt to its invoice synchronously
(Fusion's AutoMatch runs later), and ``hubOrganizations`` also creates the customer account whose
``AccountNumber`` it is given (a real pod creates accounts through CustomerAccountService).
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
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from sandbox.runner import answer_after, arrival

RESOURCE_VERSIONS = frozenset({"11.13.18.05", "latest"})
RESOURCE_ITEM = "application/vnd.oracle.adf.resourceitem+json"
ERROR_JSON = "application/vnd.oracle.adf.error+json"

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
    _customers: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _tokens: dict[str, float] = field(default_factory=dict, repr=False)
    _force: dict[int, int] = field(default_factory=dict, repr=False)
    _timed_out: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _ids: Iterable[int] = field(default_factory=lambda: itertools.count(300000001000001), repr=False)
    _party_numbers: Iterable[int] = field(default_factory=lambda: itertools.count(100001), repr=False)

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
        with self.lock:
            return copy.deepcopy(list(self._customers.values()))

    def invoice(self, number: str) -> dict[str, Any] | None:
        with self.lock:
            found = [i for i in self._invoices.values() if i["TransactionNumber"] == number]
            return copy.deepcopy(found[0]) if found else None

    def add_customer(
        self,
        name: str,
        account_number: str,
        *,
        email: str = "",
        source_system: str = "",
        reference: str = "",
    ) -> dict[str, Any]:
        """Seed a customer that already exists in Fusion (set up by hand, or by another integration)."""
        with self.lock:
            party_id = self.next_id()
            row = {
                "PartyId": party_id,
                "PartyNumber": f"CDRM_{next(self._party_numbers)}",  # type: ignore[call-overload]
                "OrganizationName": name,
                "EmailAddress": email,
                "AccountNumber": account_number,
                "SourceSystem": source_system,
                "SourceSystemReferenceValue": reference,
                "CreatedBy": "SETUP.USER",
            }
            self._customers[party_id] = row
            return copy.deepcopy(row)

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


# -- resources ----------------------------------------------------------------------------------


@dataclass
class _Resource:
    table: Callable[[], dict[int, dict[str, Any]]]
    id_field: str
    queryable: set[str]
    children: tuple[str, ...] = ()
    create: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    natural_key: Callable[[dict[str, Any]], str] = lambda body: ""


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

    def _customer_by_account(self, number: str) -> dict[str, Any] | None:
        return next((c for c in self.state._customers.values() if c.get("AccountNumber") == number), None)

    def _combination_ok(self, combo: str) -> None:
        if combo not in self.state.valid_combinations:
            state = "is disabled" if combo in self.state.disabled_combinations else "isn't valid"
            raise FusionError(400, f"The account combination {combo} {state}.", "GL-COMBINATION")

    def _transaction(self, body: dict[str, Any], *, credit: bool) -> dict[str, Any]:
        s = self.state
        kind = "credit memo" if credit else "invoice"
        bu = _one_of(body, "BusinessUnit", s.business_units)
        source = _one_of(body, "TransactionSource", s.transaction_sources)
        _one_of(body, "TransactionType", s.credit_memo_types if credit else s.invoice_types)
        number = _text(body, "TransactionNumber")
        if self._number_taken(source, number):
            raise FusionError(
                400,
                f"The transaction number {number} already exists for transaction source {source}. "
                "Enter a unique transaction number.",
                "AR-DUPLICATE-TRX-NUMBER",
            )
        _date(body, "TransactionDate")
        _date(body, "AccountingDate", required=False)
        customer_number = _text(body, "BillToCustomerNumber")
        if self._customer_by_account(customer_number) is None:
            raise FusionError(400, f"The bill-to customer account {customer_number} isn't valid.", "AR-CUSTOMER")
        currency_field = "CreditMemoCurrencyCode" if credit else "InvoiceCurrencyCode"
        currency = _text(body, currency_field).upper()
        if currency != s.ledger_currency and _text(body, "ConversionRateType") == "User":
            rate = _number(body, "ConversionRate")
            if rate is None or rate <= 0:
                raise FusionError(400, "The conversion rate must be greater than zero.")
        if not credit:
            _one_of(body, "PaymentTerms", s.payment_terms)
        minor = _precision(currency)

        line_key = "receivablesCreditMemoLines" if credit else "receivablesInvoiceLines"
        dist_key = "receivablesCreditMemoDistributions" if credit else "receivablesInvoiceDistributions"
        dist_line = "CreditMemoLineNumber" if credit else "InvoiceLineNumber"
        qty_field = "LineQuantityCredit" if credit else "Quantity"
        lines = body.get(line_key) or []
        if not isinstance(lines, list) or not lines:
            raise FusionError(400, f"A {kind} needs at least one line.")
        amounts: dict[int, Decimal] = {}
        stored_lines = []
        for line in lines:
            number_ = int(_number(line, "LineNumber") or 0)
            if number_ in amounts:
                raise FusionError(400, f"Line number {number_} appears twice.")
            quantity = _number(line, qty_field)
            price = _number(line, "UnitSellingPrice")
            assert quantity is not None and price is not None
            amount = quantity * price
            if amount != amount.quantize(minor):
                raise FusionError(400, f"Line {number_}: the amount {amount} exceeds the precision of {currency}.")
            if credit and amount > 0:
                raise FusionError(400, f"Line {number_}: a credit memo line amount must be negative.")
            amounts[number_] = amount.quantize(minor)
            stored_lines.append({**line, "LineNumber": number_, "Amount": amounts[number_]})
        lines_total = sum(amounts.values(), Decimal(0))

        dists = body.get(dist_key) or []
        tax_total = Decimal(0)
        if dists:
            per_line: dict[int, Decimal] = dict.fromkeys(amounts, Decimal(0))
            receivable: list[Decimal] = []
            for dist in dists:
                klass = _text(dist, "AccountClass")
                if klass not in ("Revenue", "Freight", "Tax", "Receivable"):
                    raise FusionError(400, f"The value {klass} of the attribute AccountClass isn't valid.")
                self._combination_ok(_text(dist, "AccountCombination"))
                amount = _number(dist, "Amount")
                assert amount is not None
                if amount != amount.quantize(minor):
                    raise FusionError(400, f"The distribution amount {amount} exceeds the precision of {currency}.")
                if klass == "Receivable":
                    receivable.append(amount)
                elif klass == "Tax":
                    tax_total += amount
                else:
                    ref = dist.get(dist_line)
                    if ref is None or int(ref) not in per_line:
                        raise FusionError(400, f"A {klass} distribution must name an existing {dist_line}.")
                    per_line[int(ref)] += amount
            for n, total in per_line.items():
                if total != amounts[n]:
                    raise FusionError(
                        400, f"The distributions of line {n} total {total}, not the line amount {amounts[n]}."
                    )
            if len(receivable) != 1:
                raise FusionError(400, f"A {kind} needs exactly one Receivable distribution.")
            if receivable[0] != lines_total + tax_total:
                raise FusionError(
                    400,
                    f"The Receivable distribution {receivable[0]} doesn't equal the {kind} total "
                    f"{lines_total + tax_total}.",
                )
        total = lines_total + tax_total
        row = {
            key: value
            for key, value in body.items()
            if key not in (line_key, dist_key) and not isinstance(value, list | dict)
        }
        row.update(
            {
                "CustomerTransactionId": s.next_id(),
                "BusinessUnit": bu,
                "TransactionSource": source,
                "TransactionNumber": number,
                currency_field: currency,
                "EnteredAmount": total,
                "InvoiceStatus": "Complete",
                "CreatedBy": "MLC.INTEGRATION",
                line_key: stored_lines,
                dist_key: copy.deepcopy(dists),
            }
        )
        if not credit:
            row["InvoiceBalanceAmount"] = total
        return row

    def create_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        row = self._transaction(body, credit=False)
        self.state._invoices[row["CustomerTransactionId"]] = row
        return row

    def create_credit_memo(self, body: dict[str, Any]) -> dict[str, Any]:
        row = self._transaction(body, credit=True)
        self.state._credit_memos[row["CustomerTransactionId"]] = row
        return row

    def create_receipt(self, body: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        number = _text(body, "ReceiptNumber")
        _one_of(body, "ReceiptMethod", s.receipt_methods)
        bu = _one_of(body, "BusinessUnit", s.business_units)
        _one_of(body, "RemittanceBankAccountNumber", s.bank_accounts)
        amount = _number(body, "Amount")
        assert amount is not None
        currency = _text(body, "Currency").upper()
        if amount <= 0 or amount != amount.quantize(_precision(currency)):
            raise FusionError(400, f"The receipt amount {amount} isn't valid for {currency}.")
        _date(body, "ReceiptDate")
        customer = _text(body, "CustomerAccountNumber", required=False)
        if customer and self._customer_by_account(customer) is None:
            raise FusionError(400, f"The customer account {customer} isn't valid.")
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
        s = self.state
        name = _text(body, "OrganizationName")
        system = _text(body, "SourceSystem", required=False)
        reference = _text(body, "SourceSystemReferenceValue", required=False)
        if bool(system) != bool(reference):
            raise FusionError(400, "SourceSystem and SourceSystemReferenceValue go together.")
        for row in s._customers.values():
            if system and row.get("SourceSystem") == system and row.get("SourceSystemReferenceValue") == reference:
                raise FusionError(
                    400, f"The source system reference {system}/{reference} already exists.", "HZ-DUPLICATE-OSR"
                )
        account = _text(body, "AccountNumber", required=False)
        if account and self._customer_by_account(account) is not None:
            raise FusionError(400, f"The account number {account} already exists.", "HZ-DUPLICATE-ACCOUNT")
        party_id = s.next_id()
        row = {key: value for key, value in body.items() if not isinstance(value, list | dict)}
        row.update(
            {
                "PartyId": party_id,
                "PartyNumber": f"CDRM_{next(s._party_numbers)}",  # type: ignore[call-overload]
                "OrganizationName": name,
                "AccountNumber": account or f"ACC{party_id}",
                "CreatedBy": "MLC.INTEGRATION",
            }
        )
        s._customers[party_id] = row
        return row

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


def create_app(state: FusionState) -> Callable:
    """The WSGI application simulating ``state``'s Fusion pod."""
    pod = _Pod(state)
    transaction_q = {"TransactionNumber", "BusinessUnit", "TransactionSource", "BillToCustomerNumber"}
    resources: dict[tuple[str, str], _Resource] = {
        ("fscmRestApi", "receivablesInvoices"): _Resource(
            lambda: state._invoices,
            "CustomerTransactionId",
            transaction_q | {"CustomerTransactionId", "InvoiceStatus"},
            ("receivablesInvoiceLines", "receivablesInvoiceDistributions"),
            pod.create_invoice,
            lambda body: f"trx:{body.get('TransactionSource')}:{body.get('TransactionNumber')}",
        ),
        ("fscmRestApi", "receivablesCreditMemos"): _Resource(
            lambda: state._credit_memos,
            "CustomerTransactionId",
            transaction_q | {"CustomerTransactionId", "CrossReference"},
            ("receivablesCreditMemoLines", "receivablesCreditMemoDistributions"),
            pod.create_credit_memo,
            lambda body: f"trx:{body.get('TransactionSource')}:{body.get('TransactionNumber')}",
        ),
        ("fscmRestApi", "standardReceipts"): _Resource(
            lambda: state._receipts,
            "StandardReceiptId",
            {"ReceiptNumber", "BusinessUnit", "StandardReceiptId", "CustomerAccountNumber"},
            ("remittanceReferences",),
            pod.create_receipt,
            lambda body: f"receipt:{body.get('BusinessUnit')}:{body.get('ReceiptNumber')}",
        ),
        ("fscmRestApi", "accountCombinationsLOV"): _Resource(
            pod.combinations,
            "_CODE_COMBINATION_ID",
            {"EnabledFlag", "_CHART_OF_ACCOUNTS_ID", "_CODE_COMBINATION_ID", "AccountType"},
        ),
        ("crmRestApi", "hubOrganizations"): _Resource(
            lambda: state._customers,
            "PartyId",
            {
                "PartyId",
                "PartyNumber",
                "OrganizationName",
                "EmailAddress",
                "SourceSystem",
                "SourceSystemReferenceValue",
                "AccountNumber",
            },
            (),
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

    def dispatch(request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/oauth2/v1/token" and request.method == "POST":
            return token_endpoint(request)
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
            if len(rest) == 1 and request.method == "GET":
                try:
                    key = int(rest[0])
                except ValueError:
                    raise FusionError(404, f"The resource item {rest[0]} isn't available.") from None
                with state.lock:
                    row = copy.deepcopy(resource.table().get(key))
                if row is None:
                    raise FusionError(404, f"The resource item {rest[0]} isn't available.")
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
        resource_call = request.path.lstrip("/").startswith(("fscmRestApi/resources", "crmRestApi/resources"))
        if state.latency_seconds and resource_call:  # not the token endpoint
            answer_after(state.latency_seconds, arrived)
        return response(environ, start_response)

    return app
