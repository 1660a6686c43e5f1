"""A simulated system with latency L answers L after the request arrived, its own processing included."""

from __future__ import annotations

import time

import requests

from sandbox.runner import answer_after, serve


def test_the_answer_waits_only_for_what_is_left_of_the_latency():
    arrived = time.monotonic() - 0.03  # the simulator already spent 30 ms on the request
    started = time.monotonic()
    answer_after(0.05, arrived)
    assert 0.015 <= time.monotonic() - started < 0.04


def test_processing_longer_than_the_latency_adds_no_wait():
    started = time.monotonic()
    answer_after(0.01, time.monotonic() - 0.5)
    assert time.monotonic() - started < 0.005


def test_a_peoplesoft_service_call_answers_after_its_latency():
    from sandbox.peoplesoft import PeopleSoftState, create_app

    state = PeopleSoftState(latency_seconds=0.2)
    server = serve(create_app(state))
    try:
        started = time.monotonic()
        response = requests.post(
            f"{server.url}/PSIGW/PeopleSoftServiceListeningConnector/PSFT_EP", data=b"<x/>", timeout=5
        )
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert response.status_code >= 400  # not a SOAP envelope: refused, after the latency like any call
    assert 0.2 <= elapsed < 0.3
