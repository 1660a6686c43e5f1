"""Webhook receiver logic: verify on the raw bytes, enqueue, answer. Nothing else happens here.

Webhooks that come through Amazon EventBridge (``receive_events``) take the same way from the store's
parser on: the same envelope, the same ``received`` audit entry written beside the enqueue.

The two AWS calls of an authentic delivery run side by side: the audit entry ``received`` is
written while the envelopes go onto the queue, and the answer waits for both. If either fails the
store gets a 503 and delivers again; a ``received`` without an outcome then means exactly that.

The receiver is the function a store waits on, so it loads as little as it can: the published
profile's webhook view, the store's webhooks module and the AWS data access, all of it standard
library and boto3 (no pydantic, canonical models or HTTP client).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

from mlconnector import registry
from mlconnector.aws.audit import AuditEvent, AuditTrail
from mlconnector.aws.queue import enqueue
from mlconnector.aws.secrets import BuiltFromCredentials, store_credentials
from mlconnector.envelope import Envelope
from mlconnector.environment import Environment
from mlconnector.errors import ProfileError
from mlconnector.observability import count, logger
from mlconnector.published_profile import WebhookConnection, current_webhook_connections
from mlconnector.sources.base import StoreWebhooks, WebhookOutcome, WebhookRejected

MAX_BODY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict


class Receiver:
    """What one receiver container keeps: the connections' webhook view, their verifiers, the audit trail."""

    def __init__(self, environment: Environment | None = None) -> None:
        self.env = environment or Environment.from_env()
        self._webhooks = BuiltFromCredentials()
        self._event_webhooks = BuiltFromCredentials()

    def connections(self) -> Mapping[str, WebhookConnection]:
        """The published profile's connections (read again every ``CONNECTOR_PROFILE_MAX_AGE``)."""
        return current_webhook_connections(self.env.profile_location or None)

    def connection(self, name: str) -> WebhookConnection:
        return self.connections()[name]

    def event_source_connections(self, source: str) -> list[WebhookConnection]:
        """The connections whose webhooks come through the EventBridge partner event source named ``source``."""
        return [
            c
            for c in self.connections().values()
            if c.store.get("webhook_delivery") == "eventbridge"
            and str(c.store.get("eventbridge_source_arn") or "").endswith(f":event-source/{source}")
        ]

    def event_webhooks(self, name: str) -> StoreWebhooks:
        """The store's parser for EventBridge events: AWS authenticates the partner, so no signing secret is read."""
        conn = self.connection(name)
        return self._event_webhooks.get(
            name, {}, lambda: registry.store_webhooks_class(conn.store_type)(name, conn.store, {}), conn.store
        )

    def webhooks(self, name: str) -> StoreWebhooks:
        """The store's webhook verifier, rebuilt when its credentials change."""
        conn = self.connection(name)
        credentials = store_credentials(conn.store_secret, conn.webhook_secret)
        return self._webhooks.get(
            name,
            credentials,
            lambda: registry.store_webhooks_class(conn.store_type)(name, conn.store, credentials),
            conn.store,
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


#: The metric dimension of EventBridge events no connection takes.
UNROUTED = "(eventbridge)"


def receive_events(receiver: Receiver, messages: Sequence[tuple[str, str]]) -> list[str]:
    """SQS messages (id, body) that the partner event bus's rule sent, each an EventBridge event → envelopes on
    the ingest queue, with their ``received`` audit entries. Returns the ids of the messages to hand back.

    An event no connection accepts (a partner event source or shop the profile does not name, a malformed
    event) is handed back: SQS retries it and then moves it to the events dead-letter queue, from where it is
    moved back once the profile is fixed. A disabled connection's events are dropped, as its HTTPS deliveries
    are (404). AWS trouble writing the audit trail or enqueueing raises, and the whole batch comes back.
    """
    failed: list[str] = []
    envelopes: list[Envelope] = []
    received_by: dict[str, int] = {}
    for message_id, body in messages:
        try:
            name, outcome = _route_event(receiver, body)
        except WebhookRejected as exc:
            failed.append(message_id)
            count("WebhookRejected", UNROUTED)
            logger.warning("eventbridge event rejected", extra={"message_id": message_id, "reason": exc.reason})
            continue
        if not receiver.connection(name).enabled:
            logger.info("eventbridge event for a disabled connection dropped", extra={"connection": name})
            continue
        envelopes.extend(outcome.envelopes)
        received_by[name] = received_by.get(name, 0) + 1
    if envelopes:
        received = [
            (
                e,
                AuditEvent.RECEIVED,
                {"topic": e.topic, "delivery_id": e.delivery_id, "inline": e.payload is not None, "via": "eventbridge"},
            )
            for e in envelopes
        ]
        audit_written = receiver.background.submit(receiver.audit.record_many, received)
        try:
            enqueue(receiver.env.queue_url, envelopes)
        finally:
            audit_written.result()  # never return (and be frozen) with the write in flight
    for name, n in received_by.items():
        count("WebhooksReceived", name, n)
        count("Enqueued", name, sum(1 for e in envelopes if e.connection == name))
    logger.info("eventbridge events enqueued", extra={"records": len(envelopes), "handed_back": len(failed)})
    return failed


def _route_event(receiver: Receiver, body: str) -> tuple[str, WebhookOutcome]:
    """The connection an event belongs to (its partner event source, then its store's own checks) and its outcome."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRejected(400, "message is not an EventBridge event (not JSON)") from None
    if not isinstance(event, dict):
        raise WebhookRejected(400, "message is not an EventBridge event (not an object)")
    source = str(event.get("source") or "")
    candidates = receiver.event_source_connections(source)
    if not candidates:
        raise WebhookRejected(404, f"no connection takes webhooks from the event source {source!r}")
    reasons = []
    for connection in candidates:
        try:
            return connection.name, receiver.event_webhooks(connection.name).parse_event(event)
        except WebhookRejected as exc:
            reasons.append(f"{connection.name}: {exc.reason}")
    raise WebhookRejected(400, "; ".join(reasons))
