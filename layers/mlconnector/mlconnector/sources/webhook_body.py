"""Reading what a store signed: its JSON however absurd, and record ids as stores make them (standard library only).

A valid signature says who sent a body, not that the body makes sense: a store (or whoever holds its secret)
may sign JSON nested deeper than the parser goes, or ids that are no ids. Such a delivery is refused with 400,
never answered with a 5xx.
"""

from __future__ import annotations

import json
from typing import Any

from mlconnector.sources.base import WebhookRejected

#: Record ids are 64-bit at every store (WooCommerce's unsigned bigint, Shopify's and BigCommerce's ids).
MAX_ID_DIGITS = 20


def json_body(body: bytes | str) -> Any:
    """The body's JSON; ``WebhookRejected(400)`` for anything the parser cannot read, nesting too deep included."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRejected(400, "body is not JSON") from None


def store_id(value: Any) -> str | None:
    """A record id as text: a non-negative integer, or a string of ASCII digits (at most 20); None otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value) if 0 <= value < 10**MAX_ID_DIGITS else ""
    elif isinstance(value, str):
        text = value
    else:
        return None
    return text if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS else None
