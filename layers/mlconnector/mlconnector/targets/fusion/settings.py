"""The Oracle Fusion Cloud ERP part of a connection profile (no secrets: credentials come separately)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlparse

from pydantic import ConfigDict, Field, field_validator, model_validator

from mlconnector.targets.base import ErpSettings

#: Hosts where plain http is accepted (the sandbox, a local tunnel); everything else must be https.
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_VERSION = re.compile(r"^\d+(\.\d+)*$")
_SOAP_PATH = re.compile(r"^/[A-Za-z0-9_/]+$")


def _check_url(value: str, what: str) -> str:
    value = value.rstrip("/")
    parsed = urlparse(value)
    if not parsed.hostname:
        raise ValueError(f"{what} must be an absolute URL, e.g. https://abcd.fa.ocs.oraclecloud.com")
    if parsed.scheme != "https" and not (parsed.scheme == "http" and parsed.hostname in _LOOPBACK):
        raise ValueError(f"{what} must use https (plain http only for a loopback sandbox)")
    if parsed.query or parsed.fragment or parsed.username or parsed.password:
        raise ValueError(f"{what} must not carry a query, fragment or credentials")
    return value


class FusionSettings(ErpSettings):
    """How to reach one Fusion pod and where receivables documents land."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["fusion"] = "fusion"
    base_url: str = Field(description="https://<pod>.fa.ocs.oraclecloud.com (no path)")
    auth: Literal["oauth2", "basic"] = "oauth2"
    token_url: str | None = Field(
        default=None, description="IAM/IDCS token endpoint https://idcs-<id>.identity.oraclecloud.com/oauth2/v1/token"
    )
    scope: str = "urn:opc:resource:consumer::all"
    rest_framework_version: str = Field(default="4", description="Pinned on every request (REST-Framework-Version)")
    resource_version: str = "11.13.18.05"
    business_unit: str = Field(min_length=1)
    transaction_source: str = Field(min_length=1, description="A manually numbered AR transaction source")
    transaction_type: str = "Invoice"
    credit_memo_type: str = "Credit Memo"
    payment_terms: str = "IMMEDIATE"
    receipt_method: str = Field(min_length=1)
    remittance_bank_account_number: str = Field(min_length=1)
    source_system: str = Field(
        default="WEBSTORE", description="Source system code under which store customer ids are kept"
    )
    customer_accounts: Literal["create", "guests_to_web_account", "all_to_web_account"] = Field(
        default="create",
        description="A store customer with no Fusion account: 'create' makes the party (hubOrganizations REST), then "
        "its customer account, account site and BILL_TO site use (CustomerAccountService SOAP: Oracle documents no "
        "REST route for accounts); the web_account modes bill guests (or everyone new) to a pre-created account",
    )
    web_customers_account_number: str | None = Field(
        default=None, description="AccountNumber of the pre-created 'web customers' account (the web_account modes)"
    )
    customer_account_set_id: int | None = Field(
        default=None, description="SetId (reference data set) of the account sites the connector creates"
    )
    customer_account_service_path: str = Field(
        default="/crmService/CustomerAccountService",
        description="Path of the CustomerAccountService SOAP endpoint on the pod (not on Oracle's use-case page)",
    )
    tax_mode: Literal["entered", "calculated"] = Field(
        default="entered",
        description="'entered': the store's tax goes on each line as receivablesInvoiceLineTaxLines (to the cent); "
        "'calculated': lines carry tax_classification_code and Fusion calculates the tax",
    )
    tax_regime_code: str | None = Field(default=None, description="TaxRegimeCode of entered tax lines")
    tax_rate_codes: dict[str, str] = Field(
        default_factory=dict, description="Tax account of the mapping rules (e.g. '22100') → TaxRateCode"
    )
    default_tax_rate_code: str | None = Field(default=None, description="TaxRateCode for tax accounts not listed")
    tax_classification_code: str | None = Field(
        default=None, description="TaxClassificationCode on taxable lines when tax_mode is calculated"
    )
    segment_order: list[str] = Field(
        default_factory=lambda: ["COMPANY", "ACCOUNT", "COST_CENTER"],
        min_length=1,
        description="Accounting flexfield segments in order; ACCOUNT is the posting line's account, the others "
        "come from its chartfields (or segment_defaults)",
    )
    segment_defaults: dict[str, str] = Field(default_factory=dict)
    segment_separator: str = Field(default="-", min_length=1, max_length=1)
    chart_of_accounts_id: int | None = Field(default=None, description="Restrict the combination list to one chart")
    validate_accounts: bool = True
    page_size: int = Field(default=500, ge=1, le=500, description="limit= on collection reads (Fusion caps at 500)")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = _check_url(value, "base_url")
        if urlparse(value).path not in ("", "/"):
            raise ValueError("base_url is scheme://host[:port] with no path")
        return value

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str | None) -> str | None:
        return _check_url(value, "token_url") if value else value

    @field_validator("rest_framework_version")
    @classmethod
    def _framework(cls, value: str) -> str:
        if not value.isdigit() or not 1 <= int(value) <= 9:
            raise ValueError("REST-Framework-Version is an integer 1-9")
        return value

    @field_validator("resource_version")
    @classmethod
    def _resource_version(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError("resource_version looks like 11.13.18.05")
        return value

    @field_validator("customer_account_service_path")
    @classmethod
    def _soap_path(cls, value: str) -> str:
        if not _SOAP_PATH.match(value):
            raise ValueError("a path such as /crmService/CustomerAccountService")
        return value

    @field_validator("segment_order")
    @classmethod
    def _segments(cls, value: list[str]) -> list[str]:
        upper = [name.upper() for name in value]
        if "ACCOUNT" not in upper:
            raise ValueError("segment_order must contain ACCOUNT (the posting line's natural account)")
        if len(set(upper)) != len(upper):
            raise ValueError("segment_order names a segment twice")
        return upper

    @field_validator("segment_defaults")
    @classmethod
    def _defaults(cls, value: dict[str, str]) -> dict[str, str]:
        return {key.upper(): val for key, val in value.items()}

    @model_validator(mode="after")
    def _oauth(self) -> FusionSettings:
        if self.auth == "oauth2" and not self.token_url:
            raise ValueError("token_url is required when auth is oauth2")
        unknown = sorted(set(self.segment_defaults) - set(self.segment_order))
        if unknown:
            raise ValueError(f"segment_defaults names segments not in segment_order: {unknown}")
        if self.customer_accounts != "all_to_web_account" and self.customer_account_set_id is None:
            raise ValueError(f"customer_account_set_id is required when customer_accounts is {self.customer_accounts}")
        if self.customer_accounts != "create" and not self.web_customers_account_number:
            raise ValueError(
                f"web_customers_account_number is required when customer_accounts is {self.customer_accounts}"
            )
        if self.tax_mode == "entered" and not (
            self.tax_regime_code and (self.tax_rate_codes or self.default_tax_rate_code)
        ):
            raise ValueError("tax_mode entered needs tax_regime_code and tax_rate_codes or default_tax_rate_code")
        if self.tax_mode == "calculated" and not self.tax_classification_code:
            raise ValueError("tax_mode calculated needs tax_classification_code")
        return self

    @property
    def fscm_url(self) -> str:
        return f"{self.base_url}/fscmRestApi/resources/{self.resource_version}"

    @property
    def crm_url(self) -> str:
        return f"{self.base_url}/crmRestApi/resources/{self.resource_version}"

    @property
    def customer_account_service_url(self) -> str:
        return f"{self.base_url}{self.customer_account_service_path}"
