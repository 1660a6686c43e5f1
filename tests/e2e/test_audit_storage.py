"""What the audit trail costs in DynamoDB, on the local stack: one item per poster attempt, an index holding
only what reconciliation reads, and polls that do not send again what the poster has finished."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from boto3.dynamodb.conditions import Key

from local.stack import LocalStack
from mlconnector.ops.stack import StackOutputs, build_connector
from mlconnector.ops.story import story
from tests.e2e.test_woo_psft import new_paid_order
from tests.support.stack import events_for, journals_for

CONNECTION = "woo-psft"


@pytest.fixture(scope="module")
def stack():
    with LocalStack(connections=[CONNECTION]) as stack:
        yield stack


def raw_items(stack: LocalStack, record_key: str) -> list[dict[str, Any]]:
    """The record's audit items as stored."""
    table = _table(stack, "AuditTableName")
    return table.query(KeyConditionExpression=Key("pk").eq(record_key))["Items"]


def _table(stack: LocalStack, output: str) -> Any:
    import boto3

    resource = boto3.resource("dynamodb", endpoint_url=stack.runtime.endpoint, region_name="us-east-1")
    return resource.Table(stack.runtime.outputs[output])


def sent_to_ingest(stack: LocalStack) -> int:
    attributes = stack.runtime.client("sqs").get_queue_attributes(
        QueueUrl=stack.runtime.outputs["IngestQueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


def test_a_posted_order_is_two_audit_items_and_its_story_has_every_event(stack):
    woo = stack.stores[CONNECTION].state
    order = new_paid_order(woo)
    assert stack.runtime.wait_until_drained(timeout=60)
    key = f"{CONNECTION}|order|{order['id']}"

    items = raw_items(stack, key)
    assert [i.get("event") or [e["event"] for e in i["events"]] for i in sorted(items, key=lambda i: i["sk"])] == [
        "received",
        ["processing", "customer_upserted", "posted"],
    ]
    connector = build_connector(stack.profile, StackOutputs.from_outputs(stack.runtime.outputs))
    told = story(connector, key)
    assert [line.event for line in told.lines] == ["received", "processing", "customer_upserted", "posted"]
    assert [line.at for line in told.lines] == sorted(line.at for line in told.lines)
    posted = told.lines[-1].detail
    assert f"reference=W{order['number']}" in posted and "erp_document_id=" in posted
    assert told.status == "posted" and len(told.erp_documents) == 1


def test_only_the_outcomes_reconciliation_reads_are_in_the_by_day_index(stack):
    woo = stack.stores[CONNECTION].state
    order = new_paid_order(woo)
    unpaid = woo.create_order(
        lines=[{"product_id": 102, "name": "Beans", "sku": "COF-ORG-1KG", "price": "24.95", "quantity": 1}],
        status="pending",
    )
    assert stack.runtime.wait_until_drained(timeout=60)
    assert events_for(stack, f"{CONNECTION}|order|{unpaid['id']}")[-1] == "skipped"

    today = datetime.now(UTC).date().isoformat()
    indexed = _table(stack, "AuditTableName").query(
        IndexName="by_day", KeyConditionExpression=Key("day").eq(f"{CONNECTION}#{today}")
    )["Items"]
    keys = {i["pk"] for i in indexed}
    assert f"{CONNECTION}|order|{order['id']}" in keys
    assert f"{CONNECTION}|order|{unpaid['id']}" not in keys  # skipped: nothing to reconcile
    assert all("events" in i for i in indexed)  # received, enqueued, duplicates: never in the index


def poll_runs(stack: LocalStack, resource: str) -> list[dict[str, Any]]:
    """The poll's run entries for ``resource``, oldest first."""
    key = Key("pk").eq(f"{CONNECTION}|poll|{resource}")
    return _table(stack, "AuditTableName").query(KeyConditionExpression=key)["Items"]


def test_a_poll_does_not_send_again_what_the_poster_finished_and_says_so_in_its_run_entry(stack):
    """Last in the module: it stops the stack's event sources."""
    woo = stack.stores[CONNECTION].state
    order = new_paid_order(woo)
    assert stack.runtime.wait_until_drained(timeout=60)
    key = f"{CONNECTION}|order|{order['id']}"
    posted = events_for(stack, key)
    assert posted[-1] == "posted"
    stack.runtime.stop_event_sources()  # what a poll sends stays on the queue to be counted
    runs_before = len(poll_runs(stack, "orders"))

    for _ in range(2):  # the first poll to see it, then the overlap window reading it again
        stack.poll(CONNECTION)
        assert sent_to_ingest(stack) == 0
        assert events_for(stack, key) == posted  # nothing of the poll's in the record's own story
        run = poll_runs(stack, "orders")[-1]
        assert run["event"] == "polled" and run["detail"]["origin"] == "poller"
        assert run["detail"]["records"] == run["detail"]["already_finished"] >= 1
        assert "enqueued" not in run["detail"] or run["detail"]["enqueued"] == 0
    assert len(poll_runs(stack, "orders")) == runs_before + 2

    later = datetime.now(UTC) + timedelta(minutes=1)
    woo.clock = lambda: later
    try:
        woo.update_order(order["id"], status="completed", deliver=False)  # a new version is new work
    finally:
        woo.clock = lambda: datetime.now(UTC)
    stack.poll(CONNECTION)
    assert sent_to_ingest(stack) >= 1
    assert events_for(stack, key)[-1] == "enqueued"
    assert poll_runs(stack, "orders")[-1]["detail"]["enqueued"] >= 1
    assert len(journals_for(stack, f"W{order['number']}")) == 1
