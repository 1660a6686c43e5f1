"""Connection-profile settings of a WooCommerce store (no secrets: those come from Secrets Manager)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlconnector.sources.woocommerce.mapping import AWAITING_PAYMENT, DEFAULT_PAID_STATUSES
from mlconnector.sources.woocommerce.webhooks import DEFAULT_TOPICS, EVENTS, RESOURCES


class WooCommerceSettings(BaseModel):
    """How to reach one WooCommerce store and what to take from it.

    ``auth``: ``basic`` / ``query`` send the consumer secret itself and WooCommerce only accepts them
    when WordPress sees HTTPS (``is_ssl()``), so they need an https ``base_url`` unless
    ``allow_insecure_basic`` is set (loopback sandboxes). ``oauth1`` signs every request
    (HMAC-SHA256, nonce, timestamp) and is the mode for plain-http stores, or for https stores whose
    TLS ends at a proxy (then set ``oauth_signing_scheme="http"``: WooCommerce builds the signed base
    URI with the scheme WordPress sees).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["woocommerce"] = "woocommerce"
    base_url: str = Field(description="Store home URL; the REST root is {base_url}/wp-json/wc/v3/")
    auth: Literal["basic", "query", "oauth1"] = "basic"
    allow_insecure_basic: bool = False
    oauth_signing_scheme: Literal["http", "https"] | None = Field(
        default=None, description="Scheme WooCommerce uses for the OAuth base URI when it differs from base_url's"
    )
    webhook_topics: tuple[str, ...] = DEFAULT_TOPICS
    paid_statuses: tuple[str, ...] = Field(
        default=DEFAULT_PAID_STATUSES,
        description=(
            "Statuses that mean paid on this store even without a recorded payment date: WooCommerce's "
            "wc_get_is_paid_statuses() (processing, completed) plus any status the store's "
            "woocommerce_order_is_paid_statuses filter adds. An order in another status is paid when "
            "WooCommerce recorded its payment (date_paid) or completion, so a refunded or cancelled order "
            "that was paid posts its sale and then its refunds; this list only adds statuses (e.g. on-hold, to "
            "book orders a late-settling gateway has authorised), it never makes an order with a payment date unpaid."
        ),
    )
    per_page: int = Field(default=100, ge=2, le=100)
    overlap_seconds: int = Field(default=600, ge=0)
    backfill_from: datetime | None = None
    timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    api_version: Literal["wc/v3"] = "wc/v3"

    @field_validator("base_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                "base_url must be an absolute http(s) URL of the store home, e.g. https://shop.example.com"
            )
        if parts.query or parts.fragment:
            raise ValueError("base_url must not carry a query string or fragment")
        return value.strip().rstrip("/")

    @field_validator("paid_statuses")
    @classmethod
    def _paid_means_paid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        awaiting = [status for status in value if status in AWAITING_PAYMENT]
        if awaiting:
            raise ValueError(
                f"{', '.join(awaiting)} cannot be a paid status: WooCommerce uses it for orders awaiting payment "
                "(an order paid since then carries its date_paid and posts without being listed here)"
            )
        return value

    @field_validator("webhook_topics")
    @classmethod
    def _valid_topics(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for topic in value:
            resource, _, event = topic.partition(".")
            if resource not in RESOURCES or event not in EVENTS:
                raise ValueError(f"unsupported webhook topic {topic!r}; use order.* or customer.* topics")
        if len(set(value)) != len(value):
            raise ValueError("webhook_topics has duplicates")
        return value

    @model_validator(mode="after")
    def _secure_transport(self) -> WooCommerceSettings:
        if (
            self.auth in ("basic", "query")
            and not self.base_url.startswith("https://")
            and not self.allow_insecure_basic
        ):
            raise ValueError(
                f"auth={self.auth!r} sends the consumer secret and WooCommerce accepts it only over HTTPS; "
                "use an https base_url, or auth='oauth1' for a plain-http store"
            )
        return self

    @property
    def rest_root(self) -> str:
        return f"{self.base_url}/wp-json/{self.api_version}/"
