"""Fault soak: thousands of orders through every pair of the local profile at once, with every fault the
simulators and the local runtime can inject, then a reckoning of what the ERPs hold.

One implementation, two sizes: ``tests/e2e/test_soak.py`` runs it at 2,000 orders in the suite, ``make soak``
(``python -m tests.bench.soak``) at 10,000 and writes ``bench-results/soak.json``.

What happens, on the local runtime with the five connections of ``config/local.yaml`` in parallel:

- each store sends its share of the orders as webhooks (some doubled, some lost) while the poller runs
  every ``poll_every`` seconds over its overlap window, and twice more, side by side, once the store is done;
- the ERPs answer 5xx, time out (a client read timeout, or a gateway timeout, after committing), answer 429
  with Retry-After, expire their tokens (PeopleSoft OAuth2 401, JD Edwards 444, Fusion 401) and reset
  connections (before the call reaches them, or after they committed it); the stores answer 429 with their
  reset headers or Retry-After, throttle GraphQL and reset connections;
- the first poster containers are killed partway through their batches (``LocalRuntime.crash_next_invocations``);
  their messages come back after the visibility timeout;
- one PeopleSoft goes down until fresh orders of its store have been tried ``MaxReceiveCount`` times and sit
  in the dead-letter queue; it comes back and ``mlc redrive`` (the operator's command, in its own process)
  moves the DLQ back;
- the stores' webhook subscriptions are disabled (Shopify deletes them), orders are placed that no webhook
  announces, the webhook keeper runs, and the next orders are delivered again.

Then, with the queues drained: every paid order and refund is in its ERP exactly once and balanced, nothing is
in the ERPs that the stores do not have, every record's audit trail reaches an outcome, no configured secret is
in any log line or audit record, and the DLQ is empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from local.report import RunReport, build_report
from local.stack import DEFAULT_PROFILE, ERP_SANDBOXES, STORE_SANDBOXES, ErpSandbox, LocalStack, StoreSandbox
from mlconnector.envelope import Envelope
from mlconnector.errors import TransientError
from mlconnector.ops.stack import write_outputs_file
from mlconnector.profile import Connection, parse_profile
from tests.support.stack import audit_items

#: An outcome in a record's audit trail: the record is done with.
TERMINAL = {"posted", "already_posted", "skipped", "needs_review", "duplicate_suppressed", "customer_upserted"}
POSTER = "PosterFunction"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SoakPlan:
    """The size of a soak and how hard it pushes."""

    orders: int
    seed: int = 2024
    #: Every ERP create commits, then times out once (read timeout or gateway timeout), for this long from the start.
    commit_timeout_window: float = 20.0
    #: Seconds between the polls that run while the stores send (the template's schedule is every 5 minutes).
    poll_every: float = 300.0
    #: Poster invocations killed partway: right after their second outcome write (a record's audit entries,
    #: bindings and status go in one BatchWriteItem), with other records of the batch in flight or not started.
    crashes: int = 4
    crash_after_call: str = "dynamodb:BatchWriteItem"
    crash_after_calls: int = 2
    #: None: a killed batch comes back after the queue's visibility timeout (540 s), as on AWS.
    crash_visible_again_after: float | None = None
    #: Fresh orders sent into the PeopleSoft outage, to be dead-lettered and redriven.
    dead_letter_orders: int = 20
    #: Orders per connection placed while the webhooks are disabled, and again after the keeper ran.
    keeper_orders: int = 5
    drain_timeout: float = 3600.0

    @classmethod
    def from_environment(cls, orders: int, **defaults: Any) -> SoakPlan:
        """``SOAK_ORDERS`` / ``SOAK_SEED`` / ``SOAK_POLL_EVERY`` / ``SOAK_CRASHES`` override the defaults."""
        overrides: dict[str, Any] = {"orders": int(os.environ.get("SOAK_ORDERS", orders))}
        for name, kind in (("seed", int), ("poll_every", float), ("crashes", int)):
            value = os.environ.get(f"SOAK_{name.upper()}")
            if value is not None:
                overrides[name] = kind(value)
        return cls(**{**defaults, **overrides})


# --- faults ------------------------------------------------------------------------------------------
def _timeout_mode(erp_type: str, index: int) -> str:
    """Alternate between a client read timeout ("sleep" past the adapter's timeout) and the gateway's own
    timeout answer after the commit, by connection."""
    if index % 2 == 0:
        return "sleep"
    return {"peoplesoft": "504", "jdedwards": "500", "fusion": "504"}[erp_type]


def arm_erp_faults(connection: Connection, erp: ErpSandbox, index: int, seed: int) -> Callable[[], None]:
    """Faults from the start; returns what fires mid-run (token expiry and more)."""
    state = erp.state
    mode = _timeout_mode(connection.erp_type, index)
    state.timeout_after_commit_mode = mode
    state.timeout_after_commit_seconds = connection.erp.timeout_seconds + 1.0  # type: ignore[attr-defined]
    erp.server.reset_next(3, "before")
    erp.server.reset_next(2, "after")
    if connection.erp_type == "peoplesoft":
        state.error_rate, state.seed = 0.03, seed  # seeded 503s
        state.fail_next_n = 6  # the first calls fail: records fail part-way through their batches
        state.timeout_after_commit = True
        state.timeout_after_commit_first_attempt_only = True
        mid = [state.revoke_tokens]  # OAuth2: every token stops working (401)
    elif connection.erp_type == "jdedwards":
        state.fail_next_n = 6
        state.timeout_after_commit_first_attempt = True
        mid = [state.expire_all_tokens]  # 444 Invalid Token
    else:
        state.retry_after_seconds = 1.0
        state.force_429_next(4)
        state.force_503_next(4)
        state.timeout_after_commit_first_attempt = True
        mid = [state.expire_tokens, lambda: state.force_429_next(3)]

    def mid_run() -> None:
        for fault in mid:
            fault()
        erp.server.reset_next(2, "before")
        erp.server.reset_next(2, "after")

    return mid_run


def end_commit_timeouts(erp_type: str, state: Any) -> None:
    if erp_type == "peoplesoft":
        state.timeout_after_commit = False
    else:
        state.timeout_after_commit_first_attempt = False


def calm_erp(erp_type: str, state: Any) -> None:
    """Faults off (the ERP is healthy again)."""
    end_commit_timeouts(erp_type, state)
    if erp_type in ("peoplesoft", "jdedwards"):
        state.fail_next_n = 0
    if erp_type == "peoplesoft":
        state.error_rate = 0.0


def arm_store_faults(store: StoreSandbox, armed: Counter) -> Callable[[], None]:
    """429s with the platform's reset headers or Retry-After, GraphQL throttling, connection resets; ``armed``
    counts them."""
    state = store.state

    def fire(n: int) -> None:
        if store.kind == "woocommerce":
            state.fail_next(429, n, retry_after="1")
            state.fail_next(503, 1)
            armed["store 429/503"] += n + 1
        elif store.kind == "bigcommerce":
            state.force_429_next(n, with_headers=True, reset_ms=1000)
            armed["store 429/503"] += n
        elif store.kind == "shopify":
            state.force_throttle += n
            armed["store 429/503"] += n
        store.server.reset_next(2, "before")
        store.server.reset_next(1, "after")
        armed["store connection resets"] += 3

    fire(3)
    return lambda: fire(2)


def calm_store(store: StoreSandbox) -> int:
    """The store's faults off; returns how many were armed but never reached (nothing asked the store)."""
    state = store.state
    with state.lock:
        if store.kind == "woocommerce":
            left, state._faults[:] = len(state._faults), []
        elif store.kind == "bigcommerce":
            left, state._forced[:] = len(state._forced), []
        else:
            left, state.force_throttle = state.force_throttle, 0
    resets = store.server.server.connection_resets
    with resets.lock:
        left += len(resets.pending)
        resets.pending.clear()
    return left


# --- what the stores send ----------------------------------------------------------------------------
#: Orders placed at once; each chunk is dated when it is placed, as a store's new orders are.
CHUNK = 25


def place_orders(store: StoreSandbox, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` new orders, dated now, announced by webhook."""
    state = store.state
    if store.kind == "bigcommerce":  # its generator spaces orders seven minutes apart: one at a time
        return [o for i in range(n) for o in state.generate_orders(1, seed * 1000 + i, start=state.now(), deliver=True)]
    return state.generate_orders(n, seed, span_days=0, deliver=True)


def refund_one(store: StoreSandbox, connection: Connection, orders: list[dict[str, Any]], itemised: bool) -> None:
    """Refund a paid order of ``orders``: one line, or 5.00 as a goodwill amount. (Shopify's generator refunds
    some of its orders itself.)"""
    state = store.state
    if store.kind == "woocommerce":
        paid = [o for o in orders if o["status"] in ("processing", "completed") and Decimal(o["total"]) > 10]
        if paid and itemised:
            state.add_refund(paid[0]["id"], lines={paid[0]["line_items"][0]["id"]: 1}, reason="damaged")
        elif paid:
            state.add_refund(paid[0]["id"], amount="5.00", reason="goodwill")
    elif store.kind == "bigcommerce":
        paid_ids = connection.store.paid_status_ids  # type: ignore[attr-defined]
        paid = [o for o in orders if o["status_id"] in paid_ids and o["status_id"] not in (4, 14)]
        paid = [o for o in paid if Decimal(str(o["total_inc_tax"])) > 10]
        if paid and itemised:
            with state.lock:
                item = state.products[paid[0]["id"]][0]
            state.add_refund(paid[0]["id"], items=[{"item_type": "PRODUCT", "item_id": item["id"], "quantity": 1}])
        elif paid:
            state.add_refund(paid[0]["id"], amount="5.00", reason="goodwill")


def send_orders(store: StoreSandbox, connection: Connection, orders: int, seed: int) -> set[str]:
    """A store taking ``orders`` orders in chunks, each announced by webhook: one delivery per chunk doubled,
    one in ten chunks lost (only a poll finds that order), a refund per chunk. A Shopify store also refunds
    one order with transactions that do not match it: that refund must go to review (its reference is returned).
    """
    state = store.state
    for chunk, first in enumerate(range(0, orders, CHUNK)):
        with state.lock:
            state.duplicate_next_delivery += 1
            if chunk % 10 == 5:
                state.drop_next_delivery += 1
        placed = place_orders(store, min(CHUNK, orders - first), seed + chunk)
        refund_one(store, connection, placed, itemised=chunk % 2 == 0)
    if store.kind != "shopify":
        return set()
    with state.lock:
        candidates = [o for o in state.orders.values() if o["financial_status"] == "paid" and not o.get("refunds")]
    target = candidates[-1]
    refund = state.add_refund(target["id"], lines=[(target["line_items"][0]["id"], 1)], mismatch="unknown_parent")
    return {f"{connection.reference_prefix}{target['name']}-R{refund['id']}"}


# --- the soak ----------------------------------------------------------------------------------------
@dataclass
class SoakResult:
    """What the soak found; ``problems`` is empty when every bar was met."""

    orders: int = 0
    connections: list[str] = field(default_factory=list)
    documents_expected: int = 0
    documents_found: int = 0
    documents_by_kind: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unbalanced: list[str] = field(default_factory=list)
    wrong_total: list[str] = field(default_factory=list)
    posted_instead_of_review: list[str] = field(default_factory=list)
    unexpected_in_erp: list[str] = field(default_factory=list)
    posted_twice_in_audit: list[str] = field(default_factory=list)
    audit_incomplete: list[str] = field(default_factory=list)
    secrets_in_logs: int = 0
    secrets_in_audit: int = 0
    log_bytes_scanned: int = 0
    audit_items_scanned: int = 0
    dlq_left: int = 0
    events: dict[str, int] = field(default_factory=dict)
    faults: dict[str, Any] = field(default_factory=dict)
    crashes: dict[str, Any] = field(default_factory=dict)
    dead_letters: dict[str, Any] = field(default_factory=dict)
    keeper: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    peak_memory_mb: dict[str, float] = field(default_factory=dict)

    def problems(self) -> list[str]:
        found = []
        for name in (
            "lost",
            "duplicated",
            "unbalanced",
            "wrong_total",
            "posted_instead_of_review",
            "unexpected_in_erp",
            "posted_twice_in_audit",
            "audit_incomplete",
        ):
            values = getattr(self, name)
            if values:
                found.append(f"{name.replace('_', ' ')}: {len(values)} ({', '.join(values[:10])})")
        if self.secrets_in_logs or self.secrets_in_audit:
            found.append(f"secrets found: {self.secrets_in_logs} in logs, {self.secrets_in_audit} in audit records")
        if not self.log_bytes_scanned:
            found.append("no handler output was captured: the secret scan proved nothing")
        if self.dlq_left:
            found.append(f"{self.dlq_left} messages left in the DLQ")
        return found

    def summary(self) -> str:
        lines = [
            f"soak: {self.orders:,} orders across {len(self.connections)} connections "
            f"({', '.join(self.connections)}) in {self.wall_seconds:,.0f} s {self.phase_seconds}",
            f"  documents expected {self.documents_expected:,} {self.documents_by_kind}, found exactly once "
            f"{self.documents_found:,}",
            f"  lost {len(self.lost)}, duplicated {len(self.duplicated)}, unbalanced {len(self.unbalanced)}, "
            f"wrong total {len(self.wrong_total)}, posted instead of review {len(self.posted_instead_of_review)}, "
            f"in the ERPs but not in the stores {len(self.unexpected_in_erp)}",
            f"  audit: records incomplete {len(self.audit_incomplete)}, posted twice {len(self.posted_twice_in_audit)}"
            f" ({self.audit_items_scanned:,} items)",
            f"  secrets found in logs {self.secrets_in_logs}, in audit records {self.secrets_in_audit} "
            f"({self.log_bytes_scanned:,} log bytes scanned)",
            f"  DLQ left {self.dlq_left}; dead-letter round trip {self.dead_letters}",
            f"  poster containers killed partway {self.crashes}",
            f"  webhook keeper {self.keeper}",
            f"  faults {self.faults}",
            f"  audit events {self.events}",
            f"  peak memory (MB) {self.peak_memory_mb}",
        ]
        return "\n".join(lines)


def soak_connections() -> list[str]:
    """The local profile's connections that have both simulators and a scenario."""
    text = DEFAULT_PROFILE.read_text(encoding="utf-8")
    refs = set(re.findall(r"\$\{(SANDBOX_[A-Z0-9_]+)\}", text))
    placeholders = {k: "http://127.0.0.1:1" for k in refs if k not in os.environ}
    os.environ.update(placeholders)
    try:
        profile = parse_profile(text, str(DEFAULT_PROFILE))
    finally:
        for name in placeholders:
            os.environ.pop(name, None)
    return [c.name for c in profile.connections if c.store_type in STORE_SANDBOXES and c.erp_type in ERP_SANDBOXES]


def secret_values(stack: LocalStack) -> set[str]:
    values: set[str] = set()
    for sandbox in [*stack.stores.values(), *stack.erps.values()]:
        for group in (sandbox.credentials, getattr(sandbox, "webhook_credentials", {})):
            values |= {v for v in group.values() if v}
    return values


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak resident set (``VmHWM`` in /proc), in MB; 0 for another process that /proc no longer
    describes (it has exited)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    if pid != "self":
        return 0.0
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # kB on Linux


def _history(stack: LocalStack, record_key: str) -> list[str]:
    """The record's audit events in the order they happened (an outcome item holds an attempt's events)."""
    from boto3.dynamodb.types import TypeDeserializer

    from mlconnector.aws.audit import entries

    assert stack.runtime
    plain = TypeDeserializer()
    items = stack.runtime.client("dynamodb").query(
        TableName=stack.runtime.outputs["AuditTableName"],
        KeyConditionExpression="pk = :k",
        ExpressionAttributeValues={":k": {"S": record_key}},
    )["Items"]
    flat = [e for i in items for e in entries({k: plain.deserialize(v) for k, v in i.items()})]
    return [e["event"] for e in sorted(flat, key=lambda e: e["sk"])]


def _after(events: list[str], event: str) -> list[str]:
    """The events after the first ``event`` (none if it never happened)."""
    return events[events.index(event) + 1 :] if event in events else []


def _wait(condition: Callable[[], bool], timeout: float, interval: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def _paid_order_ids(store: StoreSandbox, connection: Connection, orders: list[dict[str, Any]]) -> list[str]:
    """Store ids of the orders the connection must post (the store's own notion of paid)."""
    expected = {e.order_number for e in store.expected(connection) if e.kind == "order"}
    number_field = {"woocommerce": "number", "bigcommerce": "id", "shopify": "name"}[store.kind]
    return [str(o["id"]) for o in orders if str(o[number_field]) in expected]


def mlc(stack: LocalStack, outputs: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """The operator's ``mlc`` in its own process, pointed at the local runtime; with its peak resident set in MB,
    its own ``VmHWM`` read every 0.1 s while it runs (``ru_maxrss`` would carry this process's high-water mark
    across the fork and exec)."""
    assert stack.runtime
    command = [str(Path(sys.executable).with_name("mlc")), "--endpoint-url", stack.runtime.endpoint]
    command += ["--outputs-file", str(outputs), *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            command, stdout=out, stderr=err, text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"}
        )
        peak, deadline = 0.0, time.monotonic() + 600
        while process.poll() is None and time.monotonic() < deadline:
            peak = max(peak, peak_rss_mb(process.pid))
            time.sleep(0.1)
        if process.poll() is None:
            process.kill()
        process.wait()
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(command, process.returncode, out.read(), err.read())
    return done, peak


class Soak:
    def __init__(self, plan: SoakPlan) -> None:
        self.plan = plan
        self.result = SoakResult()
        self.in_review: set[str] = set()
        self.errors: list[BaseException] = []
        self.stack: LocalStack | None = None
        self._items: list[dict[str, Any]] = []
        self.store_faults_armed: Counter = Counter()
        self.polls_failed_on_store_faults = 0
        self._lock = threading.Lock()
        self._phase_started = time.monotonic()
        self._mlc_peak_mb = 0.0

    # --- phases --------------------------------------------------------------------------------------
    def run(self, read_logs: Callable[[], str]) -> SoakResult:
        names = soak_connections()
        started = time.monotonic()
        # retries back off 1, 2, 4, 8, 8 ... s: a record PeopleSoft's outage fails reaches the DLQ in ~40 s, not ~130
        parameters = {"MaxReceiveCount": "8", "RetryBaseSeconds": "1", "RetryMaxSeconds": "8"}
        with (
            tempfile.TemporaryDirectory(prefix="soak-") as tmp,
            LocalStack(connections=names, parameters=parameters) as stack,
        ):
            self.stack = stack
            assert stack.runtime
            outputs = write_outputs_file(stack.runtime.outputs, Path(tmp) / "outputs.json", stack.runtime.endpoint)
            selected = stack.selected_connections()
            self.result.connections = [c.name for c in selected]
            self.traffic(selected)
            unreached = sum(calm_store(stack.stores[c.name]) for c in selected)
            self.result.faults["store_faults_armed"] = dict(self.store_faults_armed)
            self.result.faults["store_faults_never_reached"] = unreached
            self.result.faults["polls_failed_on_store_faults"] = self.polls_failed_on_store_faults
            self._phase("traffic, faults and drain")
            outage = next((c for c in selected if c.erp_type == "peoplesoft"), None)
            keeper = self._thread(self.keeper_round, [c for c in selected if c is not outage])
            if outage:
                self.dead_letter_round_trip(outage, outputs)
            keeper.join()
            self._phase("dead-letter round trip and webhook keeper")
            for connection in selected:
                calm_erp(connection.erp_type, stack.erps[connection.name].state)
                stack.poll(connection.name)  # a last overlapping poll after the faults
            self._drain()
            if stack.runtime.queue_depth(stack.runtime.outputs["DeadLetterQueueUrl"]):
                moved = self._redrive(outputs)
                self.result.dead_letters["redriven_at_the_end"] = moved
                self._drain()
            self._phase("last poll and drain")
            self.result.wall_seconds = round(time.monotonic() - started, 1)
            self.reckon(stack, selected)
            self.result.peak_memory_mb = {
                "test process (handlers, simulators, local runtime)": peak_rss_mb(),
                "embedded AWS (moto server)": peak_rss_mb(stack.runtime._moto.pid),
            }
            containers = [c.peak_rss_kb for c in stack.runtime.crashes]
            if containers:
                largest = round(max(containers) / 1024, 1)
                self.result.peak_memory_mb["poster container processes (largest)"] = largest
            if self._mlc_peak_mb:
                self.result.peak_memory_mb["mlc redrive (largest)"] = self._mlc_peak_mb
            secrets = secret_values(stack)
            audit_text = json.dumps(self._items)
        logs = read_logs()
        self.result.log_bytes_scanned = len(logs.encode())
        self.result.secrets_in_logs = sum(1 for s in secrets if s in logs)
        self.result.secrets_in_audit = sum(1 for s in secrets if s in audit_text)
        if self.errors:
            raise RuntimeError(f"the soak's own threads failed: {self.errors!r}")
        return self.result

    def traffic(self, selected: list[Connection]) -> None:
        """The stores send, the pollers overlap, the faults fire, poster containers are killed; then the drain."""
        stack, plan = self.stack, self.plan
        assert stack and stack.runtime
        per_connection = max(10, plan.orders // len(selected))
        mid_run = [arm_erp_faults(c, stack.erps[c.name], n, plan.seed) for n, c in enumerate(selected)]
        mid_run += [arm_store_faults(stack.stores[c.name], self.store_faults_armed) for c in selected]
        stack.runtime.crash_next_invocations(
            POSTER,
            plan.crashes,
            after_call=plan.crash_after_call,
            calls=plan.crash_after_calls,
            visible_again_after=plan.crash_visible_again_after,
        )
        window = threading.Timer(
            plan.commit_timeout_window,
            lambda: [end_commit_timeouts(c.erp_type, stack.erps[c.name].state) for c in selected],
        )
        window.start()
        finished = threading.Semaphore(0)
        sending = {c.name: threading.Event() for c in selected}
        workers: list[threading.Thread] = []

        def store(n: int, connection: Connection) -> None:
            try:
                store = stack.stores[connection.name]
                self.in_review |= send_orders(store, connection, per_connection, plan.seed + 1000 * n)
                sending[connection.name].set()
                pollers = [self._thread(self._poll_under_faults, connection.name) for _ in range(2)]  # overlapping
                for poller in pollers:
                    poller.join()
            finally:
                finished.release()

        def poll_while_sending(connection: Connection) -> None:
            while not sending[connection.name].wait(plan.poll_every):
                self._poll_under_faults(connection.name)

        for n, connection in enumerate(selected):
            workers.append(self._thread(store, n, connection))
            workers.append(self._thread(poll_while_sending, connection))
        for _ in range(max(1, len(selected) // 2)):
            finished.acquire()
        for fault in mid_run:
            fault()
        for worker in workers:
            worker.join()
        window.join()
        for fault in mid_run:
            fault()
        self._drain()

    def dead_letter_round_trip(self, connection: Connection, outputs: Path) -> None:
        """The connection's PeopleSoft answers every call 503 while fresh orders arrive as webhooks; once each has
        been tried ``MaxReceiveCount`` times and dead-lettered, PeopleSoft comes back, ``mlc redrive`` moves the
        DLQ back, and each of those orders must post once."""
        stack, plan = self.stack, self.plan
        assert stack and stack.runtime
        store, erp = stack.stores[connection.name], stack.erps[connection.name].state
        erp.error_rate = 1.0
        orders = place_orders(store, plan.dead_letter_orders, plan.seed + 7777)
        keys = [f"{connection.name}|order|{i}" for i in _paid_order_ids(store, connection, orders)]
        in_dlq = _wait(lambda: all("dead_lettered" in _history(stack, k) for k in keys), 900, interval=5)
        self._drain()  # whatever else was failing has settled too
        dlq_url = stack.runtime.outputs["DeadLetterQueueUrl"]
        self.result.dead_letters.update(
            {
                "connection": connection.name,
                "paid_orders_sent_into_the_outage": len(keys),
                "all_of_them_dead_lettered": in_dlq,
                "dlq_depth_at_redrive": stack.runtime.queue_depth(dlq_url),
            }
        )
        calm_erp("peoplesoft", erp)
        self.result.dead_letters["moved_by_mlc_redrive"] = self._redrive(outputs)
        self._drain()
        posted = [k for k in keys if "posted" in _after(_history(stack, k), "dead_lettered")]
        self.result.dead_letters["posted_after_redrive"] = len(posted)  # once: the reckoning counts ERP documents

    def _redrive(self, outputs: Path) -> int:
        assert self.stack
        done, peak_mb = mlc(self.stack, outputs, "redrive")
        self._mlc_peak_mb = max(self._mlc_peak_mb, peak_mb)
        if done.returncode != 0:
            raise RuntimeError(f"mlc redrive exited {done.returncode}: {done.stdout}{done.stderr}")
        moved = re.search(r"(\d+) message\(s\) moved back", done.stdout)
        return int(moved.group(1)) if moved else 0

    def keeper_round(self, selected: list[Connection]) -> None:
        """Webhooks disabled in every store; orders nobody announces; the keeper; orders announced again."""
        stack, plan = self.stack, self.plan
        assert stack
        for connection in selected:
            disable_webhooks(stack.stores[connection.name])
        before = {c.name: len(stack.stores[c.name].state.deliveries) for c in selected}
        for n, connection in enumerate(selected):
            place_orders(stack.stores[connection.name], plan.keeper_orders, plan.seed + 9000 + n)
        while_disabled = sum(len(stack.stores[c.name].state.deliveries) - before[c.name] for c in selected)
        actions = stack.keep_webhooks()
        before = {c.name: len(stack.stores[c.name].state.deliveries) for c in selected}
        for n, connection in enumerate(selected):
            place_orders(stack.stores[connection.name], plan.keeper_orders, plan.seed + 9500 + n)
        resumed = [d for c in selected for d in stack.stores[c.name].state.deliveries[before[c.name] :]]
        for connection in selected:
            stack.poll(connection.name)  # finds the orders no webhook announced
        restored = Counter(a for topics in actions.values() for a in topics.values())
        self.result.keeper = {
            "deliveries_while_disabled": while_disabled,
            "keeper_actions": dict(restored),
            "deliveries_after_keeper": len(resumed),
            "delivered_ok_after_keeper": sum(1 for d in resumed if d.ok),
        }

    def reckon(self, stack: LocalStack, selected: list[Connection]) -> None:
        assert stack.runtime
        report = build_report(stack, expected_reviews=self.in_review)
        self._items = audit_items(stack)
        result = self.result
        result.orders = sum(len(stack.stores[c.name].state.orders) for c in selected)
        result.documents_expected = len(report.rows)
        result.documents_by_kind = dict(Counter(r.expected.kind for r in report.rows))
        _classify(report, result)
        result.dlq_left = report.dead_letters
        result.events = dict(sorted(report.events.items()))
        history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in sorted(self._items, key=lambda i: i["sk"]["S"]):
            history[item["pk"]["S"]].append(item)
        result.audit_items_scanned = len(self._items)
        for key, items in history.items():
            events = {i["event"]["S"] for i in items}
            if {"received", "enqueued"} & events and not TERMINAL & events and not key.startswith("unparseable|"):
                result.audit_incomplete.append(key)
        posted = Counter(
            (i["connection"]["S"], i["detail"]["M"]["reference"]["S"])
            for i in self._items
            if i["event"]["S"] == "posted"
        )
        result.posted_twice_in_audit = [f"{c} {r}" for (c, r), n in posted.items() if n > 1]
        result.crashes = _crash_figures(stack.runtime.crashes, history)
        result.faults = self._faults(selected)

    def _faults(self, selected: list[Connection]) -> dict[str, Any]:
        stack = self.stack
        assert stack
        erp: Counter = Counter()
        for connection in selected:
            for name, count in stack.erps[connection.name].state.requests.items():
                if any(w in name for w in ("injected", "timeout", "429", "503", "invalid_token", "unauthorised")):
                    erp[name] += count
        return {
            **self.result.faults,
            "erp_answers": dict(erp),
            "erp_connection_resets": sum(stack.erps[c.name].server.resets_done for c in selected),
            "store_connection_resets": sum(stack.stores[c.name].server.resets_done for c in selected),
        }

    # --- helpers -------------------------------------------------------------------------------------
    def _phase(self, name: str) -> None:
        now = time.monotonic()
        self.result.phase_seconds[name] = round(now - self._phase_started, 1)
        self._phase_started = now

    def _poll_under_faults(self, connection: str) -> None:
        """A scheduled poll while the stores inject faults. One that a store fault outlasted fails as on AWS, where
        the schedule simply runs it again: its watermark did not move, so the next poll (at the latest the last one,
        after the faults) reads the same window. Counted, not an error of the soak."""
        assert self.stack
        try:
            self.stack.poll(connection)
        except TransientError:
            with self._lock:
                self.polls_failed_on_store_faults += 1

    def _thread(self, target: Callable[..., Any], *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # surfaced at the end: a store that stopped sending must fail the soak
                self.errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def _drain(self) -> None:
        assert self.stack and self.stack.runtime
        if not self.stack.runtime.wait_until_drained(timeout=self.plan.drain_timeout):
            raise RuntimeError("the ingest queue did not drain")


def disable_webhooks(store: StoreSandbox) -> None:
    """What the platform does to subscriptions whose deliveries kept failing."""
    state = store.state
    if store.kind == "woocommerce":
        for hook_id in list(state.webhooks):
            state.update_webhook(hook_id, status="disabled")
    elif store.kind == "bigcommerce":
        for hook_id in list(state.hooks):
            state.deactivate_hook(hook_id)
    elif store.kind == "shopify":
        with state.lock:
            state.subscriptions.clear()  # Shopify deletes them


def _classify(report: RunReport, result: SoakResult) -> None:
    for row in report.rows:
        name = f"{row.expected.connection} {row.expected.reference}"
        if row.review_expected:
            if row.documents:
                result.posted_instead_of_review.append(name)
            continue
        if not row.documents:
            result.lost.append(name)
        elif len(row.documents) > 1:
            result.duplicated.append(name)
        elif not row.documents[0].balanced:
            result.unbalanced.append(name)
        elif row.documents[0].total != row.expected.total:
            result.wrong_total.append(name)
        else:
            result.documents_found += 1
    result.unexpected_in_erp = [f"{d.reference} ({d.erp_id})" for d in report.unexpected]


def _crash_figures(crashes: list[Any], history: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """How far the killed containers got: records they finished, and records whose document they had created
    in the ERP without writing the outcome (found there when the record came back)."""
    killed = [c for c in crashes if c.killed_at]
    records = finished = found_in_erp = 0
    for crash in killed:
        killed_at = datetime.fromtimestamp(crash.killed_at, UTC).isoformat(timespec="microseconds")
        started = datetime.fromtimestamp(crash.started, UTC).isoformat(timespec="microseconds")
        for record in crash.records:
            records += 1
            key = Envelope.from_json(record["body"]).record_key
            items = history.get(key, [])
            if any(started <= i["at"]["S"] <= killed_at and i["event"]["S"] in TERMINAL for i in items):
                finished += 1
            elif any(
                i["at"]["S"] > killed_at
                and i["event"]["S"] == "already_posted"
                and i.get("detail", {}).get("M", {}).get("found_in_erp", {}).get("BOOL")
                for i in items
            ):
                found_in_erp += 1
    return {
        "killed": len(killed),
        "returned_before_the_kill": len(crashes) - len(killed),
        "records_in_their_batches": records,
        "finished_before_the_kill": finished,
        "created_in_the_erp_but_outcome_lost": found_in_erp,
    }


# --- make soak ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def output_to(path: Path) -> Iterator[None]:
    """fd 1 and 2 (the handlers' logs, child processes included) into ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def main() -> int:
    import logging
    import warnings

    from tests.bench.common import RESULTS, say, write_result

    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    plan = SoakPlan.from_environment(10_000)
    RESULTS.mkdir(exist_ok=True)
    log_path = RESULTS / "soak-handlers.log"
    say(f"soak: {plan.orders:,} orders, five pairs in parallel on the local runtime; handler logs in {log_path}")
    with output_to(log_path):
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        result = Soak(plan).run(lambda: log_path.read_text(encoding="utf-8", errors="replace"))
    problems = result.problems()
    say(result.summary())
    path = write_result("soak", {"plan": asdict(plan), **asdict(result), "problems": problems})
    say(f"written to {path}")
    for problem in problems:
        say(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
