"""The embedded AWS (local/aws_server.py): moto with its hot paths cached and deletes made thread-safe."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from local.runtime import _start_moto, free_port


@pytest.fixture(scope="module")
def sqs():
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = _start_moto(port, endpoint)
    try:
        yield boto3.client(
            "sqs", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def _depth(sqs, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_concurrent_deletes_leave_nothing_behind(sqs):
    """moto's own delete rebuilds the message list without a lock: deleted messages came back."""
    url = sqs.create_queue(QueueName="deletes", Attributes={"VisibilityTimeout": "360"})["QueueUrl"]
    for start in range(0, 400, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
        )
    received = []
    while len(received) < 400:
        received += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    handles = [m["ReceiptHandle"] for m in received]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda h: sqs.delete_message(QueueUrl=url, ReceiptHandle=h), handles))
    assert _depth(sqs, url) == (0, 0)


def test_sends_during_deletes_are_never_lost(sqs):
    url = sqs.create_queue(QueueName="sends", Attributes={"VisibilityTimeout": "360"})["QueueUrl"]
    for i in range(200):
        sqs.send_message(QueueUrl=url, MessageBody=f"old{i}")
    old = []
    while len(old) < 200:
        old += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])

    def send_new() -> None:
        for i in range(100):
            sqs.send_message(QueueUrl=url, MessageBody=f"new{i}")

    sender = threading.Thread(target=send_new)
    sender.start()
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda m: sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"]), old))
    sender.join()
    assert _depth(sqs, url) == (100, 0)


def test_visibility_changes_and_retention_still_behave(sqs):
    url = sqs.create_queue(QueueName="visibility", Attributes={"VisibilityTimeout": "360"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    (message,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=1)
    time.sleep(1.2)
    (again,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert again["Body"] == "x"
    assert sqs.receive_message(QueueUrl=url, AttributeNames=["All"]).get("Messages", []) == []


def test_queue_attributes_still_count_and_fifo_deduplication_still_applies(sqs):
    url = sqs.create_queue(QueueName="counts", Attributes={"VisibilityTimeout": "360"})["QueueUrl"]
    fifo = sqs.create_queue(
        QueueName="counts.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    for start in range(0, 30, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
        )
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=4)
    wanted = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "VisibilityTimeout"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=wanted)["Attributes"]
    assert attributes == {
        "ApproximateNumberOfMessages": "26",
        "ApproximateNumberOfMessagesNotVisible": "4",
        "VisibilityTimeout": "360",
    }
    # FIFO queues keep content-based deduplication (the send path still reads that attribute there).
    for _ in range(2):
        sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
    assert sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"] == {
        "ApproximateNumberOfMessages": "1"
    }
