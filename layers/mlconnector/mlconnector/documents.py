"""ERP-neutral accounting documents produced by the accounting engine and consumed by targets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from mlconnector.models import ZERO, Amount


class PostingKind(StrEnum):
    JOURNAL = "journal"
    AR_INVOICE = "ar_invoice"
    VOUCHER = "voucher"
    RECEIPT = "receipt"
    CREDIT_MEMO = "credit_memo"


class LineClass(StrEnum):
    REVENUE = "revenue"
    DISCOUNT = "discount"
    TAX = "tax"
    SHIPPING = "shipping"
    FEE = "fee"
    CLEARING = "clearing"
    RECEIVABLE = "receivable"
    GIFT_CARD = "gift_card"
    STORE_CREDIT = "store_credit"
    ROUNDING = "rounding"


class PostingLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    line_class: LineClass
    account: str
    chartfields: dict[str, str] = Field(default_factory=dict)
    amount: Amount = Field(description="Signed, in the document currency: debit positive, credit negative")
    base_amount: Amount = Field(description="Signed, in the base (ledger) currency")
    description: str = ""
    rule: str = Field(default="", description="Which mapping rule chose the account (audit explanation)")
    sku: str = ""
    quantity: Amount | None = None
    source_line_id: str = ""


class Posting(BaseModel):
    """One ERP document: a journal, an AR invoice, a voucher, a receipt or a credit memo."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PostingKind
    reference: str = Field(description="Deterministic document key derived from the source record")
    connection: str
    source_kind: str
    source_id: str
    order_reference: str
    accounting_date: date
    currency: str
    base_currency: str
    exchange_rate: Amount = Decimal("1")
    rate_source: str = "same currency"
    description: str
    source_total: Amount = Field(description="The source document's total the lines must account for")
    lines: tuple[PostingLine, ...]
    reverses: str | None = Field(default=None, description="Reference of the document this one offsets")
    customer_source_id: str | None = None

    @property
    def debits(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.amount > 0), ZERO)

    @property
    def credits(self) -> Decimal:
        return -sum((line.amount for line in self.lines if line.amount < 0), ZERO)

    @property
    def base_debits(self) -> Decimal:
        return sum((line.base_amount for line in self.lines if line.base_amount > 0), ZERO)

    @property
    def base_credits(self) -> Decimal:
        return -sum((line.base_amount for line in self.lines if line.base_amount < 0), ZERO)

    @property
    def balanced(self) -> bool:
        return self.debits == self.credits and self.base_debits == self.base_credits
