"""What the security review of template.yaml asked for, over what ``sam deploy`` creates (translated offline,
conditions evaluated), with each new parameter set and unset: API Gateway's access log (one JSON line per request
with its id, source IP, status and latency, never a body) to a log group with retention, the stage's throttling,
the receivers' concurrency bound, and the customer's KMS key (KmsKeyArn) on every table, queue, log
group and the alarm topic, with the functions' kms permissions on it only through SQS and DynamoDB."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from local.template import NO_VALUE, Resolver
from tests.unit.test_template_eventbridge import EVENTBRIDGE
from tests.unit.test_template_vpc import BASE, deployed

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BIN = Path(sys.executable).parent
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
WITH_KEY = {**EVENTBRIDGE, "KmsKeyArn": KEY}  # with the partner event source: its queues and function too
KEY_ACTIONS = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}


def _of_type(resources: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources.items() if v["Type"] == resource_type}


def _value(resolver: Resolver, properties: dict[str, Any], key: str) -> Any:
    """A property as CloudFormation sets it (NO_VALUE when absent or dropped by AWS::NoValue)."""
    return resolver.resolve(properties.get(key, NO_VALUE))


def _active(statements: list[Any], resolver: Resolver) -> list[dict[str, Any]]:
    """The statements a policy holds once its Fn::If statements are decided (branches left unresolved)."""
    found = []
    for statement in statements:
        if "Fn::If" in statement:
            condition, when_true, when_false = statement["Fn::If"]
            statement = when_true if resolver.condition(condition) else when_false
            if statement == {"Ref": "AWS::NoValue"}:
                continue
        found.append(statement)
    return found


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def _policies(resources: dict[str, Any]) -> dict[str, list[Any]]:
    """Every function role's and the operator policy's statements, by logical id."""
    found = {
        role: [s for policy in props.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
        for role, props in _of_type(resources, "AWS::IAM::Role").items()
        if role.endswith("FunctionRole")
    }
    found["OperatorPolicy"] = resources["OperatorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    return found


# --- API Gateway access log -----------------------------------------------------------------------------------
def test_the_stage_writes_one_json_line_per_request_without_bodies_to_a_log_group_with_retention():
    resources, resolver = deployed(BASE)
    (stage,) = _of_type(resources, "AWS::ApiGatewayV2::Stage").values()
    setting = stage["AccessLogSettings"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    variables = re.findall(r"\$[\w.]+", setting["Format"])
    assert all(v.startswith("$context.") for v in variables), variables  # no $input: nothing of the body
    assert not [v for v in variables if "header" in v.lower() or "body" in v.lower()], variables
    line = json.loads(re.sub(r"\$[\w.]+", "x", setting["Format"]))  # one JSON object once API Gateway fills it
    assert line == {k: "x" for k in line}
    fields = dict(zip(line, variables, strict=True))
    assert fields["requestId"] == "$context.requestId" and fields["sourceIp"] == "$context.identity.sourceIp"
    assert fields["status"] == "$context.status" and fields["responseLatency"] == "$context.responseLatency"
    group = resources["ApiAccessLogGroup"]["Properties"]
    assert resolver.resolve(group["RetentionInDays"]) == "90"
    assert resolver.resolve(group["LogGroupName"]) == "/aws/apigateway/ml-connector-acme/access"


def test_an_http_api_throttles_every_route_and_needs_no_account_wide_logging_role():
    resources, _ = deployed(BASE)
    (api,) = _of_type(resources, "AWS::ApiGatewayV2::Api").values()
    assert api["FailOnWarnings"] is True
    (route,) = [(path, method) for path, methods in api["Body"]["paths"].items() for method in methods]
    assert route == ("/webhooks/{connection}", "post")
    integration = api["Body"]["paths"]["/webhooks/{connection}"]["post"]["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy" and integration["payloadFormatVersion"] == "2.0"
    (stage,) = _of_type(resources, "AWS::ApiGatewayV2::Stage").values()
    assert stage["StageName"] == "live"
    assert stage["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100}
    # A REST API logs through the role its account settings name; an HTTP API through a log delivery.
    assert not _of_type(resources, "AWS::ApiGateway::Account")
    assert not [
        r
        for r in _of_type(resources, "AWS::IAM::Role").values()
        if "apigateway.amazonaws.com" in json.dumps(r["AssumeRolePolicyDocument"])
    ]


# --- concurrency ----------------------------------------------------------------------------------------------
def test_a_flood_of_webhooks_runs_at_most_webhook_receiver_concurrency_receivers_of_each_kind():
    resources, resolver = deployed(EVENTBRIDGE)
    functions = _of_type(resources, "AWS::Lambda::Function")
    receiver = functions["WebhookReceiverFunction"]
    assert receiver["ReservedConcurrentExecutions"] == {"Ref": "WebhookReceiverConcurrency"}
    assert resolver.resolve(receiver["ReservedConcurrentExecutions"]) == "20"
    (mapping,) = [
        m
        for m in _of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if m["FunctionName"] == {"Ref": "EventBridgeReceiverFunction"}
    ]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "WebhookReceiverConcurrency"}
    spec = resolver.template.parameters["WebhookReceiverConcurrency"]
    assert spec["MinValue"] >= 2  # SQS MaximumConcurrency's least value
    bounded = {name for name, props in functions.items() if "ReservedConcurrentExecutions" in props}
    assert bounded == {"WebhookReceiverFunction"}  # the others' bounds: their schedules or event sources


# --- the customer's KMS key -----------------------------------------------------------------------------------
def test_without_a_key_every_store_keeps_aws_encryption_and_no_role_names_kms():
    resources, resolver = deployed(EVENTBRIDGE)
    for name, queue in _of_type(resources, "AWS::SQS::Queue").items():
        assert _value(resolver, queue, "SqsManagedSseEnabled") is True, name
        assert _value(resolver, queue, "KmsMasterKeyId") is NO_VALUE, name
    for name, table in _of_type(resources, "AWS::DynamoDB::Table").items():
        sse = table["SSESpecification"]
        assert sse["SSEEnabled"] is True and _value(resolver, sse, "KMSMasterKeyId") is NO_VALUE, name
    for name, group in _of_type(resources, "AWS::Logs::LogGroup").items():
        assert _value(resolver, group, "KmsKeyId") is NO_VALUE, name
    # Not alias/aws/sns: SNS's AWS managed key does not let CloudWatch alarms publish.
    assert _value(resolver, resources["AlarmTopic"]["Properties"], "KmsMasterKeyId") is NO_VALUE
    for name, statements in _policies(resources).items():
        assert not [a for s in _active(statements, resolver) for a in _actions(s) if a.startswith("kms:")], name


def test_with_a_key_every_table_queue_log_group_and_the_alarm_topic_use_it():
    resources, resolver = deployed(WITH_KEY)
    queues = _of_type(resources, "AWS::SQS::Queue")
    assert len(queues) == 4
    for name, queue in queues.items():
        assert _value(resolver, queue, "KmsMasterKeyId") == KEY, name
        assert _value(resolver, queue, "SqsManagedSseEnabled") is NO_VALUE, name  # SQS refuses both
    tables = _of_type(resources, "AWS::DynamoDB::Table")
    assert len(tables) == 3
    for name, table in tables.items():
        sse = table["SSESpecification"]
        assert (sse["SSEEnabled"], sse["SSEType"], _value(resolver, sse, "KMSMasterKeyId")) == (True, "KMS", KEY), name
    groups = _of_type(resources, "AWS::Logs::LogGroup")
    assert len(groups) == 7  # six functions' and the API's access log
    for name, group in groups.items():
        assert _value(resolver, group, "KmsKeyId") == KEY, name
    assert _value(resolver, resources["AlarmTopic"]["Properties"], "KmsMasterKeyId") == KEY


def test_with_a_key_each_role_may_use_it_only_through_the_services_it_calls():
    resources, resolver = deployed(WITH_KEY)
    for name, statements in _policies(resources).items():
        active = _active(statements, resolver)
        (key,) = [s for s in active if s.get("Sid") == "CustomerKey"]
        assert _actions(key) == KEY_ACTIONS and resolver.resolve(key["Resource"]) == KEY, name
        (condition,) = key["Condition"].values()
        services = {resolver.resolve(s) for s in condition["kms:ViaService"]}
        used = {a.split(":")[0] for s in active if s is not key for a in _actions(s)}
        assert services == {f"{s}.us-east-1.amazonaws.com" for s in used & {"sqs", "dynamodb"}}, name
        assert not [s for s in active if s is not key and KEY_ACTIONS & _actions(s)], name


def test_cfn_lint_is_clean_with_the_key_and_a_concurrency_set():
    parameters = {**WITH_KEY, "WebhookReceiverConcurrency": "50"}
    result = subprocess.run(
        [BIN / "cfn-lint", "--format", "parseable", str(TEMPLATE), "--parameters"]
        + [f"{k}={v}" for k, v in parameters.items()],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
