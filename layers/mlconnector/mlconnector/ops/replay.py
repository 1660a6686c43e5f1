"""Replaying records from the state table and the audit trail.

A replayed envelope carries ``origin=replay`` and a version suffixed ``#replay-<time>``, so the
poster's idempotency record (keyed on the version) does not suppress it; exactly-once still
holds because the poster asks the state table and the ERP for the document's reference before
creating anything: replaying a posted order posts nothing new.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.conditions import Key

from mlconnector.aws.audit import AuditEvent
from mlconnector.aws.clients import table
from mlconnector.aws.queue import enqueue
from mlconnector.aws.state import RecordStatus
from mlconnector.envelope import Envelope, Origin, RecordKind
from mlconnector.pipeline.context import Connector

STATUSES = (
    RecordStatus.POSTED,
    RecordStatus.FAILED,
    RecordStatus.NEEDS_REVIEW,
    RecordStatus.SKIPPED,
    RecordStatus.DEAD_LETTERED,
)


@dataclass(frozen=True)
class Replayed:
    record_key: str
    previous_status: str
    version: str
    message_id: str = ""


def replay_version(version: str, at: datetime | None = None) -> str:
    """The original version plus a replay stamp (a replay of a replay keeps only the newest stamp)."""
    stamp = (at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{version.split('#replay-', 1)[0]}#replay-{stamp}"


def _from_status(item: dict[str, Any]) -> Envelope:
    return Envelope.from_json(item["envelope"])


def _from_audit(connector: Connector, record_key: str) -> Envelope | None:
    """The newest envelope the audit trail knows for a record with no status item yet."""
    history = [h for h in connector.audit.history(record_key) if h.version]
    if not history:
        return None
    connection, kind, object_id = record_key.split("|", 2)
    newest = history[-1]
    return Envelope(
        connection=connection,
        kind=RecordKind(kind),
        object_id=object_id,
        version=newest.version,
        origin=Origin(newest.origin) if newest.origin in set(Origin) else Origin.REPLAY,
        topic=str(newest.detail.get("topic", "")),
    )


def select_by_key(connector: Connector, record_key: str) -> list[tuple[Envelope, str]]:
    """(envelope, previous status) for one record, from its status item or else its audit trail."""
    item = connector.state.status(record_key)
    if item:
        return [(_from_status(item), str(item.get("status", "")))]
    envelope = _from_audit(connector, record_key)
    return [(envelope, "unprocessed")] if envelope else []


def select_by_status(connector: Connector, connection: str, status: str) -> list[tuple[Envelope, str]]:
    return [(_from_status(i), status) for i in connector.state.records_with_status(connection, status)]


def select_by_time(
    connector: Connector,
    connection: str,
    since: datetime,
    until: datetime,
    statuses: Iterable[str] = STATUSES,
) -> list[tuple[Envelope, str]]:
    """Records whose status changed in [since, until] (the state table's by_status index)."""
    out: list[tuple[Envelope, str]] = []
    tbl = table(connector.state.table_name)
    for status in statuses:
        kwargs: dict[str, Any] = {
            "IndexName": "by_status",
            "KeyConditionExpression": Key("status_key").eq(f"{connection}#{status}")
            & Key("updated_at").between(since.isoformat(), until.isoformat()),
        }
        while True:
            page = tbl.query(**kwargs)
            out.extend((_from_status(i), status) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return out


def replay(
    connector: Connector, selected: Iterable[tuple[Envelope, str]], *, dry_run: bool = False, reason: str = ""
) -> list[Replayed]:
    """Enqueue each selected record again as a replay and write a ``replayed`` audit event."""
    at = datetime.now(UTC)
    chosen: dict[str, tuple[Envelope, str]] = {}
    for envelope, status in selected:
        chosen.setdefault(envelope.record_key, (envelope, status))
    envelopes = [
        envelope.replace(origin=Origin.REPLAY, version=replay_version(envelope.version, at), payload=None)
        for envelope, _ in chosen.values()
    ]
    if dry_run or not envelopes:
        return [Replayed(e.record_key, s, n.version) for (e, s), n in zip(chosen.values(), envelopes, strict=True)]
    message_ids = enqueue(connector.env.queue_url, envelopes)
    connector.audit.record_many(
        (
            new,
            AuditEvent.REPLAYED,
            {"message_id": mid, "replay_of": old.version, "previous_status": status, "reason": reason},
        )
        for (old, status), new, mid in zip(chosen.values(), envelopes, message_ids, strict=True)
    )
    return [
        Replayed(old.record_key, status, new.version, mid)
        for (old, status), new, mid in zip(chosen.values(), envelopes, message_ids, strict=True)
    ]
