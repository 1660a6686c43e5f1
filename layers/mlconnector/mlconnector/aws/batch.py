"""DynamoDB batch calls that finish their work: unprocessed keys and items are retried with backoff.

``BatchWriteItem`` spans tables, so one record's audit entries, id bindings and status are
stored in one round trip instead of one ``PutItem`` each.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from mlconnector.aws.clients import resource
from mlconnector.errors import TransientError

MAX_WRITE_ITEMS = 25
MAX_GET_KEYS = 100
ATTEMPTS = 8


def _until_processed(operation: Callable[..., Any], request: Any, leftover: str) -> Iterator[Any]:
    """Send ``request``, then what the answer's ``leftover`` field hands back, with jittered backoff;
    yields every answer. DynamoDB returning the same work ``ATTEMPTS`` times is a transient failure."""
    for attempt in range(ATTEMPTS):
        response = operation(RequestItems=request)
        yield response
        request = response.get(leftover) or {}
        if not request:
            return
        time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random() / 2))
    raise TransientError(f"DynamoDB left {leftover} after {ATTEMPTS} attempts")


def batch_get(table_name: str, keys: Sequence[dict[str, Any]], *, consistent: bool = True) -> list[dict[str, Any]]:
    """Reads of ``keys`` from one table, strongly consistent unless ``consistent=False`` (half the read units);
    items that do not exist are simply absent."""
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), MAX_GET_KEYS):
        request = {table_name: {"Keys": list(keys[start : start + MAX_GET_KEYS]), "ConsistentRead": consistent}}
        for response in _until_processed(resource().batch_get_item, request, "UnprocessedKeys"):
            items.extend(response.get("Responses", {}).get(table_name, []))
    return items


def batch_put(items: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Put ``(table name, item)`` pairs, 25 per request across tables; a later item replaces an earlier
    one with the same key (one request may not touch a key twice)."""
    latest: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}
    for table_name, item in items:
        latest[(table_name, str(item["pk"]), str(item.get("sk", "")))] = (table_name, item)
    entries = list(latest.values())
    for start in range(0, len(entries), MAX_WRITE_ITEMS):
        request: dict[str, list[dict[str, Any]]] = {}
        for table_name, item in entries[start : start + MAX_WRITE_ITEMS]:
            request.setdefault(table_name, []).append({"PutRequest": {"Item": item}})
        for _ in _until_processed(resource().batch_write_item, request, "UnprocessedItems"):
            pass
