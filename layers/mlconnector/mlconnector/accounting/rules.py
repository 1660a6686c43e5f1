"""Mapping rules: which account (and ChartFields / cost center) each part of a document lands on.

Rules are plain configuration (pydantic) so that a connection profile validates them at load.
Evaluation order is fixed and documented (README, "Mapping rules"):

* revenue: SKU rules, then product rules, then category rules, then the default; within each
  group the first rule in file order whose glob pattern matches wins;
* tax: rate-code rules, then label rules, then the default;
* payment: payment-method rules, then the default.

A part that no rule maps raises ``ReviewError``: the engine never guesses an account.
"""

from __future__ import annotations

from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlconnector.errors import ReviewError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountRef(Strict):
    """An account plus the ChartFields / segments (DEPTID, cost center, ...) that go with it."""

    account: str = Field(min_length=1)
    chartfields: dict[str, str] = Field(default_factory=dict)


class RevenueRule(AccountRef):
    sku: str | None = None
    product_id: str | None = None
    category: str | None = None

    @model_validator(mode="after")
    def _one_matcher(self) -> RevenueRule:
        given = [m for m in (self.sku, self.product_id, self.category) if m is not None]
        if len(given) != 1:
            raise ValueError("a revenue rule matches exactly one of sku, product_id or category")
        return self

    @property
    def label(self) -> str:
        if self.sku is not None:
            return f"revenue rule sku={self.sku}"
        if self.product_id is not None:
            return f"revenue rule product_id={self.product_id}"
        return f"revenue rule category={self.category}"


class TaxRule(AccountRef):
    code: str | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _one_matcher(self) -> TaxRule:
        if (self.code is None) == (self.label is None):
            raise ValueError("a tax rule matches exactly one of code or label")
        return self


class PaymentRule(AccountRef):
    method: str = Field(min_length=1)


class MappingRules(Strict):
    """Every account decision the engine makes, per connection."""

    posting_style: Literal["journal", "ar_invoice", "voucher"] = "journal"
    base_currency: str = Field(min_length=3, max_length=3)
    exchange_rates: dict[str, Decimal] = Field(
        default_factory=dict, description="Order currency → base currency, used when the store gives no rate"
    )
    default_chartfields: dict[str, str] = Field(default_factory=dict)
    revenue_rules: tuple[RevenueRule, ...] = ()
    default_revenue: AccountRef | None = None
    tax_rules: tuple[TaxRule, ...] = ()
    default_tax: AccountRef | None = None
    payment_rules: tuple[PaymentRule, ...] = ()
    default_payment: AccountRef | None = None
    discounts: AccountRef | None = Field(
        default=None, description="When set, revenue is booked gross and discounts debited here"
    )
    shipping: AccountRef
    fees: AccountRef
    receivable: AccountRef
    gift_card: AccountRef | None = None
    store_credit: AccountRef | None = None
    refunds: AccountRef | None = Field(
        default=None, description="Sales returns account for amount-only refunds; default: reverse revenue"
    )
    rounding: AccountRef
    rounding_tolerance: Decimal = Decimal("0.05")

    def revenue_for(self, sku: str, product_id: str, categories: tuple[str, ...]) -> tuple[AccountRef, str]:
        for rule in self.revenue_rules:
            if rule.sku is not None and sku and fnmatchcase(sku, rule.sku):
                return rule, rule.label
        for rule in self.revenue_rules:
            if rule.product_id is not None and product_id and fnmatchcase(product_id, rule.product_id):
                return rule, rule.label
        for rule in self.revenue_rules:
            if rule.category is not None and any(fnmatchcase(c, rule.category) for c in categories):
                return rule, rule.label
        if self.default_revenue:
            return self.default_revenue, "default revenue"
        raise ReviewError(
            f"no revenue rule maps sku={sku!r} product_id={product_id!r} categories={list(categories)!r}",
            detail={"sku": sku, "product_id": product_id},
        )

    def tax_for(self, code: str, label: str) -> tuple[AccountRef, str]:
        for rule in self.tax_rules:
            if rule.code is not None and code and fnmatchcase(code, rule.code):
                return rule, f"tax rule code={rule.code}"
        for rule in self.tax_rules:
            if rule.label is not None and label and fnmatchcase(label, rule.label):
                return rule, f"tax rule label={rule.label}"
        if self.default_tax:
            return self.default_tax, "default tax"
        raise ReviewError(f"no tax rule maps code={code!r} label={label!r}", detail={"tax_code": code})

    def payment_for(self, method: str) -> tuple[AccountRef, str]:
        for rule in self.payment_rules:
            if method and fnmatchcase(method, rule.method):
                return rule, f"payment rule method={rule.method}"
        if self.default_payment:
            return self.default_payment, "default payment"
        raise ReviewError(f"no payment rule maps method={method!r}", detail={"payment_method": method})

    def chartfields(self, ref: AccountRef) -> dict[str, str]:
        return {**self.default_chartfields, **ref.chartfields}
