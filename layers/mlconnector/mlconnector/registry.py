"""Which module implements each store and ERP type named in a profile.

Adding a store or an ERP is a new module plus one line here; the pipeline never changes.
Modules are imported only when a profile uses them, so a handler's cold start loads only
the adapters its connections need.
"""

from __future__ import annotations

import importlib
from typing import Any

# type → (settings class, adapter class[, webhooks class]), each as "module:name". The profile loads only
# the settings classes, so validating a profile never imports an adapter's HTTP or SOAP client; the
# webhook receiver loads only the webhooks class (standard library only).
STORES: dict[str, tuple[str, ...]] = {
    "woocommerce": (
        "mlconnector.sources.woocommerce.settings:WooCommerceSettings",
        "mlconnector.sources.woocommerce.source:WooCommerceSource",
        "mlconnector.sources.woocommerce.webhooks:WooCommerceWebhooks",
    ),
    "bigcommerce": (
        "mlconnector.sources.bigcommerce.settings:BigCommerceSettings",
        "mlconnector.sources.bigcommerce.source:BigCommerceSource",
        "mlconnector.sources.bigcommerce.webhooks:BigCommerceWebhooks",
    ),
    "shopify": (
        "mlconnector.sources.shopify.settings:ShopifySettings",
        "mlconnector.sources.shopify.source:ShopifySource",
        "mlconnector.sources.shopify.webhooks:ShopifyWebhooks",
    ),
}
ERPS: dict[str, tuple[str, ...]] = {
    "peoplesoft": (
        "mlconnector.targets.peoplesoft.settings:PeopleSoftSettings",
        "mlconnector.targets.peoplesoft.target:PeopleSoftTarget",
    ),
    "jdedwards": (
        "mlconnector.targets.jdedwards.settings:JdeSettings",
        "mlconnector.targets.jdedwards.target:JdeTarget",
    ),
    "fusion": ("mlconnector.targets.fusion.settings:FusionSettings", "mlconnector.targets.fusion.target:FusionTarget"),
}


def _load(table: dict[str, tuple[str, ...]], type_name: str, index: int) -> Any:
    try:
        module_name, _, name = table[type_name][index].partition(":")
    except KeyError:
        raise ValueError(f"unknown type {type_name!r}; known: {', '.join(sorted(table))}") from None
    return getattr(importlib.import_module(module_name), name)


def store_settings_class(type_name: str) -> type:
    return _load(STORES, type_name, 0)


def store_class(type_name: str) -> type:
    return _load(STORES, type_name, 1)


def store_webhooks_class(type_name: str) -> type:
    return _load(STORES, type_name, 2)


def erp_settings_class(type_name: str) -> type:
    return _load(ERPS, type_name, 0)


def erp_class(type_name: str) -> type:
    return _load(ERPS, type_name, 1)
