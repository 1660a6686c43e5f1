"""Moving a dead-letter queue back to its queue (the ingest queue; the Shopify events queue).

On AWS this is SQS ``StartMessageMoveTask``. Where that API is missing (the local runtime's
embedded SQS) or when asked to, the same move is done message by message: receive from the
DLQ, send to the ingest queue, then delete from the DLQ, so a crash in between duplicates a
message (harmless: the poster is idempotent) but never loses one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from mlconnector.envelope import Envelope

#: Error codes meaning "this SQS does not offer message move tasks".
UNSUPPORTED_CODES = frozenset(
    {
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "InvalidAction",
        "NotImplemented",
        "NotImplementedError",
        "InternalFailure",
    }
)
RECEIVE_VISIBILITY_SECONDS = 60


@dataclass(frozen=True)
class DlqMessage:
    message_id: str
    record_key: str
    receive_count: int


@dataclass
class RedriveResult:
    method: str  # "move-task", "copy" or "dry-run"
    moved: int = 0
    listed: list[DlqMessage] = field(default_factory=list)
    task_handle: str = ""
    failed: int = 0


def record_key_of(body: str) -> str:
    """The record key of a queued envelope, or a label for a body that is not one."""
    try:
        return Envelope.from_json(body).record_key
    except ValidationError:
        try:
            data = json.loads(body)
        except ValueError:
            return "(not an envelope)"
        if isinstance(data, dict) and {"connection", "kind", "object_id"} <= data.keys():
            return f"{data['connection']}|{data['kind']}|{data['object_id']}"
        if isinstance(data, dict) and isinstance(data.get("detail"), dict):
            return _event_label(data)
        return "(not an envelope)"


def _event_label(event: dict[str, Any]) -> str:
    """An EventBridge event holding a webhook: its topic and the resource's id (``orders/paid 820982911946154508``)."""
    detail = event["detail"]
    metadata = detail.get("metadata") if isinstance(detail.get("metadata"), dict) else {}
    topic = next((str(v) for k, v in metadata.items() if k.lower() == "x-shopify-topic"), event.get("detail-type", "?"))
    payload = detail.get("payload") if isinstance(detail.get("payload"), dict) else {}
    return f"{topic} {payload.get('id', '?')}"


def queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def depth(sqs: Any, url: str) -> int:
    """Messages visible plus in flight."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def list_dlq(sqs: Any, dlq_url: str, limit: int = 10_000) -> list[DlqMessage]:
    """What the DLQ holds, without removing anything (each message becomes visible again at once)."""
    seen: dict[str, DlqMessage] = {}
    handles: list[str] = []
    try:
        while len(seen) < limit:
            messages = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
                WaitTimeSeconds=0,
                AttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
            if not messages:
                break
            for m in messages:
                handles.append(m["ReceiptHandle"])
                count = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "0"))
                seen.setdefault(m["MessageId"], DlqMessage(m["MessageId"], record_key_of(m["Body"]), count))
    finally:
        for start in range(0, len(handles), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for i, h in enumerate(handles[start : start + 10])
                ],
            )
    return list(seen.values())


def copy_messages(
    sqs: Any, dlq_url: str, source_url: str, progress: Callable[[int], None] | None = None
) -> RedriveResult:
    """Receive from the DLQ, send to the source queue, delete from the DLQ; until the DLQ is empty."""
    result = RedriveResult("copy")
    while True:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return result
        entries = []
        for i, m in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": m["Body"]}
            if m.get("MessageAttributes"):
                entry["MessageAttributes"] = m["MessageAttributes"]
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=source_url, Entries=entries)
        ok = {int(s["Id"]) for s in sent.get("Successful", [])}
        result.failed += len(messages) - len(ok)
        done = [messages[i] for i in sorted(ok)]
        if done:
            sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        result.moved += len(done)
        if progress:
            progress(len(done))
        if result.failed and not done:
            return result  # the source queue refuses everything: stop rather than spin


def start_move_task(sqs: Any, dlq_url: str, source_url: str, max_per_second: int | None = None) -> str:
    """Start an SQS message move task; raises ``MoveTaskUnsupported`` where SQS lacks the API."""
    from botocore.exceptions import ClientError

    kwargs: dict[str, Any] = {"SourceArn": queue_arn(sqs, dlq_url), "DestinationArn": queue_arn(sqs, source_url)}
    if max_per_second:
        kwargs["MaxNumberOfMessagesPerSecond"] = max_per_second
    try:
        return sqs.start_message_move_task(**kwargs)["TaskHandle"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")).lower()
        # An emulator without the action answers an HTML 500 page (moto) or names it not implemented.
        if code in UNSUPPORTED_CODES or "implement" in message or (code == "500" and "<html" in message):
            raise MoveTaskUnsupported(code or "unsupported") from None
        raise
    except (NotImplementedError, AttributeError) as exc:
        raise MoveTaskUnsupported(type(exc).__name__) from None


class MoveTaskUnsupported(Exception):
    """This SQS endpoint does not offer StartMessageMoveTask."""


def redrive(
    sqs: Any,
    dlq_url: str,
    source_url: str,
    *,
    dry_run: bool = False,
    local: bool = False,
    max_per_second: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> RedriveResult:
    """Move every DLQ message back to ``source_url``; ``dry_run`` lists what would move."""
    if dry_run:
        listed = list_dlq(sqs, dlq_url)
        return RedriveResult("dry-run", listed=listed)
    if not local:
        try:
            handle = start_move_task(sqs, dlq_url, source_url, max_per_second)
        except MoveTaskUnsupported:
            pass
        else:
            return RedriveResult("move-task", moved=depth(sqs, dlq_url), task_handle=handle)
    return copy_messages(sqs, dlq_url, source_url, progress)
