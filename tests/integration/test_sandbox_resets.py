"""Every simulator's server can drop a connection with a TCP reset, before or after the app handled the request."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from sandbox.runner import serve


@pytest.mark.parametrize("persistent", [False, True], ids=["werkzeug", "keep-alive"])
def test_resets_drop_the_connection_before_or_after_the_app_and_the_next_request_is_answered(persistent):
    seen: list[str] = []

    def app(environ, start_response):
        seen.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    server = serve(app, persistent=persistent)
    try:
        session = requests.Session()
        assert session.get(f"{server.url}/warm", timeout=5).status_code == 200
        server.reset_next(1, "before")
        server.reset_next(1, "after")
        for path in ("/before", "/after"):
            with pytest.raises(requests.ConnectionError):
                session.post(f"{server.url}{path}", data=b"x" * 2048, timeout=5)
        assert session.get(f"{server.url}/next", timeout=5).text == "ok"
        assert seen == ["/warm", "/after", "/next"]  # the app never saw the first, processed the second
        assert server.resets_done == 2
    finally:
        server.stop()


@pytest.mark.parametrize("persistent", [False, True], ids=["werkzeug", "keep-alive"])
def test_a_reset_after_an_app_that_ignores_a_late_body_comes_at_once(persistent):
    """The body arriving after the headers were parsed (as http.client sends it) must not hold the reset back."""

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    server = serve(app, persistent=persistent)
    try:
        server.reset_next(1, "after")
        host, port = server.server.server_address[:2]
        with socket.create_connection((host, port), timeout=3) as client:
            client.sendall(b"POST /late HTTP/1.1\r\nHost: sandbox\r\nContent-Length: 10\r\n\r\n")
            started = time.monotonic()
            with pytest.raises((ConnectionResetError, BrokenPipeError)):  # on the body's send or on the answer's read
                time.sleep(0.003)  # within the 10 ms werkzeug waits for more of the body
                client.sendall(b"0123456789")
                client.recv(100)
            assert time.monotonic() - started < 1
        assert server.resets_done == 1
    finally:
        server.stop()
