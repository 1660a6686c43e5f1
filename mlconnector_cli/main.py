"""`mlc`: validate and publish profiles, check connections, backfill, redrive, replay, audit, reconcile.

Exit codes scripts can trust: 0 success, 1 the operation found a problem (a failed check,
differences in a reconciliation), 2 bad usage or an invalid profile.

Every command is a thin wrapper over ``mlconnector.ops``; global options say which stack
(``--stack`` for a deployed one, ``--endpoint-url`` plus ``--outputs-file`` or ``--queue-url``
and friends for the local runtime) and which profile (``--profile`` or ``CONNECTOR_PROFILE``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mlconnector.errors import ConnectorError, ProfileError
from mlconnector.profile import load_profile, publish

if TYPE_CHECKING:
    from mlconnector.sources.bulk import BulkStatus

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
DEFAULT_OUTPUTS_FILE = Path("reports/local-outputs.json")


@dataclass
class Options:
    """Global options, resolved lazily: `profile validate` needs no stack."""

    profile: str | None
    stack: str | None
    region: str | None
    aws_profile: str | None
    endpoint_url: str | None
    outputs_file: Path | None
    overrides: dict[str, str | None]

    def outputs(self) -> Any:
        from mlconnector.ops.stack import StackOutputs, read_outputs_file, read_stack_outputs

        if self.stack:
            import boto3

            session = boto3.Session(region_name=self.region, profile_name=self.aws_profile)
            found = read_stack_outputs(self.stack, session)
        elif self.outputs_file:
            found = read_outputs_file(self.outputs_file)
        elif self.endpoint_url and DEFAULT_OUTPUTS_FILE.exists():
            found = read_outputs_file(DEFAULT_OUTPUTS_FILE)
        else:
            found = StackOutputs()
        return found.merged(**self.overrides)

    def connector(self) -> Any:
        from mlconnector.ops.stack import build_connector, configure_aws

        if not self.profile:
            raise ProfileError("no profile: pass --profile PATH (or ssm:/name) or set CONNECTOR_PROFILE")
        configure_aws(self.endpoint_url, self.region, self.aws_profile)
        outputs = self.outputs()
        return build_connector(load_profile(self.profile), outputs), outputs

    def sqs(self) -> Any:
        import boto3

        from mlconnector.ops.stack import configure_aws

        configure_aws(self.endpoint_url, self.region, self.aws_profile)
        session = boto3.Session(region_name=self.region, profile_name=self.aws_profile)
        return session.client("sqs", endpoint_url=self.endpoint_url)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


@contextmanager
def usage_errors() -> Iterator[None]:
    """Profile and option errors become exit code 2 with the message, never a stack trace."""
    try:
        yield
    except ProfileError as exc:
        fail(str(exc))
    except KeyError as exc:
        fail(f"unknown connection {exc.args[0]!r}")


def console() -> Any:
    from rich.console import Console

    return Console(width=max(120, Console().width), highlight=False)


def _progress() -> Any:
    """A rich progress display on stderr: spinner, description, bar, done of total, time elapsed."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(SpinnerColumn(), *columns, console=Console(stderr=True), transient=True)


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields ``advance(n)``."""
    with _progress() as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


class BackfillBar:
    """The backfill's progress bar: records enqueued, and while a bulk operation runs, what Shopify reports."""

    def __init__(self, bar: Any, task: Any, description: str) -> None:
        self.bar, self.task, self.description = bar, task, description

    def advance(self, records: int) -> None:
        self.bar.advance(self.task, records)

    def bulk_status(self, status: BulkStatus) -> None:
        if status.note:
            self.bar.console.print(f"bulk operation {status.note}")
        if status.status == "COMPLETED":
            self.bar.update(self.task, total=status.total, description=f"{self.description} (reading the result)")
        else:
            waiting = f"Shopify {status.status.lower()}: {status.objects} objects"
            self.bar.update(self.task, description=f"{self.description} ({waiting})")


@contextmanager
def backfill_progress(description: str) -> Iterator[BackfillBar]:
    """A rich progress bar on stderr for ``mlc backfill``."""
    with _progress() as bar:
        yield BackfillBar(bar, bar.add_task(description, total=None), description)


def parse_when(value: str, *, end_of_day: bool = False) -> datetime:
    """An ISO date or date-time; a bare date means its start (or end) in UTC."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment.replace(hour=23, minute=59, second=59, microsecond=999999) if end_of_day else moment
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option("0.1.0", prog_name="mlc")
@click.option(
    "--profile",
    "profile_location",
    envvar="CONNECTOR_PROFILE",
    metavar="PATH",
    help="Connection profile: a YAML path or ssm:/parameter (default: $CONNECTOR_PROFILE).",
)
@click.option("--stack", metavar="NAME", help="Deployed stack whose outputs name the queues and tables.")
@click.option("--region", envvar="AWS_REGION", help="AWS region of the stack.")
@click.option("--aws-profile", envvar="AWS_PROFILE", help="AWS named profile (operator credentials).")
@click.option("--endpoint-url", metavar="URL", help="AWS endpoint of the local runtime (embedded AWS).")
@click.option(
    "--outputs-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Stack outputs as JSON (the local runtime's; default {DEFAULT_OUTPUTS_FILE} with --endpoint-url).",
)
@click.option("--queue-url", help="Ingest queue URL (overrides the stack outputs).")
@click.option("--dlq-url", help="Dead-letter queue URL (overrides the stack outputs).")
@click.option("--audit-table", help="Audit table name (overrides the stack outputs).")
@click.option("--state-table", help="State table name (overrides the stack outputs).")
@click.option("--egress-ip", help="Static egress address on-premise ERPs allowlist (overrides EgressIp).")
@click.pass_context
def cli(
    ctx: click.Context,
    profile_location: str | None,
    stack: str | None,
    region: str | None,
    aws_profile: str | None,
    endpoint_url: str | None,
    outputs_file: Path | None,
    queue_url: str | None,
    dlq_url: str | None,
    audit_table: str | None,
    state_table: str | None,
    egress_ip: str | None,
) -> None:
    """Operate ml-connector: profiles, connection checks, backfill, redrive, replay, audit, reconcile.

    \b
    Exit codes: 0 ok, 1 a problem was found, 2 usage or profile error.
    Deployed:  mlc --profile config/acme.yaml --stack ml-connector-acme check woo-psft
    Local:     mlc --profile config/local.yaml --endpoint-url http://127.0.0.1:PORT redrive
    """
    ctx.obj = Options(
        profile_location,
        stack,
        region,
        aws_profile,
        endpoint_url,
        outputs_file,
        {
            "ingest_queue_url": queue_url,
            "dead_letter_queue_url": dlq_url,
            "audit_table": audit_table,
            "state_table": state_table,
            "egress_ip": egress_ip,
        },
    )


pass_options = click.make_pass_decorator(Options)


@cli.group()
def profile() -> None:
    """Connection profiles (config/<customer>.yaml)."""


@profile.command("validate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path), nargs=-1, required=True)
def profile_validate(path: tuple[Path, ...]) -> None:
    """Validate one or more profiles; print every bad field with the reason."""
    failed = False
    for item in path:
        try:
            loaded = load_profile(str(item))
        except ProfileError as exc:
            click.echo(str(exc), err=True)
            failed = True
            continue
        names = ", ".join(f"{c.name} ({c.store_type} → {c.erp_type})" for c in loaded.connections)
        click.echo(f"{item}: valid — customer {loaded.customer}: {names}")
    sys.exit(EXIT_USAGE if failed else EXIT_OK)


@profile.command("push")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--parameter", help="SSM parameter name (default /ml-connector/<customer>/profile).")
@click.option("--region", envvar="AWS_REGION", help="AWS region of the stack.")
@click.option("--aws-profile", envvar="AWS_PROFILE", help="AWS named profile.")
def profile_push(path: Path, parameter: str | None, region: str | None, aws_profile: str | None) -> None:
    """Validate a profile, then publish it to SSM Parameter Store where the deployed functions read it.

    Published as JSON with ``${VAR}`` expanded from this shell's environment and every default filled in.
    """
    import boto3

    try:
        loaded = load_profile(str(path))
    except ProfileError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)
    name = parameter or f"/ml-connector/{loaded.customer}/profile"
    session = boto3.Session(region_name=region, profile_name=aws_profile)
    session.client("ssm").put_parameter(
        Name=name, Value=publish(loaded), Type="String", Tier="Advanced", Overwrite=True
    )
    click.echo(f"{path} stored as {name}")


# --- check ------------------------------------------------------------------------------------------
def _yes_no(value: bool | None) -> str:
    return "[green]yes[/green]" if value else "[red]no[/red]"


@cli.command("check")
@click.argument("connection")
@pass_options
def check(options: Options, connection: str) -> None:
    """Ping CONNECTION's store and ERP with the stored credentials (read-only calls).

    Reports for each side: reachable, authenticated, permissions (one read-only call per
    capability the connector needs), clock skew from the HTTP Date header, and for on-premise
    ERPs the egress IP to allowlist. Exit 1 if either side fails.
    """
    from rich.table import Table

    from mlconnector.ops.checks import MAX_SKEW_SECONDS, check_connection
    from mlconnector.ops.stack import LOCAL_EGRESS_IP

    with usage_errors():
        connector, outputs = options.connector()
        egress = outputs.egress_ip or (LOCAL_EGRESS_IP if options.endpoint_url and not options.stack else "")
        connector.connection(connection)
        with progress_bar(f"checking {connection}", total=None):
            report = check_connection(connector, connection, egress)
    out = console()
    table = Table(title=f"Connection check: {connection}")
    for column in ("side", "system", "reachable", "authenticated", "permissions", "clock skew", "egress IP"):
        table.add_column(column)
    for side in (report.store, report.erp):
        skew = "—" if side.clock_skew_seconds is None else f"{side.clock_skew_seconds:+.0f} s"
        if not side.skew_ok:
            skew = f"[red]{skew} (> {MAX_SKEW_SECONDS:.0f} s)[/red]"
        permissions = "—" if not side.probes else ("[green]ok[/green]" if side.permissions_ok else "[red]missing[/red]")
        table.add_row(
            side.side,
            side.system,
            _yes_no(side.reachable),
            _yes_no(side.authenticated),
            permissions,
            skew,
            side.egress_ip or "n/a",
        )
    out.print(table)
    details = Table(title="Probes", show_lines=False)
    for column in ("side", "call", "required", "result"):
        details.add_column(column)
    for side in (report.store, report.erp):
        if side.error:
            details.add_row(side.side, "(credentials)", "yes", f"[red]{side.error}[/red]")
        for probe in side.probes:
            result = "[green]ok[/green]" if probe.ok else f"[red]{probe.detail}[/red]"
            details.add_row(side.side, probe.name, "yes" if probe.required else "no", result)
    out.print(details)
    if report.erp.egress_ip:
        out.print(f"On-premise ERP: allowlist {report.erp.egress_ip} on the {report.erp.system} web/AIS server.")
    for side in (report.store, report.erp):
        if not side.ok:
            out.print(f"[bold red]FAILED[/bold red]: the {side.side} ({side.system}) side — see the probes above.")
    if report.ok:
        out.print(f"[bold green]OK[/bold green]: {connection} can reach and read its store and ERP.")
    sys.exit(EXIT_OK if report.ok else EXIT_PROBLEM)


# --- backfill ---------------------------------------------------------------------------------------
@cli.command("peoplesoft-wsdl")
@click.argument("connection")
@click.option(
    "--dest", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write the WSDLs to."
)
@click.option(
    "--service",
    "services",
    multiple=True,
    default=("CUSTOMER_CI", "JOURNAL_ENTRY_CI"),
    show_default=True,
    help="Component Interface name (repeatable).",
)
@pass_options
def peoplesoft_wsdl(options: Options, connection: str, dest: Path, services: tuple[str, ...]) -> None:
    """Download CONNECTION's CI-based service WSDLs from the customer's listening connector and check them.

    Each WSDL must load offline under the run-time settings, offer Create/Find/Get/Update and declare
    every field the connector sends (element names with or without KEYPROP_/PROP_/COLL_ prefixes, as the
    gateway generated them), or nothing is written. Point the profile's `erp.wsdl_dir` at DEST and ship
    it with the layer.
    """
    from mlconnector.aws.secrets import get_credentials
    from mlconnector.targets.peoplesoft.client import download_wsdls

    with usage_errors():
        connector, _ = options.connector()
        conn = connector.connection(connection)
        if conn.erp_type != "peoplesoft":
            fail(f"{connection} posts to {conn.erp_type}, not PeopleSoft")
        try:
            written = download_wsdls(conn.erp, get_credentials(conn.secrets.erp), dest, list(services))
        except ConnectorError as exc:
            fail(f"PeopleSoft WSDLs not written: {exc}", EXIT_PROBLEM)
    for path in written:
        console().print(f"checked and written: {path}")


@cli.command("backfill")
@click.argument("connection")
@click.option("--since", required=True, help="ISO date or date-time to backfill from (UTC if no zone).")
@click.option("--resource", "resources", multiple=True, help="Resource(s) to backfill (default: the profile's).")
@click.option("--restart", is_flag=True, help="Ignore a saved checkpoint and start again from --since.")
@pass_options
def backfill_command(options: Options, connection: str, since: str, resources: tuple[str, ...], restart: bool) -> None:
    """Enqueue CONNECTION's historical records changed since --since (origin=backfill).

    Resumable: the newest record timestamp enqueued is checkpointed in the state table after every
    batch; running the same command again continues from there. The poll watermark is not moved.
    Shopify orders and customers are read with a bulk query operation (Shopify prepares the whole
    result, then it is streamed): its id and how far its result was read are checkpointed too, so a
    rerun reads the same result on rather than asking again.
    """
    from mlconnector.ops.backfill import backfill

    start = parse_when(since)
    with usage_errors():
        connector, outputs = options.connector()
        outputs.require("ingest_queue_url", "audit_table", "state_table")
        conn = connector.connection(connection)
    out = console()
    problem = False
    for resource in resources or conn.polling.resources:
        try:
            with backfill_progress(f"backfilling {connection} {resource}") as bar:
                result = backfill(
                    connector,
                    connection,
                    resource,
                    start,
                    restart=restart,
                    progress=bar.advance,
                    bulk_status=bar.bulk_status,
                )
        except Exception as exc:  # report and go on: the checkpoint makes a rerun continue
            out.print(f"[red]{resource}: stopped: {type(exc).__name__}: {exc}[/red] (run again to resume)")
            problem = True
            continue
        read = f" from bulk operation {result.operation}" if result.operation else ""
        if result.already_done:
            out.print(
                f"{resource}: already backfilled from {start.isoformat()} ({result.records} records{read}); "
                "--restart to redo"
            )
        else:
            resumed = f", resumed at {result.started_from.isoformat()}" if result.resumed else ""
            out.print(f"{resource}: {result.records} records enqueued{read}{resumed}")
    sys.exit(EXIT_PROBLEM if problem else EXIT_OK)


# --- redrive ----------------------------------------------------------------------------------------
@cli.command("redrive")
@click.option("--dry-run", is_flag=True, help="List the records in the DLQ; move nothing.")
@click.option("--local", "force_local", is_flag=True, help="Move message by message (no StartMessageMoveTask).")
@click.option("--max-per-second", type=click.IntRange(1, 500), help="Rate of the SQS move task.")
@pass_options
def redrive_command(options: Options, dry_run: bool, force_local: bool, max_per_second: int | None) -> None:
    """Move the dead-letter queues back: the ingest DLQ to the ingest queue and, where the stack takes Shopify
    webhooks through EventBridge, the events DLQ to the events queue (fix the profile first).

    Uses SQS StartMessageMoveTask; where the SQS endpoint lacks it (the local runtime) or with
    --local, receives, re-sends and deletes each message. Records post once either way.
    """
    from rich.table import Table

    from mlconnector.ops.redrive import depth, redrive

    with usage_errors():
        outputs = options.outputs()
        outputs.require("ingest_queue_url", "dead_letter_queue_url")
        sqs = options.sqs()
    local = force_local or bool(options.endpoint_url)
    out = console()
    failed = 0
    for name, dlq_url, source_url in outputs.dead_letter_queues():
        if dry_run:
            result = redrive(sqs, dlq_url, source_url, dry_run=True)
            table = Table(title=f"{name} dead-letter queue: {len(result.listed)} message(s) would move")
            for column in ("record", "message id", "receives"):
                table.add_column(column)
            for message in sorted(result.listed, key=lambda m: m.record_key):
                table.add_row(message.record_key, message.message_id, str(message.receive_count))
            out.print(table)
            continue
        with progress_bar(f"redriving the {name} DLQ", total=depth(sqs, dlq_url)) as advance:
            result = redrive(sqs, dlq_url, source_url, local=local, max_per_second=max_per_second, progress=advance)
        if result.method == "move-task":
            out.print(
                f"{name}: SQS message move task started ({result.task_handle}): {result.moved} message(s) on their way"
            )
        else:
            out.print(f"{name}: {result.moved} message(s) moved back to the {name} queue")
        if result.failed:
            out.print(f"[red]{name}: {result.failed} message(s) could not be sent and stay in the DLQ[/red]")
        failed += result.failed
    sys.exit(EXIT_PROBLEM if failed else EXIT_OK)


# --- replay -----------------------------------------------------------------------------------------
@cli.command("replay")
@click.option("--order", "order_id", help="Replay one order (its store id).")
@click.option("--record", "record_key", help="Replay one record by key connection|kind|id.")
@click.option("--since", help="Replay records whose status changed at or after (ISO).")
@click.option("--until", help="... and at or before (ISO; default now).")
@click.option(
    "--status",
    type=click.Choice(["failed", "dead_lettered", "needs_review", "skipped", "posted"]),
    help="Replay every record with this status (with --since/--until: only those).",
)
@click.option("--connection", help="Connection (default: every connection in the profile).")
@click.option("--reason", default="", help="Why, for the audit trail.")
@click.option("--dry-run", is_flag=True, help="List what would be replayed; enqueue nothing.")
@pass_options
def replay_command(
    options: Options,
    order_id: str | None,
    record_key: str | None,
    since: str | None,
    until: str | None,
    status: str | None,
    connection: str | None,
    reason: str,
    dry_run: bool,
) -> None:
    """Post selected records again (origin=replay); the ERP lookup still prevents double posting.

    Choose one of --order, --record, --since [--until], --status. Exit 1 when nothing matched.
    """
    from rich.table import Table

    from mlconnector.ops import replay as ops

    chosen = [x for x in (order_id, record_key, since or until, status and not (since or until)) if x]
    if len(chosen) != 1:
        fail("choose exactly one of --order, --record, --since/--until, --status")
    with usage_errors():
        connector, outputs = options.connector()
        outputs.require("ingest_queue_url", "audit_table", "state_table")
        names = [connection] if connection else [c.name for c in connector.profile.connections]
        for name in names:
            connector.connection(name)
    selected: list = []
    if order_id or record_key:
        keys = [record_key] if record_key else [f"{n}|order|{order_id}" for n in names]
        for key in keys:
            selected.extend(ops.select_by_key(connector, key))
    elif since or until:
        start = parse_when(since) if since else datetime(1970, 1, 1, tzinfo=UTC)
        end = parse_when(until, end_of_day=True) if until else datetime.now(UTC)
        statuses = [status] if status else list(ops.STATUSES)
        for name in names:
            selected.extend(ops.select_by_time(connector, name, start, end, statuses))
    else:
        assert status
        for name in names:
            selected.extend(ops.select_by_status(connector, name, status))
    if not selected:
        console().print("nothing matched: no record to replay")
        sys.exit(EXIT_PROBLEM)
    replayed = ops.replay(connector, selected, dry_run=dry_run, reason=reason)
    table = Table(title=("Would replay" if dry_run else "Replayed") + f": {len(replayed)} record(s)")
    for column in ("record", "previous status", "replay version", "message id"):
        table.add_column(column)
    for item in replayed:
        table.add_row(item.record_key, item.previous_status, item.version, item.message_id or "—")
    console().print(table)
    sys.exit(EXIT_OK)


# --- audit ------------------------------------------------------------------------------------------
@cli.command("audit")
@click.argument("record")
@click.option("--connection", help="Connection (default: every connection in the profile).")
@click.option(
    "--kind",
    default="order",
    type=click.Choice(["order", "refund", "customer"]),
    help="Kind of RECORD (default order).",
)
@pass_options
def audit_command(options: Options, record: str, connection: str | None, kind: str) -> None:
    """The full story of one record: received, enqueued, attempts, ERP document or error, replays.

    RECORD is a store id (with --kind, default order) or a full key connection|kind|id.
    Exit 1 if the audit trail knows nothing of it.
    """
    from rich.table import Table

    from mlconnector.ops.story import record_keys, story

    with usage_errors():
        connector, outputs = options.connector()
        outputs.require("audit_table", "state_table")
        if connection:
            connector.connection(connection)
        keys = record_keys(connector, record, connection, kind)
    out = console()
    found = False
    for key in keys:
        told = story(connector, key)
        if not told.lines:
            continue
        found = True
        table = Table(title=f"{key}: status {told.status or 'unknown'}", show_lines=False)
        for column in ("at (UTC)", "event", "origin", "version", "detail"):
            table.add_column(column, overflow="fold")
        for line in told.lines:
            style = "red" if line.event in ("failed", "dead_lettered", "needs_review") else ""
            table.add_row(line.at, line.event, line.origin, line.version, line.detail, style=style)
        out.print(table)
        if told.erp_documents:
            out.print(f"ERP documents: {', '.join(told.erp_documents)}")
    if not found:
        out.print(f"no audit trail for {record} ({', '.join(keys)})")
    sys.exit(EXIT_OK if found else EXIT_PROBLEM)


# --- reconcile --------------------------------------------------------------------------------------
@cli.command("reconcile")
@click.option("--date", "day", required=True, help="Day to reconcile (YYYY-MM-DD, UTC).")
@click.option("--connection", "connections", multiple=True, help="Connection(s) (default: every enabled one).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Folder for reconciliation-<date>.csv and .html.",
)
@pass_options
def reconcile_command(options: Options, day: str, connections: tuple[str, ...], out_dir: Path) -> None:
    """Store totals vs ERP postings for a day, per connection; differences listed (exit 1 if any).

    Writes a CSV and an HTML report (with a chart of posted vs failed per hour) a finance user can open.
    """
    from rich.table import Table

    from mlconnector.ops.reconcile import reconcile, write_csv, write_html

    try:
        when = date.fromisoformat(day)
    except ValueError:
        fail(f"--date {day!r} is not YYYY-MM-DD")
    with usage_errors():
        connector, outputs = options.connector()
        outputs.require("audit_table", "state_table")
        for name in connections:
            connector.connection(name)
    with progress_bar(f"reconciling {when.isoformat()}") as advance:
        report = reconcile(connector, when, list(connections) or None, progress=advance)
    out = console()
    table = Table(title=f"Reconciliation {when.isoformat()}: {len(report.rows)} document(s)")
    for column in ("connection", "reference", "kind", "currency", "store total", "ERP id", "status"):
        table.add_column(column, justify="right" if column == "store total" else "left")
    for row in sorted(report.rows, key=lambda r: (r.ok, r.connection, r.reference)):
        table.add_row(
            row.connection,
            row.reference,
            row.document_kind,
            row.currency,
            "" if row.source_total is None else f"{row.source_total:,.2f}",
            row.erp_id or "—",
            "[green]ok[/green]" if row.ok else f"[red]{row.status}[/red]",
        )
    out.print(table)
    for (name, currency), amount in sorted(report.totals().items()):
        out.print(f"{name}: posted {currency} {amount:,.2f}")
    csv_path = write_csv(report, out_dir / f"reconciliation-{when.isoformat()}.csv")
    html_path = write_html(report, out_dir / f"reconciliation-{when.isoformat()}.html")
    out.print(f"CSV: {csv_path}\nHTML: {html_path}")
    differences = report.differences
    if differences:
        out.print(f"[bold red]{len(differences)} difference(s)[/bold red]")
        sys.exit(EXIT_PROBLEM)
    out.print("[bold green]RECONCILED[/bold green]")
    sys.exit(EXIT_OK)
