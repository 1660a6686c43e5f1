"""The canonical model between every store and every ERP.

Sources map their payloads into these classes; the accounting engine and the targets read only
these. Money is always ``Decimal`` (never float) and every document carries its currency.
Amounts on lines are tax-exclusive; tax is carried separately so that tax-inclusive and
tax-exclusive stores land in the same shape.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

# Decimal that serialises to a JSON string, so no float ever sneaks into a queue message or an audit record.
Amount = Annotated[Decimal, PlainSerializer(lambda v: str(v), return_type=str, when_used="json")]

ZERO = Decimal("0")


class Canonical(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(Canonical):
    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    postcode: str = ""
    country: str = ""


class Customer(Canonical):
    source_id: str = Field(description="The store's customer id; 'guest:<email>' for guest checkouts")
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    phone: str = ""
    billing: Address = Address()
    shipping: Address = Address()
    updated_at: datetime | None = None

    @property
    def display_name(self) -> str:
        person = f"{self.first_name} {self.last_name}".strip()
        return self.company or person or self.email or self.source_id


class OrderLine(Canonical):
    line_id: str
    sku: str = ""
    product_id: str = ""
    name: str = ""
    categories: tuple[str, ...] = ()
    quantity: Amount = Decimal("1")
    subtotal: Amount = Field(description="Before discounts, tax-exclusive")
    total: Amount = Field(description="After discounts, tax-exclusive")
    tax: Amount = ZERO
    tax_code: str = ""

    @property
    def discount(self) -> Decimal:
        return self.subtotal - self.total


class TaxLine(Canonical):
    code: str
    label: str = ""
    rate: Amount | None = None
    amount: Amount = Field(description="Tax on items and fees")
    shipping_amount: Amount = ZERO


class ShippingLine(Canonical):
    method: str = ""
    total: Amount
    tax: Amount = ZERO


class FeeLine(Canonical):
    name: str = ""
    total: Amount
    tax: Amount = ZERO


class DiscountLine(Canonical):
    """A coupon or order-level discount, informational: line totals already net it out."""

    code: str = ""
    amount: Amount
    tax: Amount = ZERO


class PaymentKind(StrEnum):
    CAPTURE = "capture"
    GIFT_CARD = "gift_card"
    STORE_CREDIT = "store_credit"


class Payment(Canonical):
    payment_id: str
    method: str = ""
    kind: PaymentKind = PaymentKind.CAPTURE
    amount: Amount
    currency: str
    gateway: str = ""
    transaction_id: str = ""
    captured_at: datetime | None = None


class RefundLine(Canonical):
    line_id: str
    quantity: Amount = ZERO
    amount: Amount = Field(description="Tax-exclusive amount refunded on this line")
    tax: Amount = ZERO


class Refund(Canonical):
    source_id: str
    order_id: str
    amount: Amount = Field(description="Total refunded, tax included, positive")
    currency: str
    reason: str = ""
    created_at: datetime | None = None
    lines: tuple[RefundLine, ...] = ()
    shipping: Amount = ZERO
    shipping_tax: Amount = ZERO
    transactions: tuple[Payment, ...] = ()

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("refund amount is positive; the engine decides the sign")
        return value


class Order(Canonical):
    source_id: str
    number: str
    status: str
    paid: bool = Field(description="The store considers the order paid (ready to post)")
    currency: str
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None = None
    prices_include_tax: bool = False
    customer: Customer | None = None
    lines: tuple[OrderLine, ...] = ()
    tax_lines: tuple[TaxLine, ...] = ()
    shipping_lines: tuple[ShippingLine, ...] = ()
    fee_lines: tuple[FeeLine, ...] = ()
    discounts: tuple[DiscountLine, ...] = ()
    payments: tuple[Payment, ...] = ()
    refunds: tuple[Refund, ...] = ()
    total: Amount
    total_tax: Amount = ZERO
    exchange_rate: Amount | None = Field(
        default=None, description="Order currency → base currency rate the store recorded, if any"
    )

    @property
    def reference(self) -> str:
        """The store-facing order reference (number), used in ERP descriptions and keys."""
        return self.number or self.source_id

    @property
    def refunded_total(self) -> Decimal:
        return sum((r.amount for r in self.refunds), ZERO)

    @property
    def paid_total(self) -> Decimal:
        return sum((p.amount for p in self.payments), ZERO)
