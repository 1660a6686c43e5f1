"""The audit trail: one item per state change of a record, never updated, never holding personal data.

Keys: ``pk`` = record key (connection|kind|object id), ``sk`` = ISO time + a sequence suffix so
items sort in the order they happened. The ``by_day`` index (``day`` = connection#YYYY-MM-DD)
serves reconciliation and reports by date.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from boto3.dynamodb.conditions import Key

from mlconnector.aws.clients import table
from mlconnector.envelope import Envelope


class AuditEvent(StrEnum):
    RECEIVED = "received"
    ENQUEUED = "enqueued"
    PROCESSING = "processing"
    CUSTOMER_UPSERTED = "customer_upserted"
    POSTED = "posted"
    ALREADY_POSTED = "already_posted"
    DUPLICATE = "duplicate_suppressed"
    DEFERRED = "deferred"
    SKIPPED = "skipped"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"
    DEAD_LETTERED = "dead_lettered"
    REPLAYED = "replayed"
    WEBHOOK_KEEPER = "webhook_keeper"
    RECONCILED = "reconciled"


@dataclass(frozen=True)
class AuditItem:
    record_key: str
    at: str
    event: str
    origin: str
    version: str
    detail: dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


def _clean(detail: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB refuses empty strings in indexes and floats anywhere: keep strings, ints, lists, maps."""
    out: dict[str, Any] = {}
    for key, value in detail.items():
        if value is None or value == "":
            continue
        if isinstance(value, dict):
            out[key] = _clean(value)
        elif isinstance(value, (list, tuple)):
            out[key] = [str(v) for v in value]
        elif isinstance(value, (bool, int)):
            out[key] = value
        else:
            out[key] = str(value)
    return out


class AuditTrail:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def item(self, envelope: Envelope, event: AuditEvent, detail: dict[str, Any]) -> dict[str, Any]:
        """The audit item for ``event`` happening now, ready to be put."""
        at = _now()
        stamp = at.isoformat(timespec="microseconds")
        return {
            "pk": envelope.record_key,
            "sk": f"{stamp}#{uuid.uuid4().hex[:8]}",
            "day": f"{envelope.connection}#{at.date().isoformat()}",
            "connection": envelope.connection,
            "kind": str(envelope.kind),
            "object_id": envelope.object_id,
            "version": envelope.version,
            "origin": str(envelope.origin),
            "event": str(event),
            "at": stamp,
            "detail": _clean(detail),
        }

    def record(self, envelope: Envelope, event: AuditEvent, **detail: Any) -> None:
        table(self.table_name).put_item(Item=self.item(envelope, event, detail))

    def record_raw(self, record_key: str, event: AuditEvent, **detail: Any) -> None:
        """An entry for something that is not a readable envelope (a poison message)."""
        at = _now()
        stamp = at.isoformat(timespec="microseconds")
        connection = record_key.split("|", 1)[0]
        table(self.table_name).put_item(
            Item={
                "pk": record_key,
                "sk": f"{stamp}#{uuid.uuid4().hex[:8]}",
                "day": f"{connection}#{at.date().isoformat()}",
                "connection": connection,
                "event": str(event),
                "at": stamp,
                "detail": _clean(detail),
            }
        )

    def record_many(self, entries: Iterable[tuple[Envelope, AuditEvent, dict[str, Any]]]) -> None:
        with table(self.table_name).batch_writer() as batch:
            for envelope, event, detail in entries:
                batch.put_item(Item=self.item(envelope, event, detail))

    def history(self, record_key: str) -> list[AuditItem]:
        items = _query_all(table(self.table_name), KeyConditionExpression=Key("pk").eq(record_key))
        return [_to_item(i) for i in items]

    def by_day(self, connection: str, day: str) -> Iterator[dict[str, Any]]:
        return iter(
            _query_all(
                table(self.table_name),
                IndexName="by_day",
                KeyConditionExpression=Key("day").eq(f"{connection}#{day}"),
            )
        )


def _to_item(raw: dict[str, Any]) -> AuditItem:
    return AuditItem(
        record_key=raw["pk"],
        at=raw["at"],
        event=raw["event"],
        origin=raw.get("origin", ""),
        version=raw.get("version", ""),
        detail=raw.get("detail", {}),
    )


def _query_all(tbl: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = tbl.query(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
