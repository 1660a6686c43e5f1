"""`mlc redrive`, `replay`, `audit`, `backfill` and `reconcile` against the local runtime and the sandboxes."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from local.stack import LocalStack
from mlconnector.ops.stack import write_outputs_file
from mlconnector_cli.main import cli
from tests.support.stack import events_for, journals_for
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A woo-psft stack whose PeopleSoft target tries each call once (an injected 500 fails the record)."""
    tmp = tmp_path_factory.mktemp("ops")
    profile = yaml.safe_load((ROOT / "config/local.yaml").read_text())
    for connection in profile["connections"]:
        if connection["erp"]["type"] == "peoplesoft":
            connection["erp"]["retry_attempts"] = 1
    path = tmp / "profile.yaml"
    path.write_text(yaml.safe_dump(profile))
    with LocalStack(profile_path=path, connections=["woo-psft"], parameters={"MaxReceiveCount": "2"}) as stack:
        outputs = write_outputs_file(stack.runtime.outputs, tmp / "local-outputs.json", stack.runtime.endpoint)
        yield stack, path, outputs, tmp


def mlc(env, *args: str):
    stack, profile, outputs, _ = env
    base = ["--profile", str(profile), "--endpoint-url", stack.runtime.endpoint, "--outputs-file", str(outputs)]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def paid(woo, orders):
    with woo.lock:
        return [woo.orders[o["id"]] for o in orders if woo.orders[o["id"]]["status"] in ("processing", "completed")]


def dlq_depth(stack) -> int:
    return stack.runtime.queue_depth(stack.runtime.outputs["DeadLetterQueueUrl"])


def test_erp_outage_fills_the_dlq_and_redrive_posts_every_record_once(env):
    stack = env[0]
    woo, psft = stack.stores["woocommerce"].state, stack.erps["peoplesoft"].state
    psft.error_rate = 1.0
    orders = paid(woo, woo.generate_orders(6, seed=41, deliver=True))
    assert orders
    wait_for(lambda: dlq_depth(stack) >= len(orders), timeout=120, interval=0.5)
    assert stack.runtime.wait_until_drained(timeout=60)
    for order in orders:
        assert journals_for(stack, f"W{order['number']}") == []

    dry = mlc(env, "redrive", "--dry-run")
    assert dry.exit_code == 0, dry.output
    for order in orders:
        assert f"woo-psft|order|{order['id']}" in dry.output
    assert dlq_depth(stack) >= len(orders)  # a dry run moves nothing

    psft.error_rate = 0.0
    result = mlc(env, "redrive")
    assert result.exit_code == 0, result.output
    assert "moved back to the ingest queue" in result.output
    assert stack.runtime.wait_until_drained(timeout=120)
    assert dlq_depth(stack) == 0
    for order in orders:
        assert len(journals_for(stack, f"W{order['number']}")) == 1, order["number"]
        assert events_for(stack, f"woo-psft|order|{order['id']}").count("posted") == 1

    story = mlc(env, "audit", str(orders[0]["id"]), "--connection", "woo-psft")
    assert story.exit_code == 0, story.output
    for event in ("received", "failed", "dead_lettered", "posted"):
        assert event in story.output


def test_replaying_a_posted_order_posts_nothing_new(env):
    stack = env[0]
    woo = stack.stores["woocommerce"].state
    (order,) = paid(woo, [woo.generate_orders(1, seed=43, deliver=True)[0]]) or pytest.skip("seed gave an unpaid order")
    assert stack.runtime.wait_until_drained(timeout=60)
    assert len(journals_for(stack, f"W{order['number']}")) == 1

    result = mlc(env, "replay", "--order", str(order["id"]), "--connection", "woo-psft", "--reason", "test")
    assert result.exit_code == 0, result.output
    assert "#replay-" in result.output
    assert stack.runtime.wait_until_drained(timeout=60)

    assert len(journals_for(stack, f"W{order['number']}")) == 1
    events = events_for(stack, f"woo-psft|order|{order['id']}")
    assert events.count("posted") == 1
    assert "replayed" in events
    assert events[events.index("replayed") :].count("already_posted") >= 1  # processed again, found in place

    missing = mlc(env, "replay", "--order", "999999999", "--connection", "woo-psft")
    assert missing.exit_code == 1
    assert mlc(env, "replay").exit_code == 2  # no selection is a usage error


def test_replay_by_status_and_time_window(env):
    stack = env[0]
    since = datetime.now(UTC).isoformat()
    woo = stack.stores["woocommerce"].state
    orders = paid(woo, woo.generate_orders(3, seed=45, deliver=True))
    assert stack.runtime.wait_until_drained(timeout=60)
    dry = mlc(env, "replay", "--since", since, "--status", "posted", "--connection", "woo-psft", "--dry-run")
    assert dry.exit_code == 0, dry.output
    for order in orders:
        assert f"woo-psft|order|{order['id']}" in dry.output
    assert "Would replay" in dry.output


def test_backfill_enqueues_history_and_resumes_from_its_checkpoint(env):
    stack = env[0]
    woo = stack.stores["woocommerce"].state
    woo.drop_next_delivery = 10**6  # these orders never arrive by webhook: only the backfill finds them
    try:
        orders = paid(woo, woo.generate_orders(4, seed=47, deliver=True))
    finally:
        woo.drop_next_delivery = 0
    result = mlc(env, "backfill", "woo-psft", "--since", "2020-01-01", "--resource", "orders")
    assert result.exit_code == 0, result.output
    assert "records enqueued" in result.output
    assert stack.runtime.wait_until_drained(timeout=120)
    for order in orders:
        assert len(journals_for(stack, f"W{order['number']}")) == 1
        assert "backfill" in mlc(env, "audit", str(order["id"]), "--connection", "woo-psft").output

    again = mlc(env, "backfill", "woo-psft", "--since", "2020-01-01", "--resource", "orders")
    assert again.exit_code == 0 and "already backfilled" in again.output

    # An interrupted run (checkpoint not done) continues from the saved timestamp.
    from mlconnector.ops.backfill import Checkpoints
    from mlconnector.ops.stack import StackOutputs, build_connector

    connector = build_connector(str(env[1]), StackOutputs.from_outputs(stack.runtime.outputs))
    saved = Checkpoints(connector).get("woo-psft", "orders")
    Checkpoints(connector).put(
        "woo-psft",
        "orders",
        datetime.fromisoformat(saved["since"]),
        datetime.fromisoformat(saved["value"]),
        int(saved["records"]),
        done=False,
    )
    resumed = mlc(env, "backfill", "woo-psft", "--since", "2020-01-01", "--resource", "orders")
    assert resumed.exit_code == 0, resumed.output
    assert "resumed at" in resumed.output
    assert stack.runtime.wait_until_drained(timeout=120)
    for order in orders:
        assert len(journals_for(stack, f"W{order['number']}")) == 1


def test_reconcile_writes_csv_and_html_and_the_html_renders_in_chromium(env):
    stack, _, _, tmp = env
    today = datetime.now(UTC).date().isoformat()
    out = tmp / "recon"
    result = mlc(env, "reconcile", "--date", today, "--connection", "woo-psft", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "RECONCILED" in result.output

    rows = list(csv.DictReader((out / f"reconciliation-{today}.csv").open(encoding="utf-8")))
    assert rows and all(r["status"] == "ok" for r in rows)
    posted = {j["PROP_DESCR"][4:].split(" | ", 1)[0] for j in stack.erps["peoplesoft"].state.journals}
    assert {r["reference"] for r in rows} <= posted
    html = (out / f"reconciliation-{today}.html").read_text(encoding="utf-8")
    assert "<svg" in html and "posted" in html

    # A journal the ERP lost (deleted there by hand) shows up as a difference and the exit code says so.
    psft = stack.erps["peoplesoft"].state
    reference = rows[0]["reference"]
    with psft.lock:
        stored = psft._records["JOURNAL_ENTRY_CI"]
        removed = {k: v for k, v in stored.items() if v["PROP_DESCR"].startswith(f"ref:{reference} |")}
        for key in removed:
            del stored[key]
    try:
        differing = mlc(env, "reconcile", "--date", today, "--connection", "woo-psft", "--out", str(tmp / "recon-diff"))
    finally:
        with psft.lock:
            stored.update(removed)
    assert removed
    assert differing.exit_code == 1, differing.output
    assert "missing in ERP" in differing.output

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium is not installed (scripts/ensure-chromium.sh installs it)")
    png = tmp / "reconciliation.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp / 'chromium-profile'}",
            f"--screenshot={png}",
            "--window-size=1200,900",
            (out / f"reconciliation-{today}.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert png.exists() and png.stat().st_size > 20_000
    if os.environ.get("UPDATE_DOCS"):  # UPDATE_DOCS=1 refreshes the README's screenshot
        shutil.copyfile(png, ROOT / "docs" / "reconciliation-report.png")
