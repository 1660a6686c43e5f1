"""Putting envelopes on the ingest queue."""

from __future__ import annotations

from collections.abc import Sequence

from mlconnector.aws.clients import client
from mlconnector.envelope import Envelope
from mlconnector.errors import TransientError


def enqueue(queue_url: str, envelopes: Sequence[Envelope]) -> list[str]:
    """Send envelopes in batches of ten; return their message ids. Any refused entry raises."""
    sqs = client("sqs")
    message_ids: list[str] = []
    for start in range(0, len(envelopes), 10):
        chunk = envelopes[start : start + 10]
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "MessageBody": e.to_json()} for i, e in enumerate(chunk)],
        )
        if response.get("Failed"):
            codes = sorted({f["Code"] for f in response["Failed"]})
            raise TransientError(f"SQS refused {len(response['Failed'])} of {len(chunk)} messages: {codes}")
        by_id = {int(s["Id"]): s["MessageId"] for s in response["Successful"]}
        message_ids.extend(by_id[i] for i in range(len(chunk)))
    return message_ids
