"""Which module implements each store and ERP type named in a profile.

Adding a store or an ERP is a new module plus one line here; the pipeline never changes.
Modules are imported only when a profile uses them, so a handler's cold start loads only
the adapters its connections need.
"""

from __future__ import annotations

import importlib
from typing import Any

# type → (module, settings class, adapter class)
STORES: dict[str, tuple[str, str, str]] = {
    "woocommerce": ("mlconnector.sources.woocommerce", "WooCommerceSettings", "WooCommerceSource"),
    "bigcommerce": ("mlconnector.sources.bigcommerce", "BigCommerceSettings", "BigCommerceSource"),
    "shopify": ("mlconnector.sources.shopify", "ShopifySettings", "ShopifySource"),
}
ERPS: dict[str, tuple[str, str, str]] = {
    "peoplesoft": ("mlconnector.targets.peoplesoft", "PeopleSoftSettings", "PeopleSoftTarget"),
    "jdedwards": ("mlconnector.targets.jdedwards", "JdeSettings", "JdeTarget"),
    "fusion": ("mlconnector.targets.fusion", "FusionSettings", "FusionTarget"),
}


def _load(table: dict[str, tuple[str, str, str]], type_name: str, index: int) -> Any:
    try:
        module_name, *names = table[type_name]
    except KeyError:
        raise ValueError(f"unknown type {type_name!r}; known: {', '.join(sorted(table))}") from None
    return getattr(importlib.import_module(module_name), names[index])


def store_settings_class(type_name: str) -> type:
    return _load(STORES, type_name, 0)


def store_class(type_name: str) -> type:
    return _load(STORES, type_name, 1)


def erp_settings_class(type_name: str) -> type:
    return _load(ERPS, type_name, 0)


def erp_class(type_name: str) -> type:
    return _load(ERPS, type_name, 1)
