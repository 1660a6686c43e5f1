"""template.yaml's optional Shopify EventBridge delivery (ShopifyEventSourceName), set and unset: both lint
clean; set, the partner event bus is named after the source and its rule sends exactly the connector's
topics (checked with EventBridge's pattern matching as moto implements it, on the published events) to a
queue EventBridge may write to, with a dead-letter queue for what it cannot deliver."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from tests.unit.test_template_vpc import BASE, deployed

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BIN = Path(sys.executable).parent
CONTRACTS = ROOT / "tests" / "contracts" / "shopify"
SOURCE = "aws.partner/shopify.com/7700011/ml-connector-contract"
EVENTBRIDGE = {**BASE, "ShopifyEventSourceName": SOURCE}
CREATED = {
    "ShopifyEventBus",
    "ShopifyWebhookRule",
    "ShopifyEventsQueue",
    "ShopifyEventsDeadLetterQueue",
    "ShopifyEventsQueuePolicy",
    "EventBridgeReceiverFunction",
    "EventBridgeReceiverFunctionRole",
    "EventBridgeReceiverFunctionLogGroup",
    "ShopifyEventsDeadLetterQueueAlarm",
}


def test_cfn_lint_is_clean_with_the_partner_event_source_set():
    args = [f"{k}={v}" for k, v in EVENTBRIDGE.items()]
    result = subprocess.run(
        [BIN / "cfn-lint", "--format", "parseable", str(TEMPLATE), "--parameters", *args],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_with_the_partner_event_source_set(tmp_path):
    """sam validate --lint takes no parameters: a copy whose ShopifyEventSourceName defaults to a source."""
    text = TEMPLATE.read_text(encoding="utf-8")
    unset = '  ShopifyEventSourceName:\n    Type: String\n    Default: ""\n'
    assert unset in text
    (tmp_path / "template.yaml").write_text(
        text.replace(unset, f'  ShopifyEventSourceName:\n    Type: String\n    Default: "{SOURCE}"\n'), encoding="utf-8"
    )
    sam = BIN / "sam"
    if not sam.exists():
        sam = Path(shutil.which("sam") or "sam")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [str(sam), "validate", "--lint", "--template", "template.yaml"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_unset_nothing_of_it_is_created():
    resources, _ = deployed(BASE)
    assert not {k for k in resources if k.startswith(("Shopify", "EventBridgeReceiver"))}


@pytest.fixture(scope="module")
def stack() -> tuple[dict[str, Any], Any]:
    return deployed(EVENTBRIDGE)


def test_set_the_partner_event_bus_accepts_the_source(stack):
    resources, resolver = stack
    assert set(resources) >= CREATED
    bus = resolver.resolve(resources["ShopifyEventBus"]["Properties"])
    assert bus == {"Name": SOURCE, "EventSourceName": SOURCE}  # a partner bus is named after its source


def _event(name: str, topic: str | None = None) -> dict[str, Any]:
    event = json.loads((CONTRACTS / name).read_text())
    event["source"] = SOURCE
    if topic:
        event["detail"]["metadata"]["X-Shopify-Topic"] = topic
    return event


def test_the_rule_sends_the_connectors_topics_from_the_source_and_nothing_else(stack):
    resources, resolver = stack
    rule = resources["ShopifyWebhookRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "ShopifyEventBus"}
    pattern = EventPattern.load(json.dumps(resolver.resolve(rule["EventPattern"])))
    for topic in ("orders/create", "orders/updated", "orders/paid", "orders/cancelled", "refunds/create"):
        assert pattern.matches_event(_event("eventbridge-order-updated.json", topic)), topic
    assert pattern.matches_event(_event("eventbridge-customer-update.json"))  # AWS's sample metadata, as is
    for topic in ("products/update", "app/uninstalled", "refunds/updated", "shop/update"):
        assert not pattern.matches_event(_event("eventbridge-order-updated.json", topic)), topic
    foreign = {**_event("eventbridge-order-updated.json"), "source": "aws.partner/shopify.com/1/another-app"}
    assert not pattern.matches_event(foreign)


def test_eventbridge_may_write_to_the_queue_and_its_dead_letter_queue_and_nothing_else_may(stack):
    resources, _ = stack
    rule = resources["ShopifyWebhookRule"]["Properties"]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["ShopifyEventsQueue", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["ShopifyEventsDeadLetterQueue", "Arn"]}
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 86400
    policy = resources["ShopifyEventsQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "ShopifyEventsQueue"}, {"Ref": "ShopifyEventsDeadLetterQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["ShopifyWebhookRule", "Arn"]}}}


def test_the_events_queue_retries_into_its_own_dead_letter_queue(stack):
    resources, resolver = stack
    queue = resources["ShopifyEventsQueue"]["Properties"]
    function = resources["EventBridgeReceiverFunction"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ShopifyEventsDeadLetterQueue", "Arn"]}
    dlq = resources["ShopifyEventsDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    # SSE-SQS, which EventBridge can write to (with KmsKeyArn, the customer's key policy must let it)
    assert resolver.resolve(queue["SqsManagedSseEnabled"]) is resolver.resolve(dlq["SqsManagedSseEnabled"]) is True
    mappings = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    (mapping,) = [m for m in mappings if m["EventSourceArn"] == {"Fn::GetAtt": ["ShopifyEventsQueue", "Arn"]}]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_receiver_reads_no_secret_and_writes_only_the_ingest_queue_and_the_audit_trail(stack):
    resources, _ = stack
    statements = resources["EventBridgeReceiverFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    actions = {
        action
        for statement in statements["Statement"]
        if "Action" in statement
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert not {a for a in actions if a.startswith("secretsmanager:")}  # AWS authenticates the partner
    writes = {a for a in actions if a in ("sqs:SendMessage", "dynamodb:PutItem", "dynamodb:BatchWriteItem")}
    assert writes == {"sqs:SendMessage", "dynamodb:PutItem", "dynamodb:BatchWriteItem"}


def _operator_eventbridge_statements(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The OperatorPolicy statements that exist only with the partner event source (their Fn::If's first branch)."""
    statements = {}
    for statement in resources["OperatorPolicy"]["Properties"]["PolicyDocument"]["Statement"]:
        if "Fn::If" in statement and statement["Fn::If"][0] == "HasShopifyEventSource":
            assert statement["Fn::If"][2] == {"Ref": "AWS::NoValue"}
            statements[statement["Fn::If"][1]["Sid"]] = statement["Fn::If"][1]
    return statements


def test_operators_may_read_the_source_state_and_move_the_events_dlq_only_when_set(stack):
    resources, resolver = stack
    statements = _operator_eventbridge_statements(resources)
    assert set(statements) == {"ShopifyEvents", "ShopifyEventsEnqueue"}
    statement = statements["ShopifyEvents"]
    assert "events:DescribeEventSource" in statement["Action"] and "sqs:StartMessageMoveTask" in statement["Action"]
    source_arn, dlq = statement["Resource"]
    assert resolver.resolve(source_arn) == f"arn:aws:events:us-east-1::event-source/{SOURCE}"
    assert dlq == {"Fn::GetAtt": ["ShopifyEventsDeadLetterQueue", "Arn"]}
    # the move task (and mlc redrive --local) sends to the events queue, so the operator may send there and no further
    enqueue = statements["ShopifyEventsEnqueue"]
    assert enqueue["Action"] == ["sqs:SendMessage", "sqs:GetQueueAttributes"]
    assert enqueue["Resource"] == {"Fn::GetAtt": ["ShopifyEventsQueue", "Arn"]}
    assert resolver.condition("HasShopifyEventSource") and not deployed(BASE)[1].condition("HasShopifyEventSource")
