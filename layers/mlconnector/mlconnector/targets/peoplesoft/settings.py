"""The PeopleSoft part of a connection profile (no secrets: credentials come separately)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from mlconnector.targets.base import ErpSettings

#: ChartFields the shipped JOURNAL_ENTRY_CI WSDL carries on its JRNL_LN rows, with their PeopleSoft field lengths.
CHARTFIELD_LENGTHS: dict[str, int] = {
    "ACCOUNT": 10,
    "DEPTID": 10,
    "OPERATING_UNIT": 8,
    "PRODUCT": 6,
    "FUND_CODE": 5,
    "CLASS_FLD": 5,
    "PROGRAM_CODE": 5,
    "PROJECT_ID": 15,
    "AFFILIATE": 5,
}

CUSTOMER_CI = "CUSTOMER_CI"
JOURNAL_CI = "JOURNAL_ENTRY_CI"
#: AR pending items (PS_GROUP_CONTROL / PS_PENDING_ITEM / PS_PENDING_DST, then ARUPDATE). Modelled CI name.
AR_ITEM_CI = "AR_PENDING_ITEM_CI"
#: AP vouchers (VCHR_EXPRESS component interface over the voucher staging records). Modelled CI name.
VOUCHER_CI = "VCHR_EXPRESS"

_BASE_URL = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?$")
_PREFIX = re.compile(r"^[A-Z][A-Z0-9]{0,2}$")


class PeopleSoftSettings(ErpSettings):
    """How to reach one PeopleSoft Integration Broker gateway and where documents land."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["peoplesoft"] = "peoplesoft"
    base_url: str = Field(description="scheme://host[:port] of the Integration Gateway web server, no path")
    node: str = Field(default="PSFT_EP", description="Integration Broker target node (PSFT_EP for FSCM)")
    auth: Literal["basic", "wss", "oauth2"] = "wss"
    token_url: str | None = Field(default=None, description="OAuth2 token endpoint (auth=oauth2 only)")
    oauth_scope: str | None = None
    setid: str = Field(default="SHARE", max_length=5)
    business_unit: str = Field(default="US001", max_length=5)
    ledger_group: str = Field(default="ACTUALS", max_length=10)
    journal_source: str = Field(default="WEB", max_length=3)
    ledger: str = Field(default="ACTUALS", max_length=10)
    rate_type: str = Field(default="CRRNT", max_length=5)
    journal_id_prefix: str = Field(default="W", description="1-3 upper-case characters starting every JOURNAL_ID")
    customer_id_prefix: str = Field(default="W", description="1-3 upper-case characters starting every CUST_ID")
    ar_business_unit: str = Field(
        default="", max_length=5, description="AR business unit (and GROUP_BU) of pending items; default business_unit"
    )
    ar_group_type: str = Field(
        default="B", min_length=1, max_length=1, description="GROUP_TYPE of the pending-item groups (B = billing)"
    )
    voucher_business_unit: str = Field(
        default="", max_length=5, description="AP business unit for vouchers; default business_unit"
    )
    voucher_vendor_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=10,
        description=(
            "VENDOR_ID every web-order voucher is raised against, typically the payment processor or marketplace "
            "that settles the sales; required when posting_style is voucher"
        ),
    )
    country_codes: dict[str, str] = Field(
        default_factory=dict,
        description="Store country code -> PeopleSoft COUNTRY, over the ISO alpha-2 -> alpha-3 defaults",
    )
    wsdl_dir: str | None = Field(default=None, description="Folder with the customer's own CI_<CI>.<v>.wsdl files")
    wsdl_style: Literal["prefixed", "unprefixed"] = Field(
        default="prefixed",
        description=(
            "Which of the shipped WSDL sets to use without wsdl_dir: KEYPROP_/PROP_/COLL_ element names, or plain "
            "field and record names. Element names are always read from the WSDL, so a customer's own WSDLs "
            "(wsdl_dir) work in either style whatever this says"
        ),
    )
    reference_field: str = Field(
        default="DESCR",
        pattern=r"^[A-Z][A-Z0-9_]{0,17}$",
        description=(
            "Header field of journals, AR items and vouchers that carries the ref: marker the look-up before "
            "create relies on (DESCR, 30 characters; DESCR254 or a custom field where the customer's CI has one)"
        ),
    )
    service_versions: dict[str, int] = Field(
        default_factory=dict,
        description="CI name (CUSTOMER_CI, JOURNAL_ENTRY_CI, AR_PENDING_ITEM_CI, VCHR_EXPRESS) -> version, default 1",
    )
    chartfields: list[str] = Field(default_factory=lambda: list(CHARTFIELD_LENGTHS))
    inquiry_window_days: int = Field(default=7, ge=1, le=366)
    inquiry_operations: dict[str, str] = Field(
        default_factory=lambda: {"journals": "MLC_JRNL_INQUIRY", "customers": "MLC_CUST_INQUIRY"},
        description="REST service operations (customer-built) used by the reconciler, by inquiry kind",
    )

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.rstrip("/")
        if not _BASE_URL.match(value):
            raise ValueError("must be scheme://host[:port] with no path, e.g. https://erp.example.com:8443")
        return value

    @field_validator("journal_id_prefix", "customer_id_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError("must be 1-3 upper-case letters/digits starting with a letter")
        return value

    @field_validator("chartfields")
    @classmethod
    def _chartfields(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(CHARTFIELD_LENGTHS))
        if unknown:
            raise ValueError(f"unknown ChartFields {unknown}; JOURNAL_ENTRY_CI carries {sorted(CHARTFIELD_LENGTHS)}")
        return value

    @field_validator("service_versions")
    @classmethod
    def _versions(cls, value: dict[str, int]) -> dict[str, int]:
        for ci, version in value.items():
            if version < 1:
                raise ValueError(f"version of {ci} must be >= 1")
        return value

    @model_validator(mode="before")
    @classmethod
    def _unit_defaults(cls, data: object) -> object:
        """``ar_business_unit`` and ``voucher_business_unit`` default to ``business_unit``."""
        if isinstance(data, dict):
            data = dict(data)
            unit = data.get("business_unit") or cls.model_fields["business_unit"].default
            for name in ("ar_business_unit", "voucher_business_unit"):
                if not data.get(name):
                    data[name] = unit
        return data

    @model_validator(mode="after")
    def _oauth(self) -> PeopleSoftSettings:
        if self.auth == "oauth2" and not self.token_url:
            raise ValueError("token_url is required when auth is oauth2")
        if self.auth != "oauth2" and self.token_url:
            raise ValueError("token_url only applies when auth is oauth2")
        return self

    def version(self, ci: str) -> int:
        return self.service_versions.get(ci, 1)

    @property
    def soap_url(self) -> str:
        return f"{self.base_url}/PSIGW/PeopleSoftServiceListeningConnector/{self.node}"

    @property
    def rest_url(self) -> str:
        return f"{self.base_url}/PSIGW/RESTListeningConnector/{self.node}"
