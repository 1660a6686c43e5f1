"""Shopify cursor poll over the GraphQL Admin API: orders per second for a backfill of N orders, per plan.

The simulated shop and the adapter run in this process over real HTTP. Shopify's pace is its cost bucket
(Standard restores 100 points a second, Plus 1000): the waits the bucket imposes are taken on a simulated
clock shared by the shop's bucket and the adapter (so a Standard backfill does not take minutes here), the
rest - HTTP, GraphQL execution, mapping to REST-shaped payloads - is measured. Figures: pages, requested
and actual cost per page and per order, queries, seconds waited for the bucket, orders per second.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from mlconnector.sources.shopify import queries
from mlconnector.sources.shopify.settings import ShopifySettings
from mlconnector.sources.shopify.source import ShopifySource
from sandbox.runner import serve
from sandbox.shopify import ShopifyState, create_app
from tests.bench.common import say, write_result

SIZE = int(os.environ.get("BENCH_SHOPIFY_ORDERS", "2000"))
PLANS = os.environ.get("BENCH_SHOPIFY_PLANS", "standard,plus").split(",")
NOW = datetime(2025, 10, 20, 12, 0, tzinfo=UTC)


class SimulatedWaits:
    """A monotonic clock that runs in real time plus every wait the adapter was asked to sleep."""

    def __init__(self) -> None:
        self.waited = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.waited

    def sleep(self, seconds: float) -> None:
        self.waited += max(0.0, seconds)


def backfill(plan: str, resource: str) -> dict[str, Any]:
    clock = SimulatedWaits()
    state = ShopifyState(shop_domain="bench.myshopify.com", plan=plan, seed=5, monotonic=clock.monotonic)
    state.generate_orders(SIZE, 5, end=NOW, span_days=60)
    server = serve(create_app(state))
    source = ShopifySource(
        "bench",
        ShopifySettings(shop_domain="bench.myshopify.com", base_url=server.url),
        {"access_token": state.add_static_token()},
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    try:
        started = time.perf_counter()
        records = sum(1 for _ in source.changed_since(resource, NOW - timedelta(days=90)))
        measured = time.perf_counter() - started
    finally:
        source.close()
        server.stop()
    pages = [(r, a) for name, r, a in state.graphql_costs if name in ("OrdersPage", "RefundIdsPage")]
    admitted = [(r, a) for _, r, a in state.graphql_costs if a is not None]
    total = measured + clock.waited
    return {
        "plan": plan,
        "resource": resource,
        "orders": SIZE,
        "records": records,
        "queries": len(state.graphql_costs),
        "throttled": len(state.graphql_costs) - len(admitted),
        "pages": len(pages),
        "requested_per_page": max((r for r, _ in pages), default=0),
        "actual_per_page": round(sum(a or 0 for _, a in pages) / max(1, len(pages)), 1),
        "actual_points": sum(a for _, a in admitted),
        "actual_points_per_order": round(sum(a for _, a in admitted) / SIZE, 1),
        "seconds_measured": round(measured, 2),
        "seconds_waited_for_the_bucket": round(clock.waited, 2),
        "orders_per_second": round(SIZE / total, 1),
    }


def run() -> None:
    sizes = queries.Sizes()
    say(
        f"shopify poll: a page of orders requests {queries.orders_page_cost(sizes, 1) - 2} points an order "
        f"(+2), {queries.page_size(queries.order_cost(sizes), 250)} orders a page under the 1000-point limit"
    )
    results = []
    for plan in PLANS:
        for resource in ("orders", "refunds"):
            result = backfill(plan, resource)
            results.append(result)
            say(
                f"  {plan:>8} {resource:<7} {result['records']:>5} records, {result['queries']} queries "
                f"({result['throttled']} throttled), {result['pages']} pages of requested "
                f"{result['requested_per_page']} / actual {result['actual_per_page']} points, "
                f"{result['actual_points_per_order']} points an order; {result['seconds_measured']} s measured + "
                f"{result['seconds_waited_for_the_bucket']} s bucket waits: {result['orders_per_second']} orders/s"
            )
    write_result("shopify_poll", {"size": SIZE, "results": results})
