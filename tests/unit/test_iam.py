"""IAM least privilege over what ``sam deploy`` really creates: template.yaml translated offline by
samtranslator, then every statement of every generated role — inline, policy templates and the AWS
managed policies SAM attaches — checked: no wildcard actions, and every resource is one of the
stack's own resources, the customer's secret prefix or profile parameter. ``*`` resources are
accepted only for the few actions AWS supports on ``*`` alone (RESOURCE_STAR_ONLY)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

#: Actions AWS authorises only on Resource "*" (no resource-level permissions exist for them).
RESOURCE_STAR_ONLY = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
        "cloudwatch:PutMetricData",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
        "ssm:DescribeParameters",
    }
)

#: The AWS managed policies SAM may attach, as AWS publishes them (they cannot be fetched offline).
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "service-role/AWSLambdaBasicExecutionRole": [
        {"Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}
    ],
    "AWSXrayWriteOnlyAccess": [
        {
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
    "service-role/AWSLambdaVPCAccessExecutionRole": [
        {
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            "Resource": "*",
        }
    ],
    "service-role/AWSLambdaSQSQueueExecutionRole": [
        {
            "Action": [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            "Resource": "*",
        }
    ],
}

PARAMETERS = {"CustomerName": "acme", "PrimaryConnection": "woo-psft"}


def translate(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as CloudFormation, translated offline the way cfn-lint does it."""
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.yaml_helper import yaml_parse

    sam = yaml_parse(path.read_text(encoding="utf-8"))
    for resource in sam.get("Resources", {}).values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://bucket/{props[key]}"
    managed = {name.rsplit("/", 1)[-1]: f"arn:aws:iam::aws:policy/{name}" for name in MANAGED_POLICIES}
    return Translator(managed_policy_map=managed, sam_parser=Parser()).translate(copy.deepcopy(sam), PARAMETERS)


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return translate()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(cfn: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(role, policy, statement) for every Allow statement any generated role carries."""
    found = []
    for role_id, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        props = resource["Properties"]
        for policy in props.get("Policies", []):
            for statement in _as_list(policy["PolicyDocument"]["Statement"]):
                found.append((role_id, policy["PolicyName"], statement))
        for arn in props.get("ManagedPolicyArns", []):
            text = json.dumps(arn)
            name = next((n for n in MANAGED_POLICIES if text.endswith(f'policy/{n}"') or f"policy/{n}" in text), None)
            assert name is not None, f"{role_id}: unknown managed policy {text}; add its document or remove it"
            found.extend((role_id, name, statement) for statement in MANAGED_POLICIES[name])
    assert found, "no IAM statements found: the translation produced no roles"
    return found


def _references(expression: Any) -> set[str]:
    """Logical ids and parameters an intrinsic expression refers to (Ref, GetAtt, ${X} in Sub)."""
    names: set[str] = set()
    if isinstance(expression, dict):
        for key, value in expression.items():
            if key == "Ref" and isinstance(value, str):
                names.add(value)
            elif key == "Fn::GetAtt":
                names.add(value[0] if isinstance(value, list) else str(value).split(".", 1)[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                names |= {n.split(".", 1)[0] for n in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(value, list):
                    names |= _references(value[1])
            else:
                names |= _references(value)
    elif isinstance(expression, list):
        for item in expression:
            names |= _references(item)
    return names


def resource_problem(cfn: dict[str, Any], resource: Any) -> str:
    """Why ``resource`` is broader than what it serves ('' when it is scoped)."""
    own = {k for k, v in cfn["Resources"].items() if not v["Type"].startswith("AWS::IAM::")}
    text = json.dumps(resource)
    if resource == "*" or text in ('"*"', '["*"]'):
        return "Resource is *"
    if ":secret:" in text:
        return "" if re.search(r":secret:(ml-connector/\$\{CustomerName\}|\$\{SecretsPrefix\})/\*", text) else text
    if ":parameter/" in text:
        return "" if {"CustomerName", "ProfileParameterName"} & _references(resource) else text
    refs = _references(resource) & own
    if not refs:
        return f"refers to none of the stack's own resources: {text}"
    if re.search(r"[:/]\*\"", text) and "/index/*" not in text:
        return f"wildcard beyond the resource: {text}"
    return ""


def test_no_action_has_a_wildcard(cfn):
    bad = [
        (role, policy, action)
        for role, policy, statement in statements(cfn)
        for action in _as_list(statement.get("Action", []))
        if "*" in action
    ]
    assert not bad, bad
    assert not [s for _, _, s in statements(cfn) if "NotAction" in s or "NotResource" in s]


def test_every_resource_is_the_one_the_statement_serves(cfn):
    problems = []
    for role, policy, statement in statements(cfn):
        actions = set(_as_list(statement.get("Action", [])))
        for resource in _as_list(statement.get("Resource", [])):
            problem = resource_problem(cfn, resource)
            if problem == "Resource is *":
                broad = sorted(actions - RESOURCE_STAR_ONLY)
                if broad:
                    problems.append(f"{role} / {policy}: {broad} on Resource *")
            elif problem:
                problems.append(f"{role} / {policy}: {problem}")
    assert not problems, "\n".join(problems)


def test_the_checks_catch_what_they_must(cfn):
    """The checker itself: a wildcard action, a * resource and a foreign ARN are all reported."""
    assert resource_problem(cfn, "*") == "Resource is *"
    assert resource_problem(cfn, "arn:aws:sqs:eu-west-1:123456789012:someone-elses-queue")
    assert resource_problem(cfn, {"Fn::Sub": "arn:aws:secretsmanager:r:a:secret:*"})
    assert resource_problem(cfn, {"Fn::Sub": ["arn:aws:sqs:r:a:${Q}:*", {"Q": {"Fn::GetAtt": ["IngestQueue", "X"]}}]})
    assert resource_problem(cfn, {"Fn::GetAtt": ["IngestQueue", "Arn"]}) == ""
