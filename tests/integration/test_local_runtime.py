"""The local runtime builds what template.yaml declares and runs the SQS mapping like Lambda."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.runtime import LocalRuntime, SqsBatching, gather_sqs_batch
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


def test_unknown_route_is_refused_like_api_gateway(runtime):
    import requests

    response = requests.get(f"{runtime.api_url}/nothing", timeout=5)
    assert response.status_code == 403


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
