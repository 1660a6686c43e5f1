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
