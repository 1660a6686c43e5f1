"""Shared helpers for the benchmarks: output, machine description, AWS call counting, quiet stacks."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench-results"

#: The terminal, kept aside: handler logs go to fd 1, which benchmarks redirect to count log bytes.
_REAL_OUT = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")


def say(text: str = "") -> None:
    """Print a figure to the terminal even while fd 1 is redirected."""
    _REAL_OUT.write(text + "\n")
    _REAL_OUT.flush()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "commit": commit,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    """bench-results/<name>.json with the machine description attached."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **data}, indent=2, default=str) + "\n")
    return path


def read_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


class ApiCalls:
    """Counts every AWS API call made in this process, by ``service:Operation`` (botocore wrapper)."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        #: (thread role, service:Operation) -> calls, and (Operation, table name) -> DynamoDB items touched.
        self.by_role: Counter = Counter()
        self.items: Counter = Counter()
        self.seconds_by_role: Counter = Counter()
        self._lock = threading.Lock()
        self._original: Any = None
        self._local = threading.local()

    def __enter__(self) -> ApiCalls:
        from botocore.client import BaseClient

        self._original = original = BaseClient._make_api_call
        counter = self

        def counting(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            key = f"{client.meta.service_model.service_name}:{operation_name}"
            role = threading.current_thread().name.split("-")[1] if "-" in threading.current_thread().name else "main"
            with counter._lock:
                counter.counts[key] += 1
                counter.by_role[(role, key)] += 1
                if "TableName" in api_params:
                    counter.items[(operation_name, api_params["TableName"])] += 1
                for table_name, requests in (api_params.get("RequestItems") or {}).items():
                    counter.items[(operation_name, table_name)] += len(requests)
            started = time.perf_counter()
            try:
                return original(client, operation_name, api_params)
            finally:
                spent = time.perf_counter() - started
                counter._local.seconds = counter.thread_seconds() + spent
                with counter._lock:
                    counter.seconds_by_role[role] += spent

        BaseClient._make_api_call = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._original  # type: ignore[method-assign]

    def thread_seconds(self) -> float:
        """Seconds this thread has spent waiting on AWS API calls (monotonic; subtract two readings)."""
        return getattr(self._local, "seconds", 0.0)

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.by_role.clear()
            self.items.clear()
            self.seconds_by_role.clear()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self.counts.items()))


@contextlib.contextmanager
def stdout_to_file() -> Iterator[Path]:
    """Send fd 1 (the handlers' JSON logs and EMF metrics) to a temp file; yields its path."""
    sys.stdout.flush()
    handle = tempfile.NamedTemporaryFile(prefix="bench-log-", suffix=".jsonl", delete=False)  # noqa: SIM115
    saved = os.dup(1)
    os.dup2(handle.fileno(), 1)
    try:
        yield Path(handle.name)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        handle.close()


def purge(stack: Any, output: str = "IngestQueueUrl") -> None:
    with contextlib.suppress(Exception):
        stack.runtime.client("sqs").purge_queue(QueueUrl=stack.runtime.outputs[output])
