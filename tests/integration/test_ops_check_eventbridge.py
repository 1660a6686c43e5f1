"""`mlc check` on a Shopify connection whose webhooks come through EventBridge reads its partner event
source's state (DescribeEventSource) from the local runtime's EventBridge: ACTIVE passes, DELETED fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from local.runtime import ACCOUNT
from local.stack import LocalStack
from mlconnector.ops.checks import event_source_probe
from mlconnector.ops.stack import write_outputs_file
from mlconnector_cli.main import cli
from tests.support.eventbridge import SOURCE, eventbridge_profile


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[tuple[LocalStack, Path, Path]]:
    tmp = tmp_path_factory.mktemp("check-eventbridge")
    profile = eventbridge_profile(tmp)
    with LocalStack(profile_path=profile, connections=["shop-psft"]) as stack:
        outputs = write_outputs_file(stack.runtime.outputs, tmp / "local-outputs.json", stack.runtime.endpoint)
        yield stack, profile, outputs


def mlc(env, *args: str):
    stack, profile, outputs = env
    base = ["--profile", str(profile), "--endpoint-url", stack.runtime.endpoint, "--outputs-file", str(outputs)]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False, env={"COLUMNS": "200"})


def test_an_active_source_passes_and_a_deleted_one_fails_the_store_side(env):
    result = mlc(env, "check", "shop-psft")
    assert result.exit_code == 0, result.output
    assert "EventBridge partner event source (webhooks) │ yes      │ ok" in result.output
    probe = event_source_probe(f"arn:aws:events:us-east-1::event-source/{SOURCE}")
    assert probe.ok and probe.detail.startswith(f"{SOURCE} ACTIVE")

    stack = env[0]
    stack.runtime.client("events").delete_partner_event_source(Name=SOURCE, Account=ACCOUNT)  # Shopify's side
    result = mlc(env, "check", "shop-psft")
    assert result.exit_code == 1, result.output
    assert "DELETED" in result.output and "FAILED" in result.output and "the store (shopify) side" in result.output


def test_a_source_in_another_region_than_the_stack_fails_without_a_call(env):
    probe = event_source_probe(f"arn:aws:events:eu-west-1::event-source/{SOURCE}")
    assert not probe.ok and "eu-west-1" in probe.detail and "us-east-1" in probe.detail
