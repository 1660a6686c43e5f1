"""Webhook receiver logic: verify on the raw bytes, enqueue, answer. Nothing else happens here."""

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
    message_ids = enqueue(connector.env.queue_url, envelopes) if envelopes else []
    connector.audit.record_many(
        entry
        for envelope, message_id in zip(envelopes, message_ids, strict=True)
        for entry in (
            (envelope, AuditEvent.RECEIVED, {"topic": envelope.topic, "delivery_id": envelope.delivery_id}),
            (envelope, AuditEvent.ENQUEUED, {"message_id": message_id, "inline": envelope.payload is not None}),
        )
    )
    count("WebhooksReceived", connection_name)
    count("Enqueued", connection_name, len(envelopes))
    logger.info("webhook enqueued", extra={"connection": connection_name, "records": len(envelopes)})
    return Answer(200, {"enqueued": len(envelopes)})
