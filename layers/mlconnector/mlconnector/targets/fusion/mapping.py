"""Pure mapping from ERP-neutral postings to Oracle Fusion Receivables REST payloads.

Nothing here talks to the network, so payloads are unit-testable. Amount signs follow Oracle
Receivables: an invoice's distributions are positive (Receivable = lines + tax), a credit memo's
are negative, and a discount on an invoice is a negative line.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mlconnector.accounting.engine import quantum
from mlconnector.accounting.rules import AccountRef, MappingRules
from mlconnector.documents import LineClass, Posting, PostingLine
from mlconnector.errors import ReviewError
from mlconnector.models import ZERO, Customer
from mlconnector.targets.fusion.settings import FusionSettings

#: Posting line classes that become transaction lines, and the distribution class each gets.
LINE_ACCOUNT_CLASS: dict[LineClass, str] = {
    LineClass.REVENUE: "Revenue",
    LineClass.DISCOUNT: "Revenue",
    LineClass.FEE: "Revenue",
    LineClass.ROUNDING: "Revenue",
    LineClass.SHIPPING: "Freight",
}
#: Posting line classes that settle a receipt (the cash side).
RECEIPT_CASH_CLASSES = frozenset({LineClass.CLEARING, LineClass.GIFT_CARD, LineClass.STORE_CREDIT})

RESOURCE_ITEM = "application/vnd.oracle.adf.resourceitem+json"
DESCRIPTION_LENGTH = 240
COMMENTS_LENGTH = 1760
ACCOUNT_NUMBER_LENGTH = 30

_DECIMAL_MARK = "\x00DEC"
_DECIMAL_RE = re.compile(r'"\\u0000DEC(-?\d+(?:\.\d+)?)"')
_ACCOUNT_SAFE = re.compile(r"^[A-Za-z0-9\-]+$")


# -- JSON with exact decimals ------------------------------------------------------------------


def _tokenise(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("non-finite amount")
        return f"{_DECIMAL_MARK}{value:f}"
    if isinstance(value, dict):
        return {key: _tokenise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_tokenise(item) for item in value]
    return value


def dumps(body: Any) -> bytes:
    """JSON with every ``Decimal`` written as an exact JSON number (never through float)."""
    text = json.dumps(_tokenise(body), ensure_ascii=False, separators=(",", ":"))
    return _DECIMAL_RE.sub(lambda m: m.group(1), text).encode("utf-8")


def loads(content: bytes | str) -> Any:
    """JSON with numbers as ``Decimal`` (integers stay ``int``)."""
    return json.loads(content, parse_float=Decimal)


# -- filters -----------------------------------------------------------------------------------


def quote(value: str) -> str | None:
    """``value`` as a q= literal, or None when it holds both quote characters (not expressible)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return None


def q_filter(conditions: dict[str, str], framework_version: str) -> str | None:
    """A ``q`` expression matching every attribute exactly; None if a value cannot be quoted.

    Framework version 1 joins conditions with ``;``, 2 and later use the expression syntax (``and``).
    """
    parts = []
    for name, value in conditions.items():
        literal = quote(value)
        if literal is None:
            return None
        parts.append(f"{name}={literal}")
    return (";" if int(framework_version) < 2 else " and ").join(parts)


# -- accounts ----------------------------------------------------------------------------------


def combination(account: str, chartfields: dict[str, str], settings: FusionSettings, what: str = "") -> str:
    """An accounting flexfield combination, segments in ``settings.segment_order``.

    An account that already holds every segment (``01-4100-100``) is used as it is; otherwise the
    ACCOUNT segment is ``account`` and the others come from ``chartfields`` or the segment defaults.
    """
    order = settings.segment_order
    sep = settings.segment_separator
    label = what or f"account {account}"
    if sep in account:
        parts = account.split(sep)
        if len(parts) != len(order) or not all(parts):
            raise ReviewError(
                f"{label}: {account!r} has {len(parts)} segments; the Fusion chart has {len(order)} ({order})"
            )
        return account
    fields = {key.upper(): value for key, value in chartfields.items()}
    values = []
    for segment in order:
        value = account if segment == "ACCOUNT" else fields.get(segment) or settings.segment_defaults.get(segment)
        if not value:
            raise ReviewError(
                f"{label} has no value for segment {segment} (no chartfield and no segment default)",
                detail={"segment": segment, "account": account},
            )
        if sep in value:
            raise ReviewError(f"{label}: segment {segment} value {value!r} contains the separator {sep!r}")
        values.append(value)
    return sep.join(values)


def account_combination(line: PostingLine, settings: FusionSettings) -> str:
    """The combination a posting line posts to."""
    return combination(line.account, line.chartfields, settings, f"{line.line_class} line on account {line.account}")


def rule_combinations(rules: MappingRules, settings: FusionSettings) -> dict[str, str]:
    """Every combination a profile's mapping rules can produce, by rule label (for an operator check)."""
    refs: list[tuple[str, AccountRef | None]] = [
        *((rule.label, rule) for rule in rules.revenue_rules),
        ("default revenue", rules.default_revenue),
        *((f"tax rule {rule.code or rule.label}", rule) for rule in rules.tax_rules),
        ("default tax", rules.default_tax),
        *((f"payment rule method={rule.method}", rule) for rule in rules.payment_rules),
        ("default payment", rules.default_payment),
        ("discounts", rules.discounts),
        ("shipping", rules.shipping),
        ("fees", rules.fees),
        ("receivable", rules.receivable),
        ("gift card", rules.gift_card),
        ("store credit", rules.store_credit),
        ("refunds", rules.refunds),
        ("rounding", rules.rounding),
    ]
    return {
        label: combination(ref.account, rules.chartfields(ref), settings, label)
        for label, ref in refs
        if ref is not None
    }


# -- transactions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransactionLine:
    number: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    account_class: str
    combination: str


@dataclass(frozen=True)
class TransactionParts:
    """A posting split the way Receivables sees it, amounts in the transaction's own sign."""

    lines: tuple[TransactionLine, ...]
    taxes: tuple[tuple[str, Decimal], ...]
    receivable_combination: str
    receivable: Decimal

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO) + sum((amount for _, amount in self.taxes), ZERO)


def quantity_and_price(amount: Decimal, quantity: Decimal | None, currency: str) -> tuple[Decimal, Decimal]:
    """(Quantity, UnitSellingPrice) whose product is exactly ``amount``: quantity 1 unless the split is exact."""
    if quantity is not None and quantity > 0 and quantity != 1:
        unit = amount / quantity
        minor = quantum(currency)
        if unit == unit.quantize(minor) and unit.quantize(minor) * quantity == amount:
            return quantity, unit.quantize(minor)
    return Decimal("1"), amount


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def transaction_parts(posting: Posting, settings: FusionSettings) -> TransactionParts:
    """Lines, tax and receivable of an invoice or credit memo; refuses postings Receivables cannot take."""
    lines: list[TransactionLine] = []
    taxes: list[tuple[str, Decimal]] = []
    receivables: list[PostingLine] = []
    for line in posting.lines:
        if line.line_class in LINE_ACCOUNT_CLASS:
            amount = -line.amount  # credit on the posting = positive on an invoice, debit = negative
            quantity, unit = quantity_and_price(amount, line.quantity, posting.currency)
            lines.append(
                TransactionLine(
                    number=len(lines) + 1,
                    description=_clip(line.description or str(line.line_class).title(), DESCRIPTION_LENGTH),
                    quantity=quantity,
                    unit_price=unit,
                    amount=amount,
                    account_class=LINE_ACCOUNT_CLASS[line.line_class],
                    combination=account_combination(line, settings),
                )
            )
        elif line.line_class is LineClass.TAX:
            taxes.append((account_combination(line, settings), -line.amount))
        elif line.line_class is LineClass.RECEIVABLE:
            receivables.append(line)
        else:
            raise ReviewError(
                f"{posting.kind} {posting.reference} has a {line.line_class} line; Fusion receivables transactions "
                "carry revenue, discount, fee, shipping, tax and receivable lines only (payments post as receipts)"
            )
    if not lines:
        raise ReviewError(f"{posting.kind} {posting.reference} has no lines to put on a Fusion transaction")
    combos = {account_combination(line, settings) for line in receivables}
    if len(combos) != 1:
        raise ReviewError(
            f"{posting.kind} {posting.reference} needs exactly one receivable account; it has {len(combos)}"
        )
    receivable = sum((line.amount for line in receivables), ZERO)
    parts = TransactionParts(tuple(lines), tuple(taxes), combos.pop(), receivable)
    if parts.total != receivable:
        raise ReviewError(
            f"{posting.kind} {posting.reference}: lines and tax total {parts.total} but the receivable is {receivable}"
        )
    return parts


def _currency_fields(posting: Posting) -> dict[str, Any]:
    if posting.currency.upper() == posting.base_currency.upper():
        return {}
    return {
        "ConversionRateType": "User",
        "ConversionRate": posting.exchange_rate,
        "ConversionDate": posting.accounting_date.isoformat(),
    }


def invoice_payload(posting: Posting, settings: FusionSettings, customer_number: str) -> dict[str, Any]:
    """The receivablesInvoices POST body for an ``ar_invoice`` posting."""
    parts = transaction_parts(posting, settings)
    if parts.receivable != posting.source_total:
        raise ReviewError(
            f"invoice {posting.reference} receivable {parts.receivable} differs from the order total "
            f"{posting.source_total} {posting.currency}"
        )
    distributions: list[dict[str, Any]] = [
        {
            "InvoiceLineNumber": line.number,
            "AccountClass": line.account_class,
            "AccountCombination": line.combination,
            "Amount": line.amount,
        }
        for line in parts.lines
    ]
    distributions += [{"AccountClass": "Tax", "AccountCombination": c, "Amount": a} for c, a in parts.taxes]
    distributions.append(
        {"AccountClass": "Receivable", "AccountCombination": parts.receivable_combination, "Amount": parts.receivable}
    )
    return {
        "BusinessUnit": settings.business_unit,
        "TransactionSource": settings.transaction_source,
        "TransactionType": settings.transaction_type,
        "TransactionNumber": posting.reference,
        "TransactionDate": posting.accounting_date.isoformat(),
        "AccountingDate": posting.accounting_date.isoformat(),
        "BillToCustomerNumber": customer_number,
        "InvoiceCurrencyCode": posting.currency.upper(),
        **_currency_fields(posting),
        "PaymentTerms": settings.payment_terms,
        "Comments": _clip(posting.description, COMMENTS_LENGTH),
        "receivablesInvoiceLines": [
            {
                "LineNumber": line.number,
                "Description": line.description,
                "Quantity": line.quantity,
                "UnitSellingPrice": line.unit_price,
            }
            for line in parts.lines
        ],
        "receivablesInvoiceDistributions": distributions,
    }


def credit_memo_payload(posting: Posting, settings: FusionSettings, customer_number: str) -> dict[str, Any]:
    """The receivablesCreditMemos POST body for a refund's ``credit_memo`` posting (negative amounts)."""
    if not posting.reverses:
        raise ReviewError(f"credit memo {posting.reference} does not name the invoice it credits")
    parts = transaction_parts(posting, settings)
    if parts.receivable != -posting.source_total:
        raise ReviewError(
            f"credit memo {posting.reference} total {-parts.receivable} differs from the refund "
            f"{posting.source_total} {posting.currency}"
        )
    distributions: list[dict[str, Any]] = [
        {
            "CreditMemoLineNumber": line.number,
            "AccountClass": line.account_class,
            "AccountCombination": line.combination,
            "Amount": line.amount,
        }
        for line in parts.lines
    ]
    distributions += [{"AccountClass": "Tax", "AccountCombination": c, "Amount": a} for c, a in parts.taxes]
    distributions.append(
        {"AccountClass": "Receivable", "AccountCombination": parts.receivable_combination, "Amount": parts.receivable}
    )
    # Quantity credited positive, price negative: the product is exactly the (negative) line amount.
    lines = [
        {
            "LineNumber": line.number,
            "LineDescription": line.description,
            "LineQuantityCredit": line.quantity,
            "UnitSellingPrice": line.unit_price,
            "LineCreditReason": "Web store refund",
        }
        for line in parts.lines
    ]
    return {
        "BusinessUnit": settings.business_unit,
        "TransactionSource": settings.transaction_source,
        "TransactionType": settings.credit_memo_type,
        "TransactionNumber": posting.reference,
        "TransactionDate": posting.accounting_date.isoformat(),
        "AccountingDate": posting.accounting_date.isoformat(),
        "BillToCustomerNumber": customer_number,
        "CreditMemoCurrencyCode": posting.currency.upper(),
        **_currency_fields(posting),
        "CrossReference": posting.reverses,
        "Comments": _clip(f"{posting.description}; credits invoice {posting.reverses}", COMMENTS_LENGTH),
        "receivablesCreditMemoLines": lines,
        "receivablesCreditMemoDistributions": distributions,
    }


def invoice_reference_for_receipt(posting: Posting) -> str:
    """The TransactionNumber of the invoice a receipt pays: its reference before ``-P<payment id>``."""
    invoice, sep, payment = posting.reference.rpartition("-P")
    if not sep or not invoice or not payment:
        raise ReviewError(f"receipt {posting.reference} does not carry its order's invoice reference (…-P<id>)")
    return invoice


def receipt_payload(posting: Posting, settings: FusionSettings, customer_number: str | None) -> dict[str, Any]:
    """The standardReceipts POST body, applied to the order's invoice by a remittance reference."""
    cash = [line for line in posting.lines if line.line_class in RECEIPT_CASH_CLASSES]
    receivable = [line for line in posting.lines if line.line_class is LineClass.RECEIVABLE]
    other = [line for line in posting.lines if line not in cash and line not in receivable]
    if other or not cash or not receivable:
        raise ReviewError(
            f"receipt {posting.reference} must be cash lines against the receivable; it has "
            f"{sorted({str(line.line_class) for line in posting.lines})}"
        )
    amount = sum((line.amount for line in cash), ZERO)
    applied = -sum((line.amount for line in receivable), ZERO)
    if amount <= 0 or amount != applied or amount != posting.source_total:
        raise ReviewError(
            f"receipt {posting.reference}: cash {amount}, applied {applied} and payment {posting.source_total} "
            f"{posting.currency} must be one positive amount"
        )
    body: dict[str, Any] = {
        "ReceiptNumber": posting.reference,
        "ReceiptMethod": settings.receipt_method,
        "BusinessUnit": settings.business_unit,
        "Amount": amount,
        "Currency": posting.currency.upper(),
        **_currency_fields(posting),
        "ReceiptDate": posting.accounting_date.isoformat(),
        "AccountingDate": posting.accounting_date.isoformat(),
        "RemittanceBankAccountNumber": settings.remittance_bank_account_number,
        "Comments": _clip(posting.description, COMMENTS_LENGTH),
        "remittanceReferences": [
            {
                "ReceiptMatchBy": "Transaction Number",
                "ReferenceNumber": invoice_reference_for_receipt(posting),
                "ReferenceAmount": applied,
            }
        ],
    }
    if customer_number:
        body["CustomerAccountNumber"] = customer_number
    return body


def payload_combinations(payload: dict[str, Any]) -> list[str]:
    """Every AccountCombination a transaction payload uses, in order, without repeats."""
    seen: dict[str, None] = {}
    for key in ("receivablesInvoiceDistributions", "receivablesCreditMemoDistributions"):
        for dist in payload.get(key, []):
            seen.setdefault(dist["AccountCombination"], None)
    return list(seen)


# -- customers ---------------------------------------------------------------------------------


def account_number_for(settings: FusionSettings, customer: Customer) -> str:
    """A deterministic AccountNumber for a store customer (so a retried create finds the first one)."""
    prefix = settings.customer_account_prefix
    candidate = f"{prefix}-{customer.source_id}"
    if _ACCOUNT_SAFE.match(customer.source_id) and len(candidate) <= ACCOUNT_NUMBER_LENGTH:
        return candidate.upper()
    digest = hashlib.sha256(customer.source_id.encode("utf-8")).hexdigest()[:12].upper()
    return f"{prefix}-H{digest}".upper()


def customer_payload(settings: FusionSettings, customer: Customer, account_number: str) -> dict[str, Any]:
    """The hubOrganizations POST body: the party, its store reference and the bill-to account number."""
    address = customer.billing if customer.billing.line1 or customer.billing.city else customer.shipping
    body: dict[str, Any] = {
        "OrganizationName": _clip(customer.display_name, 360),
        "SourceSystem": settings.source_system,
        "SourceSystemReferenceValue": customer.source_id,
        "AccountNumber": account_number,
    }
    optional = {
        "EmailAddress": customer.email,
        "PhoneNumber": customer.phone,
        "AddressLine1": address.line1,
        "AddressLine2": address.line2,
        "City": address.city,
        "State": address.state,
        "PostalCode": address.postcode,
        "Country": address.country.upper(),
    }
    body.update({key: value for key, value in optional.items() if value})
    return body
