"""Poster logic: one envelope → customer upsert and ERP documents, exactly once, with an audit trail.

Exactly once rests on three layers, each covering what the one before cannot:

1. Powertools idempotency keyed on the business key (connection, kind, id, version) — never the
   SQS messageId, which a DLQ redrive replaces — suppresses duplicate deliveries and polls;
2. the state table binds each ERP document reference to its ERP id once created;
3. the ERP itself is asked for the document's deterministic reference before anything is
   created, so a timeout after the ERP committed never leads to a second document.

The records of a batch run side by side (``pipeline.lane``): a container sends the ERP one request
at a time, records that touch the same customer or document talk to the ERP and write their
outcomes in queue order, and the ERP does not wait on the DynamoDB work or the CPU around each call.

Failures are classified: ``ReviewError`` marks the record for review with the reason (the
message is consumed); anything else is retried through SQS with a growing visibility timeout
and, after ``maxReceiveCount`` attempts, lands in the DLQ with the reason in the audit trail.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from pydantic import ValidationError

from mlconnector.aws.audit import AuditEvent
from mlconnector.aws.clients import client
from mlconnector.aws.state import RecordStatus
from mlconnector.aws.unit_of_work import UnitOfWork
from mlconnector.documents import Posting
from mlconnector.envelope import Envelope, RecordKind
from mlconnector.errors import ReviewError, TransientError
from mlconnector.models import Customer
from mlconnector.observability import count, logger
from mlconnector.pipeline.context import Connector
from mlconnector.pipeline.lane import BatchLane, LanePlace
from mlconnector.targets.base import FoundInErp, PostedWithRemark

IDEMPOTENCY_TTL_SECONDS = 14 * 24 * 3600
#: Records of one batch in flight at once: one whose call is at the ERP, the others claiming and reading
#: what they need, preparing their next call, reading their last answer or writing their outcome. More
#: only add threads contending for the container's CPU.
RECORDS_IN_FLIGHT = 4
#: A record other than a batch's first is started only while the invocation has at least this much time
#: left, plus twice the longest of the container's last ``RECORDS_TIMED`` records (their wait behind the
#: records ahead of them included): records interleave their calls on one ERP connection, so a batch
#: lasts about its size times a record's ERP time, which a slow ERP (25 records x 3 calls x 1.2 s = 90 s)
#: stretches past the timeout. The first always starts, so every batch makes progress.
TIME_RESERVE_SECONDS = 10.0
RECORDS_TIMED = 25


@dataclass(frozen=True)
class PosterOutcome:
    status: str
    documents: tuple[str, ...] = ()
    duplicate: bool = False


class InProgressElsewhere(TransientError):
    """Another invocation holds the idempotency lock on the same record version (a concurrent duplicate)."""


class OutOfTime(TransientError):
    """Too little of the invocation is left to post the record: it is handed back untried, to come back at once."""


def _mark_duplicate(response: dict[str, Any], _record: Any) -> dict[str, Any]:
    return {**response, "duplicate": True}


def _customer_fingerprint(customer: Customer) -> str:
    return hashlib.sha256(customer.model_dump_json(exclude={"updated_at"}).encode()).hexdigest()[:16]


def describe_error(exc: BaseException) -> str:
    """A reason fit for the audit trail: the error class and its message, which never holds a secret."""
    text = str(exc).strip() or "no message"
    return f"{type(exc).__name__}: {text[:500]}"


class Poster:
    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.config = IdempotencyConfig(
            event_key_jmespath="[connection, kind, object_id, version]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
            response_hook=_mark_duplicate,
        )
        persistence = DynamoDBPersistenceLayer(table_name=connector.env.idempotency_table)
        #: How long the container's last records took, from their start to their outcome (seconds).
        self.record_seconds: deque[float] = deque(maxlen=RECORDS_TIMED)
        self._idempotent_process = idempotent_function(
            data_keyword_argument="envelope", config=self.config, persistence_store=persistence
        )(self._process)

    @cached_property
    def _workers(self) -> ThreadPoolExecutor:
        # Named after the invoking thread, so a record's thread shows which invocation it serves.
        prefix = f"{threading.current_thread().name}-record"
        return ThreadPoolExecutor(max_workers=RECORDS_IN_FLIGHT, thread_name_prefix=prefix)

    # --- SQS ---------------------------------------------------------------------------------------
    def handle_batch(
        self, records: Sequence[SQSRecord], seconds_left: Callable[[], float] | None = None
    ) -> dict[str, Future[PosterOutcome]]:
        """Start every record of a batch in one ERP lane; message id → the record's outcome (or failure).

        ``seconds_left``: what remains of the invocation; records that would not finish in it are handed back.
        """
        lane = BatchLane([_record_key(record.body) for record in records])
        return {
            record.message_id: self._workers.submit(
                self._handle_in_lane, record, LanePlace(lane, position), seconds_left
            )
            for position, record in enumerate(records)
        }

    def _handle_in_lane(
        self, record: SQSRecord, place: LanePlace, seconds_left: Callable[[], float] | None
    ) -> PosterOutcome:
        try:
            return self.handle_record(record, place, seconds_left)
        finally:
            place.release()

    def handle_record(
        self, record: SQSRecord, place: LanePlace | None = None, seconds_left: Callable[[], float] | None = None
    ) -> PosterOutcome:
        """Process one SQS record; raise to report it as a batch item failure."""
        place = place or LanePlace()
        logger.thread_safe_clear_keys()
        receive_count = int(record.attributes.approximate_receive_count or "1")
        try:
            envelope = Envelope.from_json(record.body)
        except ValidationError as exc:
            self._poison(record, receive_count, exc)
            self._back_off(record, receive_count)
            raise
        # The delivery id ties this record's log lines to the receiver's; the business key to the audit trail.
        logger.thread_safe_append_keys(
            correlation_id=envelope.delivery_id or envelope.business_key,
            record=envelope.record_key,
            version=envelope.version,
            message_id=record.message_id,
        )
        place.wait_for_previous_appearance()
        try:
            if place.position > 0:
                self._make_sure_of_time(seconds_left, receive_count)
            started = time.monotonic()
            try:
                outcome = self.process(envelope, place)
            finally:
                self.record_seconds.append(time.monotonic() - started)
        except Exception as exc:
            self._failed(envelope, record, receive_count, exc, place)
            self._back_off(record, receive_count, at_once=isinstance(exc, OutOfTime))
            raise
        return outcome

    def _make_sure_of_time(self, seconds_left: Callable[[], float] | None, receive_count: int) -> None:
        """Raise ``OutOfTime`` if the invocation may end before the record does (never on its last attempt:
        a timeout is the better risk than the DLQ untried)."""
        if seconds_left is None or receive_count >= self.connector.env.max_receive_count:
            return
        needed = TIME_RESERVE_SECONDS + 2 * max(self.record_seconds, default=0.0)
        left = seconds_left()
        if left < needed:
            raise OutOfTime(f"handed back untried: {left:.1f} s left of the invocation, {needed:.1f} s needed")

    def _delay(self, receive_count: int) -> int:
        """Seconds until the next attempt: doubling per attempt, jittered; short after the last (to the DLQ)."""
        env = self.connector.env
        if receive_count >= env.max_receive_count:
            return max(1, int(env.retry_base_seconds))
        base = min(env.retry_max_seconds, env.retry_base_seconds * 2 ** (receive_count - 1))
        return max(1, int(min(43_200, base * (0.5 + random.random() / 2))))

    def _back_off(self, record: SQSRecord, receive_count: int, *, at_once: bool = False) -> None:
        """Hold a failed message back for a growing, jittered delay instead of the fixed visibility timeout;
        ``at_once``: make it visible again now (a record handed back untried)."""
        queue_url = self.connector.env.queue_url
        if not queue_url:
            return
        delay = 0 if at_once else self._delay(receive_count)
        try:
            client("sqs").change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay
            )
        except Exception as exc:  # the visibility timeout still brings it back; never mask the original failure
            logger.warning("could not set retry delay", extra={"reason": describe_error(exc)})

    def _failed(
        self, envelope: Envelope, record: SQSRecord, receive_count: int, exc: Exception, place: LanePlace
    ) -> None:
        reason = describe_error(exc)
        last = receive_count >= self.connector.env.max_receive_count
        audit = self.connector.audit
        if isinstance(exc, InProgressElsewhere | OutOfTime) and not last:
            # Not a failure: another invocation is posting the record (this delivery comes back later and is
            # suppressed as a duplicate), or it was handed back untried (it comes back at once).
            audit.record(envelope, AuditEvent.DEFERRED, reason=reason, attempt=receive_count)
            count("HandedBack" if isinstance(exc, OutOfTime) else "Deferred", envelope.connection)
            logger.info("record deferred", extra={"record": envelope.record_key, "attempt": receive_count})
            return
        work = UnitOfWork(envelope, audit, self.connector.state)  # the failure and the status in one write
        work.audit(
            AuditEvent.FAILED,
            reason=reason,
            attempt=receive_count,
            max_attempts=self.connector.env.max_receive_count,
            message_id=record.message_id,
            transient=isinstance(exc, TransientError),
        )
        if last:
            work.audit(AuditEvent.DEAD_LETTERED, reason=reason, attempts=receive_count)
            work.status(RecordStatus.DEAD_LETTERED, reason=reason)
            count("DeadLettered", envelope.connection)
        else:
            work.status(RecordStatus.FAILED, reason=reason, attempts=receive_count)
        self._write(work, place)
        count("Failed", envelope.connection)
        logger.warning(
            "record failed",
            extra={"record": envelope.record_key, "attempt": receive_count, "reason": reason, "last": last},
        )

    def _poison(self, record: SQSRecord, receive_count: int, exc: ValidationError) -> None:
        """A body that is not an envelope: record why, under a key stable across redeliveries."""
        digest = hashlib.sha256(record.body.encode("utf-8", "replace")).hexdigest()[:24]
        last = receive_count >= self.connector.env.max_receive_count
        reason = f"not a valid envelope: {exc.error_count()} validation errors, first at {_first_loc(exc)}"
        self.connector.audit.record_raw(
            f"unparseable|message|{digest}",
            AuditEvent.DEAD_LETTERED if last else AuditEvent.FAILED,
            reason=reason,
            attempt=receive_count,
            message_id=record.message_id,
        )
        logger.error("poison message", extra={"digest": digest, "attempt": receive_count, "reason": reason})

    # --- one envelope -------------------------------------------------------------------------------
    def process(self, envelope: Envelope, place: LanePlace) -> PosterOutcome:
        try:
            result = self._idempotent_process(envelope=envelope, place=place)
        except IdempotencyAlreadyInProgressError:
            raise InProgressElsewhere("the same record version is being posted by another invocation") from None
        finally:
            place.done_with_erp()  # whatever is left to write, the next record may talk to the ERP
        outcome = PosterOutcome(
            status=result["status"],
            documents=tuple(result.get("documents", ())),
            duplicate=result.get("duplicate", False),
        )
        if outcome.duplicate:
            self.connector.audit.record(envelope, AuditEvent.DUPLICATE, first_outcome=outcome.status)
            count("DuplicatesSuppressed", envelope.connection)
        return outcome

    def _process(self, envelope: Envelope, place: LanePlace) -> dict[str, Any]:
        work = UnitOfWork(envelope, self.connector.audit, self.connector.state, shared=place.lane.bindings)
        work.audit(AuditEvent.PROCESSING)
        try:
            documents = self._post_envelope(envelope, work, place)
        except ReviewError as exc:
            work.audit(AuditEvent.NEEDS_REVIEW, reason=exc.reason, **_flat(exc.detail))
            work.status(RecordStatus.NEEDS_REVIEW, reason=exc.reason)
            self._write(work, place)
            count("NeedsReview", envelope.connection)
            return {"status": RecordStatus.NEEDS_REVIEW, "documents": []}
        except Exception:
            # Keep what was done before the failure (documents created, customers bound) in the trail.
            try:
                self._write(work, place)
            except Exception as flush_error:  # the ERP lookup on retry still finds what was created
                logger.warning("could not record partial progress", extra={"reason": describe_error(flush_error)})
            raise
        if documents is None:
            self._write(work, place)
            return {"status": RecordStatus.SKIPPED, "documents": []}
        work.status(RecordStatus.POSTED, documents=list(documents))
        self._write(work, place)
        return {"status": RecordStatus.POSTED, "documents": list(documents)}

    @staticmethod
    def _write(work: UnitOfWork, place: LanePlace) -> None:
        """The record's buffered writes, after those of the earlier records in the batch it shares a subject with."""
        place.done_with_erp()
        place.wait_to_write()
        work.flush()

    def _post_envelope(self, envelope: Envelope, work: UnitOfWork, place: LanePlace) -> list[str] | None:
        name = envelope.connection
        source = self.connector.source(name)
        payload = envelope.payload if envelope.payload is not None else source.fetch(envelope.kind, envelope.object_id)

        if envelope.kind is RecordKind.CUSTOMER:
            customer = _map(source.to_customer, payload, "customer")
            place.will_talk_about(customer_subjects(customer))
            work.prefetch([("customer", customer.source_id)])
            with place.erp_turn():
                return [self._customer(work, customer)]

        if envelope.kind is RecordKind.ORDER:
            if envelope.topic.endswith(".deleted"):
                self._skip(work, "deleted in the store; postings are never removed automatically")
                return None
            order = _map(source.to_order, payload, "order")
            if not order.paid:
                self._skip(work, f"order status {order.status!r} is not a paid status")
                return None
            postings = self.connector.engine(name).order_postings(order)
            place.will_talk_about([f"posting:{p.reference}" for p in postings] + customer_subjects(order.customer))
            work.prefetch(
                [("posting", p.reference) for p in postings]
                + ([("customer", order.customer.source_id)] if order.customer else [])
            )
            with place.erp_turn():
                customer_id = self._customer(work, order.customer) if order.customer else None
                return [self._post(work, posting, customer_id) for posting in postings]

        if envelope.kind is RecordKind.REFUND:
            refund = _map(source.to_refund, payload, "refund")
            if refund.amount == 0:
                self._skip(work, "the refund returns no money (restock only); nothing to post")
                return None
            order = _map(source.to_order, source.fetch(RecordKind.ORDER, refund.order_id), "order")
            engine = self.connector.engine(name)
            original = engine.order_reference(order)
            if not order.paid:
                raise ReviewError(f"refund {refund.source_id} belongs to order {order.reference}, which is not paid")
            refund_reference = engine.refund_reference(order, refund)
            place.will_talk_about(
                [f"posting:{original}", f"posting:{refund_reference}", *customer_subjects(order.customer)]
            )
            work.prefetch(
                [("posting", original), ("posting", refund_reference)]
                + ([("customer", order.customer.source_id)] if order.customer else [])
            )
            with place.erp_turn():
                if work.erp_id("posting", original) is None:
                    raise TransientError(f"original order {order.reference} is not posted yet; the refund waits for it")
                posting = engine.refund_posting(order, refund)
                customer_id = work.erp_id("customer", order.customer.source_id) if order.customer else None
                return [self._post(work, posting, customer_id)]

        raise ReviewError(f"records of kind {envelope.kind} are not posted by this connector")

    def _skip(self, work: UnitOfWork, reason: str) -> None:
        work.audit(AuditEvent.SKIPPED, reason=reason)
        work.status(RecordStatus.SKIPPED, reason=reason)
        count("Skipped", work.envelope.connection)

    def _customer(self, work: UnitOfWork, customer: Customer) -> str:
        fingerprint = _customer_fingerprint(customer)
        known = work.binding("customer", customer.source_id)
        if known and known.get("fingerprint") == fingerprint:
            if work.envelope.kind is RecordKind.CUSTOMER:  # the record's own outcome: nothing to change in the ERP
                work.audit(AuditEvent.ALREADY_POSTED, erp_customer_id=known["erp_id"], unchanged=True)
            return known["erp_id"]
        target = self.connector.target(work.envelope.connection)
        erp_id = target.upsert_customer(customer, known["erp_id"] if known else None)
        work.bind("customer", customer.source_id, erp_id, fingerprint=fingerprint)
        work.audit(AuditEvent.CUSTOMER_UPSERTED, erp_customer_id=erp_id, created=known is None)
        return erp_id

    def _post(self, work: UnitOfWork, posting: Posting, customer_id: str | None) -> str:
        bound = work.erp_id("posting", posting.reference)
        if bound:
            work.audit(AuditEvent.ALREADY_POSTED, reference=posting.reference, erp_document_id=bound)
            return bound
        target = self.connector.target(work.envelope.connection)
        found = target.find_posting(posting)
        if found:
            work.bind("posting", posting.reference, found)
            work.audit(AuditEvent.ALREADY_POSTED, reference=posting.reference, erp_document_id=found, found_in_erp=True)
            return found
        document_id = target.create_posting(posting, customer_id)
        work.bind("posting", posting.reference, str(document_id))
        if isinstance(document_id, FoundInErp):  # another worker created it between our lookup and our create
            work.audit(
                AuditEvent.ALREADY_POSTED,
                reference=posting.reference,
                erp_document_id=str(document_id),
                found_in_erp=True,
                refused_as_duplicate=True,
            )
            return str(document_id)
        remark = {"remark": document_id.remark} if isinstance(document_id, PostedWithRemark) else {}
        work.audit(AuditEvent.POSTED, **posting_summary(posting), erp_document_id=str(document_id), **remark)
        count("Posted", work.envelope.connection)
        return document_id


def customer_subjects(customer: Customer | None) -> list[str]:
    """What an ERP may find a customer by (store id, e-mail, name): records sharing one talk to the ERP in turn."""
    if customer is None:
        return []
    person = f"{customer.first_name} {customer.last_name}"
    identities = [
        ("customer", customer.source_id),
        ("email", customer.email),
        ("name", customer.company),
        ("name", person),
    ]
    return [f"{kind}:{' '.join(value.lower().split())}" for kind, value in identities if value.strip()]


def _record_key(body: str) -> str | None:
    """The record an SQS body is about; None for a body that is not an envelope (handled as poison)."""
    try:
        return Envelope.from_json(body).record_key
    except ValidationError:
        return None


def posting_summary(posting: Posting) -> dict[str, Any]:
    """What the audit trail keeps of a posting: totals and how each line was mapped, no personal data."""
    return {
        "document_kind": str(posting.kind),
        "reference": posting.reference,
        "reverses": posting.reverses,
        "currency": posting.currency,
        "source_total": str(posting.source_total),
        "debits": str(posting.debits),
        "credits": str(posting.credits),
        "base_currency": posting.base_currency,
        "exchange_rate": str(posting.exchange_rate),
        "rate_source": posting.rate_source,
        "lines": [f"{line.account} {line.amount} {line.line_class} ← {line.rule}" for line in posting.lines],
    }


def _flat(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int)) else json.dumps(v, default=str) for k, v in detail.items()}


def _map[T](mapper: Callable[[dict[str, Any]], T], payload: dict[str, Any], what: str) -> T:
    """Run a store mapper; a record the mapper cannot read is for review, not for retrying."""
    try:
        return mapper(payload)
    except (ValidationError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ReviewError(f"the store's {what} could not be mapped: {describe_error(exc)}") from None


def _first_loc(exc: ValidationError) -> str:
    """Where the first error is and what it says (never the value: no personal data in the audit trail)."""
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return "(top)"
    return f"{'.'.join(str(p) for p in errors[0]['loc']) or '(body)'}: {errors[0]['msg']}"
