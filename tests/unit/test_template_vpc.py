"""template.yaml's optional VPC (static egress), VPN, endpoints, alarms and dashboard, in both states."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.template import NO_VALUE, Resolver, Template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BIN = Path(sys.executable).parent
BASE = {"CustomerName": "acme", "PrimaryConnection": "woo-psft"}
VPN_ON = {
    **BASE,
    "UseVpc": "true",
    "UseVpn": "true",
    "UseInterfaceEndpoints": "true",
    "CustomerGatewayIp": "203.0.113.10",
    "AlarmEmail": "ops@example.com",
}
NETWORK = {
    "Vpc",
    "InternetGateway",
    "InternetGatewayAttachment",
    "PublicSubnet",
    "PrivateSubnetA",
    "PrivateSubnetB",
    "NatEip",
    "NatGateway",
    "PrivateRouteTable",
    "PrivateDefaultRoute",
    "FunctionSecurityGroup",
    "DynamoDbEndpoint",
}
ENDPOINTS = {"EndpointSecurityGroup", "SqsEndpoint", "SecretsManagerEndpoint", "SsmEndpoint"}
VPN = {
    "CustomerGateway",
    "VpnGateway",
    "VpnGatewayAttachment",
    "VpnConnection",
    "VpnConnectionRoute",
    "VpnRoutePropagation",
}
ALWAYS = {"AlarmTopic", "DeadLetterQueueAlarm", "PosterErrorsAlarm", "SignatureFailuresAlarm", "OperationsDashboard"}
PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "ml-connector-acme",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


def translate(parameters: dict[str, str]) -> dict[str, Any]:
    """SAM → CloudFormation offline, as cfn-lint does (local code paths as S3 URIs)."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.yaml_helper import yaml_parse

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    body = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    for resource in body["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://bucket/{props[key]}"
    return Translator(managed_policy_map={}, sam_parser=Parser()).translate(
        sam_template=copy.deepcopy(body), parameter_values=dict(parameters)
    )


def deployed(parameters: dict[str, str]) -> tuple[dict[str, Any], Resolver]:
    """The resources CloudFormation would create with these parameters (conditions evaluated)."""
    body = translate(parameters)
    resolver = Resolver.create(Template(TEMPLATE, body), parameters, PSEUDO)
    kept = {k: v for k, v in body["Resources"].items() if "Condition" not in v or resolver.condition(v["Condition"])}
    return kept, resolver


@pytest.mark.parametrize("parameters", [BASE, VPN_ON, {**BASE, "UseVpc": "true"}], ids=["no-vpc", "vpc+vpn", "vpc"])
def test_cfn_lint_is_clean_with_the_network_on_and_off(parameters):
    args = [f"{k}={v}" for k, v in parameters.items()]
    result = subprocess.run(
        [BIN / "cfn-lint", "--format", "parseable", str(TEMPLATE), "--parameters", *args],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_vpc_no_network_resource_is_created_and_functions_have_no_vpc_config():
    resources, resolver = deployed(BASE)
    assert not (NETWORK | ENDPOINTS | VPN) & set(resources)
    assert set(resources) >= ALWAYS
    assert "AlarmEmailSubscription" not in resources
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Function":
            assert resolver.resolve(resource["Properties"].get("VpcConfig", NO_VALUE)) is NO_VALUE, name


def test_with_vpc_and_vpn_everything_appears_and_functions_run_in_the_private_subnets():
    resources, resolver = deployed(VPN_ON)
    assert (NETWORK | ENDPOINTS | VPN | ALWAYS | {"AlarmEmailSubscription"}) <= set(resources)
    resolver.refs.update({k: k for k in resources})
    for resource in resources.values():
        if resource["Type"] == "AWS::Lambda::Function":
            vpc = resolver.resolve(resource["Properties"]["VpcConfig"])
            assert vpc == {
                "SubnetIds": ["PrivateSubnetA", "PrivateSubnetB"],
                "SecurityGroupIds": ["FunctionSecurityGroup"],
            }
    assert resources["VpnConnection"]["Properties"]["StaticRoutesOnly"] is True
    assert "VpnGatewayAttachment" in _depends(resources["VpnRoutePropagation"])
    assert resources["NatGateway"]["Properties"]["AllocationId"] == {"Fn::GetAtt": ["NatEip", "AllocationId"]}
    private_routes = resolver.resolve(resources["PrivateDefaultRoute"]["Properties"])
    assert private_routes["NatGatewayId"] == "NatGateway" and "InstanceId" not in private_routes  # EgressMode default
    assert resources["DynamoDbEndpoint"]["Properties"]["VpcEndpointType"] == "Gateway"


def test_vpc_without_vpn_or_interface_endpoints():
    resources, _ = deployed({**BASE, "UseVpc": "true"})
    assert set(resources) >= NETWORK
    assert not (VPN | ENDPOINTS) & set(resources)
    # The VPN switch alone does nothing without the VPC it attaches to.
    resources, _ = deployed({**BASE, "UseVpn": "true", "CustomerGatewayIp": "203.0.113.10"})
    assert not (NETWORK | VPN) & set(resources)


def test_outputs_tell_the_customer_what_to_allowlist():
    body = translate(VPN_ON)
    egress = body["Outputs"]["EgressIp"]
    assert egress["Condition"] == "UseVpc" and egress["Value"] == {"Ref": "NatEip"}
    text = " ".join(egress["Description"].split())
    assert "Allowlist" in text and "PeopleSoft" in text and "AIS" in text
    assert "private subnet" in " ".join(body["Outputs"]["VpnConnectionId"]["Description"].split())
    assert body["Outputs"]["VpnConnectionId"]["Condition"] == "UseVpn"


def test_alarms_watch_the_dlq_the_poster_and_webhook_signatures():
    resources, _ = deployed(BASE)
    dlq = resources["DeadLetterQueueAlarm"]["Properties"]
    assert (dlq["MetricName"], dlq["Threshold"], dlq["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible",
        0,
        "GreaterThanThreshold",
    )
    assert dlq["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}
    poster = resources["PosterErrorsAlarm"]["Properties"]
    assert poster["Dimensions"][0]["Value"] == {"Ref": "PosterFunction"}
    signatures = resources["SignatureFailuresAlarm"]["Properties"]["Metrics"][0]["Expression"]
    # The receiver's EMF metric carries the connection and service dimensions; the query sums them all.
    assert "SignatureFailures" in signatures and "SCHEMA(MlConnector, connection, service)" in signatures
    for name in ("DeadLetterQueueAlarm", "PosterErrorsAlarm", "SignatureFailuresAlarm"):
        assert resources[name]["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_dashboard_body_is_json_once_substituted():
    resources, resolver = deployed(BASE)
    resolver.refs.update({"PosterFunction": "poster-fn"})
    resolver.attributes.update({"IngestQueue": {"QueueName": "ingest"}, "DeadLetterQueue": {"QueueName": "dlq"}})
    body = json.loads(resolver.resolve(resources["OperationsDashboard"]["Properties"]["DashboardBody"]))
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert titles == ["Queues", "Records by outcome", "Webhooks", "Poster"]


def test_operator_policy_allows_the_redrive_move_task_on_the_dlq_only():
    resources, _ = deployed(BASE)
    document = resources["OperatorPolicy"]["Properties"]["PolicyDocument"]
    statements = {s["Sid"]: s for s in document["Statement"] if "Sid" in s}  # not the Fn::If of EventBridge's
    assert "sqs:StartMessageMoveTask" in statements["Redrive"]["Action"]
    assert statements["Redrive"]["Resource"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert statements["Enqueue"]["Resource"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}


def test_the_local_runtime_skips_what_it_does_not_create():
    """Conditions with AWS::NoValue resolve and outputs of VPC resources are skipped, not errors."""
    from local.runtime import LocalRuntime

    with LocalRuntime(TEMPLATE, parameters={**BASE, "UseVpc": "true"}, stack_name="vpc-test") as runtime:
        assert "EgressIp" not in runtime.outputs and "IngestQueueUrl" in runtime.outputs
        assert set(runtime.functions) >= {"PosterFunction", "WebhookReceiverFunction"}


def _depends(resource: dict[str, Any]) -> list[str]:
    value = resource.get("DependsOn", [])
    return [value] if isinstance(value, str) else list(value)
