"""WooCommerce (REST ``wc/v3``) store adapter."""

from mlconnector.sources.woocommerce.client import WooCommerceAuthError, WooCommerceClient, WooCommerceError
from mlconnector.sources.woocommerce.mapping import to_customer, to_order, to_refund, version_of
from mlconnector.sources.woocommerce.settings import WooCommerceSettings
from mlconnector.sources.woocommerce.signature import (
    verify_webhook_signature,
    webhook_signature,
    wp_specialchars_decode,
)
from mlconnector.sources.woocommerce.source import WooCommerceSource

TYPE = "woocommerce"

__all__ = [
    "TYPE",
    "WooCommerceAuthError",
    "WooCommerceClient",
    "WooCommerceError",
    "WooCommerceSettings",
    "WooCommerceSource",
    "to_customer",
    "to_order",
    "to_refund",
    "verify_webhook_signature",
    "version_of",
    "webhook_signature",
    "wp_specialchars_decode",
]
