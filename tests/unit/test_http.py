"""An ERP's session sends one request at a time per container, whichever of its records asks."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from mlconnector.http import new_session, send
from sandbox.peoplesoft import PeopleSoftState, create_app
from sandbox.runner import serve

LISTENING = "/PSIGW/PeopleSoftServiceListeningConnector/PSFT_EP"


@pytest.fixture
def gateway():
    """The PeopleSoft simulator, answering every service call after 40 ms and counting calls in flight."""
    state = PeopleSoftState(latency_seconds=0.04)
    server = serve(create_app(state))
    yield state, f"{server.url}{LISTENING}"
    server.stop()


def post_from_threads(session: requests.Session, url: str, threads: int = 4, each: int = 3) -> list[float]:
    """Seconds each POST took, ``threads`` records posting ``each`` times side by side."""

    def one(_: int) -> float:
        started = time.monotonic()
        send(session, "POST", url, data=b"<x/>", retry_statuses=())
        return time.monotonic() - started

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(threads * each)))


def test_an_erp_session_never_has_two_calls_in_flight(gateway):
    state, url = gateway
    took = post_from_threads(new_session(one_request_at_a_time=True), url)
    assert state.most_calls_in_flight == 1
    assert state.requests and max(took) >= 0.04 * 3  # records queued behind each other's calls


def test_a_plain_session_lets_records_call_side_by_side(gateway):
    """The check above can fail: without the gate the same records put several calls in flight."""
    state, url = gateway
    post_from_threads(new_session(), url)
    assert state.most_calls_in_flight > 1


def test_the_next_call_goes_as_soon_as_the_answer_arrived_not_when_the_caller_has_read_it(gateway):
    """The gate is held for the exchange only: what a record does with its answer overlaps the next call."""
    _, url = gateway
    session = new_session(one_request_at_a_time=True)
    answered = threading.Event()
    second_started: list[float] = []

    def slow_reader() -> None:
        send(session, "POST", url, data=b"<x/>", retry_statuses=())
        answered.set()
        time.sleep(0.2)  # parsing and mapping the answer

    def next_record() -> None:
        answered.wait(5)
        started = time.monotonic()
        send(session, "POST", url, data=b"<x/>", retry_statuses=())
        second_started.append(time.monotonic() - started)

    threads = [threading.Thread(target=slow_reader), threading.Thread(target=next_record)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert second_started and second_started[0] < 0.15
