"""The ERP simulators' server keeps connections open between requests, as an ERP's gateway does."""

from __future__ import annotations

import time

import pytest
import requests

from sandbox.runner import ARRIVED, serve


def echo(environ: dict, start_response) -> list[bytes]:
    """Answers with the body it was sent, unread if the path is /ignore-body."""
    if environ["PATH_INFO"] == "/ignore-body":
        body = b""
    elif environ.get("wsgi.input_terminated"):  # chunked: read to its end
        body = environ["wsgi.input"].read()
    else:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"echo|" + body]


@pytest.fixture
def server():
    running = serve(echo, persistent=True)
    yield running
    running.stop()


def test_a_client_keeps_one_connection_for_all_its_calls(server):
    session = requests.Session()
    for n in range(5):
        assert session.post(server.url, data=f"call {n}".encode(), timeout=5).text.endswith(f"|call {n}")
    assert len(server.server.connections) == 1
    assert server.server.connections_accepted == 1


def test_werkzeugs_server_closes_every_connection():
    """The check above can fail: the stores' and the API's server opens a connection per call."""
    running = serve(echo)
    try:
        session = requests.Session()
        answers = {session.get(running.url, timeout=5).headers.get("Connection") for _ in range(3)}
    finally:
        running.stop()
    assert answers == {"close"}


def test_a_body_the_app_did_not_read_is_not_taken_for_the_next_request(server):
    session = requests.Session()
    session.post(f"{server.url}/ignore-body", data=b"GET /not-a-request HTTP/1.1\r\n\r\n" * 100, timeout=5)
    assert session.post(server.url, data=b"next", timeout=5).text.endswith("|next")
    assert server.server.connections_accepted == 1


def test_a_chunked_body_is_read_and_the_connection_closed_after_it(server):
    response = requests.post(server.url, data=iter([b"ab", b"cd"]), timeout=5)
    assert response.text.endswith("|abcd")
    assert response.headers["Connection"] == "close"


def test_an_answer_of_unknown_length_ends_with_the_connection():
    def streamed(environ: dict, start_response) -> object:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"one ", b"two"])

    running = serve(streamed, persistent=True)
    try:
        response = requests.get(running.url, timeout=5)
    finally:
        running.stop()
    assert response.text == "one two"
    assert response.headers["Connection"] == "close"


def test_the_client_may_ask_to_close(server):
    response = requests.get(server.url, headers={"Connection": "close"}, timeout=5)
    assert response.headers["Connection"] == "close"


def test_a_reused_connection_answers_without_a_delayed_ack_stall(server):
    """Answers written in pieces on a kept connection would wait ~40 ms each for the client's delayed ACK."""
    session = requests.Session()
    session.get(server.url, timeout=5)
    started = time.monotonic()
    for _ in range(10):
        session.post(server.url, data=b"x" * 2000, timeout=5)
    assert (time.monotonic() - started) / 10 < 0.03  # ~1 ms each here; a stall is ≥ 40 ms


def test_stopping_the_server_ends_its_idle_connections():
    running = serve(echo, persistent=True)
    session = requests.Session()
    session.get(running.url, timeout=5)
    assert len(running.server.connections) == 1
    running.stop()
    deadline = time.monotonic() + 2
    while running.server.connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not running.server.connections  # its thread no longer waits for a next request


@pytest.mark.parametrize("persistent", [False, True])
def test_the_server_stamps_when_the_request_came_in_before_the_app_runs(persistent):
    """The simulated latency counts from the request line, so the server's own parsing is inside it."""
    seen: list[float] = []

    def app(environ: dict, start_response) -> list[bytes]:
        seen.append(time.monotonic() - environ[ARRIVED])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    running = serve(app, persistent=persistent)
    session = requests.Session()
    try:
        took = []
        for _ in range(2):  # the second request on a kept connection is stamped as well
            before = time.monotonic()
            session.get(running.url, timeout=5)
            took.append(time.monotonic() - before)
    finally:
        running.stop()
    assert len(seen) == 2 and all(0 <= s <= t for s, t in zip(seen, took, strict=True))
