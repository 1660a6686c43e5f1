"""Webhook receiver logic: verify on the raw bytes, enqueue, answer. Nothing else happens here.

The two AWS calls of an authentic delivery run side by side: the audit entry ``received`` is
written while the envelopes go onto the queue, and the answer waits for both. If either fails the
store gets a 503 and delivers again; a ``received`` without an outcome then means exactly that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlconnector.aws.audit import AuditEvent
from mlconnector.aws.queue import enqueue
from mlconnector.errors import ProfileError
from mlconnector.observability import count, logger
from mlconnector.pipeline.context import Connector
from mlconnector.sources.base import WebhookRejected

MAX_BODY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict


def receive_webhook(connector: Connector, connection_name: str, headers: Mapping[str, str], body: bytes) -> Answer:
    """Turn one delivery into queued envelopes. Only the status and a short message go back to the store."""
    try:
        connection = connector.connection(connection_name)
    except KeyError:
        return Answer(404, {"message": "unknown connection"})
    if not connection.enabled:
        return Answer(404, {"message": "unknown connection"})
    if len(body) > MAX_BODY_BYTES:
        count("WebhookRejected", connection_name)
        return Answer(413, {"message": "body too large"})
    try:
        source = connector.source(connection_name)
    except ProfileError as exc:
        logger.error("store adapter unavailable", extra={"connection": connection_name, "reason": str(exc)})
        return Answer(503, {"message": "connection not ready"})
    try:
        outcome = source.parse_webhook(headers, body)
    except WebhookRejected as exc:
        count("SignatureFailures" if exc.status == 401 else "WebhookRejected", connection_name)
        logger.warning(
            "webhook rejected", extra={"connection": connection_name, "status": exc.status, "reason": exc.reason}
        )
        return Answer(exc.status, {"message": "unauthorized" if exc.status == 401 else "bad request"})
    if outcome.ping:
        logger.info("webhook ping answered", extra={"connection": connection_name})
        return Answer(200, {"message": "pong"})

    envelopes = list(outcome.envelopes)
    received = [
        (e, AuditEvent.RECEIVED, {"topic": e.topic, "delivery_id": e.delivery_id, "inline": e.payload is not None})
        for e in envelopes
    ]
    audit_written = connector.background.submit(connector.audit.record_many, received)
    try:
        if envelopes:
            enqueue(connector.env.queue_url, envelopes)
    finally:
        audit_written.result()  # never return (and be frozen) with the write in flight
    count("WebhooksReceived", connection_name)
    count("Enqueued", connection_name, len(envelopes))
    logger.info("webhook enqueued", extra={"connection": connection_name, "records": len(envelopes)})
    return Answer(200, {"enqueued": len(envelopes)})
