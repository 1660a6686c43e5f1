"""Webhook receiver logic: verify on the raw bytes, enqueue, answer. Nothing else happens here.

The two AWS calls of an authentic delivery run side by side: the audit entry ``received`` is
written while the envelopes go onto the queue, and the answer waits for both. If either fails the
store gets a 503 and delivers again; a ``received`` without an outcome then means exactly that.

The receiver is the function a store waits on, so it loads as little as it can: the published
profile's webhook view, the store's webhooks module and the AWS data access, all of it standard
library and boto3 (no pydantic, canonical models or HTTP client).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

from mlconnector import registry
from mlconnector.aws.audit import AuditEvent, AuditTrail
from mlconnector.aws.queue import enqueue
from mlconnector.aws.secrets import BuiltFromCredentials, store_credentials
from mlconnector.environment import Environment
from mlconnector.errors import ProfileError
from mlconnector.observability import count, logger
from mlconnector.published_profile import WebhookConnection, current_webhook_connections
from mlconnector.sources.base import StoreWebhooks, WebhookRejected

MAX_BODY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict


class Receiver:
    """What one receiver container keeps: the connections' webhook view, their verifiers, the audit trail."""

    def __init__(self, environment: Environment | None = None) -> None:
        self.env = environment or Environment.from_env()
        self._connections: Mapping[str, WebhookConnection] | None = None
        self._webhooks = BuiltFromCredentials()

    def connection(self, name: str) -> WebhookConnection:
        if self._connections is None:
            self._connections = current_webhook_connections(self.env.profile_location or None)
        return self._connections[name]

    def webhooks(self, name: str) -> StoreWebhooks:
        """The store's webhook verifier, rebuilt when its credentials change."""
        conn = self.connection(name)
        credentials = store_credentials(conn.store_secret, conn.webhook_secret)
        return self._webhooks.get(
            name, credentials, lambda: registry.store_webhooks_class(conn.store_type)(name, conn.store, credentials)
        )

    @cached_property
    def background(self) -> ThreadPoolExecutor:
        """For the audit write that runs beside the enqueue (always awaited)."""
        return ThreadPoolExecutor(max_workers=2, thread_name_prefix="receiver")

    @cached_property
    def audit(self) -> AuditTrail:
        return AuditTrail(self.env.audit_table)


def receive_webhook(receiver: Receiver, connection_name: str, headers: Mapping[str, str], body: bytes) -> Answer:
    """Turn one delivery into queued envelopes. Only the status and a short message go back to the store."""
    try:
        connection = receiver.connection(connection_name)
    except KeyError:
        return Answer(404, {"message": "unknown connection"})
    if not connection.enabled:
        return Answer(404, {"message": "unknown connection"})
    if len(body) > MAX_BODY_BYTES:
        count("WebhookRejected", connection_name)
        return Answer(413, {"message": "body too large"})
    try:
        webhooks = receiver.webhooks(connection_name)
    except ProfileError as exc:
        logger.error("store webhooks unavailable", extra={"connection": connection_name, "reason": str(exc)})
        return Answer(503, {"message": "connection not ready"})
    try:
        outcome = webhooks.parse(headers, body)
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
    audit_written = receiver.background.submit(receiver.audit.record_many, received)
    try:
        if envelopes:
            enqueue(receiver.env.queue_url, envelopes)
    finally:
        audit_written.result()  # never return (and be frozen) with the write in flight
    count("WebhooksReceived", connection_name)
    count("Enqueued", connection_name, len(envelopes))
    logger.info("webhook enqueued", extra={"connection": connection_name, "records": len(envelopes)})
    return Answer(200, {"enqueued": len(envelopes)})
