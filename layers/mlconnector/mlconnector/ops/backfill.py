"""Backfill: enqueue historical records from a date, resumable after an interruption.

Progress is checkpointed in the state table (``backfill#<connection>#<resource>``): after each
batch reaches the queue, the newest record timestamp enqueued so far becomes the resume point,
but only while records arrive in timestamp order (a store listing by id may not): otherwise the
resume point stays at the start, which re-enqueues more but never skips a record. Re-enqueued
records are harmless: the poster is idempotent on (connection, kind, id, version).

A store that reads a resource in bulk (``sources.bulk.BulkSource``: Shopify's bulk query operations)
is read that way: its operation is checkpointed as soon as it exists, and after each batch how far
into its result the enqueued records reach, so a rerun waits for the same operation or reads its
result on from there; only when the operation can no longer be read does a new one start, from the
newest timestamp enqueued. Records and envelopes are the same as a poll's (``envelope_for``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlconnector.aws.audit import AuditEvent
from mlconnector.aws.queue import enqueue
from mlconnector.envelope import Envelope, Origin
from mlconnector.pipeline.context import Connector
from mlconnector.pipeline.poller import BATCH, envelope_for
from mlconnector.sources.bulk import BulkPosition, BulkSource, BulkStatus


@dataclass(frozen=True)
class BackfillResult:
    connection: str
    resource: str
    since: datetime
    started_from: datetime
    records: int
    resumed: bool
    already_done: bool = False
    operation: str | None = None  # the bulk operation read, when the store read the resource in bulk


class Checkpoints:
    """Backfill progress items in the state table."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    def _key(self, connection: str, resource: str) -> dict[str, str]:
        return {"pk": f"backfill#{connection}#{resource}", "sk": "-"}

    def get(self, connection: str, resource: str) -> dict[str, Any] | None:
        return self.connector.state._table.get_item(Key=self._key(connection, resource)).get("Item")

    def put(
        self,
        connection: str,
        resource: str,
        since: datetime,
        value: datetime,
        records: int,
        done: bool,
        bulk: BulkPosition | None = None,
    ) -> None:
        item = {
            **self._key(connection, resource),
            "since": since.isoformat(),
            "value": value.isoformat(),
            "records": records,
            "done": done,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        if bulk is not None:
            item["bulk"] = bulk.to_item()
        self.connector.state._table.put_item(Item=item)

    def clear(self, connection: str, resource: str) -> None:
        self.connector.state._table.delete_item(Key=self._key(connection, resource))


def backfill(
    connector: Connector,
    connection_name: str,
    resource: str,
    since: datetime,
    *,
    restart: bool = False,
    progress: Callable[[int], None] | None = None,
    bulk_status: Callable[[BulkStatus], None] | None = None,
) -> BackfillResult:
    """Enqueue every record of ``resource`` changed since ``since`` (origin=backfill); the watermark is untouched.

    ``progress`` hears how many records each batch enqueued; ``bulk_status``, how a bulk operation is getting on.
    """
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    checkpoints = Checkpoints(connector)
    start, resumed, done_before = since, False, 0
    saved = None if restart else checkpoints.get(connection_name, resource)
    if saved and datetime.fromisoformat(saved["since"]) == since:
        if saved.get("done"):
            operation = (saved.get("bulk") or {}).get("operation")
            return BackfillResult(
                connection_name, resource, since, since, int(saved["records"]), False, True, operation
            )
        start, resumed, done_before = datetime.fromisoformat(saved["value"]), True, int(saved["records"])
    else:
        saved = None

    source = connector.source(connection_name)
    if isinstance(source, BulkSource) and resource in source.bulk_resources:
        position = BulkPosition.from_item(saved["bulk"]) if saved and saved.get("bulk") else None
        return _bulk(
            connector,
            source,
            connection_name,
            resource,
            (since, start, resumed),
            done_before,
            position,
            progress,
            bulk_status,
        )
    pending: list[tuple[Envelope, datetime]] = []
    total = done_before
    newest: datetime | None = None
    in_order = True
    checkpoint = start

    def flush() -> None:
        nonlocal checkpoint
        envelopes = [e for e, _ in pending]
        message_ids = enqueue(connector.env.queue_url, envelopes)
        connector.audit.record_many(
            (e, AuditEvent.ENQUEUED, {"message_id": m, "inline": e.payload is not None, "backfill_since": since})
            for e, m in zip(envelopes, message_ids, strict=True)
        )
        if in_order and newest is not None:
            checkpoint = max(checkpoint, newest)
        checkpoints.put(connection_name, resource, since, checkpoint, total, done=False)
        if progress:
            progress(len(pending))
        pending.clear()

    for record in source.changed_since(resource, start):
        if newest is not None and record.modified_at < newest:
            in_order = False
        newest = record.modified_at if newest is None or record.modified_at > newest else newest
        pending.append((envelope_for(connection_name, record, Origin.BACKFILL), record.modified_at))
        total += 1
        if len(pending) >= BATCH:
            flush()
    if pending:
        flush()
    checkpoints.put(connection_name, resource, since, newest or checkpoint, total, done=True)
    return BackfillResult(connection_name, resource, since, start, total - done_before, resumed)


def _bulk(
    connector: Connector,
    source: BulkSource,
    connection_name: str,
    resource: str,
    window: tuple[datetime, datetime, bool],
    done_before: int,
    resume: BulkPosition | None,
    progress: Callable[[int], None] | None,
    bulk_status: Callable[[BulkStatus], None] | None,
) -> BackfillResult:
    """The backfill of a resource the store reads in bulk: records arrive with their position, in change order as
    asked (a replacement operation starts from the newest timestamp enqueued only while they do, as a poll's would).
    ``window``: the backfill's since, where this run starts (the checkpoint's timestamp) and whether it resumes."""
    since, start, resumed = window
    checkpoints = Checkpoints(connector)
    pending: list[Envelope] = []
    total, newest, position = done_before, start, resume
    last: datetime | None = None
    in_order = True

    def resume_from() -> datetime:
        return newest if in_order else start

    def report(status: BulkStatus) -> None:
        nonlocal position
        fresh = position is None or position.operation != status.operation
        if fresh and status.status in ("CREATED", "RUNNING", "COMPLETED"):  # a new operation: resume with it
            position = BulkPosition(status.operation)
            checkpoints.put(connection_name, resource, since, resume_from(), total, done=False, bulk=position)
        if bulk_status:
            bulk_status(status)

    def flush() -> None:
        message_ids = enqueue(connector.env.queue_url, pending)
        connector.audit.record_many(
            (e, AuditEvent.ENQUEUED, {"message_id": m, "inline": e.payload is not None, "backfill_since": since})
            for e, m in zip(pending, message_ids, strict=True)
        )
        checkpoints.put(connection_name, resource, since, resume_from(), total, done=False, bulk=position)
        if progress:
            progress(len(pending))
        pending.clear()

    for item in source.read_in_bulk(resource, start, resume, report):
        pending.append(envelope_for(connection_name, item.record, Origin.BACKFILL))
        moment = item.record.modified_at
        in_order = in_order and (last is None or moment >= last)
        last, newest, position, total = moment, max(newest, moment), item.position, total + 1
        if len(pending) >= BATCH:
            flush()
    if pending:
        flush()
    checkpoints.put(connection_name, resource, since, resume_from(), total, done=True, bulk=position)
    operation = position.operation if position else None
    return BackfillResult(connection_name, resource, since, start, total - done_before, resumed, False, operation)
