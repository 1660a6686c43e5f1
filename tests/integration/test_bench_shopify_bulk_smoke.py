"""The Shopify bulk-vs-poll benchmark's measuring code still runs (at a tiny size; figures come from ``make bench``)."""

from __future__ import annotations

from tests.bench import shopify_bulk


def test_both_reads_of_a_small_shop_are_measured_in_their_own_processes():
    figures = shopify_bulk.measure(40, ["bulk", "poll"])
    bulk, poll = figures["bulk"], figures["poll"]
    assert bulk["records"] == poll["records"] == 40
    assert bulk["points_by_query"]["BulkRun"] == 10 and "OrdersPage" not in bulk["points_by_query"]
    assert poll["points_per_order"] > bulk["points_per_order"] > 0
    assert 0 < bulk["operation_seconds"] <= bulk["seconds"] and poll["operation_seconds"] is None
    assert bulk["peak_rss_mb"] > 0 and poll["peak_traced_mb"] > 0
    assert figures["shop_rss_kb_per_order"] > 0
