"""Shopify backfill: the bulk query operation against the cursor poll, orders per second and peak memory at 10k,
25k and 50k orders.

The simulated shop runs in a process of its own (it holds every order: about 19 KB each), with a bucket too
large to throttle, so what is measured is the work: Shopify's side in the simulator (the poll's pages; the bulk
operation writing its JSONL), HTTP, and the adapter turning answers into the webhooks' REST-shaped orders and
building each order's envelope (``envelope_for``, as the backfill enqueues them; the queue itself is left out).
Each read runs in a fresh child process with tracemalloc on: its peak traced heap and its peak RSS (``VmHWM``)
are the reader's alone. The points each read spends are the shop's own count (actual cost); dividing a plan's
restore rate by the points per order gives the rate that plan's bucket allows.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.common import ROOT, say, write_result

SIZES = [int(n) for n in os.environ.get("BENCH_SHOPIFY_BULK_SIZES", "10000,25000,50000").split(",")]
MODES = os.environ.get("BENCH_SHOPIFY_BULK_MODES", "bulk,poll").split(",")
NOW = datetime(2025, 10, 20, 12, 0, tzinfo=UTC)
SHOP = "bench-bulk.myshopify.com"
#: Points a second each plan's bucket gives back (tests/contracts/shopify/graphql-cost.json).
RESTORE = {"standard": 100, "plus": 1000}


def shop_process(size: int) -> None:
    """Child: a shop of ``size`` orders on a port; answers ``report`` (the points spent since the last report)."""
    from sandbox.runner import serve
    from sandbox.shopify import ShopifyState, create_app

    started = time.perf_counter()
    state = ShopifyState(shop_domain=SHOP, bucket_size=10**9, restore_rate=10**9, seed=5)
    state.generate_orders(size, 5, end=NOW, span_days=120, keep=False)
    generated = time.perf_counter() - started
    gc.freeze()  # the shop's records live as long as it does: the collector need not walk them again and again
    server = serve(create_app(state))
    print(json.dumps({"url": server.url, "token": state.add_static_token(), "seconds": generated, **_rss()}))
    sys.stdout.flush()
    seen = 0
    for command in sys.stdin:
        if command.strip() == "report":
            with state.lock:
                spent = state.graphql_costs[seen:]
                seen = len(state.graphql_costs)
            points: dict[str, int] = {}
            for name, _, actual in spent:
                points[name] = points.get(name, 0) + (actual or 0)
            print(json.dumps({"queries": len(spent), "points": points}))
            sys.stdout.flush()
    server.stop()


def read_process(mode: str, url: str, token: str) -> None:
    """Child: one backfill read of every order, envelopes built, with tracemalloc on."""
    import tracemalloc

    from mlconnector.envelope import Origin
    from mlconnector.pipeline.poller import envelope_for
    from mlconnector.sources.shopify.settings import ShopifySettings
    from mlconnector.sources.shopify.source import ShopifySource

    settings = ShopifySettings(shop_domain=SHOP, base_url=url, bulk_poll_seconds=0.2)
    source = ShopifySource("bench", settings, {"access_token": token})
    since = NOW - timedelta(days=365)
    marks: dict[str, float] = {}

    def heard(status: Any) -> None:
        if status.status == "COMPLETED":
            marks.setdefault("completed", time.perf_counter())

    tracemalloc.start()
    started = time.perf_counter()
    if mode == "bulk":
        records = (item.record for item in source.read_in_bulk("orders", since, None, heard))
    else:
        records = source.changed_since("orders", since)
    count = sum(1 for record in records if envelope_for("bench", record, Origin.BACKFILL))
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    source.close()
    waited = marks.get("completed", started) - started
    print(json.dumps({"records": count, "seconds": elapsed, "operation_seconds": waited, "peak": peak, **_rss()}))


def _rss() -> dict[str, int]:
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))  # noqa: SIM115 (read at once)
    return {"rss_kb": int(status["VmRSS"].split()[0]), "peak_rss_kb": int(status["VmHWM"].split()[0])}


def _command(*args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "mlconnector")])}
    return {"args": [sys.executable, "-m", "tests.bench.shopify_bulk", *args], "cwd": ROOT, "env": env, "text": True}


def measure(size: int, modes: list[str]) -> dict[str, Any]:
    """One shop of ``size`` orders, read once per mode."""
    shop = subprocess.Popen(**_command("shop", str(size)), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert shop.stdin is not None and shop.stdout is not None
    try:
        ready = json.loads(shop.stdout.readline())
        figures: dict[str, Any] = {
            "orders": size,
            "shop_generation_ms_per_order": round(ready["seconds"] / size * 1000, 3),
            "shop_rss_kb_per_order": round(ready["rss_kb"] / size, 1),
        }
        for mode in modes:
            reader = subprocess.run(
                **_command("read", mode, ready["url"], ready["token"]), capture_output=True, check=True
            )
            read = json.loads(reader.stdout.strip().splitlines()[-1])
            shop.stdin.write("report\n")
            shop.stdin.flush()
            spent = json.loads(shop.stdout.readline())
            points = sum(spent["points"].values())
            per_order = points / max(1, read["records"])
            rate = read["records"] / read["seconds"]
            figures[mode] = {
                "records": read["records"],
                "seconds": round(read["seconds"], 1),
                "operation_seconds": round(read["operation_seconds"], 1) if mode == "bulk" else None,
                "orders_per_second": round(rate, 1),
                "queries": spent["queries"],
                "points": points,
                "points_per_order": round(per_order, 2),
                "points_by_query": spent["points"],
                "orders_per_second_on": {plan: round(min(rate, r / per_order), 1) for plan, r in RESTORE.items()},
                "peak_traced_mb": round(read["peak"] / 1e6, 1),
                "peak_rss_mb": round(read["peak_rss_kb"] / 1024, 1),
            }
        return figures
    finally:
        shop.stdin.close()
        shop.wait(timeout=60)


def run() -> None:
    say(f"== shopify backfill: bulk query operation vs cursor poll, {', '.join(f'{n:,}' for n in SIZES)} orders")
    results = []
    for size in SIZES:
        figures = measure(size, MODES)
        results.append(figures)
        say(
            f"  shop of {size:,}: generated at {figures['shop_generation_ms_per_order']} ms and "
            f"{figures['shop_rss_kb_per_order']} KB RSS an order"
        )
        for mode in MODES:
            f = figures[mode]
            operation = f" (operation {f['operation_seconds']} s)" if mode == "bulk" else ""
            say(
                f"    {mode:>4}: {f['records']:,} orders in {f['seconds']} s{operation}: {f['orders_per_second']} "
                f"orders/s; {f['points_per_order']} points an order (Standard {f['orders_per_second_on']['standard']}"
                f", Plus {f['orders_per_second_on']['plus']} orders/s); peak {f['peak_traced_mb']} MB traced, "
                f"{f['peak_rss_mb']} MB RSS"
            )
    write_result("shopify_bulk", {"sizes": SIZES, "results": results})


if __name__ == "__main__":
    role, *rest = sys.argv[1:]
    if role == "shop":
        shop_process(int(rest[0]))
    else:
        read_process(*rest)
