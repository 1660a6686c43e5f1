"""Shopify's Amazon EventBridge delivery, as the Shopify simulator does it, checked against Shopify's and AWS's
published material (tests/contracts/shopify/eventbridge-*.json).

A subscription's address may be a partner event source ARN of the app's own id; a delivery to it is the
partner event Shopify puts for that source: ``source`` the source's name, ``detail-type`` ``shopifyWebhook``,
``detail`` the resource as ``payload`` and the delivery's headers as ``metadata``. It never imports the adapter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from sandbox.contracts import contract_json
from sandbox.shopify_contract import ContractViolation

VENDOR = "shopify"
DETAIL_TYPE = "shopifyWebhook"


@cache
def _arn_pattern() -> re.Pattern[str]:
    """Shopify CLI's arnRegex as published (JavaScript named groups), for Python's ``re``."""
    return re.compile(contract_json(VENDOR, "eventbridge-arn.json")["pattern"].replace("(?<", "(?P<"))


def is_eventbridge_address(address: str) -> bool:
    return address.startswith("arn:aws:events:")


def address_problem(address: str, app_id: str) -> str:
    """Why Shopify refuses ``address`` as the EventBridge address of the app ``app_id`` ('' when it accepts it)."""
    match = _arn_pattern().fullmatch(address)
    if match is None:
        return "is invalid"
    if match.group("api_client_id") != app_id:
        return f"is an AWS ARN and includes api_client_id '{match.group('api_client_id')}' instead of '{app_id}'"
    return ""


@cache
def _documented() -> tuple[frozenset[str], dict[str, str]]:
    """The detail keys and the metadata header names (by lower case) Shopify's EventBridge deliveries show."""
    example = contract_json(VENDOR, "eventbridge-order-updated.json")["detail"]
    headers = contract_json(VENDOR, "webhook-headers.json")["webhooks"]
    names = [*example["metadata"], *headers["required"], *headers["optional"]]
    canonical: dict[str, str] = {}
    for name in names:
        canonical.setdefault(name.lower(), name)
    return frozenset(example), canonical


def partner_event(address: str, headers: Mapping[str, str], payload: Mapping[str, Any]) -> dict[str, Any]:
    """The partner event of one delivery to ``address``, checked against the published event."""
    detail_keys, canonical = _documented()
    metadata = {canonical.get(k.lower(), k): v for k, v in headers.items() if k.lower() != "user-agent"}
    undocumented = sorted(k for k in metadata if k.lower() not in canonical)
    detail = {"payload": dict(payload), "metadata": metadata}
    if undocumented or set(detail) != detail_keys:
        raise ContractViolation(f"the Shopify simulator's EventBridge event drifted: {undocumented or sorted(detail)}")
    return {"source": address.partition(":event-source/")[2], "detail-type": DETAIL_TYPE, "detail": detail}
