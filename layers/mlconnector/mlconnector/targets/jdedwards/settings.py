"""The JD Edwards part of a connection profile (no secrets: credentials come separately).

Account mapping (``account_format``): a ``PostingLine.account`` is the JDE **object account**
(OBJ). The business unit (MCU) comes from ``chartfields["BU"]``, else from ``business_unit``;
the subsidiary (SUB) from ``chartfields["SUB"]``, else blank. The three parts are joined with
``account_format`` (default ``{BU}.{OBJ}.{SUB}``); a blank SUB drops its trailing separator, so
``100`` + ``4110`` gives ``100.4110``. A ``PostingLine.account`` that already contains a ``.``
(``100.4110.WEB``) is taken as a complete ``BU.OBJ.SUB`` account as it is.

Customer matching: the store customer id is kept in the Address Book's **Long Address Number**
(F0101.ALKY, 20 characters), prefixed with ``customer_key_prefix``; ids too long for the field
are replaced by a hash (see ``mapping.customer_key``).

Dates (``date_format``): AIS reads a date in the format of the user the token belongs to, which the
token response names (see ``dates``); that is what the connector sends unless ``date_format`` sets
a pattern, e.g. for orchestration inputs declared with a date type of their own.

GL batch lookup (``gl_lookup``): ``"data_service"`` browses F0911 for rows whose Reference 1
(F0911.VR01) holds the posting reference; any other value names a customer-built lookup
orchestration taking ``BatchReference`` and answering ``{"BatchNumber", "DocumentNumber"}``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from mlconnector.targets.base import ErpSettings
from mlconnector.targets.jdedwards.dates import JdeDateFormat

_BASE_URL = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?$")
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_PREFIX = re.compile(r"^[A-Z0-9]{0,4}$")

DATA_SERVICE = "data_service"


class JdeSettings(ErpSettings):
    """How to reach one JD Edwards EnterpriseOne AIS server and where documents land."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["jdedwards"] = "jdedwards"
    base_url: str = Field(description="scheme://host[:port] of the AIS server, no path")
    environment: str = Field(default="JDV920", min_length=1, max_length=20)
    role: str = Field(default="*ALL", min_length=1, max_length=10)
    device_name: str = Field(default="ml-connector", min_length=1, max_length=64)
    token_lifetime_seconds: float = Field(
        default=1800.0, gt=0, description="The AIS session lifetime configured in Server Manager"
    )
    token_refresh_margin_seconds: float = Field(
        default=120.0, ge=0, description="Request a new token this long before the lifetime ends"
    )
    gl_orchestration: str = "ORCH_MLC_AddGLBatch"
    customer_orchestration: str = "ORCH_MLC_AddCustomer"
    customer_update_orchestration: str | None = Field(
        default=None, description="Orchestration updating an Address Book entry; None = never update"
    )
    gl_lookup: str = Field(default=DATA_SERVICE, description="'data_service' (F0911 browse) or an orchestration name")
    company: str = Field(default="00001", min_length=1, max_length=5, description="KCO")
    company_currency: str | None = Field(
        default=None, description="The company's base currency; a posting in another base currency goes to review"
    )
    business_unit: str = Field(default="100", min_length=1, max_length=12, description="Default BU (MCU)")
    account_format: str = Field(default="{BU}.{OBJ}.{SUB}", description="How BU, OBJ and SUB form the account")
    document_type: str = Field(default="JE", min_length=2, max_length=2)
    ledger_type: str = Field(default="AA", min_length=2, max_length=2)
    batch_type: str = Field(default="G", min_length=1, max_length=2)
    address_book_search_type: str = Field(default="C", min_length=1, max_length=3)
    customer_key_prefix: str = Field(default="W", description="0-4 upper-case characters starting every ALKY")
    date_format: str | None = Field(
        default=None,
        description="Date pattern for dates sent to and read from AIS, in JDE's notation (e.g. 'dd/MM/yyyy'); "
        "None = the AIS user's own format from the token response",
    )
    max_page_size: int = Field(default=500, ge=1, le=10_000)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.rstrip("/")
        if not _BASE_URL.match(value):
            raise ValueError("must be scheme://host[:port] with no path, e.g. https://ais.example.com:9300")
        return value

    @field_validator("gl_orchestration", "customer_orchestration", "customer_update_orchestration", "gl_lookup")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError("must be an orchestration name (letters, digits, '_' and '-')")
        return value

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str | None) -> str | None:
        if value is not None:
            JdeDateFormat.from_pattern(value)
        return value

    @field_validator("customer_key_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError("must be 0-4 upper-case letters or digits")
        return value

    @field_validator("account_format")
    @classmethod
    def _account_format(cls, value: str) -> str:
        try:
            sample = value.format(BU="B", OBJ="O", SUB="S")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may only use the placeholders {BU}, {OBJ} and {SUB}") from None
        if "O" not in sample or "{OBJ}" not in value:
            raise ValueError("must contain {OBJ}")
        return value

    @property
    def date_override(self) -> JdeDateFormat | None:
        """The profile's date format, when it sets one."""
        return JdeDateFormat.from_pattern(self.date_format) if self.date_format is not None else None

    @property
    def refresh_after_seconds(self) -> float:
        """Age at which a token is replaced: the lifetime minus the margin, but never below half of it."""
        return max(self.token_lifetime_seconds - self.token_refresh_margin_seconds, self.token_lifetime_seconds / 2)
