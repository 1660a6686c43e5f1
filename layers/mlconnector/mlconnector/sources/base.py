"""The interfaces every store adapter implements (the OCA connector's "backend adapter" + "mapper").

``StoreWebhooks`` is the part the webhook receiver needs: it imports the standard library only, so
the function a store waits on loads no canonical models, HTTP client or pydantic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlconnector.envelope import Envelope, RecordKind

if TYPE_CHECKING:
    from mlconnector.models import Customer, Order, Refund


class WebhookRejected(Exception):
    """A delivery that must not be enqueued. ``status`` is the HTTP answer (401 signature, 400 malformed)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class WebhookOutcome:
    """What a verified delivery means: nothing to do (a ping) or records to enqueue."""

    envelopes: tuple[Envelope, ...] = ()
    ping: bool = False
    note: str = ""
    headers_seen: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangedRecord:
    """One changed record. ``version`` must equal what the webhook path gives the same record state
    (it is part of the idempotency key); when None the poller uses ``modified_at``."""

    kind: RecordKind
    object_id: str
    modified_at: datetime
    payload: dict[str, Any]
    version: str | None = None


@dataclass(frozen=True)
class WebhookStatus:
    """One subscription as the store reports it, and what the keeper did about it."""

    topic: str
    hook_id: str | None
    status: str
    action: str


class StoreWebhooks(ABC):
    """A store's webhook deliveries, verified on the raw bytes and turned into envelopes.

    ``settings`` are the connection's store settings in their JSON form (as the published profile
    holds them); ``credentials`` the store's secrets (only the signing ones are used).
    """

    def __init__(self, connection: str, settings: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        self.connection = connection
        self.settings = settings
        self._credentials = dict(credentials)

    @abstractmethod
    def parse(self, headers: Mapping[str, str], body: bytes) -> WebhookOutcome:
        """Verify the delivery on the raw bytes and turn it into envelopes; raise WebhookRejected otherwise."""

    def parse_event(self, event: Mapping[str, Any]) -> WebhookOutcome:
        """An Amazon EventBridge partner event → envelopes; stores that do not deliver through EventBridge refuse it."""
        raise WebhookRejected(400, f"{type(self).__name__}: this store does not deliver webhooks through EventBridge")


class StoreSource(ABC):
    """A store: verifies its webhooks, lists what changed, fetches records, maps them to the canonical model."""

    connection: str
    webhooks: StoreWebhooks

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookOutcome:
        """Verify the delivery on the raw bytes and turn it into envelopes; raise WebhookRejected otherwise."""
        return self.webhooks.parse(headers, body)

    @abstractmethod
    def changed_since(self, resource: str, since: datetime) -> Iterator[ChangedRecord]:
        """Every record of a resource modified at or after ``since``, across all pages."""

    @abstractmethod
    def fetch(self, kind: RecordKind, object_id: str) -> dict[str, Any]:
        """The full store-native record, for envelopes that carry a stub."""

    @abstractmethod
    def to_order(self, payload: dict[str, Any]) -> Order: ...

    @abstractmethod
    def to_refund(self, payload: dict[str, Any]) -> Refund: ...

    @abstractmethod
    def to_customer(self, payload: dict[str, Any]) -> Customer: ...

    def ensure_webhooks(self, delivery_url: str) -> list[WebhookStatus]:
        """Re-enable or re-register this connector's subscriptions; stores without an API for it return []."""
        return []

    def webhook_address(self, delivery_url: str) -> str:
        """Where this store's subscriptions deliver, given the stack's webhook URL for the connection."""
        return delivery_url

    def close(self) -> None:
        """Release connections."""
