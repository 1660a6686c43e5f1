"""The queue envelope: what the receiver and the poller put on SQS and the poster takes off.

A plain dataclass: the webhook receiver builds and sends envelopes with the standard library
alone (its cold start is what a store waits on). Whoever takes an envelope off a queue reads it
with ``Envelope.from_json``, which validates it with pydantic.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any

# SQS allows 256 KiB per message; above this the envelope carries a stub and the poster fetches.
MAX_INLINE_PAYLOAD_BYTES = 180_000
#: What SQS refuses in a message body that JSON text may hold raw (lone surrogates, U+FFFE, U+FFFF; JSON escapes
#: the control characters itself): SendMessage allows #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-.
_SQS_REFUSES = re.compile("[\ud800-\udfff\ufffe\uffff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _as_text(text: str | bytes) -> str:
    return text if isinstance(text, str) else text.decode("utf-8", "replace")


class RecordKind(StrEnum):
    ORDER = "order"
    REFUND = "refund"
    CUSTOMER = "customer"
    PAYMENT = "payment"


class Origin(StrEnum):
    WEBHOOK = "webhook"
    POLLER = "poller"
    REPLAY = "replay"
    BACKFILL = "backfill"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class Envelope:
    __pydantic_config__ = {"extra": "forbid"}  # read by pydantic when validating (``from_json``)

    connection: str
    kind: RecordKind
    object_id: str
    version: str  # the record's modification stamp; a new version is new work
    origin: Origin
    topic: str = ""
    delivery_id: str = ""
    api_version: str = ""  # the store API version the payload is shaped by (a webhook's version header)
    received_at: datetime = field(default_factory=_now)
    payload: dict[str, Any] | None = None  # the store-native record; None when only a stub arrived

    @property
    def business_key(self) -> str:
        """The idempotency key: never the SQS messageId, which changes on redrive."""
        return f"{self.connection}|{self.kind}|{self.object_id}|{self.version}"

    @property
    def record_key(self) -> str:
        """The audit-trail key of the record, across all its versions."""
        return f"{self.connection}|{self.kind}|{self.object_id}"

    def to_dict(self, *, payload: bool = True) -> dict[str, Any]:
        """JSON-ready fields (``payload=False`` leaves the store record out)."""
        data = {
            "connection": self.connection,
            "kind": str(self.kind),
            "object_id": self.object_id,
            "version": self.version,
            "origin": str(self.origin),
            "topic": self.topic,
            "delivery_id": self.delivery_id,
            "api_version": self.api_version,
            "received_at": self.received_at.isoformat(),
        }
        if payload:
            data["payload"] = self.payload
        return data

    def to_json(self, *, payload: bool = True) -> str:
        """JSON an SQS message can carry: the characters SQS refuses, which a store record may hold, escaped
        (``\\uffff``); any other text stays as it is, so a record's size barely changes on the way."""
        text = json.dumps(self.to_dict(payload=payload), separators=(",", ":"), ensure_ascii=False)
        return _SQS_REFUSES.sub(lambda match: f"\\u{ord(match.group()):04x}", text)

    def replace(self, **changes: Any) -> Envelope:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_json(cls, text: str | bytes) -> Envelope:
        """Validate a message body; raises ``pydantic.ValidationError`` for anything but an envelope.

        pydantic's JSON parser refuses the escape of a lone surrogate (``\\ud800``), which ``to_json`` writes for
        a store record holding one (JSON allows it, SQS cannot carry it raw): such a body is parsed by the
        standard library's parser, which keeps it, and then validated.
        """
        from pydantic import ValidationError

        try:
            return _validator().validate_json(text)
        except ValidationError as exc:
            if exc.errors()[0]["type"] != "json_invalid" or not _SURROGATE_ESCAPE.search(_as_text(text)):
                raise
            return _validator().validate_python(json.loads(text))

    @classmethod
    def from_dict(cls, data: Any) -> Envelope:
        return _validator().validate_python(data)


@cache
def _validator() -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(Envelope)
