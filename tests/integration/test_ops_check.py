"""`mlc check` against the sandboxes: success, and wrong credentials named per side without the secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from local.stack import LocalStack
from mlconnector.ops.checks import check_connection
from mlconnector.ops.stack import LOCAL_EGRESS_IP, StackOutputs, build_connector, write_outputs_file
from mlconnector_cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "config" / "local.yaml"
WRONG = "Wr0ng-Pa55word-that-must-never-print"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("check")
    with LocalStack(connections=["woo-psft"], parameters={"MaxReceiveCount": "2"}) as stack:
        outputs = write_outputs_file(stack.runtime.outputs, tmp / "local-outputs.json", stack.runtime.endpoint)
        yield stack, outputs


def mlc(env, *args: str):
    stack, outputs = env
    base = ["--profile", str(PROFILE), "--endpoint-url", stack.runtime.endpoint, "--outputs-file", str(outputs)]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def secret_name(stack, side: str) -> str:
    connection = stack.profile.connection("woo-psft")
    return getattr(connection.secrets, side)


def test_check_against_the_sandboxes_succeeds(env):
    result = mlc(env, "check", "woo-psft")
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "FAILED" not in result.output
    assert LOCAL_EGRESS_IP in result.output  # PeopleSoft is on-premise: the address to allowlist
    assert "CUSTOMER_CI Find" in result.output and "read orders" in result.output

    stack = env[0]
    connector = build_connector(str(PROFILE), StackOutputs.from_outputs(stack.runtime.outputs))
    report = check_connection(connector, "woo-psft", LOCAL_EGRESS_IP)
    for side in (report.store, report.erp):
        assert side.reachable and side.authenticated and side.permissions_ok
        assert side.clock_skew_seconds is not None and abs(side.clock_skew_seconds) < 5  # sandboxes send Date
    assert report.erp.egress_ip == LOCAL_EGRESS_IP and report.store.egress_ip == ""


def test_wrong_erp_password_fails_the_erp_side_without_printing_it(env):
    stack = env[0]
    name = secret_name(stack, "erp")
    good = stack.erps["peoplesoft"].credentials
    stack.runtime.put_secret(name, {**good, "password": WRONG})
    try:
        result = mlc(env, "check", "woo-psft")
    finally:
        stack.runtime.put_secret(name, good)
    assert result.exit_code == 1, result.output
    assert "FAILED: the erp (peoplesoft) side" in result.output
    assert "FAILED: the store" not in result.output
    assert "credentials refused" in result.output
    assert WRONG not in result.output
    assert good["password"] not in result.output


def test_wrong_store_key_fails_the_store_side_without_printing_it(env):
    stack = env[0]
    name = secret_name(stack, "store")
    good = stack.stores["woocommerce"].credentials
    stack.runtime.put_secret(name, {**good, "consumer_secret": WRONG})
    try:
        result = mlc(env, "check", "woo-psft")
    finally:
        stack.runtime.put_secret(name, good)
    assert result.exit_code == 1, result.output
    assert "FAILED: the store (woocommerce) side" in result.output
    assert "FAILED: the erp" not in result.output
    assert WRONG not in result.output and good["consumer_secret"] not in result.output


def test_unreadable_secret_and_unknown_connection(env):
    stack = env[0]
    name = secret_name(stack, "erp")
    good = stack.erps["peoplesoft"].credentials
    stack.runtime.put_secret(name, {"note": "no credentials here"})
    try:
        result = mlc(env, "check", "woo-psft")
    finally:
        stack.runtime.put_secret(name, good)
    assert result.exit_code == 1
    assert "lack" in result.output  # the adapter names the missing fields, not values
    assert json.dumps(good) not in result.output

    assert mlc(env, "check", "no-such-connection").exit_code == 2


def test_peoplesoft_wsdl_download_from_the_listening_connector(env, tmp_path):
    dest = tmp_path / "wsdl"
    result = mlc(env, "peoplesoft-wsdl", "woo-psft", "--dest", str(dest))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in dest.glob("*.wsdl"))
    assert names == ["CI_CUSTOMER_CI.1.wsdl", "CI_JOURNAL_ENTRY_CI.1.wsdl"]
    unknown = mlc(env, "peoplesoft-wsdl", "woo-psft", "--dest", str(tmp_path / "none"), "--service", "NO_SUCH_CI")
    assert unknown.exit_code == 1 and "not written" in unknown.output
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").iterdir())
