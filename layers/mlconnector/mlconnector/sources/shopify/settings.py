"""Connection-profile settings of a Shopify store (no secrets: those come from Secrets Manager)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlconnector.sources.shopify.webhooks import DEFAULT_TOPICS, SUPPORTED_TOPICS, event_source_name

_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$")
_VERSION = re.compile(r"^\d{4}-(01|04|07|10)$|^unstable$")


class ShopifySettings(BaseModel):
    """How to reach one Shopify shop's GraphQL Admin API and what to take from it.

    ``api_version``: the Admin API release queried (``/admin/api/{api_version}/graphql.json``); Shopify
    supports each quarterly release for twelve months. Webhook deliveries carry the version of the app's
    webhook subscriptions in ``X-Shopify-API-Version``.

    ``token_mode``:
      - ``static``: a non-expiring offline token (credentials ``access_token``).
      - ``expiring``: a 60-minute offline token plus a rotating refresh token (credentials
        ``access_token``, ``refresh_token``, ``client_id``, ``client_secret``); every refresh writes the
        new pair back to ``token_secret_name`` because the previous refresh token dies once the new
        one is used.
      - ``client_credentials``: the app asks for a ~24 h token itself (credentials ``client_id``,
        ``client_secret``) and asks again when it expires.

    ``paid_financial_statuses``: an order is posted when its ``financial_status`` is one of these.
    The default counts orders that were fully paid, including those refunded since (refunds post
    as their own reversals). ``partially_paid`` is left out on purpose: such an order is posted
    only once the balance is captured (add it to post the captured part with a receivable for
    the rest). ``authorized`` / ``pending`` are never paid.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["shopify"] = "shopify"
    shop_domain: str = Field(description="The shop's myshopify domain, e.g. acme.myshopify.com")
    base_url: str | None = Field(default=None, description="API root override; default https://{shop_domain}")
    api_version: str = "2025-10"
    token_mode: Literal["static", "expiring", "client_credentials"] = "static"  # noqa: S105
    token_secret_name: str | None = Field(
        default=None, description="Secrets Manager secret the rotated tokens are written back to (expiring mode)"
    )
    paid_financial_statuses: tuple[str, ...] = ("paid", "partially_refunded", "refunded")
    webhook_topics: tuple[str, ...] = DEFAULT_TOPICS
    webhook_delivery: Literal["https", "eventbridge"] = "https"
    eventbridge_source_arn: str | None = Field(
        default=None,
        description=(
            "With webhook_delivery eventbridge: the partner event source Shopify created for the app in this AWS "
            "account and region, arn:aws:events:<region>::event-source/aws.partner/shopify.com/<app id>/<name>"
        ),
    )
    page_limit: int = Field(
        default=250,
        ge=1,
        le=250,
        description="Most records per page; a page of orders is smaller when its requested query cost would pass "
        "Shopify's single-query limit (1000 points)",
    )
    max_webhook_delay_seconds: int = Field(
        default=3600, ge=0, description="Deliveries triggered longer ago are flagged stale (still enqueued)"
    )
    bulk_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="mlc backfill: how often a running bulk operation's status is read (1 point each)",
    )
    timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    token_refresh_margin_seconds: int = Field(default=300, ge=0, description="Refresh this long before expiry")
    refund_subtotals: Literal["as_order_prices", "tax_exclusive"] = Field(
        default="as_order_prices",
        description=(
            "What a refund's line and shipping subtotals hold: 'as_order_prices' = tax included when the order's "
            "taxes_included is true, as the order's prices are (no published Shopify example shows a tax-inclusive "
            "refund); 'tax_exclusive' = never tax included"
        ),
    )

    graphql_adjustment_amounts: Literal["order_perspective", "refund_perspective"] = Field(
        default="order_perspective",
        description=(
            "How the GraphQL Admin API signs a refund's orderAdjustments (refund discrepancies): 'order_perspective' "
            "= as the REST order_adjustments they are the same records of (negative = more money back than the "
            "items are worth); 'refund_perspective' = the opposite sign. No published GraphQL example shows one"
        ),
    )

    @field_validator("shop_domain")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        value = value.strip().lower()
        if value.startswith(("http://", "https://")) or "/" in value or not _DOMAIN.fullmatch(value):
            raise ValueError("shop_domain must be a bare host name such as acme.myshopify.com (no scheme or path)")
        return value

    @field_validator("base_url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("base_url must be an absolute http(s) URL without query or fragment")
        return value.strip().rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _valid_version(cls, value: str) -> str:
        if not _VERSION.fullmatch(value):
            raise ValueError("api_version must look like 2025-10 (a quarterly release) or 'unstable'")
        return value

    @field_validator("webhook_topics")
    @classmethod
    def _valid_topics(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in SUPPORTED_TOPICS]
        if unknown:
            raise ValueError(f"unsupported webhook topics {unknown}; supported: {', '.join(sorted(SUPPORTED_TOPICS))}")
        if len(set(value)) != len(value):
            raise ValueError("webhook_topics has duplicates")
        return value

    @field_validator("eventbridge_source_arn")
    @classmethod
    def _valid_source_arn(cls, value: str | None) -> str | None:
        if value is not None:
            event_source_name(value.strip())
            return value.strip()
        return value

    @field_validator("paid_financial_statuses")
    @classmethod
    def _valid_statuses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {"pending", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided"}
        unknown = [s for s in value if s not in known]
        if unknown:
            raise ValueError(f"unknown financial statuses {unknown}; known: {', '.join(sorted(known))}")
        return value

    @model_validator(mode="after")
    def _secret_for_rotation(self) -> ShopifySettings:
        if self.token_mode == "expiring" and not self.token_secret_name:  # noqa: S105
            raise ValueError("token_mode='expiring' needs token_secret_name: the rotated refresh token must be saved")
        if self.webhook_delivery == "eventbridge" and not self.eventbridge_source_arn:
            raise ValueError("webhook_delivery 'eventbridge' needs eventbridge_source_arn: the partner event source")
        if self.webhook_delivery == "https" and self.eventbridge_source_arn:
            raise ValueError("eventbridge_source_arn is set but webhook_delivery is 'https': set it to 'eventbridge'")
        return self

    def webhook_address(self, delivery_url: str) -> str:
        """Where the keeper subscribes the topics: the partner event source ARN, or the stack's webhook URL.

        Shopify takes either as a subscription's address (REST ``webhook.address``; GraphQL
        ``WebhookSubscriptionInput.uri`` from 2025-10): tests/contracts/shopify/eventbridge-subscription.json.
        """
        if self.webhook_delivery == "eventbridge" and self.eventbridge_source_arn:
            return self.eventbridge_source_arn
        return delivery_url

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url or 'https://' + self.shop_domain}/admin/api/{self.api_version}/graphql.json"

    @property
    def token_url(self) -> str:
        return f"{self.base_url or 'https://' + self.shop_domain}/admin/oauth/access_token"
