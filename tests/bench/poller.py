"""Poller backfill: orders per second and peak memory at 10k, 25k and 50k orders.

The store sandbox and moto run in this process; the poller runs in a child process (its own
"container") with tracemalloc on, so its peak is the poller's alone, not the simulators'. Each size
is a full backfill from ``backfill_from`` (the watermark is removed between runs).

Peak RSS is the child's ``VmHWM``, not ``getrusage().ru_maxrss``: Linux carries the parent's
high-water mark into ``ru_maxrss`` across fork and exec, so it grew with the store sandbox's size in
this process (365 → 566 MB from 5k to 20k orders) while the poller's own peak did not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from tests.bench.common import ROOT, purge, say, stdout_to_file, write_result

CONNECTION = "woo-psft"
SIZES = [int(n) for n in os.environ.get("BENCH_POLLER_SIZES", "10000,25000,50000").split(",")]

_CHILD = r"""
import importlib.util, json, sys, time, tracemalloc
out, function_dir, layer, root = sys.argv[1:5]
sys.path[:0] = [layer, function_dir, root]
spec = importlib.util.spec_from_file_location("app", function_dir + "/app.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from local.runtime import LambdaContext
tracemalloc.start()
started = time.perf_counter()
result = module.lambda_handler({"connection": sys.argv[5], "resources": ["orders"]}, LambdaContext("poller", 512, 600))
elapsed = time.perf_counter() - started
current, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
rss = int(status["VmHWM"].split()[0])
with open(out, "w") as f:
    json.dump({"seconds": elapsed, "peak_bytes": peak, "end_bytes": current, "peak_rss_kb": rss, "result": result}, f)
"""


def clear_state(stack: Any) -> None:
    """Remove watermarks (and bindings) so the next poll is a full backfill."""
    ddb = stack.runtime.client("dynamodb")
    name = stack.runtime.outputs["StateTableName"]
    kwargs: dict[str, Any] = {"TableName": name}
    while True:
        page = ddb.scan(**kwargs)
        for item in page["Items"]:
            ddb.delete_item(TableName=name, Key={"pk": item["pk"], "sk": item["sk"]})
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class QueueDrain:
    """Consumes the ingest queue while the poller fills it: moto's SendMessageBatch slows down linearly
    with the queue's depth, which would measure moto rather than the poller. (SQS has no such cost.)"""

    def __init__(self, stack: Any, threads: int = 3) -> None:
        self.url = stack.runtime.outputs["IngestQueueUrl"]
        self.stack = stack
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        sqs = self.stack.runtime.client("sqs")
        while not self.stop.is_set():
            messages = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            )
            if messages:
                sqs.delete_message_batch(
                    QueueUrl=self.url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )

    def __enter__(self) -> QueueDrain:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)


def poll_in_child(stack: Any) -> dict[str, Any]:
    function = stack.runtime.functions["PollerFunction"]
    env = {**os.environ, **function.environment}
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(out),
            str(function.code_dir),
            str(ROOT / "layers" / "mlconnector"),
            str(ROOT),
            CONNECTION,
        ],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=1800,
        stdout=subprocess.DEVNULL,
    )
    data = json.loads(out.read_text())
    out.unlink()
    return data


def run() -> dict[str, Any]:
    import logging

    from local.stack import LocalStack

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    say(f"== poller: full backfills of {', '.join(f'{n:,}' for n in SIZES)} orders; peak memory by tracemalloc")
    rows = []
    with stdout_to_file() as log, LocalStack(connections=[CONNECTION]) as stack:
        stack.runtime.stop_event_sources()
        woo = stack.stores[CONNECTION].state
        have = 0
        for size in SIZES:
            woo.generate_orders(size - have, seed=size, deliver=False, span_days=365)
            have = size
            clear_state(stack)
            purge(stack)
            with QueueDrain(stack):
                data = poll_in_child(stack)
            polled = data["result"]["polled"]["orders"]
            row = {
                "orders_in_store": size,
                "orders_enqueued": polled,
                "seconds": round(data["seconds"], 1),
                "orders_per_second": round(polled / data["seconds"], 1),
                "peak_traced_mb": round(data["peak_bytes"] / 2**20, 2),
                "peak_rss_mb": round(data["peak_rss_kb"] / 1024, 1),
            }
            rows.append(row)
            say(
                f"  {size:>7,} orders: {row['orders_per_second']:>7} orders/s ({row['seconds']} s), "
                f"peak traced {row['peak_traced_mb']} MB, peak RSS {row['peak_rss_mb']} MB"
            )
        purge(stack)
    log.unlink(missing_ok=True)
    peaks = [r["peak_traced_mb"] for r in rows]
    figures = {"runs": rows, "peak_growth_ratio_last_to_first": round(peaks[-1] / peaks[0], 2) if peaks else None}
    say(f"  peak memory at {SIZES[-1]:,} / at {SIZES[0]:,}: {figures['peak_growth_ratio_last_to_first']}x")
    write_result("poller", figures)
    return figures


if __name__ == "__main__":
    run()
