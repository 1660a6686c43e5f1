"""Serve a WSGI app on a loopback port in a background thread.

Fault injection for every simulator: ``RunningServer.reset_next`` drops the next requests' connections
with a TCP reset instead of an answer, before the app sees the request or after it has processed it.
"""

from __future__ import annotations

import contextlib
import io
import socket
import socketserver
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from wsgiref.simple_server import ServerHandler, WSGIServer
from wsgiref.simple_server import WSGIRequestHandler as PlainWSGIRequestHandler

from werkzeug.serving import BaseWSGIServer, DechunkedInput, WSGIRequestHandler, make_server
from werkzeug.wsgi import LimitedStream

ARRIVED = "sandbox.arrived"
#: How long a persistent connection may sit idle before the server closes it.
IDLE_SECONDS = 30.0


ResetMoment = Literal["before", "after"]


@dataclass
class ConnectionResets:
    """Requests still to be answered with a TCP reset, each ``before`` the app sees it or ``after`` it processed it."""

    pending: deque[ResetMoment] = field(default_factory=deque)
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> ResetMoment | None:
        with self.lock:
            if not self.pending:
                return None
            self.done += 1
            return self.pending.popleft()


def _reset(handler: Any, *streams: Any) -> None:
    """End the handler's connection now with a TCP reset (SO_LINGER 0: close sends RST, not FIN) and no answer.

    ``streams``: the files the handler made from the socket, which keep it open until they are closed.
    """
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    for stream in streams:
        with contextlib.suppress(OSError, ValueError):
            stream.close()
    handler.connection.close()


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
        if self.reset_moment == "after":
            environ["wsgi.input"] = io.BytesIO(self._declared_body())
        return environ

    def _declared_body(self) -> bytes:
        """The body as Content-Length declares it, read before the app runs.

        werkzeug drains what an app left unread with a read that waits for the client's end of file, which a
        client still waiting for its answer never sends: a reset ``after`` an app that ignores the body would
        hang until the client's timeout whenever the body came in after the headers.
        """
        try:
            return self.rfile.read(max(0, int(self.headers.get("Content-Length") or 0)))
        except ValueError:
            return b""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    reset_moment: ResetMoment | None = None

    def run_wsgi(self) -> None:
        moment = self.reset_moment = self.server.connection_resets.take()
        if moment == "after":
            self.wfile = io.BytesIO()  # the app's answer goes nowhere
            super().run_wsgi()
        elif moment is None:
            super().run_wsgi()
            return
        _reset(self, self.rfile)  # wfile writes to the socket directly


class _PersistentServerHandler(ServerHandler):
    """wsgiref's response side, answering HTTP/1.1 and closing only when the length is unknown."""

    http_version = "1.1"
    os_environ: dict[str, str] = {}  # wsgiref copies this into every environ: not the process's

    def cleanup_headers(self) -> None:
        super().cleanup_headers()
        handler = self.request_handler
        if "Content-Length" not in self.headers and not self.status.startswith(("204", "304")):
            handler.close_connection = True  # the body ends where the connection does
        if handler.close_connection:
            self.headers["Connection"] = "close"


class PersistentConnectionHandler(PlainWSGIRequestHandler):
    """HTTP/1.1 with persistent connections and one thread per connection, as an ERP's gateway serves.

    werkzeug's development server closes the connection after every answer, so each call of a client
    that keeps its connection (every ERP client here) would pay a TCP connect and a new server thread
    that no real gateway charges. Same arrival stamp and quiet logging as ``QuietHandler``.
    """

    protocol_version = "HTTP/1.1"
    # An answer is buffered and leaves in one write when the request is done (unbuffered, each header line
    # would be a packet of its own); TCP_NODELAY so that an answer that does take several writes is not held
    # ~40 ms by Nagle's algorithm waiting for the client's delayed ACK.
    wbufsize = -1
    disable_nagle_algorithm = True
    timeout = IDLE_SECONDS

    def handle(self) -> None:
        self.server.connections.add(self.connection)
        self.server.connections_accepted += 1
        try:
            self.close_connection = False
            while not self.close_connection:
                self.handle_one_request()
                if not self.wfile.closed:  # closed: the connection was reset
                    self.wfile.flush()
        except (ConnectionError, TimeoutError):
            pass  # the client went away, or the connection sat idle
        finally:
            self.server.connections.discard(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(ConnectionError):  # an answer still buffered for a client that went away
            super().finish()

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            self.close_connection = True
            return
        self.arrived = time.monotonic()
        if len(self.raw_requestline) > 65536:
            self.requestline, self.request_version, self.command = "", "", ""
            self.send_error(414)
            return
        if not self.parse_request():  # an error was sent and the connection marked to close
            return
        moment = self.server.connection_resets.take()
        if moment == "before":
            _reset(self, self.rfile, self.wfile)
            return
        environ = self.get_environ()
        environ[ARRIVED] = self.arrived
        body = self._request_body(environ)
        out = io.BytesIO() if moment == "after" else self.wfile  # after: the app's answer goes nowhere
        handler = _PersistentServerHandler(body, out, self.get_stderr(), environ, multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())
        if moment == "after":
            _reset(self, self.rfile, self.wfile)
        elif isinstance(body, LimitedStream):
            body.exhaust()  # what the app left unread must not be taken for the next request line

    def _request_body(self, environ: dict) -> Any:
        """The request's body as the app's ``wsgi.input``: it ends where the request does."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            environ["wsgi.input_terminated"] = True
            return DechunkedInput(self.rfile)
        try:
            length = max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            self.close_connection = True
            return self.rfile
        return LimitedStream(self.rfile, length)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def log_message(self, format: str, *args: object) -> None:
        return None


class PersistentWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: Callable) -> None:
        self.connections: set[socket.socket] = set()  # open now
        self.connections_accepted = 0
        super().__init__(address, PersistentConnectionHandler)
        self.set_app(app)

    def server_close(self) -> None:
        super().server_close()
        for connection in list(self.connections):  # idle keep-alive connections end with the server
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


@dataclass
class RunningServer:
    server: BaseWSGIServer | PersistentWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def reset_next(self, n: int, moment: ResetMoment = "before") -> None:
        """Answer the next ``n`` requests with a TCP reset: ``before`` the app sees them, or ``after`` it has
        processed them (a create committed, its answer lost with the connection)."""
        resets = self.server.connection_resets
        with resets.lock:
            resets.pending.extend([moment] * n)

    @property
    def resets_done(self) -> int:
        return self.server.connection_resets.done

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(app: Callable, host: str = "127.0.0.1", port: int = 0, *, persistent: bool = False) -> RunningServer:
    """Start ``app`` on ``host:port`` (0 = any free port) with one thread per request.

    ``persistent``: keep connections open between requests (HTTP/1.1 keep-alive), one thread per
    connection, as the ERP simulators serve; otherwise werkzeug's server, which closes each one.
    """
    server = (
        PersistentWSGIServer((host, port), app)
        if persistent
        else make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    )
    server.connection_resets = ConnectionResets()
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
