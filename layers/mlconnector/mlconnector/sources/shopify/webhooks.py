"""Shopify webhook deliveries → envelopes, with the standard library only (the receiver's path).

Deliveries arrive signed over HTTPS (``parse``) or, where the connection says so, as events on an
Amazon EventBridge partner event bus (``parse_event``); both give the same envelope for the same webhook.

Also the record stamps: orders and customers are versioned by ``updated_at``, refunds by their
creation time, the same strings whether a record came from a webhook or the poller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from mlconnector.envelope import MAX_INLINE_PAYLOAD_BYTES, Envelope, Origin, RecordKind
from mlconnector.errors import ConnectorError, ReviewError
from mlconnector.sources.base import StoreWebhooks, WebhookOutcome, WebhookRejected
from mlconnector.sources.stamps import first_stamp
from mlconnector.sources.webhook_body import json_body, store_id

log = logging.getLogger(__name__)

SUPPORTED_TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
        "refunds/create",
        "customers/create",
        "customers/update",
    }
)
DEFAULT_TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "refunds/create",
    "customers/create",
    "customers/update",
)
GIFT_CARD_GATEWAYS = frozenset({"gift_card", "shopify_gift_card"})
STORE_CREDIT_GATEWAYS = frozenset({"shopify_store_credit", "store_credit"})
REQUIRED_HEADERS = ("x-shopify-topic", "x-shopify-shop-domain", "x-shopify-webhook-id")
API_VERSION_HEADER = "x-shopify-api-version"
_KINDS = {"orders": RecordKind.ORDER, "refunds": RecordKind.REFUND, "customers": RecordKind.CUSTOMER}
_FRACTION = re.compile(r"\.\d+")
#: The EventBridge address Shopify accepts (Shopify CLI's arnRegex: tests/contracts/shopify/eventbridge-arn.json).
EVENTBRIDGE_ARN = re.compile(
    r"^arn:aws:events:(?P<aws_region>[a-z]{2}-[a-z]+-[0-9]+)::event-source/"
    r"(?P<event_source>aws\.partner/shopify\.com(\.test)?/(?P<api_client_id>\d+)/(?P<event_source_name>.+))$"
)


def event_source_name(arn: str) -> str:
    """The partner event source's name in its ARN: the partner event bus's name and the ``source`` of its events."""
    match = EVENTBRIDGE_ARN.fullmatch(arn)
    if match is None:
        raise ValueError(
            "not a Shopify EventBridge partner event source ARN "
            "(arn:aws:events:<region>::event-source/aws.partner/shopify.com/<app id>/<name>)"
        )
    return match.group("event_source")


def webhook_hmac(body: bytes, secret: str) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256 of the raw body keyed with the app's client secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_webhook_hmac(body: bytes, secret: str, signature: str) -> bool:
    """Constant-time comparison of the expected and the received signature."""
    return hmac.compare_digest(webhook_hmac(body, secret).encode(), signature.strip().encode())


def stamp(value: Any) -> datetime | None:
    """An ISO 8601 timestamp with offset ("2025-10-01T10:00:00-04:00") as an aware UTC datetime."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # not ISO 8601, or an offset moving it out of the years 1..9999
        raise ReviewError(f"Shopify timestamp {str(value)[:40]!r} is not an ISO 8601 time") from None


def modified_at(payload: Mapping[str, Any]) -> datetime:
    """When Shopify last changed an order or customer (``updated_at``, falling back to ``created_at``)."""
    return first_stamp(payload, ("updated_at", "created_at"), stamp, "Shopify record")


def version_of(payload: Mapping[str, Any]) -> str:
    """The envelope version of an order or customer: ``updated_at`` normalised to UTC ISO 8601.

    The same string the poller writes (``ChangedRecord.modified_at.isoformat()``), so a webhook and a
    poll of the same unchanged record share one idempotency key.
    """
    return modified_at(payload).isoformat()


def refund_modified_at(refund: Mapping[str, Any]) -> datetime:
    """Refunds never change after creation: their version is their creation time."""
    return first_stamp(refund, ("created_at", "processed_at"), stamp, "Shopify refund")


def refund_version(refund: Mapping[str, Any]) -> str:
    return refund_modified_at(refund).isoformat()


def needs_transactions(payload: Mapping[str, Any], paid_statuses: Iterable[str]) -> bool:
    """Whether the order's payments cannot be read from the order alone (split tenders, gift cards)."""
    if str(payload.get("financial_status") or "") not in set(paid_statuses):
        return False
    names = payload.get("payment_gateway_names")
    gateways = [str(g) for g in names] if isinstance(names, list) else []
    return len(set(gateways)) > 1 or any(g in GIFT_CARD_GATEWAYS or g in STORE_CREDIT_GATEWAYS for g in gateways)


def _triggered_at(value: str | None) -> datetime | None:
    """``X-Shopify-Triggered-At`` ("2025-10-01T12:00:00.123456789Z": nanoseconds trimmed to micro)."""
    if not value:
        return None
    try:
        return stamp(_FRACTION.sub(lambda m: m.group(0)[:7], value.strip()))
    except ReviewError:
        return None


class ShopifyWebhooks(StoreWebhooks):
    """``credentials``: ``webhook_secret`` or else ``client_secret`` (the app's secret signs deliveries)."""

    def __init__(
        self,
        connection: str,
        settings: Mapping[str, Any],
        credentials: Mapping[str, str],
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(connection, settings, credentials)
        self._clock = clock or (lambda: datetime.now(UTC))

    def parse(self, headers: Mapping[str, str], body: bytes) -> WebhookOutcome:
        """Verify a delivery on its raw bytes and turn it into one envelope.

        Versions: orders and customers use ``updated_at`` (UTC ISO), refunds their ``created_at``,
        exactly what the poller writes, so a redelivery, a second topic for the same change
        (orders/create + orders/paid) or a poll of the unchanged record collapse at the poster's
        idempotency. ``X-Shopify-Webhook-Id`` travels as ``delivery_id``; ``X-Shopify-Event-Id`` and
        ``X-Shopify-Triggered-At`` are kept in ``headers_seen``. A delivery triggered longer ago than
        ``max_webhook_delay_seconds`` is flagged stale in the note and still enqueued.

        ``X-Shopify-API-Version`` is required, as Shopify's own validator requires it: the payload is
        the REST resource at that version (shipping refunds, for one, moved between versions), so it
        travels in the envelope as ``api_version``; a delivery without it is refused with 400.
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        signature = lowered.get("x-shopify-hmac-sha256", "")
        if not signature:
            raise WebhookRejected(401, "missing X-Shopify-Hmac-Sha256 header")
        secret = self._credentials.get("webhook_secret") or self._credentials.get("client_secret")
        if not secret:
            raise ConnectorError(f"connection {self.connection}: no client_secret/webhook_secret to verify deliveries")
        if not verify_webhook_hmac(body, secret, signature):
            raise WebhookRejected(401, "X-Shopify-Hmac-Sha256 does not match the body")
        missing = [h for h in REQUIRED_HEADERS if not lowered.get(h, "").strip()]
        if missing:
            raise WebhookRejected(401, f"missing {', '.join(missing)} header(s)")
        api_version = lowered.get(API_VERSION_HEADER, "").strip()
        if not api_version:
            raise WebhookRejected(
                400, "missing X-Shopify-API-Version header: the payload's shape depends on the API version"
            )
        return self._outcome(lowered, body, api_version)

    def parse_event(self, event: Mapping[str, Any]) -> WebhookOutcome:
        """An Amazon EventBridge delivery (the event as the partner event bus passes it on) → the envelope the
        signed HTTPS delivery of the same webhook gives: same object id, version, topic and API version, so the
        poster's idempotency key is the same whichever way (or both ways) a webhook arrives.

        The event is Shopify's only if it came through the connection's own partner event source (AWS
        authenticates the partner: there is no signature to check; ``detail.metadata`` may still carry
        ``X-Shopify-Hmac-SHA256``, over a body EventBridge no longer has). ``detail.payload`` is the REST resource,
        ``detail.metadata`` the delivery's headers. The delivery id is ``X-Shopify-Webhook-Id``, or the
        EventBridge event id where the metadata has none (AWS's published sample has none).
        """
        arn = self.settings.get("eventbridge_source_arn")
        if self.settings.get("webhook_delivery") != "eventbridge" or not arn:
            raise WebhookRejected(401, "this connection's webhooks do not come through EventBridge")
        if event.get("source") != event_source_name(arn):
            raise WebhookRejected(401, f"event from {event.get('source')!r}, not this connection's event source")
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            raise WebhookRejected(400, "event has no detail object")
        metadata, payload = detail.get("metadata"), detail.get("payload")
        if not isinstance(metadata, Mapping) or not isinstance(payload, Mapping):
            raise WebhookRejected(400, "event detail lacks the metadata and payload objects")
        lowered = {str(k).lower(): str(v) for k, v in metadata.items() if v is not None}
        if not lowered.get("x-shopify-webhook-id", "").strip():
            lowered["x-shopify-webhook-id"] = str(event.get("id") or "")
        missing = [h for h in REQUIRED_HEADERS if not lowered.get(h, "").strip()]
        if missing:
            raise WebhookRejected(400, f"event metadata lacks {', '.join(missing)}")
        api_version = lowered.get(API_VERSION_HEADER, "").strip()
        if not api_version:
            raise WebhookRejected(
                400, "event metadata lacks X-Shopify-API-Version: the payload's shape depends on the API version"
            )
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return self._outcome(lowered, body, api_version)

    def _outcome(self, lowered: Mapping[str, str], body: bytes, api_version: str) -> WebhookOutcome:
        """A verified delivery's headers (lower-cased) and body → its envelope."""
        seen = {k: v for k, v in lowered.items() if k.startswith("x-shopify-") and k != "x-shopify-hmac-sha256"}
        domain = lowered["x-shopify-shop-domain"].strip().lower()
        if domain != self.settings["shop_domain"]:
            raise WebhookRejected(401, f"delivery is for shop {domain}, not {self.settings['shop_domain']}")

        topic = lowered["x-shopify-topic"].strip()
        resource = topic.partition("/")[0]
        if resource not in _KINDS or topic not in SUPPORTED_TOPICS | set(self.settings["webhook_topics"]):
            raise WebhookRejected(400, f"unknown webhook topic {topic!r}")
        data = json_body(body)
        record_id = store_id(data.get("id")) if isinstance(data, dict) else None
        if record_id is None:
            raise WebhookRejected(400, "body is not a Shopify resource with an id")

        kind = _KINDS[resource]
        try:
            if kind is RecordKind.REFUND:
                order_id = store_id(data.get("order_id"))
                if order_id is None:
                    raise WebhookRejected(400, "refund body has no order_id")
                object_id = f"{order_id}:{record_id}"
                version = refund_version(data)
            else:
                object_id = record_id
                version = version_of(data)
        except ReviewError:
            raise WebhookRejected(400, f"{topic} body has no valid timestamp") from None

        inline: dict[str, Any] | None = data if len(body) <= MAX_INLINE_PAYLOAD_BYTES else None
        if kind is RecordKind.ORDER and needs_transactions(data, self.settings["paid_financial_statuses"]):
            inline = None  # split tender / gift card: the poster fetches the order with its transactions
        note = f"{topic} {object_id}"
        triggered = _triggered_at(lowered.get("x-shopify-triggered-at"))
        if triggered is not None:
            delay = (self._clock() - triggered).total_seconds()
            if delay > self.settings["max_webhook_delay_seconds"]:
                note += f" (stale: triggered {int(delay)} s ago)"
                log.warning(
                    "stale shopify delivery", extra={"connection": self.connection, "topic": topic, "delay": int(delay)}
                )
        envelope = Envelope(
            connection=self.connection,
            kind=kind,
            object_id=object_id,
            version=version,
            origin=Origin.WEBHOOK,
            topic=topic,
            delivery_id=lowered["x-shopify-webhook-id"].strip(),
            api_version=api_version,
            payload=inline,
        )
        return WebhookOutcome(envelopes=(envelope,), note=note, headers_seen=seen)
