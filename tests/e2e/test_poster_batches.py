"""One poster invocation with several records: they run side by side, the ERP sees one call at a time.

The handler is invoked directly with an SQS event, as Lambda would with a batch, so the records'
order in the batch is known.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from local.stack import LocalStack
from mlconnector.aws.clients import client, resource
from mlconnector.envelope import Envelope, Origin, RecordKind
from mlconnector.pipeline.poster import TIME_RESERVE_SECONDS
from tests.support.stack import audit_items, events_for, journals_for

LINES = [{"product_id": 103, "name": "Stainless Kettle 1.2L", "sku": "KET-SS-12", "price": "59.99", "quantity": 2}]


@pytest.fixture
def stack():
    with LocalStack(connections=["woo-psft"]) as stack:
        stack.runtime.stop_event_sources()  # nothing but this test's invocations reaches the poster
        yield stack


def sqs_event(stack: LocalStack, *envelopes: Envelope) -> dict:
    """The envelopes as an SQS event on their first delivery (receipt handles that the queue does not know)."""
    messages = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": f"handle-{i}",
            "Body": envelope.to_json(),
            "Attributes": {"ApproximateReceiveCount": "1"},
        }
        for i, envelope in enumerate(envelopes)
    ]
    return event_from(stack, messages)


def event_from(stack: LocalStack, messages: list[dict]) -> dict:
    """SQS ``ReceiveMessage`` messages as the event Lambda's event-source mapping would deliver."""
    arn = f"arn:aws:sqs:us-east-1:123456789012:{stack.runtime.outputs['IngestQueueUrl'].rsplit('/', 1)[-1]}"
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"]},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def received_from_the_queue(stack: LocalStack, *envelopes: Envelope) -> dict:
    """The envelopes sent to the ingest queue and received from it, as the SQS event Lambda would get."""
    url = stack.runtime.outputs["IngestQueueUrl"]
    for envelope in envelopes:
        client("sqs").send_message(QueueUrl=url, MessageBody=envelope.to_json())
    return event_from(stack, receive_all(stack, len(envelopes)))


def receive_all(stack: LocalStack, expected: int) -> list[dict]:
    """What the ingest queue hands out now (a few quick receives, no long polling)."""
    url = stack.runtime.outputs["IngestQueueUrl"]
    messages: list[dict] = []
    for _ in range(10):
        messages += (
            client("sqs")
            .receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0)
            .get("Messages", [])
        )
        if len(messages) >= expected:
            break
    return messages


@contextmanager
def before_each_batch_write(hook: Callable[..., None]) -> Iterator[None]:
    """Call ``hook(params)`` before every DynamoDB ``BatchWriteItem`` (a record's outcome), e.g. to slow one down."""
    events = resource().meta.client.meta.events
    events.register("provide-client-params.dynamodb.BatchWriteItem", hook)
    try:
        yield
    finally:
        events.unregister("provide-client-params.dynamodb.BatchWriteItem", hook)


def order_envelope(order: dict, version: str = "") -> Envelope:
    return Envelope(
        connection="woo-psft",
        kind=RecordKind.ORDER,
        object_id=str(order["id"]),
        version=version or order["date_modified_gmt"],
        origin=Origin.POLLER,
        payload=order,
    )


def refund_envelope(order: dict, refund: dict) -> Envelope:
    return Envelope(
        connection="woo-psft",
        kind=RecordKind.REFUND,
        object_id=f"{order['id']}:{refund['id']}",
        version=str(refund["id"]),
        origin=Origin.POLLER,
    )


def test_an_order_and_its_refund_in_one_batch_both_post(stack):
    """The refund needs the order's journal: it sees it in the same batch, before the order's writes land."""
    woo = stack.stores["woocommerce"].state
    order = woo.create_order(lines=LINES, billing={"first_name": "Ann", "last_name": "Lee"}, deliver=False)
    refund = woo.add_refund(order["id"], lines={order["line_items"][0]["id"]: 1}, deliver=False)

    result = stack.runtime.invoke(
        "PosterFunction", sqs_event(stack, order_envelope(order), refund_envelope(order, refund))
    )

    assert result == {"batchItemFailures": []}
    assert len(journals_for(stack, f"W{order['number']}")) == 1
    assert len(journals_for(stack, f"W{order['number']}-R{refund['id']}")) == 1
    assert events_for(stack, f"woo-psft|refund|{order['id']}:{refund['id']}")[-1] == "posted"


def test_two_orders_of_one_new_customer_in_one_batch_create_the_customer_once(stack):
    woo = stack.stores["woocommerce"].state
    psft = stack.erps["peoplesoft"].state
    customer = woo.add_customer(first_name="Grace", last_name="Hopper", email="grace@example.com", deliver=False)
    first, second = (woo.create_order(lines=LINES, customer_id=customer["id"], deliver=False) for _ in range(2))
    customer_calls_before = {k: v for k, v in psft.requests.items() if k.startswith("CI_CUSTOMER")}

    result = stack.runtime.invoke("PosterFunction", sqs_event(stack, order_envelope(first), order_envelope(second)))

    assert result == {"batchItemFailures": []}
    customer_calls = {
        k: v - customer_calls_before.get(k, 0) for k, v in psft.requests.items() if k.startswith("CI_CUSTOMER")
    }
    assert customer_calls.get("CI_CUSTOMER_CI_C") == 1, customer_calls
    assert events_for(stack, f"woo-psft|order|{second['id']}") == ["processing", "posted"]
    for order in (first, second):
        assert len(journals_for(stack, f"W{order['number']}")) == 1


def test_orders_of_different_customers_overlap_their_erp_conversations_one_call_at_a_time(stack):
    """While one record reads its answer or writes its outcome, another one's call is already at the ERP."""
    woo = stack.stores["woocommerce"].state
    psft = stack.erps["peoplesoft"].state
    psft.latency_seconds = 0.02
    orders = [
        woo.create_order(
            lines=LINES, billing={"first_name": "Ann", "last_name": f"Lee{i}", "email": f"ann{i}@x.io"}, deliver=False
        )
        for i in range(6)
    ]

    result = stack.runtime.invoke("PosterFunction", sqs_event(stack, *(order_envelope(o) for o in orders)))

    assert result == {"batchItemFailures": []}
    assert psft.most_calls_in_flight == 1  # one container: never two calls at once
    stamps = {}
    for item in audit_items(stack):
        if item["event"]["S"] in ("customer_upserted", "posted"):
            stamps[(item["pk"]["S"], item["event"]["S"])] = item["at"]["S"]
    keys = [f"woo-psft|order|{o['id']}" for o in orders]
    assert all((key, "posted") in stamps for key in keys)
    interleaved = [
        (earlier, later)
        for earlier, later in itertools.pairwise(keys)
        if stamps[(later, "customer_upserted")] < stamps[(earlier, "posted")]
    ]
    assert interleaved, "every record waited for the one before it to finish with the ERP"


def test_two_store_customers_with_one_e_mail_in_one_batch_become_one_erp_customer(stack):
    """A registered customer and a guest checkout with the same e-mail: the second finds the first's customer."""
    woo = stack.stores["woocommerce"].state
    psft = stack.erps["peoplesoft"].state
    psft.latency_seconds = 0.01
    registered = woo.add_customer(first_name="Kay", last_name="Ng", email="kay@example.com", deliver=False)
    first = woo.create_order(
        lines=LINES,
        customer_id=registered["id"],
        billing={"first_name": "Kay", "last_name": "Ng", "email": "kay@example.com"},
        deliver=False,
    )
    guest = woo.create_order(
        lines=LINES, billing={"first_name": "K.", "last_name": "Ng", "email": "kay@example.com"}, deliver=False
    )
    created_before = psft.requests["CI_CUSTOMER_CI_C"]

    result = stack.runtime.invoke("PosterFunction", sqs_event(stack, order_envelope(first), order_envelope(guest)))

    assert result == {"batchItemFailures": []}
    assert psft.requests["CI_CUSTOMER_CI_C"] - created_before == 1
    for order in (first, guest):
        assert len(journals_for(stack, f"W{order['number']}")) == 1


def test_a_failing_record_in_the_middle_of_a_batch_is_the_only_one_reported(stack):
    """Records before and after a failing one post; only the failing one goes back to SQS."""
    woo = stack.stores["woocommerce"].state
    orders = [
        woo.create_order(lines=LINES, billing={"first_name": "Ann", "last_name": f"Lee{i}"}, deliver=False)
        for i in range(5)
    ]
    unposted = woo.create_order(lines=LINES, deliver=False)
    refund = woo.add_refund(unposted["id"], lines={unposted["line_items"][0]["id"]: 1}, deliver=False)
    envelopes = [order_envelope(o) for o in orders]
    envelopes.insert(2, refund_envelope(unposted, refund))  # its order was never posted: a transient failure
    event = sqs_event(stack, *envelopes)

    result = stack.runtime.invoke("PosterFunction", event)

    assert result["batchItemFailures"] == [{"itemIdentifier": event["Records"][2]["messageId"]}]
    for order in orders:
        assert len(journals_for(stack, f"W{order['number']}")) == 1
    assert "failed" in events_for(stack, f"woo-psft|refund|{unposted['id']}:{refund['id']}")


def test_two_versions_of_one_order_in_one_batch_leave_the_later_ones_status(stack):
    """Paid, then deleted in the store: the first version posts (ERP calls), the second is skipped at once
    (a deletion never removes a posting). The skip is written after the posting, as if the two had come in
    separate invocations. (A paid order that is cancelled stays paid: WooCommerce keeps its date_paid.)"""
    from mlconnector.aws.state import StateStore

    woo = stack.stores["woocommerce"].state
    paid = woo.create_order(lines=LINES, deliver=False)
    deleted = Envelope(
        connection="woo-psft",
        kind=RecordKind.ORDER,
        object_id=str(paid["id"]),
        version="v2",
        origin=Origin.WEBHOOK,
        topic="order.deleted",
        payload={"id": paid["id"]},  # what WooCommerce's order.deleted delivers
    )
    event = sqs_event(stack, order_envelope(paid, "v1"), deleted)

    result = stack.runtime.invoke("PosterFunction", event)

    assert result == {"batchItemFailures": []}
    events = events_for(stack, f"woo-psft|order|{paid['id']}")
    assert (events.count("processing"), events.count("posted"), events.count("skipped")) == (2, 1, 1), events
    status = StateStore(stack.runtime.outputs["StateTableName"]).status(f"woo-psft|order|{paid['id']}")
    assert status["status"] == "skipped", status


def test_a_record_delivered_twice_in_one_batch_is_posted_once_and_the_repeat_suppressed(stack):
    """The repeat waits for the first appearance instead of finding its idempotency claim in progress."""
    woo = stack.stores["woocommerce"].state
    order = woo.create_order(lines=LINES, deliver=False)
    other = woo.create_order(lines=LINES, deliver=False)
    event = sqs_event(stack, order_envelope(order), order_envelope(other), order_envelope(order))

    result = stack.runtime.invoke("PosterFunction", event)

    assert result == {"batchItemFailures": []}
    events = events_for(stack, f"woo-psft|order|{order['id']}")
    assert "deferred" not in events, events
    assert (events.count("posted"), events.count("duplicate_suppressed")) == (1, 1), events
    assert len(journals_for(stack, f"W{order['number']}")) == 1


def test_a_skipped_record_does_not_hold_the_next_ones_erp_turn_while_it_writes(stack):
    """An unpaid order needs no ERP: while its outcome is being written, the next order already posts."""
    woo = stack.stores["woocommerce"].state
    psft = stack.erps["peoplesoft"].state
    unpaid = woo.create_order(lines=LINES, status="pending", deliver=False)
    paid = woo.create_order(lines=LINES, deliver=False)
    skip_written = threading.Event()
    erp_calls_while_skip_was_writing: list[int] = []

    def slow_skip_write(params: dict, **_: object) -> None:
        if f"woo-psft|order|{unpaid['id']}" in str(params) and not skip_written.is_set():
            before = sum(psft.requests.values())
            time.sleep(1.5)  # DynamoDB slow for this one write
            erp_calls_while_skip_was_writing.append(sum(psft.requests.values()) - before)
            skip_written.set()

    with before_each_batch_write(slow_skip_write):
        result = stack.runtime.invoke("PosterFunction", sqs_event(stack, order_envelope(unpaid), order_envelope(paid)))

    assert result == {"batchItemFailures": []}
    assert events_for(stack, f"woo-psft|order|{unpaid['id']}")[-1] == "skipped"
    assert events_for(stack, f"woo-psft|order|{paid['id']}")[-1] == "posted"
    assert erp_calls_while_skip_was_writing and erp_calls_while_skip_was_writing[0] >= 2, (
        erp_calls_while_skip_was_writing
    )


@pytest.mark.parametrize("same_customer", [False, True], ids=["different customers", "one customer"])
def test_a_records_outcome_waits_only_for_earlier_records_it_shares_a_subject_with(stack, same_customer):
    """The first order's outcome is slow to write: the second's waits for it only if they share the customer
    (whose binding both may write); otherwise the batch's writes do not queue behind it."""
    woo = stack.stores["woocommerce"].state
    ann = {"first_name": "Ann", "last_name": "Lee", "email": "ann@x.io"}
    first = woo.create_order(lines=LINES, billing=ann, deliver=False)
    second_billing = ann if same_customer else {"first_name": "Bo", "last_name": "Ng", "email": "bo@x.io"}
    second = woo.create_order(lines=LINES, billing=second_billing, deliver=False)
    first_key, second_key = (f"woo-psft|order|{o['id']}" for o in (first, second))
    writes: list[str] = []
    guard = threading.Lock()

    def slow_first_write(params: dict, **_: object) -> None:
        text = str(params)
        if first_key in text:
            time.sleep(1.0)  # DynamoDB slow for the first record's outcome
        with guard:
            writes.extend(key for key in (first_key, second_key) if key in text)

    with before_each_batch_write(slow_first_write):
        result = stack.runtime.invoke("PosterFunction", sqs_event(stack, order_envelope(first), order_envelope(second)))

    assert result == {"batchItemFailures": []}
    assert events_for(stack, first_key)[-1] == events_for(stack, second_key)[-1] == "posted"
    assert writes == ([first_key, second_key] if same_customer else [second_key, first_key])


def test_records_the_invocation_has_no_time_left_for_are_handed_back_untried_and_come_back_at_once(stack):
    """Only the batch's first record starts (every batch makes progress); the others come back at once."""
    woo = stack.stores["woocommerce"].state
    psft = stack.erps["peoplesoft"].state
    orders = [woo.create_order(lines=LINES, deliver=False) for _ in range(3)]
    poster = stack.runtime.functions["PosterFunction"]
    full_timeout = poster.timeout
    erp_calls_before = sum(psft.requests.values())

    event = received_from_the_queue(stack, *map(order_envelope, orders))
    first_id = Envelope.from_json(event["Records"][0]["body"]).object_id
    first_order = next(o for o in orders if str(o["id"]) == first_id)
    poster.timeout = TIME_RESERVE_SECONDS / 2
    try:
        result = stack.runtime.invoke("PosterFunction", event)
    finally:
        poster.timeout = full_timeout

    assert len(result["batchItemFailures"]) == 2
    assert events_for(stack, f"woo-psft|order|{first_order['id']}")[-1] == "posted"
    erp_calls_for_one_order = sum(psft.requests.values()) - erp_calls_before
    for order in orders:
        if order is not first_order:
            events = events_for(stack, f"woo-psft|order|{order['id']}")
            assert events == ["deferred"], events
    again = receive_all(stack, 2)  # visible again at once, not after the 540 s visibility timeout
    assert len(again) == 2

    result = stack.runtime.invoke("PosterFunction", event_from(stack, again))

    assert result == {"batchItemFailures": []}
    assert sum(psft.requests.values()) - erp_calls_before == 3 * erp_calls_for_one_order  # none tried twice
    for order in orders:
        events = events_for(stack, f"woo-psft|order|{order['id']}")
        assert events[-1] == "posted" and events.count("processing") == 1, events
        assert len(journals_for(stack, f"W{order['number']}")) == 1


def test_a_record_on_its_last_attempt_is_posted_however_little_time_is_left(stack):
    """Handing it back would send it to the DLQ untried: a timeout is the better risk."""
    woo = stack.stores["woocommerce"].state
    first, last_attempt = (woo.create_order(lines=LINES, deliver=False) for _ in range(2))
    event = sqs_event(stack, order_envelope(first), order_envelope(last_attempt))
    event["Records"][1]["attributes"]["ApproximateReceiveCount"] = "5"  # the template's MaxReceiveCount
    poster = stack.runtime.functions["PosterFunction"]
    full_timeout = poster.timeout

    poster.timeout = TIME_RESERVE_SECONDS / 2  # a second record on an earlier attempt is handed back
    try:
        result = stack.runtime.invoke("PosterFunction", event)
    finally:
        poster.timeout = full_timeout

    assert result == {"batchItemFailures": []}
    assert events_for(stack, f"woo-psft|order|{last_attempt['id']}")[-1] == "posted"


def test_a_batch_stops_starting_records_once_the_ones_it_has_seen_would_not_fit(stack, monkeypatch):
    """The reserve grows with the longest record so far: a slow ERP ends a batch early instead of in a timeout."""
    import mlconnector.pipeline.poster as poster_module

    monkeypatch.setattr(poster_module, "TIME_RESERVE_SECONDS", 0.5)
    woo = stack.stores["woocommerce"].state
    psft = stack.erps["peoplesoft"].state
    psft.latency_seconds = 0.1
    orders = [
        woo.create_order(lines=LINES, billing={"email": f"slow{i}@x.io", "last_name": f"Slow{i}"}, deliver=False)
        for i in range(12)
    ]
    poster = stack.runtime.functions["PosterFunction"]
    full_timeout = poster.timeout

    # Twelve new guests, five 0.1 s ERP calls each, on one connection: the last would start ~4.5 s in, with
    # far more than the fixed reserve left (all would start); but a record takes ~2 s with its wait behind
    # the three ahead of it, so the reserve grows past what is left before the last ones start.
    poster.timeout = 8
    try:
        first = stack.runtime.invoke("PosterFunction", sqs_event(stack, *map(order_envelope, orders)))
    finally:
        poster.timeout = full_timeout
    handed_back = {failure["itemIdentifier"] for failure in first["batchItemFailures"]}

    assert 0 < len(handed_back) < len(orders)
    events = {o["id"]: events_for(stack, f"woo-psft|order|{o['id']}") for o in orders}
    assert sorted(e[-1] for e in events.values()) == ["deferred"] * len(handed_back) + ["posted"] * (
        len(orders) - len(handed_back)
    )
    assert not any("failed" in e for e in events.values())

    rest = [o for o in orders if events[o["id"]] == ["deferred"]]
    second = stack.runtime.invoke("PosterFunction", sqs_event(stack, *map(order_envelope, rest)))

    assert second == {"batchItemFailures": []}
    for order in orders:
        assert len(journals_for(stack, f"W{order['number']}")) == 1
