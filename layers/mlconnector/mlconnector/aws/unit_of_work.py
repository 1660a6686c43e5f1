"""One record's reads and writes in DynamoDB, batched: the poster's unit of work.

The id bindings a record needs are read together (``BatchGetItem``); its audit events (one outcome
item), new bindings and final status are written together (``BatchWriteItem`` across the audit and
state tables) when the record is done. A record then costs two DynamoDB round trips besides
Powertools idempotency, instead of one per read and per write, and one audit write instead of one
per event.

Deferring binding writes to the end of the record is safe: if the function dies between an ERP
create and the flush, the retry asks the ERP for the document's deterministic reference first
(the third layer of exactly-once, see ``pipeline.poster``) and binds what it finds.

Records of one batch can share what they bind (``shared``): a later record then sees a customer
or document an earlier one created before that record's writes reach DynamoDB.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlconnector.aws.audit import AuditEvent, AuditTrail, outcome_event
from mlconnector.aws.batch import batch_put
from mlconnector.aws.state import StateStore, binding_item, status_item
from mlconnector.envelope import Envelope


class UnitOfWork:
    def __init__(
        self,
        envelope: Envelope,
        audit: AuditTrail,
        state: StateStore,
        shared: dict[tuple[str, str, str], dict[str, Any]] | None = None,
    ) -> None:
        self.envelope = envelope
        self._audit = audit
        self._state = state
        self._known: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._shared = shared if shared is not None else {}
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._events: list[dict[str, Any]] = []

    # reads ------------------------------------------------------------------------------------------
    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        """Read the bindings of ``(kind, store id)`` pairs not read yet, in one request."""
        missing = list(dict.fromkeys(k for k in keys if k not in self._known))
        if not missing:
            return
        found = self._state.bindings(self.envelope.connection, missing)
        for key in missing:
            self._known[key] = found.get(key)

    def binding(self, kind: str, store_id: str) -> dict[str, Any] | None:
        """What this record or an earlier one of its batch bound, else what DynamoDB holds."""
        shared = self._shared.get((self.envelope.connection, kind, store_id))
        if shared is not None:
            return shared
        self.prefetch([(kind, store_id)])
        return self._known[(kind, store_id)]

    def erp_id(self, kind: str, store_id: str) -> str | None:
        item = self.binding(kind, store_id)
        return item["erp_id"] if item else None

    # writes (buffered until flush) -----------------------------------------------------------------------
    def bind(self, kind: str, store_id: str, erp_id: str, fingerprint: str = "") -> None:
        item = binding_item(self.envelope.connection, kind, store_id, erp_id, fingerprint)
        self._known[(kind, store_id)] = item
        self._shared[(self.envelope.connection, kind, store_id)] = item
        self._pending.append((self._state.table_name, item))

    def audit(self, event: AuditEvent, **detail: Any) -> None:
        self._events.append(outcome_event(event, detail))

    def status(self, status: str, **fields: Any) -> None:
        self._pending.append((self._state.table_name, status_item(self.envelope, status, **fields)))

    def flush(self) -> None:
        """Write everything buffered; raises ``TransientError`` if DynamoDB keeps items unprocessed."""
        pending, self._pending = self._pending, []
        if self._events:
            pending.append((self._audit.table_name, self._audit.outcome_item(self.envelope, self._events)))
            self._events = []
        if pending:
            batch_put(pending)
