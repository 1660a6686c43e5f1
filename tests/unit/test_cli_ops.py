"""`mlc` without a stack: help, exit codes, option parsing, redrive on moto, report rendering."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlconnector.envelope import Envelope, Origin, RecordKind
from mlconnector.ops.reconcile import ReconReport, ReconRow, hourly_chart_svg, render_html, write_csv
from mlconnector.ops.replay import replay_version
from mlconnector.ops.stack import StackOutputs, read_outputs_file, write_outputs_file
from mlconnector_cli.main import cli, parse_when

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("check", "backfill", "redrive", "replay", "audit", "reconcile", "profile")


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_help_lists_every_command_and_each_has_help():
    result = run("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
        sub = run(command, "--help")
        assert sub.exit_code == 0 and "Usage" in sub.output
    assert "Exit codes: 0 ok, 1 a problem was found, 2 usage or profile error" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("check", "woo-psft"),  # no profile
        ("--profile", "/nonexistent.yaml", "audit", "1"),
        ("--profile", str(ROOT / "config/local.yaml"), "replay"),  # no selection
        ("--profile", str(ROOT / "config/local.yaml"), "replay", "--order", "1", "--status", "failed"),
        ("--profile", str(ROOT / "config/local.yaml"), "reconcile", "--date", "yesterday"),
        ("backfill", "woo-psft", "--since", "not-a-date"),
        ("redrive",),  # no queue URLs anywhere
    ],
)
def test_usage_and_profile_errors_exit_2(args, monkeypatch, tmp_path):
    monkeypatch.delenv("CONNECTOR_PROFILE", raising=False)
    monkeypatch.chdir(tmp_path)  # no reports/local-outputs.json to fall back on
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_parse_when():
    assert parse_when("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_when("2026-03-01", end_of_day=True).hour == 23
    assert parse_when("2026-03-01T10:00:00Z") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_when("2026-03-01T10:00:00").tzinfo is UTC


def test_replay_version_bypasses_idempotency_but_never_stacks():
    first = replay_version("2026-01-01T00:00:00", datetime(2026, 2, 1, tzinfo=UTC))
    assert first.startswith("2026-01-01T00:00:00#replay-20260201")
    again = replay_version(first, datetime(2026, 2, 2, tzinfo=UTC))
    assert again.count("#replay-") == 1 and again.endswith("Z") and "20260202" in again


def test_outputs_file_round_trip(tmp_path):
    outputs = {"IngestQueueUrl": "http://q", "DeadLetterQueueUrl": "http://d", "AuditTableName": "audit"}
    path = write_outputs_file(outputs, tmp_path / "out.json", "http://127.0.0.1:1")
    loaded = read_outputs_file(path)
    assert loaded.ingest_queue_url == "http://q" and loaded.audit_table == "audit"
    assert loaded.egress_ip == "127.0.0.1"  # local: the operator's own machine
    assert loaded.merged(audit_table="other", state_table=None).audit_table == "other"
    with pytest.raises(Exception, match="--state-table"):
        StackOutputs().require("state_table")


# --- redrive on moto (in-process) -------------------------------------------------------------------
@pytest.fixture
def queues(monkeypatch):
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        import boto3

        from mlconnector.aws import clients

        clients.reset()
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="t-dlq")["QueueUrl"]
        ingest = sqs.create_queue(QueueName="t-ingest")["QueueUrl"]
        for i in range(13):
            envelope = Envelope(
                connection="woo-psft",
                kind=RecordKind.ORDER,
                object_id=str(100 + i),
                version="v1",
                origin=Origin.WEBHOOK,
            )
            sqs.send_message(QueueUrl=dlq, MessageBody=envelope.to_json())
        sqs.send_message(QueueUrl=dlq, MessageBody="{not json")
        yield sqs, dlq, ingest
        clients.reset()


def _depth(sqs, url: str) -> int:
    return int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )


def test_redrive_dry_run_lists_and_moves_nothing_then_redrive_moves_everything(queues):
    sqs, dlq, ingest = queues
    dry = run("--queue-url", ingest, "--dlq-url", dlq, "--region", "us-east-1", "redrive", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "woo-psft|order|100" in dry.output and "woo-psft|order|112" in dry.output
    assert "(not an envelope)" in dry.output
    assert _depth(sqs, dlq) == 14 and _depth(sqs, ingest) == 0

    # moto has no StartMessageMoveTask: the copy fallback takes over without being asked.
    moved = run("--queue-url", ingest, "--dlq-url", dlq, "--region", "us-east-1", "redrive")
    assert moved.exit_code == 0, moved.output
    assert "14 message(s) moved" in moved.output
    assert _depth(sqs, dlq) == 0 and _depth(sqs, ingest) == 14
    bodies = []
    while messages := sqs.receive_message(QueueUrl=ingest, MaxNumberOfMessages=10).get("Messages", []):
        bodies.extend(m["Body"] for m in messages)
        sqs.delete_message_batch(
            QueueUrl=ingest,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    assert sorted(json.loads(b)["object_id"] for b in bodies if b.startswith('{"')) == [str(100 + i) for i in range(13)]


# --- reconciliation files ---------------------------------------------------------------------------
def _report() -> ReconReport:
    report = ReconReport(date(2026, 3, 1), connections=["woo-psft"])
    report.rows = [
        ReconRow("woo-psft", "W1001", "journal", "USD", Decimal("10.10"), "US001/A", "US001/A", "ok"),
        ReconRow("woo-psft", "W1002", "journal", "USD", Decimal("0.20"), "US001/B", "", "missing in ERP"),
        ReconRow("woo-psft", "W<script>", "", "", None, "", "US001/C", "in ERP only"),
    ]
    report.posted_by_hour = Counter({9: 2, 10: 1})
    report.failed_by_hour = Counter({10: 3})
    return report


def test_totals_are_decimal_and_exclude_erp_only_rows():
    totals = _report().totals()
    assert totals == {("woo-psft", "USD"): Decimal("10.30")}
    assert isinstance(totals[("woo-psft", "USD")], Decimal)


def test_csv_and_html(tmp_path):
    report = _report()
    rows = (write_csv(report, tmp_path / "r.csv")).read_text().splitlines()
    assert rows[0].startswith("connection,reference") and "10.10" in rows[1] and len(rows) == 4
    html = render_html(report)
    assert "2 difference(s)" in html and "W&lt;script&gt;" in html and "<script>" not in html
    assert html.index("W1002") < html.index("W1001")  # differences first
    svg = hourly_chart_svg(report.posted_by_hour, report.failed_by_hour)
    assert svg.startswith("<svg") and svg.count("<rect") == 24 * 2 + 3
    assert "10:00 failed: 3" in svg and "09:00 posted: 2" in svg
