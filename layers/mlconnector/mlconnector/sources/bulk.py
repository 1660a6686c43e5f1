"""What a store that reads history in bulk (one export the store prepares, then streamed) offers the backfill.

A bulk read hands over each record with its ``BulkPosition``: the store's operation and how far into its result
the record ends, so an interrupted backfill resumes on the same result without preparing it again or handing over
what was already enqueued.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from mlconnector.sources.base import ChangedRecord


@dataclass(frozen=True)
class BulkPosition:
    """How far into a bulk operation's result the records handed over reach."""

    operation: str
    lines: int = 0  # result lines read up to the end of the last record handed over
    last: str | None = None  # that record's id in the store

    def to_item(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> BulkPosition:
        return cls(str(item["operation"]), int(item.get("lines") or 0), item.get("last"))


@dataclass(frozen=True)
class BulkStatus:
    """A bulk operation's progress as the store reports it (``total``: root records, once it is known)."""

    operation: str
    status: str
    objects: int = 0
    total: int | None = None
    note: str = ""


@dataclass(frozen=True)
class BulkRecord:
    record: ChangedRecord
    position: BulkPosition


@runtime_checkable
class BulkSource(Protocol):
    """A store source that reads some resources in bulk."""

    bulk_resources: tuple[str, ...]

    def read_in_bulk(
        self,
        resource: str,
        since: datetime,
        resume: BulkPosition | None,
        report: Callable[[BulkStatus], None],
    ) -> Iterator[BulkRecord]:
        """Every record of ``resource`` changed since ``since``, in change order, read through one bulk operation
        (``resume``'s, continuing after its position, while it can still be read; else a new one)."""
        ...
