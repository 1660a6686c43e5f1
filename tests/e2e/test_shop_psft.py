"""Shopify → PeopleSoft on the local stack, the Shopify side entirely over the GraphQL Admin API: the keeper
subscribes, webhooks and a poll carry orders and refunds to the ledger, a lost delivery is found by the
poll, a refund that does not match its order goes to review; ``mlc check`` asks the shop query. No call
reaches a REST Admin endpoint, and no query asks for more than the single-query limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from local.report import build_report
from local.run import shopify_scenario
from local.stack import LocalStack
from mlconnector.ops.stack import write_outputs_file
from mlconnector_cli.main import cli
from sandbox.shopify import ShopifyState

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "config" / "local.yaml"
PAIR = "shop-psft"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(connections=[PAIR]) as running:
        yield running


def test_webhooks_a_poll_and_the_keeper_reconcile_over_graphql_only(stack: LocalStack) -> None:
    shop: ShopifyState = stack.stores[PAIR].state
    connection = stack.profile.connection(PAIR)
    in_review = shopify_scenario(stack, connection, 24, 11)
    assert stack.runtime.wait_until_drained(timeout=60)
    stack.poll(PAIR)
    assert stack.runtime.wait_until_drained(timeout=60)
    stack.keep_webhooks()

    report = build_report(stack, expected_reviews=in_review)
    assert report.reconciled, [row for row in report.rows if not row.ok]
    assert shop.rest_admin_calls == 0
    paths = {path.split("?")[0] for _, path, _ in shop.requests}
    assert paths == {f"/admin/api/{shop.api_version}/graphql.json"}
    operations = {name for name, _, _ in shop.graphql_costs}
    assert {"Webhooks", "RefundIdsPage", "OrdersPage", "OrderContext", "Refund"} <= operations
    assert all(requested <= 1000 for _, requested, _ in shop.graphql_costs)


def test_mlc_check_reads_the_shop_over_graphql(stack: LocalStack, tmp_path: Path) -> None:
    outputs = write_outputs_file(stack.runtime.outputs, tmp_path / "outputs.json", stack.runtime.endpoint)
    base = ["--profile", str(PROFILE), "--endpoint-url", stack.runtime.endpoint, "--outputs-file", str(outputs)]
    before = len(stack.stores[PAIR].state.graphql_costs)
    result = CliRunner().invoke(cli, [*base, "check", PAIR], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "shop (GraphQL Admin API)" in result.output and "FAILED" not in result.output
    asked = [name for name, _, _ in stack.stores[PAIR].state.graphql_costs[before:]]
    assert asked == ["Shop", "ProbeOrders", "ProbeCustomers", "ProbeWebhooks"]
    assert stack.stores[PAIR].state.rest_admin_calls == 0
