"""template.yaml: cfn-lint, sam validate --lint, and the properties the design depends on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from local.template import Resolver, Template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(TEMPLATE)


def test_cfn_lint_reports_nothing():
    result = subprocess.run([BIN / "cfn-lint", "--format", "parseable", str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint():
    sam = BIN / "sam"
    if not sam.exists():
        sam = Path(shutil.which("sam") or "sam")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [str(sam), "validate", "--lint", "--template", str(TEMPLATE)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_queue_contract(template):
    resources = template.resources
    ingest = resources["IngestQueue"]["Properties"]
    dlq = resources["DeadLetterQueue"]["Properties"]
    poster_timeout = resources["PosterFunction"]["Properties"]["Timeout"]
    assert ingest["VisibilityTimeout"] >= 6 * poster_timeout
    sse_sqs_unless_the_customers_key = {"Fn::If": ["HasKmsKey", {"Ref": "AWS::NoValue"}, True]}
    assert ingest["SqsManagedSseEnabled"] == dlq["SqsManagedSseEnabled"] == sse_sqs_unless_the_customers_key
    assert dlq["MessageRetentionPeriod"] > ingest["MessageRetentionPeriod"]
    assert ingest["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert dlq["RedriveAllowPolicy"]["redrivePermission"] == "byQueue"
    event = resources["PosterFunction"]["Properties"]["Events"]["Ingest"]["Properties"]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BatchSize"] <= 10 or event["MaximumBatchingWindowInSeconds"] >= 1  # SQS: over 10 needs a window
    assert event["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "ErpMaxConcurrency"}


def test_tables(template):
    resources = template.resources
    idem = resources["IdempotencyTable"]["Properties"]
    assert idem["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idem["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    for name in ("AuditTable", "StateTable"):
        assert resources[name]["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]


def test_schedules_are_scheduler_v2_with_generated_names_and_connection_input(template):
    events = template.resources["PollerFunction"]["Properties"]["Events"]
    assert events
    for event in events.values():
        assert event["Type"] == "ScheduleV2"
        assert event["Properties"]["OmitName"] is True
        assert "connection" in event["Properties"]["Input"]["Fn::Sub"]


def _role_statements(template: Template):
    for logical_id, resource in template.of_type("AWS::IAM::Role").items():
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield logical_id, statement


def test_functions_have_explicit_roles_without_managed_policies(template):
    for logical_id, resource in template.of_type("AWS::Serverless::Function").items():
        assert "Policies" not in resource["Properties"], logical_id
        role = resource["Properties"]["Role"]["Fn::GetAtt"][0]
        assert not template.resources[role]["Properties"].get("ManagedPolicyArns"), role


def test_secrets_are_readable_only_under_the_customer_prefix(template):
    resolver = Resolver.create(
        template,
        {"CustomerName": "acme", "PrimaryConnection": "woo-psft"},
        {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::StackName": "s", "AWS::Partition": "aws"},
    )
    secret_statements = 0
    for logical_id, statement in _role_statements(template):
        if "Fn::If" in statement:  # the VPC-only ENI statement, on "*" as AWS requires (checked in test_iam)
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), (logical_id, actions)
        if "secretsmanager:GetSecretValue" in actions:
            secret_statements += 1
            resource = json.dumps(resolver.resolve(statement["Resource"]))
            assert ":secret:ml-connector/acme/" in resource, (logical_id, resource)
    assert secret_statements >= 4
