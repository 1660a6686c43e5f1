"""Serve a WSGI app on a loopback port in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

ARRIVED = "sandbox.arrived"


class QuietHandler(WSGIRequestHandler):
    """No request lines on stderr: query strings may carry (sandbox) credentials.

    Stamps when the request line came in (``environ["sandbox.arrived"]``), so that a simulated latency
    counts from there and covers the server's own parsing, as a real system's latency would.
    """

    def parse_request(self) -> bool:
        self.arrived = time.monotonic()
        return super().parse_request()

    def make_environ(self) -> dict:
        environ = super().make_environ()
        environ[ARRIVED] = self.arrived
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@dataclass
class RunningServer:
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(app: Callable, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start ``app`` on ``host:port`` (0 = any free port) with one thread per request."""
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"wsgi-{server.server_address[1]}",
        daemon=True,
    )
    thread.start()
    return RunningServer(server, thread)


def arrival(environ: dict) -> float:
    """When the request came in (``time.monotonic()``): stamped by the server, else now."""
    return environ.get(ARRIVED) or time.monotonic()


def answer_after(latency_seconds: float, arrived: float) -> None:
    """Hold the answer until ``latency_seconds`` after ``arrived`` (``arrival(environ)``).

    A simulated system with latency L answers L after the request arrived, whatever its own
    processing took: a benchmark's "50 ms ERP" is 50 ms, not 50 ms plus the simulator's CPU.
    """
    left = latency_seconds - (time.monotonic() - arrived)
    if left > 0:
        time.sleep(left)
