"""Reconciliation of a local run: what the stores say must be posted against what the ERPs hold."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from local.stack import ExpectedDocument, LedgerDocument, LocalStack


@dataclass(frozen=True)
class Row:
    expected: ExpectedDocument
    documents: tuple[LedgerDocument, ...]
    review_expected: bool = False

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def problem(self) -> str:
        if self.review_expected:
            return "posted although it must go to review" if self.documents else ""
        if not self.documents:
            return "not posted"
        if len(self.documents) > 1:
            return f"posted {len(self.documents)} times"
        doc = self.documents[0]
        if not doc.balanced:
            return "does not balance"
        if doc.total != self.expected.total:
            return f"total {doc.total} ≠ {self.expected.total}"
        return ""


@dataclass
class RunReport:
    rows: list[Row] = field(default_factory=list)
    unexpected: list[LedgerDocument] = field(default_factory=list)
    events: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    dead_letters: int = 0
    seconds: float = 0.0

    @property
    def reconciled(self) -> bool:
        return (
            all(row.ok for row in self.rows)
            and not self.unexpected
            and self.dead_letters == 0
            and self.events["needs_review"] == sum(1 for row in self.rows if row.review_expected)
        )

    @property
    def duplicates_suppressed(self) -> int:
        return self.events["duplicate_suppressed"] + self.events["already_posted"]


def audit_events(stack: LocalStack) -> tuple[Counter, Counter]:
    """Counts of audit events, and of (event, connection, reason) for failures and reviews."""
    from boto3.dynamodb.types import TypeDeserializer

    from mlconnector.aws.audit import entries

    assert stack.runtime
    ddb = stack.runtime.client("dynamodb")
    plain = TypeDeserializer()
    events: Counter = Counter()
    reasons: Counter = Counter()
    kwargs: dict[str, Any] = {"TableName": stack.runtime.outputs["AuditTableName"]}
    while True:
        page = ddb.scan(**kwargs)
        items = [{k: plain.deserialize(v) for k, v in item.items()} for item in page["Items"]]
        for entry in (e for item in items for e in entries(item)):
            event = entry["event"]
            events[event] += 1
            if event in ("failed", "needs_review", "dead_lettered"):
                reason = str(entry["detail"].get("reason", ""))
                reasons[(event, entry["connection"], reason[:160])] += 1
        if "LastEvaluatedKey" not in page:
            return events, reasons
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def build_report(stack: LocalStack, seconds: float = 0.0, expected_reviews: set[str] | None = None) -> RunReport:
    """Expected documents against the ERPs'; ``expected_reviews`` are references the scenario made
    invalid on purpose (e.g. a refund that does not match its order): they must be in review, unposted."""
    expected_reviews = expected_reviews or set()
    assert stack.runtime
    report = RunReport(seconds=seconds)
    for connection in stack.selected_connections():
        expected = stack.stores[connection.name].expected(connection)
        held = stack.erps[connection.name].documents(connection)
        by_reference: dict[str, list[LedgerDocument]] = {}
        for doc in held:
            by_reference.setdefault(doc.reference, []).append(doc)
        wanted = {e.reference for e in expected}
        report.rows.extend(
            Row(e, tuple(by_reference.get(e.reference, ())), e.reference in expected_reviews) for e in expected
        )
        report.unexpected.extend(d for d in held if d.reference not in wanted)
    report.events, report.reasons = audit_events(stack)
    report.dead_letters = stack.runtime.queue_depth(stack.runtime.outputs["DeadLetterQueueUrl"])
    return report


def print_report(report: RunReport, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="Documents: store total against ERP document", show_lines=False)
    for column in ("connection", "reference", "kind", "currency", "store total", "ERP document", "ERP total", ""):
        table.add_column(column, justify="right" if "total" in column else "left")
    for row in sorted(report.rows, key=lambda r: (r.expected.connection, r.expected.reference)):
        doc = row.documents[0] if row.documents else None
        table.add_row(
            row.expected.connection,
            row.expected.reference,
            row.expected.kind,
            row.expected.currency,
            f"{row.expected.total:,.2f}",
            doc.erp_id if doc else "—",
            f"{doc.total:,.2f}" if doc else ("in review" if row.review_expected else "—"),
            "[green]✓[/green]" if row.ok else f"[red]{row.problem}[/red]",
        )
    console.print(table)
    if report.unexpected:
        console.print(f"[red]{len(report.unexpected)} ERP documents match no store record[/red]")

    e = report.events
    summary = Table(title="Pipeline", show_header=False)
    summary.add_column("what")
    summary.add_column("count", justify="right")
    orders = sum(1 for r in report.rows if r.expected.kind == "order")
    refunds = sum(1 for r in report.rows if r.expected.kind == "refund")
    posted_total = sum((r.expected.total for r in report.rows if r.ok and r.expected.kind == "order"), Decimal(0))
    for label, value in (
        ("webhook deliveries received", e["received"]),
        ("records enqueued by polls and backfills", e["enqueued"]),
        ("documents posted", e["posted"]),
        ("duplicates suppressed (same version, or already in the ERP)", report.duplicates_suppressed),
        ("skipped (not paid, deleted)", e["skipped"]),
        ("concurrent deliveries deferred (same version in progress)", e["deferred"]),
        ("failed attempts, retried", e["failed"]),
        ("needs review", e["needs_review"]),
        ("in the dead-letter queue", report.dead_letters),
        ("paid orders / refunds expected", f"{orders} / {refunds}"),
        ("value of orders reconciled", f"{posted_total:,.2f}"),
        ("run time (s)", f"{report.seconds:.1f}"),
    ):
        summary.add_row(label, str(value))
    console.print(summary)
    if report.reasons:
        why = Table(title="Failed attempts and reviews, by reason")
        for column in ("event", "connection", "reason", "count"):
            why.add_column(column, justify="right" if column == "count" else "left")
        for (event, connection, reason), n in report.reasons.most_common(15):
            why.add_row(event, connection, reason, str(n))
        console.print(why)
    verdict = "[bold green]RECONCILED[/bold green]" if report.reconciled else "[bold red]NOT RECONCILED[/bold red]"
    failed_rows = sum(1 for r in report.rows if not r.ok)
    console.print(f"{verdict}: {len(report.rows) - failed_rows} of {len(report.rows)} documents posted exactly once")
