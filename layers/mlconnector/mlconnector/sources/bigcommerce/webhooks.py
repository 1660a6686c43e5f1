"""BigCommerce webhook deliveries → envelopes, with the standard library only (the receiver's path).

BigCommerce webhooks are stubs (a scope and an id): the envelope carries no payload and the
poster fetches the record.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any

from mlconnector.envelope import Envelope, Origin, RecordKind
from mlconnector.errors import ConnectorError
from mlconnector.sources.base import StoreWebhooks, WebhookOutcome, WebhookRejected
from mlconnector.sources.bigcommerce import signature
from mlconnector.sources.webhook_body import json_body, store_id

DEFAULT_SCOPES = (
    "store/order/created",
    "store/order/updated",
    "store/order/refund/created",
    "store/customer/created",
    "store/customer/updated",
)
# Scopes the receiver understands (and the keeper may register).
ORDER_SCOPES = frozenset(
    {
        "store/order/created",
        "store/order/updated",
        "store/order/archived",
        "store/order/statusUpdated",
        "store/order/transaction/created",
    }
)
REFUND_SCOPES = frozenset({"store/order/refund/created"})
CUSTOMER_SCOPES = frozenset(
    {
        "store/customer/created",
        "store/customer/updated",
        "store/customer/address/created",
        "store/customer/address/updated",
    }
)
KNOWN_SCOPES = ORDER_SCOPES | REFUND_SCOPES | CUSTOMER_SCOPES
#: The payload's ``hash`` is a digest (SHA-1 hex in BigCommerce's examples); it becomes the delivery id and part of
#: the version, which the queue and the audit trail keep: anything but a short printable ASCII text is refused.
MAX_HASH_LENGTH = 256


class BigCommerceWebhooks(StoreWebhooks):
    """``credentials``: ``client_secret`` (Standard Webhooks key) and ``webhook_token`` (the value of the
    custom header registered with each hook)."""

    def __init__(
        self,
        connection: str,
        settings: Mapping[str, Any],
        credentials: Mapping[str, str],
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(connection, settings, credentials)
        self._wall_clock = wall_clock

    def parse(self, headers: Mapping[str, str], body: bytes) -> WebhookOutcome:
        """Verify a stub delivery and turn it into one envelope (payload None: the poster fetches).

        Authentication: the Standard Webhooks signature (when its headers are present: ±
        ``max_webhook_age_seconds``, every byte signed) and the custom registration header
        (constant-time compare). At least one must be present and every present one must verify.

        The payload's own ``created_at`` is not checked for age: BigCommerce retries a failed
        delivery for ~48 h with the same payload, so an age limit would reject its retries and get
        the hook deactivated. A replayed stub only makes the poster re-read the current record.

        Version (the idempotency component) = ``{created_at}-{hash}``. ``hash`` is BigCommerce's
        duplicate-detection digest of the payload data, which for a stub is just ``{type, id}``:
        alone it would be the same for every update of an order and the second update would be
        suppressed as a duplicate. With ``created_at`` a redelivered event still collapses (same
        payload, same stamp) while a later event on the same record is new work.
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        seen = {
            k: v for k, v in lowered.items() if k in ("webhook-id", "webhook-timestamp", "user-agent", "content-type")
        }
        has_standard = any(h in lowered for h in signature.HEADERS)
        token_header = self.settings["webhook_header_name"].lower()
        has_token = token_header in lowered
        if not has_standard and not has_token:
            raise WebhookRejected(401, "neither Standard Webhooks signature headers nor the registration header")
        if has_token:
            expected = self._credentials.get("webhook_token")
            if not expected:  # hooks are registered with the header only when there is a token to check it with
                raise WebhookRejected(401, f"{self.settings['webhook_header_name']} sent, but no webhook_token is set")
            if not hmac.compare_digest(lowered[token_header].encode("utf-8"), expected.encode("utf-8")):
                raise WebhookRejected(401, f"{self.settings['webhook_header_name']} does not match")
        if has_standard:
            secret = self._credentials.get("client_secret")
            if not secret:
                raise ConnectorError(f"connection {self.connection}: no client_secret credential to verify signatures")
            try:
                signature.verify(
                    secret,
                    lowered,
                    body,
                    tolerance_seconds=self.settings["max_webhook_age_seconds"],
                    now=self._wall_clock(),
                )
            except signature.SignatureError as exc:
                raise WebhookRejected(401, str(exc)) from None

        payload = json_body(body)
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise WebhookRejected(400, "body is not a BigCommerce webhook payload")
        scope = str(payload.get("scope") or "")
        data = payload["data"]
        digest = str(payload.get("hash") or "")
        created_at = payload.get("created_at")
        if not (0 < len(digest) <= MAX_HASH_LENGTH and digest.isascii() and digest.isprintable()):
            raise WebhookRejected(400, "payload's hash is not a digest")
        if not isinstance(created_at, int):
            raise WebhookRejected(400, "payload lacks an integer created_at")
        kind, object_id = self._stub_target(scope, data)
        envelope = Envelope(
            connection=self.connection,
            kind=kind,
            object_id=object_id,
            version=f"{created_at}-{digest}",
            origin=Origin.WEBHOOK,
            topic=scope,
            delivery_id=digest,
            payload=None,
        )
        return WebhookOutcome(envelopes=(envelope,), note=f"{scope} {object_id}", headers_seen=seen)

    @staticmethod
    def _stub_target(scope: str, data: Mapping[str, Any]) -> tuple[RecordKind, str]:
        def numeric(value: Any, what: str) -> str:
            record_id = store_id(value)
            if record_id is None:
                raise WebhookRejected(400, f"{scope} payload has no numeric {what}")
            return record_id

        if scope in ORDER_SCOPES:
            return RecordKind.ORDER, numeric(data.get("id"), "data.id")
        if scope in REFUND_SCOPES:
            refund = data.get("refund") if isinstance(data.get("refund"), dict) else {}
            refund_id = refund.get("refund_id", refund.get("id"))
            return RecordKind.REFUND, f"{numeric(data.get('id'), 'data.id')}:{numeric(refund_id, 'refund_id')}"
        if scope in CUSTOMER_SCOPES:
            if scope.startswith("store/customer/address/"):
                address = data.get("address") if isinstance(data.get("address"), dict) else {}
                return RecordKind.CUSTOMER, numeric(address.get("customer_id"), "data.address.customer_id")
            return RecordKind.CUSTOMER, numeric(data.get("id"), "data.id")
        raise WebhookRejected(400, f"unknown webhook scope {scope!r}")
