"""The full story of one record from the audit trail: received, enqueued, attempts, outcome, replays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlconnector.envelope import RecordKind
from mlconnector.pipeline.context import Connector

#: Detail fields worth a column, in the order they are shown.
SHOWN_DETAIL = (
    "reference",
    "erp_document_id",
    "erp_customer_id",
    "reason",
    "attempt",
    "max_attempts",
    "message_id",
    "topic",
    "source_total",
    "currency",
    "replay_of",
    "previous_status",
    "first_outcome",
)


@dataclass(frozen=True)
class StoryLine:
    at: str
    event: str
    origin: str
    version: str
    detail: str


@dataclass(frozen=True)
class Story:
    record_key: str
    lines: tuple[StoryLine, ...]
    status: str
    erp_documents: tuple[str, ...]


def record_keys(connector: Connector, record: str, connection: str | None, kind: str) -> list[str]:
    """``conn|kind|id`` as given, else that key for the named connection (or every connection)."""
    if record.count("|") == 2:
        return [record]
    RecordKind(kind)  # validates the kind
    names = [connection] if connection else [c.name for c in connector.profile.connections]
    return [f"{name}|{kind}|{record}" for name in names]


def _summary(detail: dict[str, Any]) -> str:
    parts = []
    for key in SHOWN_DETAIL:
        if key in detail:
            parts.append(f"{key}={detail[key]}")
    return "; ".join(parts)


def story(connector: Connector, record_key: str) -> Story:
    """Every audit event of the record in the order it happened, plus its current status."""
    lines = tuple(
        StoryLine(h.at, h.event, h.origin, h.version, _summary(h.detail)) for h in connector.audit.history(record_key)
    )
    item = connector.state.status(record_key) or {}
    documents = tuple(str(d) for d in item.get("documents", []) or [])
    return Story(record_key, lines, str(item.get("status", "")), documents)
