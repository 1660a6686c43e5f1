"""`mlc backfill` on the Shopify connection of the local stack reads orders with a bulk query operation: every
order enqueued once under the poll's keys and posted once; a download broken off mid-result resumes on the
same operation without enqueueing again what was enqueued; a failed operation stops the command with why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from local.stack import LocalStack
from mlconnector.ops.backfill import Checkpoints
from mlconnector.ops.stack import StackOutputs, build_connector, write_outputs_file
from mlconnector_cli.main import cli
from sandbox.shopify import ShopifyState
from tests.support.stack import audit_items, events_for

ROOT = Path(__file__).resolve().parents[2]
PAIR = "shop-psft"
SINCE = "2020-01-01"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[tuple[LocalStack, Path, Path]]:
    tmp = tmp_path_factory.mktemp("bulk")
    profile = yaml.safe_load((ROOT / "config/local.yaml").read_text())
    for connection in profile["connections"]:
        if connection["name"] == PAIR:
            connection["store"]["bulk_poll_seconds"] = 0.05
    path = tmp / "profile.yaml"
    path.write_text(yaml.safe_dump(profile))
    with LocalStack(profile_path=path, connections=[PAIR]) as stack:
        yield stack, path, write_outputs_file(stack.runtime.outputs, tmp / "outputs.json", stack.runtime.endpoint)


def mlc(env, *args: str) -> Any:
    stack, profile, outputs = env
    base = ["--profile", str(profile), "--endpoint-url", stack.runtime.endpoint, "--outputs-file", str(outputs)]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def undelivered(shop: ShopifyState, count: int, seed: int) -> list[dict[str, Any]]:
    """Orders the connector never heard of: only a backfill finds them."""
    return shop.generate_orders(count, seed, deliver=False, refund_share=0.3)


def paid(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in orders if o["financial_status"] in ("paid", "partially_refunded", "refunded")]


def test_backfill_reads_orders_in_bulk_and_posts_each_once(env) -> None:
    stack = env[0]
    shop: ShopifyState = stack.stores[PAIR].state
    orders = undelivered(shop, 14, seed=61)
    result = mlc(env, "backfill", PAIR, "--since", SINCE, "--resource", "orders", "--restart")
    assert result.exit_code == 0, result.output
    assert "records enqueued from bulk operation gid://shopify/BulkOperation/" in result.output
    asked = [name for name, _, _ in shop.graphql_costs]
    assert asked.count("BulkRun") == 1 and "OrdersPage" not in asked
    assert stack.runtime.wait_until_drained(timeout=120)
    assert paid(orders)
    for order in paid(orders):
        events = events_for(stack, f"{PAIR}|order|{order['id']}")
        assert events.count("enqueued") == 1 and events.count("posted") == 1, (order["name"], events)

    again = mlc(env, "backfill", PAIR, "--since", SINCE, "--resource", "orders")
    assert again.exit_code == 0 and "already backfilled" in again.output and "BulkOperation" in again.output
    assert [name for name, _, _ in shop.graphql_costs].count("BulkRun") == 1


def test_a_download_broken_off_resumes_on_the_same_operation(env) -> None:
    stack, profile, _ = env
    shop: ShopifyState = stack.stores[PAIR].state
    before = sum(1 for _ in shop.orders)
    new = undelivered(shop, 200, seed=67)
    total = before + 200
    runs = [name for name, _, _ in shop.graphql_costs].count("BulkRun")
    shop.bulk_download_breaks_after = total - 8  # past the first batch of 100, short of the end
    # (what had arrived of the last piece read is lost with the connection: the batches enqueued are whole)

    broken = mlc(env, "backfill", PAIR, "--since", SINCE, "--resource", "orders", "--restart")
    assert broken.exit_code == 1 and "broke off" in broken.output and "run again to resume" in broken.output
    connector = build_connector(str(profile), StackOutputs.from_outputs(stack.runtime.outputs))
    saved = Checkpoints(connector).get(PAIR, "orders")
    done = int(saved["records"])
    assert not saved["done"] and done in (100, 200) and int(saved["bulk"]["lines"]) > done

    shop.bulk_download_breaks_after = None
    resumed = mlc(env, "backfill", PAIR, "--since", SINCE, "--resource", "orders")
    assert resumed.exit_code == 0, resumed.output
    assert f"{total - done} records enqueued from bulk operation {saved['bulk']['operation']}" in resumed.output
    assert [name for name, _, _ in shop.graphql_costs].count("BulkRun") == runs + 1  # not asked again
    assert Checkpoints(connector).get(PAIR, "orders")["done"]
    enqueued = Counter(i["pk"]["S"] for i in audit_items(stack) if i["event"]["S"] == "enqueued")
    assert all(enqueued[f"{PAIR}|order|{order['id']}"] == 1 for order in new)  # each once across both runs


def test_a_failed_operation_stops_the_backfill_with_its_reason(env) -> None:
    shop: ShopifyState = env[0].stores[PAIR].state
    undelivered(shop, 10, seed=71)  # more than the 3 objects the operation gets through, whichever tests ran before
    shop.bulk_failure = ("INTERNAL_SERVER_ERROR", 3)
    result = mlc(env, "backfill", PAIR, "--since", "2021-01-01", "--resource", "orders", "--restart")
    assert result.exit_code == 1
    assert "BulkOperationFailed" in result.output and "failed (INTERNAL_SERVER_ERROR)" in result.output
    assert "run the backfill again" in result.output
