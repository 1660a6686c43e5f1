"""A profile pushed with ``mlc profile push`` reaches containers that are already warm, within
``CONNECTOR_PROFILE_MAX_AGE``: mappings, ERP settings and the receiver's connections, on moto's SSM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from mlconnector.environment import Environment
from mlconnector.pipeline.context import Connector
from mlconnector.pipeline.receiver import Receiver
from mlconnector.profile import current_profile, load_profile, publish
from mlconnector.published_profile import current_webhook_connections

ROOT = Path(__file__).resolve().parents[2]
PARAMETER = "/ml-connector/delta/profile"
LOCATION = f"ssm:{PARAMETER}"


def environment() -> Environment:
    return Environment(
        profile_location=LOCATION,
        queue_url="",
        audit_table="",
        state_table="",
        idempotency_table="",
        max_receive_count=5,
        retry_base_seconds=30.0,
        retry_max_seconds=900.0,
    )


def forget() -> None:
    parameters.clear_caches()
    current_profile.cache_clear()
    current_webhook_connections.cache_clear()


@pytest.fixture
def ssm(monkeypatch) -> Iterator[Any]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # a local runtime earlier in this worker points it at moto
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("CONNECTOR_PROFILE_MAX_AGE", "3600")  # a warm container well inside its profile's age
    with mock_aws():
        forget()
        yield boto3.client("ssm", region_name="us-east-1")
    forget()


@pytest.fixture
def published() -> dict[str, Any]:
    return json.loads(publish(load_profile(str(ROOT / "config/examples/woo-jde.yaml"))))


def push(ssm: Any, document: dict[str, Any] | str) -> None:
    value = document if isinstance(document, str) else json.dumps(document)
    ssm.put_parameter(Name=PARAMETER, Value=value, Type="String", Tier="Advanced", Overwrite=True)


def age_out(monkeypatch) -> None:
    """The container's profile is now older than its max age."""
    monkeypatch.setenv("CONNECTOR_PROFILE_MAX_AGE", "0")


def test_a_pushed_mapping_reaches_a_warm_container_once_its_profile_is_old_enough(ssm, published, monkeypatch):
    push(ssm, published)
    connector = Connector(environment())
    assert connector.connection("woo-jde").accounting.default_revenue.account == "4110"

    published["connections"][0]["accounting"]["default_revenue"]["account"] = "4120"
    push(ssm, published)
    assert connector.connection("woo-jde").accounting.default_revenue.account == "4110"  # not yet read again

    age_out(monkeypatch)
    assert connector.connection("woo-jde").accounting.default_revenue.account == "4120"
    assert connector.engine("woo-jde").rules.default_revenue.account == "4120"


def test_an_unchanged_profile_is_read_again_but_not_parsed_again(ssm, published, monkeypatch):
    push(ssm, published)
    age_out(monkeypatch)
    first = current_profile(LOCATION)
    assert current_profile(LOCATION) is first


def test_the_erp_adapter_is_rebuilt_when_its_settings_change_and_kept_otherwise(ssm, published, monkeypatch):
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    for name in published["connections"][0]["secrets"].values():
        if name:
            secrets.create_secret(Name=name, SecretString=json.dumps({"username": "MLC", "password": "x"}))
    push(ssm, published)
    age_out(monkeypatch)
    connector = Connector(environment())
    target = connector.target("woo-jde")
    assert connector.target("woo-jde") is target  # read again, unchanged: the same adapter and its session

    published["connections"][0]["erp"]["base_url"] = "https://ais2.deltahome.example:9300"
    push(ssm, published)
    moved = connector.target("woo-jde")
    assert moved is not target
    assert moved.settings.base_url == "https://ais2.deltahome.example:9300"


def test_the_receiver_sees_a_connection_disabled_by_a_push(ssm, published, monkeypatch):
    push(ssm, published)
    receiver = Receiver(environment())
    assert receiver.connection("woo-jde").enabled

    published["connections"][0]["enabled"] = False
    push(ssm, published)
    assert receiver.connection("woo-jde").enabled
    age_out(monkeypatch)
    assert not receiver.connection("woo-jde").enabled


def test_a_profile_that_cannot_be_parsed_again_leaves_the_container_on_the_one_it_had(ssm, published, monkeypatch):
    push(ssm, published)
    before = current_profile(LOCATION)
    assert current_webhook_connections(LOCATION)["woo-jde"].enabled
    push(ssm, '{"customer": "delta", "connections": "not a list"}')
    age_out(monkeypatch)
    assert current_profile(LOCATION) is before
    assert current_webhook_connections(LOCATION)["woo-jde"].enabled


def test_a_cold_container_with_no_readable_profile_fails_loudly(ssm):
    push(ssm, "{not json")
    with pytest.raises(Exception, match="not valid JSON"):
        current_profile(LOCATION)
