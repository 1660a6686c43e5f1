"""Shopify (Admin REST) store adapter."""

from mlconnector.sources.shopify.client import (
    LeakyBucket,
    ShopifyAuthError,
    ShopifyClient,
    ShopifyError,
    TokenManager,
    next_page_info,
)
from mlconnector.sources.shopify.mapping import (
    to_customer,
    to_order,
    to_refund,
    validate_refund_against_order,
    version_of,
)
from mlconnector.sources.shopify.settings import ShopifySettings
from mlconnector.sources.shopify.source import ShopifySource, verify_webhook_hmac, webhook_hmac

TYPE = "shopify"

__all__ = [
    "TYPE",
    "LeakyBucket",
    "ShopifyAuthError",
    "ShopifyClient",
    "ShopifyError",
    "ShopifySettings",
    "ShopifySource",
    "TokenManager",
    "next_page_info",
    "to_customer",
    "to_order",
    "to_refund",
    "validate_refund_against_order",
    "verify_webhook_hmac",
    "version_of",
    "webhook_hmac",
]
