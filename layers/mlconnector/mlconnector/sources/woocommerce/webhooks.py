"""WooCommerce webhook deliveries → envelopes, with the standard library only (the receiver's path).

Also the record stamps: a record's version is its modification time, the same string whether it
came from a webhook or the poller, so both share one idempotency key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlconnector.envelope import MAX_INLINE_PAYLOAD_BYTES, Envelope, Origin, RecordKind
from mlconnector.errors import ConnectorError, ReviewError
from mlconnector.sources.base import StoreWebhooks, WebhookOutcome, WebhookRejected
from mlconnector.sources.stamps import first_stamp
from mlconnector.sources.webhook_body import json_body, store_id
from mlconnector.sources.woocommerce.signature import verify_webhook_signature

DEFAULT_TOPICS = ("order.created", "order.updated", "order.deleted", "customer.created", "customer.updated")
RESOURCES = frozenset({"order", "customer"})
EVENTS = frozenset({"created", "updated", "deleted", "restored"})

_PING = re.compile(rb"webhook_id=(\d+)")
_KINDS = {"order": RecordKind.ORDER, "customer": RecordKind.CUSTOMER}


def gmt(value: Any) -> datetime | None:
    """A ``*_gmt`` timestamp ("2024-05-01T10:00:00", no zone) as an aware UTC datetime; ValueError if it is none."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # an offset that moves the time out of datetime's years 1..9999
        raise ValueError(f"{value!r} is outside the years UTC can hold") from None


def modified_at(payload: Mapping[str, Any]) -> datetime:
    """When WooCommerce last changed the record (modified, falling back to created)."""
    return first_stamp(payload, ("date_modified_gmt", "date_created_gmt"), gmt, "WooCommerce record")


def version_of(payload: Mapping[str, Any]) -> str:
    """The envelope version of an order or customer: its modification time, normalised (UTC ISO 8601).

    The same string whether the record came from a webhook or the poller
    (``ChangedRecord.modified_at.isoformat()``), so idempotency keys agree.
    """
    return modified_at(payload).isoformat()


class WooCommerceWebhooks(StoreWebhooks):
    """``credentials``: ``webhook_secret``, the secret as entered in WooCommerce (it is HTML-entity-decoded
    the way WooCommerce does before use)."""

    def parse(self, headers: Mapping[str, str], body: bytes) -> WebhookOutcome:
        """Verify a delivery on its raw bytes and turn it into envelopes.

        The unsigned ``webhook_id=N`` ping (no X-WC headers) is answered as a ping. A valid order
        delivery also yields one refund envelope per entry of ``refunds[]``: refunds reach the
        connector only through ``order.updated``.
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        seen = {k: v for k, v in lowered.items() if k.startswith("x-wc-webhook-") and k != "x-wc-webhook-signature"}
        signature = lowered.get("x-wc-webhook-signature")
        if signature is None and not seen and (ping := _PING.fullmatch(body.strip())):
            return WebhookOutcome(ping=True, note=f"ping for webhook {ping.group(1).decode()}", headers_seen=seen)
        if not signature:
            raise WebhookRejected(401, "missing X-WC-Webhook-Signature header")
        secret = self._credentials.get("webhook_secret")
        if not secret:
            raise ConnectorError(f"connection {self.connection}: no webhook_secret credential to verify deliveries")
        if not verify_webhook_signature(body, secret, signature):
            raise WebhookRejected(401, "X-WC-Webhook-Signature does not match the body")

        topic = lowered.get("x-wc-webhook-topic", "").strip()
        resource, _, event = topic.partition(".")
        if resource not in _KINDS or event not in EVENTS:
            raise WebhookRejected(400, f"unknown webhook topic {topic!r}")
        data = json_body(body)
        object_id = store_id(data.get("id")) if isinstance(data, dict) else None
        if object_id is None:
            raise WebhookRejected(400, "body is not a WooCommerce resource with an id")

        kind = _KINDS[resource]
        delivery_id = lowered.get("x-wc-webhook-delivery-id", "")
        common = {"connection": self.connection, "origin": Origin.WEBHOOK, "topic": topic, "delivery_id": delivery_id}
        if event == "deleted":
            envelope = Envelope(
                kind=kind, object_id=object_id, version="deleted", payload={"id": int(object_id)}, **common
            )
            return WebhookOutcome(envelopes=(envelope,), note=f"{topic} {object_id}", headers_seen=seen)
        try:
            version = version_of(data)
        except (ReviewError, ValueError):
            raise WebhookRejected(400, f"{topic} body has no valid date_modified_gmt") from None
        inline = data if len(body) <= MAX_INLINE_PAYLOAD_BYTES else None
        envelopes = [Envelope(kind=kind, object_id=object_id, version=version, payload=inline, **common)]
        refunds = data.get("refunds") if kind is RecordKind.ORDER else None
        for refund in refunds if isinstance(refunds, list) else ():
            refund_id = store_id(refund.get("id")) if isinstance(refund, dict) else None
            if refund_id is not None:
                envelopes.append(
                    Envelope(
                        kind=RecordKind.REFUND,
                        object_id=f"{object_id}:{refund_id}",
                        version=refund_id,
                        payload=None,
                        **common,
                    )
                )
        return WebhookOutcome(envelopes=tuple(envelopes), note=f"{topic} {object_id}", headers_seen=seen)
