"""The queue envelope: what the receiver and the poller put on SQS and the poster takes off."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlconnector.models import RecordKind

# SQS allows 256 KiB per message; above this the envelope carries a stub and the poster fetches.
MAX_INLINE_PAYLOAD_BYTES = 180_000


class Origin(StrEnum):
    WEBHOOK = "webhook"
    POLLER = "poller"
    REPLAY = "replay"
    BACKFILL = "backfill"


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    connection: str
    kind: RecordKind
    object_id: str
    version: str = Field(description="The record's modification stamp; a new version is new work")
    origin: Origin
    topic: str = ""
    delivery_id: str = ""
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    payload: dict[str, Any] | None = Field(
        default=None, description="The store-native record; None when only a stub arrived"
    )

    @property
    def business_key(self) -> str:
        """The idempotency key: never the SQS messageId, which changes on redrive."""
        return f"{self.connection}|{self.kind}|{self.object_id}|{self.version}"

    @property
    def record_key(self) -> str:
        """The audit-trail key of the record, across all its versions."""
        return f"{self.connection}|{self.kind}|{self.object_id}"
