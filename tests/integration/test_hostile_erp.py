"""A hostile ERP: each adapter (PeopleSoft SOAP through zeep, JD Edwards AIS and Fusion REST through requests)
refuses, within its timeout and with bounded memory, an answer that is an XML bomb or an external entity, 100 MB
of JSON or XML (announced or not, or gzip-compressed from a few hundred kilobytes), JSON nested 100,000 deep, or a
trickle of one byte a second, from the status line on or after the headers.

The ERP is a raw socket server here, so that it can misbehave below HTTP. Each adapter runs with a 1.5 s timeout
and one attempt: an attempt may last 1.5 s after connecting (the deadline), and answers up to 10 MiB (the
default ``max_response_mb``): the 100 MB answers are refused at 10 MiB. Memory is measured twice: the peak of
Python's allocations (tracemalloc) and the growth of the process's peak resident size (Linux's VmHWM, reset before
each call), which also sees what the parsers (lxml, zlib) allocate outside Python.
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mlconnector.errors import TransientError
from tests.integration.test_fusion_target import make_target as fusion_target
from tests.integration.test_fusion_target import order, postings
from tests.integration.test_jde_target import journal as jde_journal
from tests.integration.test_jde_target import make_target as jde_target
from tests.integration.test_peoplesoft_target import journal as psft_journal
from tests.integration.test_peoplesoft_target import make_target as psft_target
from tests.integration.test_xml_safety import billion_laughs, external_entity

TIMEOUT = 1.5
DEADLINE = TIMEOUT + min(3.05, TIMEOUT)  # ErpSettings.retry_policy: connect timeout + timeout_seconds
HUNDRED_MB = 100 * 2**20
PEAK_LIMIT = 20 * 2**20  # Python's allocations while refusing
RSS_GROWTH_LIMIT = 40 * 2**20  # the process's peak resident size above what it was before the call
SLACK = 2.0  # seconds a loaded machine may add to a refusal


# --- the hostile ERP -----------------------------------------------------------------------------------------
class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _read_request(sock: socket.socket) -> bytes:
    """The request (line and headers; the body is read and dropped); b"" if the client went away."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head


Answer = Callable[[socket.socket], None]


@pytest.fixture
def hostile_erp() -> Iterator[Callable[[Answer], str]]:
    """Start an ERP that answers every call with ``answer(socket)``, JD Edwards' token requests excepted."""
    servers: list[_Server] = []

    def start(answer: Answer) -> str:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = _read_request(self.request)
                if not head:
                    return
                try:
                    if b"/tokenrequest" in head.split(b"\r\n", 1)[0]:
                        self.request.sendall(_answer(b"application/json", json.dumps(TOKEN).encode()))
                    else:
                        answer(self.request)
                except OSError:
                    pass  # the adapter gave up and closed the connection: what it should do

        server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


TOKEN = {"userInfo": {"token": "hostile-token", "simpleDateFormat": "MM/dd/yyyy"}, "userAuthorized": False}


def _answer(content_type: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: %d\r\n" % len(body)
        + extra
        + b"Connection: close\r\n\r\n"
        + body
    )


def whole(content_type: bytes, body: bytes, extra: bytes = b"") -> Answer:
    return lambda sock: sock.sendall(_answer(content_type, body, extra))


def streamed(content_type: bytes, opening: bytes, filler: bytes, total: int, closing: bytes, announce: bool) -> Answer:
    """``total`` bytes made of ``opening``, ``filler`` repeated and ``closing``, sent as fast as the adapter reads,
    announced with a Content-Length or chunked; the pieces are made once, so the ERP's own memory stays flat."""
    piece = filler * (65536 // len(filler))
    framed = b"%x\r\n%s\r\n" % (len(piece), piece)

    def answer(sock: socket.socket) -> None:
        length = b"Content-Length: %d\r\n" % total if announce else b"Transfer-Encoding: chunked\r\n"
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\n" + length + b"\r\n")
        frame = (lambda data: data) if announce else (lambda data: b"%x\r\n%s\r\n" % (len(data), data))
        sock.sendall(frame(opening))
        for _ in range((total - len(opening) - len(closing)) // len(piece)):
            sock.sendall(piece if announce else framed)
        sock.sendall(frame(closing) + (b"" if announce else b"0\r\n\r\n"))

    return answer


def trickle(answer: bytes, start: int = 0, seconds: float = 1.0) -> Answer:
    """``answer`` sent at once up to ``start``, then a byte every ``seconds`` (two minutes at most)."""

    def send(sock: socket.socket) -> None:
        sock.sendall(answer[:start])
        for at in range(start, min(len(answer), start + 120)):
            time.sleep(seconds)
            sock.sendall(answer[at : at + 1])

    return send


@cache
def gzip_bomb(opening: bytes, filler: bytes, closing: bytes) -> bytes:
    """100 MB once decompressed, a few hundred kilobytes on the wire (compressed piece by piece)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    piece = filler * (2**20 // len(filler))
    parts = [compressor.compress(opening)]
    parts += [compressor.compress(piece) for _ in range(HUNDRED_MB // len(piece))]
    return b"".join([*parts, compressor.compress(closing), compressor.flush()])


# --- the adapters ----------------------------------------------------------------------------------------------
SOAP, JSON = b"text/xml; charset=utf-8", b"application/json"


def call_peoplesoft(url: str) -> Any:
    return psft_target(url, retry_attempts=1, timeout_seconds=TIMEOUT).find_posting(psft_journal())


def call_jd_edwards(url: str) -> Any:
    return jde_target(url, retry_attempts=1, timeout_seconds=TIMEOUT).find_posting(jde_journal())


def call_fusion(url: str) -> Any:
    invoice, _ = postings(order())
    return fusion_target(url, auth="basic", retry_attempts=1, timeout_seconds=TIMEOUT).find_posting(invoice)


ADAPTERS = {
    "peoplesoft": (call_peoplesoft, SOAP),
    "jd_edwards": (call_jd_edwards, JSON),
    "fusion": (call_fusion, JSON),
}


def _document(content_type: bytes) -> tuple[bytes, bytes, bytes]:
    """(opening, filler, closing) of a well-formed answer of the adapter's kind, as large as the filler makes it."""
    if content_type == SOAP:
        return (
            b'<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
            b"<soapenv:Body><x>",
            b"0123456789abcdef",
            b"</x></soapenv:Body></soapenv:Envelope>",
        )
    return b'{"items":[{"note":"', b"0123456789abcdef", b'"}],"hasMore":false}'


def hostile_answers(content_type: bytes) -> dict[str, Answer]:
    opening, filler, closing = _document(content_type)
    deep = (b"<a>" * 100_000 + b"</a>" * 100_000) if content_type == SOAP else b"[" * 100_000 + b"]" * 100_000
    return {
        "billion laughs": whole(b"application/xml", billion_laughs()),
        "100 MB, chunked": streamed(content_type, opening, filler, HUNDRED_MB, closing, announce=False),
        "100 MB, announced": streamed(content_type, opening, filler, HUNDRED_MB, closing, announce=True),
        "100 MB from a gzip bomb": whole(
            content_type, gzip_bomb(opening, filler, closing), b"Content-Encoding: gzip\r\n"
        ),
        "nested 100,000 deep": whole(content_type, deep),
    }


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(
    "hostile",
    ["billion laughs", "100 MB, chunked", "100 MB, announced", "100 MB from a gzip bomb", "nested 100,000 deep"],
)
def test_hostile_answers_are_refused_within_the_timeout_and_bounded_memory(
    hostile_erp, adapter, hostile, record_property
):
    call, content_type = ADAPTERS[adapter]
    answer = hostile_answers(content_type)[hostile]
    url = hostile_erp(answer)
    error, seconds, peak, rss_growth = refused(call, url)
    record_property(
        "counts",
        f"hostile ERP, {adapter}, {hostile}: refused in {seconds:.2f} s, Python peak {peak / 2**20:.1f} MiB, "
        f"peak RSS growth {'unmeasured' if rss_growth is None else f'{rss_growth / 2**20:.1f} MiB'}",
    )
    assert isinstance(error, TransientError), f"{adapter} answered {hostile!r}: {type(error).__name__}: {error}"
    assert seconds < DEADLINE + SLACK, f"{adapter} took {seconds:.1f} s to refuse {hostile!r}"
    assert peak < PEAK_LIMIT, f"{adapter} held {peak / 2**20:.0f} MB to refuse {hostile!r}"
    if rss_growth is not None:  # Linux: the peak resident size can be reset and read
        assert rss_growth < RSS_GROWTH_LIMIT, f"{adapter} grew by {rss_growth / 2**20:.0f} MB to refuse {hostile!r}"
    assert "lol" not in str(error) and "0123456789abcdef" not in str(error)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_external_entities_are_neither_read_nor_fetched(hostile_erp, tmp_path: Path, adapter):
    """The answer names a local file and a URL as entities: neither is read, and the URL's server sees nothing."""
    call, _ = ADAPTERS[adapter]
    fetched: list[bytes] = []
    exfiltration = hostile_erp(lambda sock: fetched.append(b"fetched") or sock.sendall(_answer(b"text/plain", b"x")))
    secret_file = tmp_path / "passwd"
    secret_file.write_text("root:x:0:0:MARKER-51c2")
    for target in (secret_file.as_uri(), f"{exfiltration}/steal"):
        error, *_ = refused(call, hostile_erp(whole(b"application/xml", external_entity(target))))
        assert isinstance(error, TransientError), f"{adapter}: {type(error).__name__}: {error}"
        assert "MARKER-51c2" not in str(error)
    assert fetched == []


@pytest.mark.parametrize("phase", ["from the status line on", "after the headers"])
def test_trickling_answers_end_at_the_deadline(hostile_erp, phase, record_property):
    """A byte a second: never a gap as long as the read timeout, yet every adapter gives up at its deadline. The
    three adapters are called side by side (each has its own deadline) so the test lasts one deadline."""
    outcomes: dict[str, tuple[BaseException | None, float]] = {}

    def run(name: str) -> None:
        call, content_type = ADAPTERS[name]
        opening, filler, closing = _document(content_type)
        body = opening + filler * 8 + closing
        answer = _answer(content_type, body)
        start = 0 if phase == "from the status line on" else answer.index(b"\r\n\r\n") + 4
        started = time.monotonic()
        try:
            call(hostile_erp(trickle(answer, start)))
            outcomes[name] = (None, time.monotonic() - started)
        except Exception as exc:
            outcomes[name] = (exc, time.monotonic() - started)

    threads = [threading.Thread(target=run, args=(name,)) for name in ADAPTERS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    refusals = {name: type(error).__name__ for name, (error, _) in outcomes.items()}
    assert all(isinstance(error, TransientError) for error, _ in outcomes.values()), refusals
    took = {name: round(seconds, 1) for name, (_, seconds) in outcomes.items()}
    record_property("counts", f"hostile ERP, a byte a second {phase}: refused after {took} s (deadline {DEADLINE} s)")
    assert max(took.values()) < DEADLINE + SLACK, took


def refused(call: Callable[[str], Any], url: str) -> tuple[BaseException | None, float, int, int | None]:
    """(what the call raised, seconds it took, traced peak bytes, growth of the peak resident size in bytes or None
    where the system cannot reset it)."""
    rss_before = _reset_peak_rss()
    tracemalloc.start()
    started = time.monotonic()
    try:
        call(url)
        error = None
    except Exception as exc:
        error = exc
    finally:
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss_growth = None if rss_before is None else _status_bytes("VmHWM") - rss_before
    return error, seconds, peak, rss_growth


def _status_bytes(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE).group(1)) * 1024  # type: ignore[union-attr]


def _reset_peak_rss() -> int | None:
    """Reset the process's peak resident size to its current size (Linux's clear_refs); that size, or None."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _status_bytes("VmRSS")
