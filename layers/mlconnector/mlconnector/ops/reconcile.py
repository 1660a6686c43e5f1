"""Reconciliation of one day: what the audit trail says was posted against what the ERP holds.

Store side: the audit trail's ``posted`` events of the day (reference, source total, currency,
ERP document id), from the poster's outcome items in the ``by_day`` index. ERP side: each
reference looked up in the ERP through the target's own ``find_posting`` (the same natural-key
lookup the poster trusts), plus, where the target has an inquiry by date (PeopleSoft's journal
inquiry, JD Edwards' F0911 read-back), the ERP's documents of the day that the connector never
bound to a store record. Differences are reported, never fixed. A target with a
``reconcile_check`` adds what a lookup cannot see: a difference (Fusion's total of an invoice whose
tax it calculated, against the store's) or a note (a Fusion credit memo left on account, and why).
"""

from __future__ import annotations

import csv
import html
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from mlconnector.aws.audit import DAY_INDEXED, AuditEvent
from mlconnector.documents import Posting, PostingKind
from mlconnector.pipeline.context import Connector

FAILED_EVENTS = DAY_INDEXED - {AuditEvent.POSTED}
OK = "ok"


@dataclass(frozen=True)
class ReconRow:
    connection: str
    reference: str
    document_kind: str
    currency: str
    source_total: Decimal | None
    audit_erp_id: str
    erp_id: str
    status: str  # ok | missing in ERP | ERP id differs | in ERP only | amount differs: ... | lookup failed: ...
    posted_at: str = ""
    note: str = ""  # e.g. a credit memo left on account, and why

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass
class ReconReport:
    day: date
    rows: list[ReconRow] = field(default_factory=list)
    posted_by_hour: Counter = field(default_factory=Counter)
    failed_by_hour: Counter = field(default_factory=Counter)
    connections: list[str] = field(default_factory=list)

    @property
    def differences(self) -> list[ReconRow]:
        return [r for r in self.rows if not r.ok]

    def totals(self) -> dict[tuple[str, str], Decimal]:
        """Posted store totals per (connection, currency)."""
        out: dict[tuple[str, str], Decimal] = {}
        for row in self.rows:
            if row.source_total is not None and row.status != "in ERP only":
                key = (row.connection, row.currency)
                out[key] = out.get(key, Decimal(0)) + row.source_total
        return out


def _stub(connection: str, reference: str, kind: str) -> Posting:
    """Enough of a Posting for a target's lookup by reference (kind and reference are all it reads)."""
    return Posting.model_construct(kind=PostingKind(kind), reference=reference, connection=connection)


def _erp_documents_of_day(target: Any, day: date) -> list[tuple[str, str]] | None:
    """(reference, ERP id) of the ERP's documents dated ``day``, where the target can list them."""
    if hasattr(target, "inquire"):
        return [(j["reference"], j["erp_id"]) for j in target.inquire("journals", day, day) if j.get("reference")]
    if hasattr(target, "read_back"):
        seen = {(line["reference"], line["erp_id"]) for line in target.read_back(day, day) if line.get("reference")}
        return sorted(seen)
    return None


def reconcile_connection(
    connector: Connector, name: str, day: date, report: ReconReport, progress: Callable[[int], None] | None = None
) -> None:
    """Add one connection's rows and hourly counts to ``report``."""
    report.connections.append(name)
    posted: list[dict[str, Any]] = []
    for item in connector.audit.by_day(name, day.isoformat()):
        event, at = item.get("event", ""), str(item.get("at", ""))
        hour = int(at[11:13]) if len(at) >= 13 and at[11:13].isdigit() else 0
        if event == "posted":
            posted.append(item)
            report.posted_by_hour[hour] += 1
        elif event in FAILED_EVENTS:
            report.failed_by_hour[hour] += 1
    try:
        target = connector.target(name)
    except Exception as exc:  # no credentials, bad settings: every posting of the day is unverified
        report.rows.append(
            ReconRow(name, "(ERP)", "", "", None, "", "", f"lookup failed: ERP unavailable: {exc}"[:240])
        )
        return
    for item in sorted(posted, key=lambda i: i["at"]):
        detail = item.get("detail", {})
        reference = str(detail.get("reference", ""))
        kind = str(detail.get("document_kind", "journal"))
        audit_id = str(detail.get("erp_document_id", ""))
        total = detail.get("source_total")
        note = ""
        try:
            found = target.find_posting(_stub(name, reference, kind)) or ""
            status = OK if found == audit_id else ("missing in ERP" if not found else "ERP id differs")
            if status == OK and hasattr(target, "reconcile_check"):
                amount = Decimal(str(total)) if total not in (None, "") else None
                difference, note = target.reconcile_check(kind, reference, found, amount)
                status = difference or status
        except Exception as exc:  # reported as a difference; the rest of the day still reconciles
            found, status = "", f"lookup failed: {type(exc).__name__}: {str(exc)[:200]}"
        report.rows.append(
            ReconRow(
                name,
                reference,
                kind,
                str(detail.get("currency", "")),
                Decimal(str(total)) if total not in (None, "") else None,
                audit_id,
                found,
                status,
                str(item.get("at", "")),
                note,
            )
        )
        if progress:
            progress(1)
    try:
        listed = _erp_documents_of_day(target, day)
    except Exception as exc:  # an inquiry the customer has not built yet: say so, keep the lookups
        report.rows.append(
            ReconRow(name, "(ERP inquiry)", "", "", None, "", "", f"lookup failed: {type(exc).__name__}: {exc}"[:240])
        )
        listed = None
    known = {r.reference for r in report.rows if r.connection == name}
    for reference, erp_id in listed or ():
        if reference in known or connector.state.erp_id(name, "posting", reference):
            continue
        report.rows.append(ReconRow(name, reference, "", "", None, "", erp_id, "in ERP only"))


def reconcile(
    connector: Connector, day: date, connections: list[str] | None = None, progress: Callable[[int], None] | None = None
) -> ReconReport:
    report = ReconReport(day)
    for name in connections or [c.name for c in connector.profile.connections if c.enabled]:
        reconcile_connection(connector, name, day, report, progress)
    return report


# --- files a finance user opens ---------------------------------------------------------------------
CSV_COLUMNS = (
    "connection",
    "reference",
    "document_kind",
    "currency",
    "source_total",
    "audit_erp_id",
    "erp_id",
    "status",
    "posted_at",
    "note",
)


def write_csv(report: ReconReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in report.rows:
            writer.writerow(
                [
                    row.connection,
                    row.reference,
                    row.document_kind,
                    row.currency,
                    "" if row.source_total is None else f"{row.source_total:.2f}",
                    row.audit_erp_id,
                    row.erp_id,
                    row.status,
                    row.posted_at,
                    row.note,
                ]
            )
    return path


def hourly_chart_svg(posted: Counter, failed: Counter, width: int = 960, height: int = 320) -> str:
    """Posted (green) and failed (red) events per hour of the day as grouped bars, inline SVG."""
    left, right, top, bottom = 48, 16, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([1, *posted.values(), *failed.values()])
    step = max(1, -(-peak // 5))
    ceiling = step * 5
    slot = plot_w / 24
    bar = slot * 0.38
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-label="Posted and failed records per hour" font-family="sans-serif" font-size="11">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for tick in range(0, ceiling + 1, step):
        y = top + plot_h - plot_h * tick / ceiling
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#374151">{tick}</text>')
    for hour in range(24):
        x0 = left + slot * hour + slot * 0.1
        for offset, count, colour, label in (
            (0, posted[hour], "#16a34a", "posted"),
            (bar, failed[hour], "#dc2626", "failed"),
        ):
            h = plot_h * count / ceiling
            parts.append(
                f'<rect x="{x0 + offset:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{hour:02d}:00 {label}: {count}</title></rect>'
            )
        parts.append(
            f'<text x="{left + slot * hour + slot / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'fill="#374151">{hour:02d}</text>'
        )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#6b7280"/>')
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="#111827">hour (UTC)</text>'
    )
    parts.append(f'<rect x="{width - 190}" y="8" width="12" height="12" fill="#16a34a"/>')
    parts.append(f'<text x="{width - 172}" y="18" fill="#111827">posted</text>')
    parts.append(f'<rect x="{width - 110}" y="8" width="12" height="12" fill="#dc2626"/>')
    parts.append(f'<text x="{width - 92}" y="18" fill="#111827">failed / review</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: ReconReport, generated_at: datetime | None = None) -> str:
    esc = html.escape
    generated = (generated_at or datetime.now()).strftime("%Y-%m-%d %H:%M")
    differences = report.differences
    verdict = (
        '<p class="ok">Reconciled: every posting of the day is in the ERP under the same document.</p>'
        if not differences
        else f'<p class="bad">{len(differences)} difference(s) to look at (listed first).</p>'
    )
    totals = "".join(
        f"<tr><td>{esc(c)}</td><td>{esc(cur)}</td><td class='num'>{amount:,.2f}</td></tr>"
        for (c, cur), amount in sorted(report.totals().items())
    )
    rows = sorted(report.rows, key=lambda r: (r.ok, r.connection, r.reference))
    body = "".join(
        "<tr class='{cls}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class='num'>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            esc(r.connection),
            esc(r.reference),
            esc(r.document_kind),
            esc(r.currency),
            "" if r.source_total is None else f"{r.source_total:,.2f}",
            esc(r.audit_erp_id),
            esc(r.erp_id),
            esc(r.status),
            esc(r.note),
            cls="" if r.ok else "diff",
        )
        for r in rows
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reconciliation {report.day.isoformat()}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:24px;color:#111827}}
table{{border-collapse:collapse;margin:12px 0}}td,th{{border:1px solid #d1d5db;padding:4px 8px;font-size:13px}}
th{{background:#f3f4f6;text-align:left}}.num{{text-align:right;font-variant-numeric:tabular-nums}}
tr.diff td{{background:#fef2f2}}.ok{{color:#15803d;font-weight:600}}.bad{{color:#b91c1c;font-weight:600}}
</style></head><body>
<h1>Store vs ERP reconciliation, {report.day.isoformat()}</h1>
<p>Connections: {esc(", ".join(report.connections))}. Generated {esc(generated)}.
Postings: {sum(report.posted_by_hour.values())}; failed attempts and reviews: {sum(report.failed_by_hour.values())}.</p>
{verdict}
<h2>Posted and failed per hour</h2>
{hourly_chart_svg(report.posted_by_hour, report.failed_by_hour)}
<h2>Posted store totals</h2>
<table><tr><th>connection</th><th>currency</th><th>total</th></tr>{totals}</table>
<h2>Documents</h2>
<table><tr><th>connection</th><th>reference</th><th>kind</th><th>currency</th><th>store total</th>
<th>ERP id (audit)</th><th>ERP id (ERP)</th><th>status</th><th>note</th></tr>{body}</table>
</body></html>
"""


def write_html(report: ReconReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return path


# --- the scheduled check ----------------------------------------------------------------------------
def record_reconciliation(connector: Connector, day: date, connections: list[str] | None = None) -> dict[str, dict]:
    """Reconcile ``day`` and say so: one audit entry per connection and a ``ReconciliationDifferences``
    metric, so an alarm can fire. Returns the per-connection summary."""
    from mlconnector.observability import count, logger

    report = reconcile(connector, day, connections)
    summary: dict[str, dict] = {}
    for name in report.connections:
        rows = [r for r in report.rows if r.connection == name]
        differences = [r for r in rows if not r.ok]
        summary[name] = {
            "checked": sum(1 for r in rows if r.status != "in ERP only"),
            "differences": len(differences),
            "statuses": dict(Counter(r.status for r in differences)),
        }
        connector.audit.record_raw(
            f"{name}|reconciliation|{day.isoformat()}",
            AuditEvent.RECONCILED,
            day=day.isoformat(),
            checked=summary[name]["checked"],
            differences=[f"{r.reference}: {r.status}" for r in differences[:200]],
            notes=[f"{r.reference}: {r.note}" for r in rows if r.note][:200],
        )
        count("ReconciliationDifferences", name, len(differences))
        logger.info("reconciliation", extra={"connection": name, "day": day.isoformat(), **summary[name]})
    return summary
