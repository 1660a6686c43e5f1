"""Every profile in config/ validates; invalid ones fail at load with the field path and the reason."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlconnector.errors import ProfileError
from mlconnector.profile import load_profile, parse_profile, publish
from mlconnector.published_profile import webhook_connections
from mlconnector_cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
PROFILES = sorted((ROOT / "config").rglob("*.yaml"))
PAIRS = {
    ("woocommerce", "peoplesoft"),
    ("bigcommerce", "peoplesoft"),
    ("shopify", "peoplesoft"),
    ("woocommerce", "jdedwards"),
    ("woocommerce", "fusion"),
}


@pytest.fixture(autouse=True)
def sandbox_urls(monkeypatch):
    for path in PROFILES:
        for name in re.findall(r"\$\{(SANDBOX_[A-Z0-9_]+)\}", path.read_text()):
            monkeypatch.setenv(name, "http://127.0.0.1:9")


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_profile_validates(path):
    profile = load_profile(str(path))
    assert profile.connections


def test_an_example_profile_for_each_of_the_five_pairs():
    examples = [load_profile(str(p)) for p in (ROOT / "config" / "examples").glob("*.yaml")]
    pairs = {(c.store_type, c.erp_type) for p in examples for c in p.connections}
    assert pairs == PAIRS
    for profile in examples:
        assert "${" not in str(profile.model_dump())


def test_the_local_profile_carries_all_five_pairs():
    profile = load_profile(str(ROOT / "config" / "local.yaml"))
    assert {(c.store_type, c.erp_type) for c in profile.connections} == PAIRS


def _local_text() -> str:
    return (ROOT / "config" / "local.yaml").read_text()


def test_bad_field_fails_with_path_and_reason():
    text = _local_text().replace(
        "business_unit: US001\n      journal_id_prefix: W", "business_unit: TOOLONG1\n      journal_id_prefix: W"
    )
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "bad.yaml")
    message = str(caught.value)
    assert "bad.yaml" in message and "connections.0.erp.business_unit" in message and "at most 5" in message


def test_unknown_field_and_missing_rule_account_are_named():
    text = _local_text().replace("    reference_prefix: W\n", "    reference_prefix: W\n    surprise: 1\n", 1)
    text = text.replace('rounding: {account: "999999"}', "rounding: {}", 1)
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "bad.yaml")
    message = str(caught.value)
    assert "connections.0.surprise: Extra inputs are not permitted" in message
    assert "connections.0.accounting.rounding.account: Field required" in message


def test_unknown_store_type_is_named():
    text = _local_text().replace("type: woocommerce", "type: magento", 1)
    with pytest.raises(ProfileError, match=r"connections\.0\.store: Value error, unknown type 'magento'"):
        parse_profile(text, "bad.yaml")


def test_secret_values_are_not_part_of_a_profile():
    text = _local_text().replace(
        "      store: ml-connector/local/woo-psft/store\n",
        "      store: ml-connector/local/woo-psft/store\n      password: hunter2\n",
        1,
    )
    with pytest.raises(ProfileError, match=r"secrets\.password: Extra inputs are not permitted"):
        parse_profile(text, "bad.yaml")


def test_mlc_profile_validate_exit_codes(tmp_path):
    runner = CliRunner()
    good = runner.invoke(cli, ["profile", "validate", *map(str, (ROOT / "config" / "examples").glob("*.yaml"))])
    assert good.exit_code == 0, good.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(_local_text().replace("customer: local", "customer: Not Valid!"))
    result = runner.invoke(cli, ["profile", "validate", str(bad)])
    assert result.exit_code == 2
    assert "customer: String should match pattern" in result.output


# ------------------------------------------------------------------ the published profile


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_published_profile_reads_back_as_the_same_profile(path):
    profile = load_profile(str(path))
    document = publish(profile)
    assert "${" not in document
    assert parse_profile(document, "published") == profile


def test_the_receiver_reads_what_it_needs_from_the_published_profile():
    profile = load_profile(str(ROOT / "config" / "local.yaml"))
    connections = webhook_connections(publish(profile), "published")
    assert set(connections) == {c.name for c in profile.connections}
    for connection in profile.connections:
        view = connections[connection.name]
        assert (view.store_type, view.enabled) == (connection.store_type, connection.enabled)
        assert (view.store_secret, view.webhook_secret) == (connection.secrets.store, connection.secrets.webhook)
        assert view.store == connection.store.model_dump(mode="json")  # defaults included


def test_a_yaml_profile_is_validated_before_the_receiver_reads_it():
    assert webhook_connections(_local_text(), "local.yaml").keys() == {
        c.name for c in load_profile(str(ROOT / "config" / "local.yaml")).connections
    }
    with pytest.raises(ProfileError, match="customer"):
        webhook_connections(_local_text().replace("customer: ", "customer: Not A Name  # "), "bad.yaml")


@pytest.mark.parametrize(
    "document",
    [
        "{not json",
        json.dumps({"customer": "acme"}),
        json.dumps({"connections": [{"name": "a"}]}),
        json.dumps(
            {"connections": [{"name": "a", "enabled": "yes", "store": {"type": "shopify"}, "secrets": {"store": "s"}}]}
        ),
    ],
)
def test_a_document_that_is_not_a_published_profile_is_refused_by_the_receiver(document):
    with pytest.raises(ProfileError, match="published profile"):
        webhook_connections(document, "ssm:/x")


def test_profile_push_publishes_the_validated_profile_as_json(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # a local runtime earlier in this worker points it at moto
    path = ROOT / "config" / "examples" / "woo-psft.yaml"
    with mock_aws():
        result = CliRunner().invoke(cli, ["profile", "push", str(path), "--region", "eu-west-1"])
        assert result.exit_code == 0, result.output
        import boto3

        stored = boto3.client("ssm", region_name="eu-west-1").get_parameter(Name="/ml-connector/acme-outdoor/profile")
    document = stored["Parameter"]["Value"]
    assert json.loads(document)["connections"][0]["name"] == "woo-psft"
    assert parse_profile(document, "ssm") == load_profile(str(path))
