"""Poller logic: what changed since the watermark (minus an overlap) goes on the queue.

The watermark moves to the newest *record* timestamp seen, never to the run time, and only
after every enqueue succeeded: a failed run leaves it where it was and the next run re-reads.
Re-reading is harmless because the poster is idempotent on (connection, kind, id, version); a
version the poster has already finished (posted, skipped or in review, per the state table) is not
enqueued again: the first poll that sees it finished records it as a suppressed duplicate, as the
poster would have, and the overlap window's later re-readings of it (about overlap / poll interval
of them) record nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mlconnector.aws.audit import AuditEvent
from mlconnector.aws.queue import enqueue
from mlconnector.envelope import MAX_INLINE_PAYLOAD_BYTES, Envelope, Origin
from mlconnector.observability import count, logger
from mlconnector.pipeline.context import Connector
from mlconnector.sources.base import ChangedRecord

BATCH = 100


@dataclass(frozen=True)
class PollResult:
    connection: str
    resource: str
    since: datetime
    records: int
    watermark: datetime | None


def envelope_for(connection: str, record: ChangedRecord, origin: Origin) -> Envelope:
    envelope = Envelope(
        connection=connection,
        kind=record.kind,
        object_id=record.object_id,
        version=record.version or record.modified_at.isoformat(),
        origin=origin,
        topic=f"poll.{record.kind}",
        payload=record.payload,
    )
    if len(envelope.to_json()) > MAX_INLINE_PAYLOAD_BYTES:
        envelope = envelope.replace(payload=None)
    return envelope


def poll(
    connector: Connector,
    connection_name: str,
    resource: str,
    *,
    since: datetime | None = None,
    origin: Origin = Origin.POLLER,
    advance: bool = True,
) -> PollResult:
    """Enqueue every record of ``resource`` changed since the watermark minus the overlap window."""
    connection = connector.connection(connection_name)
    source = connector.source(connection_name)
    if since is None:
        watermark = connector.state.watermark(connection_name, resource)
        overlap = timedelta(seconds=connection.polling.overlap_seconds)
        since = watermark - overlap if watermark else connection.polling.backfill_from

    newest: datetime | None = None
    total = enqueued = 0
    pending: list[Envelope] = []

    def flush() -> None:
        nonlocal enqueued
        finished = connector.state.finished(pending)
        fresh = [e for e in pending if e.record_key not in finished]
        message_ids = enqueue(connector.env.queue_url, fresh)
        connector.audit.record_many(
            (e, AuditEvent.ENQUEUED, {"message_id": m, "inline": e.payload is not None})
            for e, m in zip(fresh, message_ids, strict=True)
        )
        enqueued += len(fresh)
        pending.clear()

    for record in source.changed_since(resource, since):
        pending.append(envelope_for(connection_name, record, origin))
        newest = record.modified_at if newest is None or record.modified_at > newest else newest
        total += 1
        if len(pending) >= BATCH:
            flush()
    if pending:
        flush()

    if advance and newest is not None:
        connector.state.advance_watermark(connection_name, resource, newest)
    # One entry per run: what it read and how much of it was already finished. A record's own story has the
    # poll's enqueue when the poll brought it; a version the poster had finished gets no entry of its own.
    connector.audit.record_raw(
        f"{connection_name}|poll|{resource}",
        AuditEvent.POLLED,
        origin=str(origin),
        since=since.isoformat(),
        newest=newest.isoformat() if newest else None,
        records=total,
        enqueued=enqueued,
        already_finished=total - enqueued,
    )
    count("PolledRecords", connection_name, total)
    logger.info(
        "poll finished",
        extra={"connection": connection_name, "resource": resource, "since": since.isoformat(), "records": total},
    )
    return PollResult(connection_name, resource, since, total, newest)
