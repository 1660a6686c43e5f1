"""The local runtime builds what template.yaml declares and runs the SQS mapping like Lambda."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from local.runtime import LocalRuntime, SqsBatching, SqsEventSource, gather_sqs_batch
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"CustomerName": "test", "PrimaryConnection": "woo-psft", "MaxReceiveCount": "2", "RetryBaseSeconds": "1"}


@pytest.fixture(scope="module")
def runtime():
    with LocalRuntime(ROOT / "template.yaml", parameters=PARAMS, stack_name="rt-test") as rt:
        yield rt


def test_resources_match_the_template(runtime):
    sqs = runtime.client("sqs")
    ingest = sqs.get_queue_attributes(QueueUrl=runtime.outputs["IngestQueueUrl"], AttributeNames=["All"])["Attributes"]
    assert ingest["VisibilityTimeout"] == "540"
    redrive = json.loads(ingest["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 2
    assert redrive["deadLetterTargetArn"] == runtime.outputs["DeadLetterQueueArn"]
    ddb = runtime.client("dynamodb")
    audit = ddb.describe_table(TableName=runtime.outputs["AuditTableName"])["Table"]
    assert [i["IndexName"] for i in audit["GlobalSecondaryIndexes"]] == ["by_day"]
    ttl = ddb.describe_time_to_live(TableName=runtime.outputs["IdempotencyTableName"])["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiration"
    assert set(runtime.functions) == {
        "WebhookReceiverFunction",
        "PollerFunction",
        "PosterFunction",
        "WebhookKeeperFunction",
        "ReconcilerFunction",
    }
    assert runtime.outputs["WebhookBaseUrl"] == f"{runtime.api_url}/webhooks/"
    keeper = runtime.functions["WebhookKeeperFunction"]
    assert keeper.environment["WEBHOOK_BASE_URL"] == f"{runtime.api_url}/webhooks/"
    poster = runtime.functions["PosterFunction"]
    assert poster.timeout == 90 and poster.environment["MAX_RECEIVE_COUNT"] == "2"


def test_unknown_route_is_refused_like_an_http_api(runtime):
    import requests

    for method, path in (("GET", "/nothing"), ("GET", "/webhooks/woo-psft"), ("POST", "/webhooks")):
        response = requests.request(method, f"{runtime.api_url}{path}", timeout=5)
        assert (response.status_code, response.json()) == (404, {"message": "Not Found"})


def test_poison_message_ends_in_the_dlq_and_the_audit_trail_says_why(runtime):
    sqs = runtime.client("sqs")
    sqs.send_message(QueueUrl=runtime.outputs["IngestQueueUrl"], MessageBody="{not an envelope")
    wait_for(lambda: runtime.queue_depth(runtime.outputs["DeadLetterQueueUrl"]) == 1, timeout=30)
    table = runtime.client("dynamodb")
    items = table.scan(TableName=runtime.outputs["AuditTableName"])["Items"]
    poison = sorted((i for i in items if i["pk"]["S"].startswith("unparseable|")), key=lambda i: i["sk"]["S"])
    assert [i["event"]["S"] for i in poison] == ["failed", "dead_lettered"]
    assert "not a valid envelope" in poison[-1]["detail"]["M"]["reason"]["S"]


@pytest.mark.parametrize(
    ("batching", "sizes"),
    [(SqsBatching(25, 1.0), [23]), (SqsBatching(10, 1.0), [10, 10, 3]), (SqsBatching(25, 0.0), [10, 10, 3])],
)
def test_the_sqs_mapping_gathers_batches_as_lambda_does(runtime, batching, sizes):
    """BatchSize beyond SQS's ten per receive is filled within the batching window, and never exceeded."""
    sqs = runtime.client("sqs")
    url = sqs.create_queue(QueueName=f"gather-{batching.size}-{int(batching.window_seconds)}")["QueueUrl"]
    for start in range(0, 23, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(start, min(23, start + 10))]
        )
    got = [len(gather_sqs_batch(sqs, url, batching, wait_seconds=0)) for _ in sizes]
    assert got == sizes


class RecordingFunction:
    """A stand-in for the deployed function behind an event source: records each batch, takes ``seconds``."""

    def __init__(self, seconds: float = 0.0, fail: frozenset[str] = frozenset()) -> None:
        self.seconds = seconds
        self.fail = fail
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict) -> dict:
        bodies = [r["body"] for r in event["Records"]]
        with self.lock:
            self.batches.append(bodies)
        time.sleep(self.seconds)
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in self.fail
            ]
        }


def event_source(runtime, name: str, function: RecordingFunction, concurrency: int = 1) -> tuple[SqsEventSource, str]:
    sqs = runtime.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    source = SqsEventSource(
        sqs=sqs,
        queue_url=url,
        queue_arn=f"arn:aws:sqs:us-east-1:123456789012:{name}",
        batching=SqsBatching(size=10, window_seconds=0),
        concurrency=concurrency,
        partial=True,
        invoke=function,
        wait_seconds=1,
        name=name,
    )
    return source, url


def send(runtime, url: str, bodies: list[str]) -> None:
    runtime.client("sqs").send_message_batch(QueueUrl=url, Entries=[{"Id": b, "MessageBody": b} for b in bodies])


def visible_and_in_flight(runtime, url: str) -> tuple[int, int]:
    attributes = runtime.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_the_event_source_receives_the_next_batch_while_the_function_runs(runtime):
    """As Lambda's pollers do: when an instance frees up, its next batch is already received."""
    function = RecordingFunction(seconds=1.0)
    source, url = event_source(runtime, "esm-prefetch", function)
    send(runtime, url, [f"a{n}" for n in range(10)])
    source.start()
    try:
        wait_for(lambda: function.batches, timeout=10)
        send(runtime, url, [f"b{n}" for n in range(10)])
        # The first batch is still running; the second is received (in flight) before it ends.
        wait_for(lambda: visible_and_in_flight(runtime, url) == (0, 20), timeout=0.8)
        wait_for(lambda: visible_and_in_flight(runtime, url) == (0, 0), timeout=10)
    finally:
        source.stop()
    # A receive may return part of what was just sent (SQS's and moto's alike): the b messages may come in more
    # than one batch, each once, all after the a batch.
    assert sorted(function.batches[0]) == sorted(f"a{n}" for n in range(10))
    assert sorted(body for batch in function.batches[1:] for body in batch) == sorted(f"b{n}" for n in range(10))


def test_failed_items_stay_and_a_stopped_source_hands_back_what_it_holds(runtime):
    function = RecordingFunction(seconds=2.0, fail=frozenset({"c3"}))
    source, url = event_source(runtime, "esm-stop", function)
    send(runtime, url, [f"c{n}" for n in range(10)])
    source.start()
    wait_for(lambda: function.batches, timeout=10)
    send(runtime, url, [f"d{n}" for n in range(10)])
    wait_for(lambda: visible_and_in_flight(runtime, url)[0] == 0, timeout=5)  # the poller holds the d batch
    source.stop()
    # The c batch was processed (c3 failed and stays in flight until its visibility timeout); the d batch,
    # received but never delivered, is visible again at once instead of after the visibility timeout.
    assert len(function.batches) == 1
    assert visible_and_in_flight(runtime, url) == (10, 1)
