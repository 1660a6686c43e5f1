"""Pure mapping from ERP-neutral postings to Oracle Fusion Receivables REST payloads.

Nothing here talks to the network, so payloads are unit-testable. Amount signs follow Oracle
Receivables: an invoice's distributions are positive (Receivable = lines + tax), a credit memo's
are negative, and a discount on an invoice is a negative line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any
from xml.sax.saxutils import escape

from mlconnector.accounting.engine import quantum
from mlconnector.accounting.rules import AccountRef, MappingRules
from mlconnector.documents import LineClass, Posting, PostingLine
from mlconnector.errors import ReviewError
from mlconnector.models import ZERO, Customer
from mlconnector.targets.fusion.settings import FusionSettings

#: Posting line classes that become transaction lines (Revenue distributions); shipping becomes freight.
TRANSACTION_LINE_CLASSES = frozenset({LineClass.REVENUE, LineClass.DISCOUNT, LineClass.FEE, LineClass.ROUNDING})
#: Posting line classes that settle a receipt (the cash side).
RECEIPT_CASH_CLASSES = frozenset({LineClass.CLEARING, LineClass.GIFT_CARD, LineClass.STORE_CREDIT})

RESOURCE_ITEM = "application/vnd.oracle.adf.resourceitem+json"
DESCRIPTION_LENGTH = 240
COMMENTS_LENGTH = 1760

_DECIMAL_MARK = "\x00DEC"
_DECIMAL_RE = re.compile(r'"\\u0000DEC(-?\d+(?:\.\d+)?)"')


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
    """JSON with numbers as ``Decimal`` (integers stay ``int``); ValueError for what the parser cannot read, JSON
    nested deeper than it goes included."""
    try:
        return json.loads(content, parse_float=Decimal)
    except RecursionError:
        raise ValueError("JSON nested deeper than the parser reads") from None


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
class TaxShare:
    """The part of one store tax that an invoice line carries (a receivablesInvoiceLineTaxLines entry)."""

    rate_code: str
    amount: Decimal
    combination: str


@dataclass(frozen=True)
class TransactionLine:
    number: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    combination: str
    freight: Decimal = ZERO
    freight_combination: str = ""
    taxes: tuple[TaxShare, ...] = ()


@dataclass(frozen=True)
class TransactionParts:
    """A posting split the way Receivables sees it, amounts in the transaction's own sign.

    ``taxes`` is the store's tax by account; in entered mode every cent of it is also on the lines' tax shares.
    """

    lines: tuple[TransactionLine, ...]
    taxes: tuple[tuple[str, Decimal], ...]
    receivable_combination: str
    receivable: Decimal

    @property
    def tax_total(self) -> Decimal:
        return sum((amount for _, amount in self.taxes), ZERO)

    @property
    def total(self) -> Decimal:
        return sum((line.amount + line.freight for line in self.lines), ZERO) + self.tax_total


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


def allocate(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """``total`` split over positive ``weights`` in proportion, in minor units, summing exactly to ``total``.

    Leftover cents go to the largest fractional parts (then the largest weights), so nothing is lost or made up.
    """
    minor = quantum(currency)
    base = sum(weights, ZERO)
    sign = -1 if total < 0 else 1
    whole = abs(total)
    raw = [whole * w / base for w in weights]
    shares = [r.quantize(minor, rounding=ROUND_DOWN) for r in raw]
    left = int((whole - sum(shares, ZERO)) / minor)
    order = sorted(range(len(weights)), key=lambda i: (shares[i] - raw[i], -weights[i], i))
    for i in order[:left]:
        shares[i] += minor
    return [sign * share for share in shares]


def tax_rate_code(combination_account: str, settings: FusionSettings) -> str:
    code = settings.tax_rate_codes.get(combination_account) or settings.default_tax_rate_code
    if not code:
        raise ReviewError(
            f"tax account {combination_account} has no TaxRateCode (tax_rate_codes / default_tax_rate_code)",
            detail={"tax_account": combination_account},
        )
    return code


def transaction_parts(posting: Posting, settings: FusionSettings, *, freight_on_lines: bool) -> TransactionParts:
    """Lines, tax and receivable of an invoice or credit memo; refuses postings Receivables cannot take.

    Shipping becomes freight allocated to the first line (``freight_on_lines``, Oracle's invoice-line freight) or a
    line of its own on the shipping account. In entered tax mode each store tax is spread over the lines by amount,
    to the cent, as line tax shares; in calculated mode the shares are left to Fusion.
    """
    lines: list[TransactionLine] = []
    taxes: list[tuple[PostingLine, Decimal]] = []
    freight: list[PostingLine] = []
    receivables: list[PostingLine] = []
    for line in posting.lines:
        if line.line_class in TRANSACTION_LINE_CLASSES or (
            line.line_class is LineClass.SHIPPING and not freight_on_lines
        ):
            amount = -line.amount  # credit on the posting = positive on an invoice, debit = negative
            quantity, unit = quantity_and_price(amount, line.quantity, posting.currency)
            lines.append(
                TransactionLine(
                    number=len(lines) + 1,
                    description=_clip(line.description or str(line.line_class).title(), DESCRIPTION_LENGTH),
                    quantity=quantity,
                    unit_price=unit,
                    amount=amount,
                    combination=account_combination(line, settings),
                )
            )
        elif line.line_class is LineClass.SHIPPING:
            freight.append(line)
        elif line.line_class is LineClass.TAX:
            taxes.append((line, -line.amount))
        elif line.line_class is LineClass.RECEIVABLE:
            receivables.append(line)
        else:
            raise ReviewError(
                f"{posting.kind} {posting.reference} has a {line.line_class} line; Fusion receivables transactions "
                "carry revenue, discount, fee, shipping, tax and receivable lines only (payments post as receipts)"
            )
    if not lines:
        raise ReviewError(f"{posting.kind} {posting.reference} has no lines to put on a Fusion transaction")
    if freight:
        combos = {account_combination(line, settings) for line in freight}
        if len(combos) != 1:
            raise ReviewError(
                f"{posting.kind} {posting.reference}: shipping posts to {len(combos)} accounts; Fusion "
                "line freight takes one"
            )
        lines[0] = replace(
            lines[0], freight=-sum((line.amount for line in freight), ZERO), freight_combination=combos.pop()
        )
    if taxes and settings.tax_mode == "entered":
        lines = _with_tax_shares(posting, lines, taxes, settings)
    combos = {account_combination(line, settings) for line in receivables}
    if len(combos) != 1:
        raise ReviewError(
            f"{posting.kind} {posting.reference} needs exactly one receivable account; it has {len(combos)}"
        )
    receivable = sum((line.amount for line in receivables), ZERO)
    tax_by_combination: dict[str, Decimal] = {}
    for line, amount in taxes:
        combo = account_combination(line, settings)
        tax_by_combination[combo] = tax_by_combination.get(combo, ZERO) + amount
    parts = TransactionParts(tuple(lines), tuple(tax_by_combination.items()), combos.pop(), receivable)
    if parts.total != receivable:
        raise ReviewError(
            f"{posting.kind} {posting.reference}: lines and tax total {parts.total} but the receivable is {receivable}"
        )
    return parts


def _with_tax_shares(
    posting: Posting, lines: list[TransactionLine], taxes: list[tuple[PostingLine, Decimal]], settings: FusionSettings
) -> list[TransactionLine]:
    """Each tax spread over the lines that carry value in the tax's direction, by line amount plus freight."""
    shares: dict[int, list[TaxShare]] = {line.number: [] for line in lines}
    for tax_line, amount in taxes:
        if not amount:
            continue
        bases = [line for line in lines if (line.amount + line.freight) * amount > 0]
        if not bases:
            raise ReviewError(f"{posting.kind} {posting.reference}: tax {amount} has no line to sit on")
        split = allocate(amount, [abs(line.amount + line.freight) for line in bases], posting.currency)
        code = tax_rate_code(tax_line.account, settings)
        combo = account_combination(tax_line, settings)
        for line, share in zip(bases, split, strict=True):
            if share:
                shares[line.number].append(TaxShare(code, share, combo))
    return [replace(line, taxes=tuple(shares[line.number])) for line in lines]


def _currency_fields(posting: Posting, *, with_date: bool = True) -> dict[str, Any]:
    if posting.currency.upper() == posting.base_currency.upper():
        return {}
    fields: dict[str, Any] = {"ConversionRateType": "User", "ConversionRate": posting.exchange_rate}
    if with_date:
        fields["ConversionDate"] = posting.accounting_date.isoformat()
    return fields


def _tax_fields(line: TransactionLine, settings: FusionSettings, child: str, *, taxable: bool) -> dict[str, Any]:
    if settings.tax_mode == "calculated":
        return {"TaxClassificationCode": settings.tax_classification_code} if taxable else {}
    if not line.taxes:
        return {}
    return {
        child: [
            {"TaxRegimeCode": settings.tax_regime_code, "TaxRateCode": share.rate_code, "TaxAmount": share.amount}
            for share in line.taxes
        ]
    }


def _distributions(parts: TransactionParts, settings: FusionSettings, line_key: str) -> list[dict[str, Any]]:
    """Revenue and freight per line, entered tax per line tax share, and the one Receivable distribution.

    With calculated tax the Receivable distribution is 100 percent of what Fusion totals (tax included).
    """
    out: list[dict[str, Any]] = []
    for line in parts.lines:
        out.append(
            {
                line_key: line.number,
                "AccountClass": "Revenue",
                "AccountCombination": line.combination,
                "Amount": line.amount,
            }
        )
        if line.freight:
            out.append(
                {
                    line_key: line.number,
                    "AccountClass": "Freight",
                    "AccountCombination": line.freight_combination,
                    "Amount": line.freight,
                }
            )
        for index, share in enumerate(line.taxes, start=1):
            out.append(
                {
                    line_key: line.number,
                    "DetailedTaxLineNumber": index,
                    "AccountClass": "Tax",
                    "AccountCombination": share.combination,
                    "Amount": share.amount,
                }
            )
    receivable: dict[str, Any] = {"AccountClass": "Receivable", "AccountCombination": parts.receivable_combination}
    if settings.tax_mode == "calculated":
        receivable["Percent"] = Decimal("100")
    else:
        receivable["Amount"] = parts.receivable
    out.append(receivable)
    return out


@dataclass(frozen=True)
class BillTo:
    """A Fusion customer account and, where it has several bill-to sites, the one to bill (its site number)."""

    account_number: str
    site_number: str | None = None

    SEPARATOR = "|"

    @property
    def erp_id(self) -> str:
        """What the connector stores as the customer's match: ``account`` or ``account|site``."""
        return f"{self.account_number}{self.SEPARATOR}{self.site_number}" if self.site_number else self.account_number

    @classmethod
    def parse(cls, erp_id: str) -> BillTo:
        account, _, site = erp_id.partition(cls.SEPARATOR)
        return cls(account, site or None)


def _transaction_header(
    posting: Posting, settings: FusionSettings, transaction_type: str, bill_to: BillTo
) -> dict[str, Any]:
    """What invoices and credit memos both start with: who issues it, its number and date, whom it bills."""
    return {
        "BusinessUnit": settings.business_unit,
        "TransactionSource": settings.transaction_source,
        "TransactionType": transaction_type,
        "TransactionNumber": posting.reference,
        "TransactionDate": posting.accounting_date.isoformat(),
        "BillToCustomerNumber": bill_to.account_number,
    }


def invoice_payload(posting: Posting, settings: FusionSettings, bill_to: BillTo) -> dict[str, Any]:
    """The receivablesInvoices POST body for an ``ar_invoice`` posting."""
    parts = transaction_parts(posting, settings, freight_on_lines=True)
    if parts.receivable != posting.source_total:
        raise ReviewError(
            f"invoice {posting.reference} receivable {parts.receivable} differs from the order total "
            f"{posting.source_total} {posting.currency}"
        )
    taxable = bool(parts.taxes)
    lines = []
    for line in parts.lines:
        body: dict[str, Any] = {
            "LineNumber": line.number,
            "Description": line.description,
            "Quantity": line.quantity,
            "UnitSellingPrice": line.unit_price,
        }
        if line.freight:
            body["AllocatedFreightAmount"] = line.freight
        body.update(_tax_fields(line, settings, "receivablesInvoiceLineTaxLines", taxable=taxable and line.amount > 0))
        lines.append(body)
    header = _transaction_header(posting, settings, settings.transaction_type, bill_to)
    if bill_to.site_number:
        header["BillToSite"] = bill_to.site_number
    return {
        **header,
        "InvoiceCurrencyCode": posting.currency.upper(),
        **_currency_fields(posting),
        "PaymentTerms": settings.payment_terms,
        "Comments": _clip(posting.description, COMMENTS_LENGTH),
        "receivablesInvoiceLines": lines,
        "receivablesInvoiceDistributions": _distributions(parts, settings, "InvoiceLineNumber"),
    }


def credit_memo_payload(posting: Posting, settings: FusionSettings, bill_to: BillTo) -> dict[str, Any]:
    """The receivablesCreditMemos POST body for a refund's ``credit_memo`` posting (negative amounts).

    Oracle's resource creates on-account credit memos only: the comments name the invoice it credits.
    """
    if not posting.reverses:
        raise ReviewError(f"credit memo {posting.reference} does not name the invoice it credits")
    parts = transaction_parts(posting, settings, freight_on_lines=False)
    if parts.receivable != -posting.source_total:
        raise ReviewError(
            f"credit memo {posting.reference} total {-parts.receivable} differs from the refund "
            f"{posting.source_total} {posting.currency}"
        )
    taxable = bool(parts.taxes)
    # Quantity credited positive, price negative: the product is exactly the (negative) line amount.
    lines = []
    for line in parts.lines:
        body: dict[str, Any] = {
            "LineNumber": line.number,
            "LineDescription": line.description,
            "LineQuantityCredit": line.quantity,
            "UnitSellingPrice": line.unit_price,
            "LineCreditReason": "Web store refund",
        }
        body.update(
            _tax_fields(line, settings, "receivablesCreditMemoLineTaxLines", taxable=taxable and line.amount < 0)
        )
        lines.append(body)
    return {
        **_transaction_header(posting, settings, settings.credit_memo_type, bill_to),
        "CreditMemoCurrency": posting.currency.upper(),
        **_currency_fields(posting, with_date=False),
        "CreditMemoComments": _clip(f"{posting.description}; credits invoice {posting.reverses}", COMMENTS_LENGTH),
        "receivablesCreditMemoLines": lines,
        "receivablesCreditMemoDistributions": _distributions(parts, settings, "CreditMemoLineNumber"),
    }


def invoice_reference_for_receipt(posting: Posting) -> str:
    """The TransactionNumber of the invoice a receipt pays: its reference before ``-P<payment id>``."""
    invoice, sep, payment = posting.reference.rpartition("-P")
    if not sep or not invoice or not payment:
        raise ReviewError(f"receipt {posting.reference} does not carry its order's invoice reference (…-P<id>)")
    return invoice


def receipt_payload(posting: Posting, settings: FusionSettings, bill_to: BillTo | None) -> dict[str, Any]:
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
    if bill_to:
        body["CustomerAccountNumber"] = bill_to.account_number
        if bill_to.site_number:
            body["CustomerSite"] = bill_to.site_number
    return body


def payload_combinations(payload: dict[str, Any]) -> list[str]:
    """Every AccountCombination a transaction payload uses, in order, without repeats."""
    seen: dict[str, None] = {}
    for key in ("receivablesInvoiceDistributions", "receivablesCreditMemoDistributions"):
        for dist in payload.get(key, []):
            seen.setdefault(dist["AccountCombination"], None)
    return list(seen)


# -- customers ---------------------------------------------------------------------------------

ORGANIZATION_NAME_LENGTH = 360
CUSTOMER_ACCOUNT_SERVICE_NS = {
    "typ": "http://xmlns.oracle.com/apps/cdm/foundation/parties/customerAccountService/applicationModule/types/",
    "cus": "http://xmlns.oracle.com/apps/cdm/foundation/parties/customerAccountService/",
}
CREATED_BY_MODULE = "HZ_WS"


def organization_payload(settings: FusionSettings, customer: Customer) -> dict[str, Any]:
    """The hubOrganizations POST body: the party, its store reference and its address (a party site)."""
    address = customer.billing if customer.billing.line1 or customer.billing.city else customer.shipping
    body: dict[str, Any] = {
        "OrganizationName": _clip(customer.display_name, ORGANIZATION_NAME_LENGTH),
        "SourceSystem": settings.source_system,
        "SourceSystemReferenceValue": customer.source_id,
    }
    if customer.email:
        body["EmailAddress"] = customer.email
    site = {
        "Address1": address.line1,
        "Address2": address.line2,
        "City": address.city,
        "State": address.state,
        "PostalCode": address.postcode,
        "Country": address.country.upper(),
    }
    if site["Country"]:
        body["Address"] = [{key: value for key, value in site.items() if value}]
    return body


def customer_account_envelope(settings: FusionSettings, party_id: int, party_site_id: int) -> bytes:
    """CustomerAccountService ``mergeCustomerAccount``: the party's account, an account site on its party site
    and that site's BILL_TO use, as Oracle's "Create a Basic Customer Account" use case sends it."""
    typ, cus = CUSTOMER_ACCOUNT_SERVICE_NS["typ"], CUSTOMER_ACCOUNT_SERVICE_NS["cus"]
    module = f"<cus:CreatedByModule>{CREATED_BY_MODULE}</cus:CreatedByModule>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:typ="{typ}" '
        f'xmlns:cus="{cus}"><soapenv:Header/><soapenv:Body><typ:mergeCustomerAccount><typ:customerAccount>'
        f"<cus:PartyId>{int(party_id)}</cus:PartyId>{module}"
        f"<cus:CustomerAccountSite><cus:PartySiteId>{int(party_site_id)}</cus:PartySiteId>{module}"
        f"<cus:SetId>{escape(str(settings.customer_account_set_id))}</cus:SetId>"
        f"<cus:CustomerAccountSiteUse><cus:SiteUseCode>BILL_TO</cus:SiteUseCode>{module}</cus:CustomerAccountSiteUse>"
        "</cus:CustomerAccountSite></typ:customerAccount></typ:mergeCustomerAccount></soapenv:Body></soapenv:Envelope>"
    ).encode()
