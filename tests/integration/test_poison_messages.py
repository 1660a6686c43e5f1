"""Poison messages put straight on the ingest queue, in one batch with genuine orders, on the local runtime.

Garbage, JSON that is no envelope, envelopes of the wrong schema or for no connection, a 256 KB body and an
envelope whose store record is absurd: each ends in review or in the DLQ with its reason in the audit trail, and
the genuine orders of the same batch post. The poster runs as the SQS event source runs it (partial batch
responses, back-off, redrive to the DLQ after ``MaxReceiveCount`` receives).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.runtime import SqsBatching, SqsEventSource
from local.stack import LocalStack
from mlconnector.envelope import Envelope, Origin, RecordKind
from mlconnector.sources.woocommerce.webhooks import version_of
from tests.support.stack import audit_items
from tests.support.waiting import wait_for

CONNECTION = "woo-psft"
MAX_RECEIVE_COUNT = 2


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(connections=[CONNECTION], parameters={"MaxReceiveCount": str(MAX_RECEIVE_COUNT)}) as running:
        assert running.runtime
        running.runtime.stop_event_sources()  # this test runs the poster's event source itself, once it is all queued
        yield running


def envelope(order: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A genuine order's envelope (as the receiver writes it), with ``changes`` applied to its fields."""
    genuine = Envelope(
        connection=CONNECTION,
        kind=RecordKind.ORDER,
        object_id=str(order["id"]),
        version=version_of(order),
        origin=Origin.WEBHOOK,
        topic="order.updated",
        payload=order,
    )
    return {**json.loads(genuine.to_json()), **changes}


def poison(order: dict[str, Any]) -> dict[str, str]:
    """Message bodies no poster can post, by what is wrong with them."""
    nested = {"id": order["id"], "date_modified_gmt": order["date_modified_gmt"], "meta": []}
    for _ in range(300):
        nested = {"meta": [nested]}
    bodies = {
        "garbage": "not an envelope at all {{{ <<< \t",
        "json, not an envelope": json.dumps({"order": order["id"], "hello": "world"}),
        "a JSON array": json.dumps([order]),
        "wrong schema: unknown kind": json.dumps(envelope(order, kind="invoice")),
        "wrong schema: extra field, no version": json.dumps(
            {k: v for k, v in envelope(order, priority=1).items() if k != "version"}
        ),
        "no such connection": json.dumps(envelope(order, connection="nowhere")),
        "absurd store record": json.dumps(envelope(order, object_id="999", payload={"id": "x", "line_items": 7})),
        "nested deeper than the reader goes": json.dumps(envelope(order, object_id="998", payload=nested)),
    }
    padding = 256 * 1024 - len(bodies["garbage"])
    bodies["256 KB of garbage"] = bodies["garbage"] + "x" * padding
    big = envelope(order, object_id="997", payload={"id": 997, "line_items": ""})
    big["payload"]["line_items"] = "n" * (256 * 1024 - len(json.dumps(big)))
    bodies["256 KB envelope"] = json.dumps(big)
    return bodies


def test_poison_messages_end_in_review_or_the_dlq_and_never_block_their_batch(stack, record_property):
    assert stack.runtime
    runtime, sqs = stack.runtime, stack.runtime.client("sqs")
    queue_url, dlq_url = runtime.outputs["IngestQueueUrl"], runtime.outputs["DeadLetterQueueUrl"]
    woo = stack.stores[CONNECTION].state
    orders = [o for o in woo.generate_orders(12, seed=21) if o.get("date_paid_gmt") and not o.get("refunds")][:3]
    bodies = {f"genuine order {o['id']}": json.dumps(envelope(o)) for o in orders} | poison(orders[0])
    assert len(bodies) == 13 and len(bodies["256 KB of garbage"]) == len(bodies["256 KB envelope"]) == 256 * 1024
    names: dict[str, str] = {}
    for start in range(0, len(bodies), 10):
        chunk = list(bodies.items())[start : start + 10]
        sent = sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": body} for i, (_, body) in enumerate(chunk)]
        )
        names |= {s["MessageId"]: chunk[int(s["Id"])][0] for s in sent["Successful"]}

    batches: list[tuple[list[str], dict[str, Any]]] = []

    def invoke(event: dict[str, Any]) -> Any:
        result = runtime.invoke("PosterFunction", event)
        batches.append(([r["messageId"] for r in event["Records"]], result))
        return result

    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = SqsEventSource(
        sqs=sqs,
        queue_url=queue_url,
        queue_arn=queue_arn,
        batching=SqsBatching(size=25, window_seconds=1),
        concurrency=1,
        partial=True,
        invoke=invoke,
        wait_seconds=1,
        name="poison",
    )
    source.start()
    try:
        dead = wait_for(lambda: dlq_messages(sqs, dlq_url) if runtime.queue_depth(queue_url) == 0 else None, 60)
    finally:
        source.stop()

    genuine = {name for name in bodies if name.startswith("genuine")}
    in_review = {"absurd store record", "256 KB envelope"}
    first_ids, first_result = batches[0]
    failed_first = {names[f["itemIdentifier"]] for f in first_result["batchItemFailures"]}
    dead_letters = sorted(names[m["MessageId"]] for m in dead)
    readable = {name: _record_key(bodies[name]) for name in genuine | in_review | {"no such connection"}}
    outcome = outcomes(audit_items(stack), names, readable)
    record_property(
        "counts",
        f"poison messages: {len(bodies) - len(genuine)} beside {len(genuine)} genuine orders in one batch of "
        f"{len(first_ids)}: {len(dead_letters)} in the DLQ, "
        f"{sum(1 for status, _ in outcome.values() if status == 'review')} in review, "
        f"{sum(1 for status, _ in outcome.values() if status == 'posted')} posted",
    )

    assert sorted(names[i] for i in first_ids) == sorted(bodies), "the messages were not all in the first batch"
    assert failed_first == set(bodies) - genuine - in_review, "a poison message blocked others of its batch"
    assert {name: outcome[name][0] for name in genuine} == dict.fromkeys(genuine, "posted")
    assert {name: outcome[name][0] for name in in_review} == dict.fromkeys(in_review, "review")
    assert dead_letters == sorted(set(bodies) - genuine - in_review)
    assert {name: outcome[name][0] for name in dead_letters} == dict.fromkeys(dead_letters, "dead_lettered")
    reasons = {name: reason for name, (_, reason) in outcome.items() if name not in genuine}
    says = {name: word in reasons[name] for name, word in EXPECTED_REASONS.items()}
    assert says == dict.fromkeys(EXPECTED_REASONS, True), reasons
    journals = stack.erps[CONNECTION].state.journals
    assert all(any(f"W{o['number']}" in str(j) for j in journals) for o in orders)


#: What the audit trail's reason names, per message: enough for an operator to see what is wrong with it.
EXPECTED_REASONS = {
    "garbage": "Invalid JSON",
    "256 KB of garbage": "Invalid JSON",
    "json, not an envelope": "connection: Field required",
    "a JSON array": "Input should be an object",
    "wrong schema: unknown kind": "kind: Input should be",
    "wrong schema: extra field, no version": "version: Field required",
    "no such connection": "nowhere",
    "absurd store record": "WooCommerce order payload",
    "256 KB envelope": "WooCommerce order payload",
    "nested deeper than the reader goes": "recursion limit exceeded",
}


def dlq_messages(sqs: Any, url: str) -> list[dict[str, Any]] | None:
    """The DLQ's messages once the eight undeliverable ones are there (peeked: visible again at once)."""
    found: dict[str, dict[str, Any]] = {}
    for _ in range(3):
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        found |= {m["MessageId"]: m for m in received.get("Messages", [])}
    return list(found.values()) if len(found) >= 8 else None


def outcomes(
    items: list[dict[str, Any]], names: dict[str, str], record_keys: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """Per message: (posted | review | dead_lettered | failed, its last reason), read from the audit trail. A
    message's failures carry its message id; a readable envelope's entries sit under its record key."""
    by_message: dict[str, list[dict[str, Any]]] = {}
    by_key: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        message_id = item.get("detail", {}).get("M", {}).get("message_id", {}).get("S")
        if message_id:
            by_message.setdefault(message_id, []).append(item)
        by_key.setdefault(item["pk"]["S"], []).append(item)
    found = {}
    for message_id, name in names.items():
        own = by_message.get(message_id, []) + by_key.get(record_keys.get(name, ""), [])
        rows = {i["sk"]["S"]: i for i in own}
        events = [rows[sk]["event"]["S"] for sk in sorted(rows)]
        reasons = [rows[sk]["detail"]["M"].get("reason", {}).get("S", "") for sk in sorted(rows)]
        status = next((s for e, s in _STATUSES if e in events), "failed")
        found[name] = (status, next((r for r in reversed(reasons) if r), ""))
    return found


_STATUSES = (("posted", "posted"), ("needs_review", "review"), ("dead_lettered", "dead_lettered"))


def _record_key(body: str) -> str:
    data = json.loads(body)
    return f"{data['connection']}|{data['kind']}|{data['object_id']}"
