"""BigCommerce (REST v2 + v3) store adapter."""

from mlconnector.sources.bigcommerce.client import BigCommerceAuthError, BigCommerceClient, BigCommerceError, RateGate
from mlconnector.sources.bigcommerce.mapping import to_customer, to_order, to_refund
from mlconnector.sources.bigcommerce.settings import BigCommerceSettings
from mlconnector.sources.bigcommerce.signature import SignatureError, sign, verify
from mlconnector.sources.bigcommerce.source import BigCommerceSource

TYPE = "bigcommerce"

__all__ = [
    "TYPE",
    "BigCommerceAuthError",
    "BigCommerceClient",
    "BigCommerceError",
    "BigCommerceSettings",
    "BigCommerceSource",
    "RateGate",
    "SignatureError",
    "sign",
    "to_customer",
    "to_order",
    "to_refund",
    "verify",
]
