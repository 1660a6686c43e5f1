"""`mlc check` probes for every store and ERP type, against each pair's simulators."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.stack import LocalStack
from mlconnector.ops.checks import check_connection
from mlconnector.ops.stack import LOCAL_EGRESS_IP, StackOutputs, build_connector

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "config" / "local.yaml"
PAIRS = ["bc-psft", "shop-psft", "woo-jde", "woo-fusion"]


@pytest.fixture(scope="module")
def connector():
    with LocalStack(connections=PAIRS) as stack:
        yield stack, build_connector(str(PROFILE), StackOutputs.from_outputs(stack.runtime.outputs))


@pytest.mark.parametrize("name", PAIRS)
def test_check_succeeds_for_every_pair(connector, name):
    _, built = connector
    report = check_connection(built, name, LOCAL_EGRESS_IP)
    for side in (report.store, report.erp):
        assert side.reachable and side.authenticated and side.permissions_ok, (side.side, side.error, side.probes)
    assert report.ok
    on_premise = built.connection(name).erp_type in ("peoplesoft", "jdedwards")
    assert (report.erp.egress_ip == LOCAL_EGRESS_IP) == on_premise


@pytest.mark.parametrize("name", PAIRS)
def test_wrong_store_credentials_fail_the_store_side_only(connector, name):
    stack, built = connector
    connection = built.connection(name)
    good = dict(stack.stores[name].credentials)
    wrong = {key: "x" + value[::-1] for key, value in good.items()}
    stack.runtime.put_secret(connection.secrets.store, wrong)
    try:
        report = check_connection(built, name, LOCAL_EGRESS_IP)
    finally:
        stack.runtime.put_secret(connection.secrets.store, good)
    assert not report.store.authenticated and report.erp.ok
    text = repr(report)
    assert all(value not in text for value in [*wrong.values(), *good.values()])
