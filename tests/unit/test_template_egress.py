"""template.yaml's static egress: the managed NAT gateway or a NAT instance, both behind the stack's one Elastic IP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local.template import NO_VALUE, Resolver, Template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "s", "AWS::Partition": "aws"}


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(TEMPLATE)


def resolver(template: Template, **parameters: str) -> Resolver:
    names = {"CustomerName": "acme", "PrimaryConnection": "woo-psft"}
    resolver = Resolver.create(template, {**names, **parameters}, PSEUDO)
    resolver.refs.update({logical_id: f"ref-{logical_id}" for logical_id in template.resources})
    resolver.attributes.update(
        {"NatEip": {"AllocationId": "eipalloc-1"}, "NatInstanceLaunchTemplate": {"LatestVersionNumber": "1"}}
    )
    return resolver


def present(template: Template, resolver: Resolver) -> set[str]:
    return {k for k, v in template.resources.items() if "Condition" not in v or resolver.condition(v["Condition"])}


def properties(template: Template, resolver: Resolver, logical_id: str) -> dict[str, Any]:
    return resolver.resolve(template.resources[logical_id]["Properties"])


def test_egress_mode_is_a_parameter_defaulting_to_the_managed_nat_gateway(template):
    spec = template.parameters["EgressMode"]
    assert spec["Default"] == "NatGateway" and spec["AllowedValues"] == ["NatGateway", "NatInstance"]
    assert template.parameters["NatInstanceImageId"]["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert template.parameters["NatInstanceImageId"]["Default"].startswith("/aws/service/ami-amazon-linux-latest/")


def test_nat_gateway_mode_routes_through_the_gateway_and_runs_no_instance(template):
    r = resolver(template, UseVpc="true")
    resources = present(template, r)
    assert {"NatGateway", "NatEip"} <= resources
    assert not {"NatInstance", "NatInstanceAddress", "NatInstanceLaunchTemplate"} & resources
    route = properties(template, r, "PrivateDefaultRoute")
    assert route["NatGatewayId"] == "ref-NatGateway" and "InstanceId" not in route


def test_nat_instance_mode_forwards_through_one_instance_with_the_same_elastic_ip(template):
    r = resolver(template, UseVpc="true", EgressMode="NatInstance")
    resources = present(template, r)
    assert "NatGateway" not in resources
    assert {"NatEip", "NatInstance", "NatInstanceAddress", "NatInstanceStatusAlarm"} <= resources
    route = properties(template, r, "PrivateDefaultRoute")
    assert route["InstanceId"] == "ref-NatInstance" and "NatGatewayId" not in route
    association = properties(template, r, "NatInstanceAddress")
    assert association == {"AllocationId": "eipalloc-1", "InstanceId": "ref-NatInstance"}  # the EgressIp output's
    assert properties(template, r, "NatInstance")["SourceDestCheck"] is False
    data = template.resources["NatInstanceLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["ImageId"] == {"Ref": "NatInstanceImageId"}
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert all(m["Ebs"]["Encrypted"] for m in data["BlockDeviceMappings"])
    script = data["UserData"]["Fn::Base64"]
    assert "net.ipv4.ip_forward = 1" in script and "MASQUERADE" in script and "iptables-save" in script
    ingress = properties(template, r, "NatInstanceSecurityGroup")["SecurityGroupIngress"]
    assert [rule["CidrIp"] for rule in ingress] == ["10.42.0.0/16"]  # the VPC only, nothing from outside


def test_without_a_vpc_there_is_no_egress_at_all(template):
    r = resolver(template, EgressMode="NatInstance")
    assert not {"NatEip", "NatGateway", "NatInstance", "PrivateDefaultRoute"} & present(template, r)
    assert r.resolve({"Fn::If": ["UseNatInstance", "x", {"Ref": "AWS::NoValue"}]}) is NO_VALUE
