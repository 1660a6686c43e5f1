"""Batch reads and writes finish their work: unprocessed keys/items are sent again, never dropped."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from mlconnector.aws import batch
from mlconnector.aws.clients import reset, resource
from mlconnector.errors import TransientError


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(batch.time, "sleep", lambda _seconds: None)
    reset()
    with Stubber(resource().meta.client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
    reset()


def _put(pk: str, sk: str = "-", **extra: str) -> dict:
    """A put request as the resource is called with (plain values)."""
    return {"PutRequest": {"Item": {"pk": pk, "sk": sk, **extra}}}


def _put_typed(pk: str, sk: str = "-") -> dict:
    """The same request as DynamoDB answers it in UnprocessedItems (typed values)."""
    return {"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": sk}}}}


def test_unprocessed_items_are_written_again(stubbed):
    first = {"audit": [_put("a", "1"), _put("a", "2")], "state": [_put("map#x")]}
    stubbed.add_response(
        "batch_write_item", {"UnprocessedItems": {"state": [_put_typed("map#x")]}}, {"RequestItems": first}
    )
    stubbed.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": {"state": [_put("map#x")]}})
    batch.batch_put(
        [("audit", {"pk": "a", "sk": "1"}), ("audit", {"pk": "a", "sk": "2"}), ("state", {"pk": "map#x", "sk": "-"})]
    )


def test_a_key_written_twice_in_one_record_is_sent_once_with_its_latest_value(stubbed):
    stubbed.add_response(
        "batch_write_item",
        {"UnprocessedItems": {}},
        {"RequestItems": {"state": [_put("record#1", "status", status="posted")]}},
    )
    batch.batch_put(
        [
            ("state", {"pk": "record#1", "sk": "status", "status": "failed"}),
            ("state", {"pk": "record#1", "sk": "status", "status": "posted"}),
        ]
    )


def test_more_than_25_items_go_in_several_requests(stubbed):
    items = [("audit", {"pk": f"k{i:02d}", "sk": "-"}) for i in range(30)]
    stubbed.add_response("batch_write_item", {}, {"RequestItems": {"audit": [_put(f"k{i:02d}") for i in range(25)]}})
    stubbed.add_response(
        "batch_write_item", {}, {"RequestItems": {"audit": [_put(f"k{i:02d}") for i in range(25, 30)]}}
    )
    batch.batch_put(items)


def test_items_dynamodb_keeps_refusing_raise_a_transient_error(stubbed):
    for _ in range(batch.ATTEMPTS):
        stubbed.add_response("batch_write_item", {"UnprocessedItems": {"state": [_put_typed("map#x")]}})
    with pytest.raises(TransientError, match="left UnprocessedItems after"):
        batch.batch_put([("state", {"pk": "map#x", "sk": "-"})])


def test_unprocessed_keys_are_read_again(stubbed):
    keys = [{"pk": "map#a", "sk": "-"}, {"pk": "map#b", "sk": "-"}]
    typed = [{"pk": {"S": k["pk"]}, "sk": {"S": "-"}} for k in keys]
    stubbed.add_response(
        "batch_get_item",
        {
            "Responses": {"state": [{"pk": {"S": "map#a"}, "sk": {"S": "-"}, "erp_id": {"S": "J1"}}]},
            "UnprocessedKeys": {"state": {"Keys": typed[1:], "ConsistentRead": True}},
        },
        {"RequestItems": {"state": {"Keys": keys, "ConsistentRead": True}}},
    )
    stubbed.add_response(
        "batch_get_item",
        {"Responses": {"state": [{"pk": {"S": "map#b"}, "sk": {"S": "-"}, "erp_id": {"S": "J2"}}]}},
        {"RequestItems": {"state": {"Keys": keys[1:], "ConsistentRead": True}}},
    )
    found = batch.batch_get("state", keys)
    assert sorted(i["erp_id"] for i in found) == ["J1", "J2"]
