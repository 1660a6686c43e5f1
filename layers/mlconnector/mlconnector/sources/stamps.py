"""When a store last changed a record: the first of its timestamp fields that is set (standard library only)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from mlconnector.errors import ReviewError


def first_stamp(
    record: Mapping[str, Any], fields: tuple[str, ...], parse: Callable[[Any], datetime | None], what: str
) -> datetime:
    """``fields`` in order of preference, each read with the store's ``parse``; a record with none is for review."""
    for name in fields:
        moment = parse(record.get(name))
        if moment is not None:
            return moment
    raise ReviewError(f"{what} {record.get('id')} has none of {', '.join(fields)}")
