"""Fault soak: 2,000 orders across every connection of the local profile, the stores sending in
parallel, with duplicate webhooks, lost webhooks, overlapping polls, ERP faults (5xx, timeouts,
timeout after commit, 429, token expiry) and batches failing part-way. After draining and redriving
the DLQ: exactly one ERP document per order and refund, every journal balanced, every record's audit
trail complete, and no configured secret in any log line or audit record. ``SOAK_ORDERS`` sets the
size: 2,000 in the suite (about four minutes on 2 cores), more for manual runs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from local.report import build_report
from local.run import SCENARIOS
from local.stack import ERP_SANDBOXES, STORE_SANDBOXES, LocalStack
from mlconnector.profile import parse_profile
from tests.support.stack import audit_items

ORDERS = int(os.environ.get("SOAK_ORDERS", "2000"))
SEED = int(os.environ.get("SOAK_SEED", "2024"))
TERMINAL = {"posted", "already_posted", "skipped", "needs_review", "duplicate_suppressed", "customer_upserted"}
#: Timeout-after-commit is injected for this long from the start (every create in the window commits,
#: then times out once); long enough to hit hundreds of creates, short enough to keep the soak in minutes.
COMMIT_TIMEOUT_WINDOW_SECONDS = float(os.environ.get("SOAK_COMMIT_TIMEOUT_WINDOW", "20"))


# --- faults, by ERP type -----------------------------------------------------------------------------
def _psft_faults(state: Any) -> Callable[[], None]:
    state.error_rate, state.seed = 0.03, SEED  # seeded 503s
    state.fail_next_n = 6  # the first calls fail: records fail part-way through their batches
    state.timeout_after_commit = True  # every create commits, then answers 504 once
    state.timeout_after_commit_first_attempt_only = True
    state.timeout_after_commit_mode = "504"
    return state.revoke_tokens  # mid-run: every OAuth2 token stops working


def _jde_faults(state: Any) -> Callable[[], None]:
    state.fail_next_n = 6
    state.timeout_after_commit_first_attempt = True
    return state.expire_all_tokens


def _fusion_faults(state: Any) -> Callable[[], None]:
    state.force_429_next(4)
    state.force_503_next(4)
    state.timeout_after_commit_first_attempt = True

    def mid_run() -> None:
        state.expire_tokens()
        state.force_429_next(3)

    return mid_run


FAULTS: dict[str, Callable[[Any], Callable[[], None]]] = {
    "peoplesoft": _psft_faults,
    "jdedwards": _jde_faults,
    "fusion": _fusion_faults,
}


def _no_commit_timeouts(erp_type: str, state: Any) -> None:
    if erp_type == "peoplesoft":
        state.timeout_after_commit = False
    else:
        state.timeout_after_commit_first_attempt = False


def _calm(erp_type: str, state: Any) -> None:
    """Faults off for the redrive (an operator redrives once the ERP is healthy again)."""
    _no_commit_timeouts(erp_type, state)
    if erp_type == "peoplesoft":
        state.error_rate, state.fail_next_n = 0.0, 0
    elif erp_type == "jdedwards":
        state.fail_next_n = 0


def _connections() -> list[str]:
    from local.stack import DEFAULT_PROFILE

    text = DEFAULT_PROFILE.read_text(encoding="utf-8")
    os.environ.update({k: "http://127.0.0.1:1" for k in _env_refs(text) if k not in os.environ})
    profile = parse_profile(text, str(DEFAULT_PROFILE))
    return [
        c.name
        for c in profile.connections
        if c.store_type in STORE_SANDBOXES
        and c.erp_type in ERP_SANDBOXES
        and c.store_type in SCENARIOS
        and c.erp_type in FAULTS
    ]


def _env_refs(text: str) -> set[str]:
    import re

    return set(re.findall(r"\$\{(SANDBOX_[A-Z0-9_]+)\}", text))


def redrive(stack: LocalStack) -> int:
    """Move every DLQ message back to the ingest queue (what ``mlc redrive`` does); returns how many."""
    assert stack.runtime
    sqs = stack.runtime.client("sqs")
    dlq, ingest = stack.runtime.outputs["DeadLetterQueueUrl"], stack.runtime.outputs["IngestQueueUrl"]
    moved = 0
    while True:
        messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not messages:
            return moved
        sqs.send_message_batch(
            QueueUrl=ingest, Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(messages)]
        )
        sqs.delete_message_batch(
            QueueUrl=dlq, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        )
        moved += len(messages)


def secret_values(stack: LocalStack) -> set[str]:
    values: set[str] = set()
    for sandbox in [*stack.stores.values(), *stack.erps.values()]:
        for group in (sandbox.credentials, getattr(sandbox, "webhook_credentials", {})):
            values |= {v for v in group.values() if v}
    return values


@pytest.mark.slow
def test_fault_soak(capfd, record_property):
    names = _connections()
    if not names:
        pytest.skip("no connection in the profile has both sandboxes and a soak scenario wired")
    per_connection = max(10, ORDERS // len(names))
    started = time.monotonic()
    with LocalStack(connections=names, parameters={"MaxReceiveCount": "8", "RetryBaseSeconds": "1"}) as stack:
        assert stack.runtime
        selected = stack.selected_connections()
        mid_run: list[Callable[[], None]] = []
        for connection in selected:
            mid_run.append(FAULTS[connection.erp_type](stack.erps[connection.name].state))
        window = threading.Timer(
            COMMIT_TIMEOUT_WINDOW_SECONDS,
            lambda: [_no_commit_timeouts(c.erp_type, stack.erps[c.name].state) for c in selected],
        )
        window.start()

        # Per connection, in parallel as stores send: webhooks (some doubled, some lost) and two overlapping
        # polls while they arrive. Token expiry and the other mid-run faults fire once half the stores are done.
        in_review: set[str] = set()
        polls: list[threading.Thread] = []
        finished = threading.Semaphore(0)
        sender_errors: list[BaseException] = []

        def store_traffic(n: int, connection: Any) -> None:
            try:
                store = stack.stores[connection.name].state
                store.duplicate_next_delivery = per_connection // 20
                in_review.update(SCENARIOS[connection.store_type](stack, connection, per_connection, SEED + 10 * n))
                for _ in range(2):
                    poll = threading.Thread(target=stack.poll, args=(connection.name,), daemon=True)
                    poll.start()
                    polls.append(poll)
            except BaseException as exc:  # surfaced below: a store that stopped sending must fail the soak
                sender_errors.append(exc)
            finally:
                finished.release()

        senders = [
            threading.Thread(target=store_traffic, args=(n, c), daemon=True, name=f"store-{c.name}")
            for n, c in enumerate(selected)
        ]
        for sender in senders:
            sender.start()
        for _ in range(max(1, len(selected) // 2)):
            finished.acquire()
        for fault in mid_run:
            fault()
        for sender in senders:
            sender.join(timeout=900)
        assert not sender_errors, sender_errors
        for poll in polls:
            poll.join(timeout=300)
        window.join()
        for fault in mid_run:
            fault()
        assert stack.runtime.wait_until_drained(timeout=900), "the ingest queue did not drain"

        for connection in selected:
            _calm(connection.erp_type, stack.erps[connection.name].state)
            stack.poll(connection.name)  # a last overlapping poll after the faults
        assert stack.runtime.wait_until_drained(timeout=600)
        redriven = 0
        for _ in range(3):
            moved = redrive(stack)
            redriven += moved
            if not moved:
                break
            assert stack.runtime.wait_until_drained(timeout=600)

        report = build_report(stack, time.monotonic() - started, expected_reviews=in_review)
        items = audit_items(stack)
        secrets = secret_values(stack)
        erp_requests = {c.name: dict(stack.erps[c.name].state.requests) for c in selected}

    captured = capfd.readouterr()
    elapsed = time.monotonic() - started

    # Counts first, so a failure still shows what happened.
    kinds = Counter(row.expected.kind for row in report.rows)
    faults = Counter()
    for requests in erp_requests.values():
        for name, count in requests.items():
            if any(w in name for w in ("injected", "timeout", "429", "503", "expired", "token")):
                faults[name] += count
    counts = (
        f"\nsoak: {len(selected)} connections ({', '.join(c.name for c in selected)}), {elapsed:.0f} s\n"
        f"  documents expected {len(report.rows)} ({dict(kinds)}), problems "
        f"{sum(1 for r in report.rows if not r.ok)}, unexpected {len(report.unexpected)}\n"
        f"  events {dict(sorted(report.events.items()))}\n"
        f"  redriven from the DLQ {redriven}, left in the DLQ {report.dead_letters}\n"
        f"  ERP faults observed {dict(faults)}\n"
        f"  log bytes scanned {len(captured.out) + len(captured.err)}, audit items scanned {len(items)}"
    )
    print(counts)
    record_property("counts", counts)

    problems = [f"{r.expected.connection} {r.expected.reference}: {r.problem}" for r in report.rows if not r.ok]
    assert not problems, problems[:20]
    assert not report.unexpected, report.unexpected[:10]
    assert report.dead_letters == 0
    assert report.reconciled
    assert kinds["order"] >= ORDERS * 0.7 and kinds["refund"] >= len(selected)
    assert report.events["failed"] > 0 and report.events["duplicate_suppressed"] > 0  # the faults did happen

    # Audit trail: every record that was received or enqueued reached an outcome; every posted document has its record.
    history: dict[str, list[str]] = defaultdict(list)
    for item in sorted(items, key=lambda i: i["sk"]["S"]):
        history[item["pk"]["S"]].append(item["event"]["S"])
    incomplete = {
        key: events
        for key, events in history.items()
        if {"received", "enqueued"} & set(events) and not TERMINAL & set(events) and not key.startswith("unparseable|")
    }
    assert not incomplete, list(incomplete.items())[:10]
    posted = Counter(
        (item["connection"]["S"], item["detail"]["M"]["reference"]["S"])
        for item in items
        if item["event"]["S"] == "posted"
    )
    assert all(n == 1 for n in posted.values()), [k for k, n in posted.items() if n > 1][:10]

    # Secrets: no configured value in any log line or audit record.
    logs = captured.out + captured.err
    audit_text = json.dumps(items)
    leaked = [name for name, text in (("logs", logs), ("audit", audit_text)) for s in secrets if s in text]
    assert not leaked, f"secret values found in: {sorted(set(leaked))}"
    assert logs, "no handler output was captured: the scan would prove nothing"
