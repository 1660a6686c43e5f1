"""Connection-profile settings of a BigCommerce store (no secrets: those come from Secrets Manager)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlconnector.sources.bigcommerce.webhooks import (
    DEFAULT_SCOPES,
    KNOWN_SCOPES,
)

# BigCommerce order status ids (reference 2.6). "Paid" = the shopper's payment was taken:
#   2 Shipped, 3 Partially Shipped, 8 Awaiting Pickup, 9 Awaiting Shipment, 10 Completed,
#   11 Awaiting Fulfillment, plus 4 Refunded and 14 Partially Refunded (a refund implies an earlier
#   capture; the sale must be in the ledger for the offsetting refund entry to make sense).
# Not paid: 0 Incomplete, 1 Pending, 5 Cancelled, 6 Declined, 7 Awaiting Payment,
#   12 Manual Verification Required (payment under review) and 13 Disputed (left to a person;
#   it posts once the merchant moves the order on).
DEFAULT_PAID_STATUS_IDS = frozenset({2, 3, 4, 8, 9, 10, 11, 14})
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")


class BigCommerceSettings(BaseModel):
    """How to reach one BigCommerce store and what to take from it.

    Credentials (not here): ``access_token`` (API account, sent as ``X-Auth-Token``),
    ``client_secret`` (the Standard Webhooks signing key) and ``webhook_token`` (the value of the
    custom header ``webhook_header_name`` set when the hooks were registered).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["bigcommerce"] = "bigcommerce"
    store_hash: str = Field(description="The store hash in api.bigcommerce.com/stores/{store_hash}/")
    api_base_url: str = "https://api.bigcommerce.com"
    paid_status_ids: frozenset[int] = DEFAULT_PAID_STATUS_IDS
    webhook_scopes: tuple[str, ...] = DEFAULT_SCOPES
    webhook_header_name: str = "X-Mlc-Webhook-Token"
    max_webhook_age_seconds: int = Field(default=300, ge=30, le=3600)
    page_limit: int = Field(default=250, ge=2, le=250)
    min_requests_left: int = Field(default=2, ge=0, description="Wait for the quota window to reset at this many")
    throttle_backoff_seconds: float = Field(
        default=15.0, ge=0, le=60, description="Wait after a 429 that carries no rate-limit headers (platform load)"
    )
    timeout_seconds: float = Field(default=20.0, gt=0, le=120)

    @field_validator("store_hash")
    @classmethod
    def _valid_hash(cls, value: str) -> str:
        value = value.strip()
        if not re.fullmatch(r"[A-Za-z0-9]{1,64}", value):
            raise ValueError("store_hash must be the alphanumeric hash from the API path, e.g. 'abc123xyz'")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(
                "api_base_url must be an absolute http(s) URL without query, e.g. https://api.bigcommerce.com"
            )
        return value.strip().rstrip("/")

    @field_validator("webhook_scopes")
    @classmethod
    def _valid_scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in value if s not in KNOWN_SCOPES]
        if unknown:
            raise ValueError(f"unsupported webhook scopes {unknown}; supported: {', '.join(sorted(KNOWN_SCOPES))}")
        if len(set(value)) != len(value):
            raise ValueError("webhook_scopes has duplicates")
        return value

    @field_validator("webhook_header_name")
    @classmethod
    def _valid_header(cls, value: str) -> str:
        if not _HEADER_NAME.fullmatch(value) or value.lower().startswith("webhook-"):
            raise ValueError("webhook_header_name must be a plain header name (≤ 64 bytes), not a webhook-* header")
        return value

    def api_root(self, version: Literal["v2", "v3"]) -> str:
        return f"{self.api_base_url}/stores/{self.store_hash}/{version}/"
