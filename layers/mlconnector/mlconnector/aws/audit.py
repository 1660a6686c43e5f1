"""The audit trail: every state change of a record, never updated, never holding personal data.

Keys: ``pk`` = record key (connection|kind|object id), ``sk`` = ISO time + a random suffix, so a
record's items sort in the order they happened. Two shapes:

* an *event item* holds one event (``event``, ``at``, ``detail``): what the receiver, the poller,
  replays, the keeper and the reconciler say, and a delivery the poster suppresses or defers;
* an *outcome item* holds one poster attempt: ``events``, the attempt's events in order (processing,
  customers upserted, documents posted or found, skipped, review, failure, dead-lettering), each with
  its own ``at`` and ``detail``. One write instead of one per event.

Only outcome items with an event reconciliation reads (a document posted, a failure, a review)
carry ``day`` (connection#YYYY-MM-DD of the attempt's end), so only they are in the ``by_day``
index: a DynamoDB index costs a write for every item it holds. ``entries`` turns either shape into
one entry per event.
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
    POLLED = "polled"
    RECONCILED = "reconciled"


#: The events reconciliation reads from the ``by_day`` index (``ops.reconcile``): an outcome item with one is in it.
DAY_INDEXED = frozenset({AuditEvent.POSTED, AuditEvent.FAILED, AuditEvent.NEEDS_REVIEW, AuditEvent.DEAD_LETTERED})

#: Attributes every entry has beside its event: derived from ``pk`` when an item does not store them.
_KEY_PARTS = ("connection", "kind", "object_id")


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
        """The event item for ``event`` happening now, ready to be put."""
        stamp = _stamp(_now())
        return {
            "pk": envelope.record_key,
            "sk": f"{stamp}#{uuid.uuid4().hex[:8]}",
            "version": envelope.version,
            "origin": str(envelope.origin),
            "event": str(event),
            "at": stamp,
            "detail": _clean(detail),
        }

    def outcome_item(self, envelope: Envelope, events: list[dict[str, Any]]) -> dict[str, Any]:
        """One attempt's events (``outcome_event`` each, in order) as one item; in the ``by_day`` index if one of
        them is ``DAY_INDEXED``."""
        first, last = events[0]["at"], events[-1]["at"]
        item = {
            "pk": envelope.record_key,
            "sk": f"{first}#{uuid.uuid4().hex[:8]}",
            "version": envelope.version,
            "origin": str(envelope.origin),
            "events": events,
        }
        if any(e["event"] in DAY_INDEXED for e in events):
            item["day"] = f"{envelope.connection}#{last[:10]}"
        return item

    def record(self, envelope: Envelope, event: AuditEvent, **detail: Any) -> None:
        table(self.table_name).put_item(Item=self.item(envelope, event, detail))

    def record_raw(self, record_key: str, event: AuditEvent, **detail: Any) -> None:
        """An entry for something that is not a readable envelope (a poison message, a reconciliation, a poll run)."""
        stamp = _stamp(_now())
        table(self.table_name).put_item(
            Item={
                "pk": record_key,
                "sk": f"{stamp}#{uuid.uuid4().hex[:8]}",
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
        """Every event of the record, in the order it happened."""
        items = _query_all(table(self.table_name), KeyConditionExpression=Key("pk").eq(record_key))
        return [_to_item(e) for e in sorted((e for i in items for e in entries(i)), key=lambda e: e["sk"])]

    def by_day(self, connection: str, day: str) -> Iterator[dict[str, Any]]:
        """The entries of the poster's attempts that ended on ``day`` (and of event items from before outcome
        items, which carried ``day`` each)."""
        items = _query_all(
            table(self.table_name),
            IndexName="by_day",
            KeyConditionExpression=Key("day").eq(f"{connection}#{day}"),
        )
        return (entry for item in items for entry in entries(item))


def outcome_event(event: AuditEvent, detail: dict[str, Any]) -> dict[str, Any]:
    """One event of an outcome item, stamped now."""
    cleaned = _clean(detail)
    return {"event": str(event), "at": _stamp(_now()), **({"detail": cleaned} if cleaned else {})}


def entries(item: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per event an item holds (``pk``, ``sk``, ``connection``, ``kind``, ``object_id``, ``version``,
    ``origin``, ``event``, ``at``, ``detail``); an entry's ``sk`` sorts it among the record's others."""
    parts = dict(zip(_KEY_PARTS, str(item["pk"]).split("|", 2), strict=False))
    base = {**parts, **{k: v for k, v in item.items() if k not in ("events", "day")}}
    if "events" not in item:
        return [{**base, "detail": item.get("detail", {})}]
    suffix = str(item["sk"]).rsplit("#", 1)[-1]
    return [
        {**base, "sk": f"{e['at']}#{suffix}{n:02d}", "event": e["event"], "at": e["at"], "detail": e.get("detail", {})}
        for n, e in enumerate(item["events"])
    ]


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


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
