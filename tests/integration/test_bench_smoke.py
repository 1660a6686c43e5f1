"""The benchmarks' own measuring code still runs (at tiny sizes; the figures come from ``make bench``)."""

from __future__ import annotations

from tests.bench import cold_start, poster


def test_the_soap_client_cpu_figure_counts_every_call_of_every_order():
    figures = poster.client_cpu_per_call(orders=3)
    assert figures["soap_calls"] >= 3 * 3  # at least a customer call, a journal search and a create per order
    assert 0 < figures["client_cpu_ms_per_call"] < figures["wall_ms_per_call_at_0ms"] * 10
    assert 0 < figures["turn_ceiling_at_50ms"] < 1


def test_the_receivers_first_request_is_measured_on_the_published_profile():
    receiver = str(cold_start.HANDLERS["WebhookReceiverFunction"])
    assert cold_start.measure(receiver, "WebhookReceiverFunction", first_request=True) > 0  # the child asserts
    # that neither the import nor the first request loaded pydantic, PyYAML, requests or the models


def test_the_poster_run_with_the_erp_in_its_own_process_reads_the_erps_counters():
    figures = poster.one_run(orders=12, latency=0.01, seed=7, cap=2, erp_process=True)
    assert figures["drained"] and figures["erp_in_its_own_process"]
    assert figures["orders_posted"] > 0
    assert figures["erp_calls_per_order"] >= 2  # counted by the simulator's process, read over its control port
    assert 1 <= figures["erp_most_calls_in_flight"] <= 2
    assert figures["erp_latency_ms"] == 10 and figures["efficiency"] > 0
