"""HTTP calls to stores and ERPs: one pooled session, timeouts always, retries with jittered backoff.

Every adapter sends its requests through ``send`` so that retry, back-off and error
classification behave the same toward every system.

A policy may also bound what one attempt costs, whatever the other side does (the ERPs' policies do):
``max_response_bytes`` (the answer is read in pieces and refused past it, never held whole) and
``deadline_seconds`` (requests' timeouts count each wait for bytes, so an answer trickling in a byte
a second would never time out; the deadline ends the attempt in any phase).
"""

from __future__ import annotations

import contextlib
import email.utils
import socket
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from types import TracebackType

import requests
from pydantic import BaseModel
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, ProxyManager
from urllib3.connection import HTTPConnection, HTTPSConnection

from mlconnector.errors import AuthError, TransientError

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryPolicy(BaseModel):
    attempts: int = 4
    initial_delay: float = 0.2
    max_delay: float = 8.0
    connect_timeout: float = 3.05
    read_timeout: float = 20.0
    #: The most an answer may hold (bytes, decompressed); a larger one is refused. None: any size.
    max_response_bytes: int | None = None
    #: The most one attempt may take, from sending to the answer's last byte. None: no bound but the timeouts.
    deadline_seconds: float | None = None


class ResponseTooLarge(TransientError):
    """An answer larger than the policy's ``max_response_bytes``: refused, and read no further."""


class RetryableResponse(TransientError):
    """A response whose status says "try again"; carries the wait the server asked for, if any."""

    def __init__(self, response: requests.Response, wait_seconds: float | None) -> None:
        super().__init__(f"{response.request.method} {_safe_url(response.url)} answered HTTP {response.status_code}")
        self.response = response
        self.wait_seconds = wait_seconds


_ATTEMPT = threading.local()  # the deadline of the attempt the current thread is sending, if any
_READ_CHUNK = 64 * 1024
#: How an exchange fails on the wire (reading the answer included): transient, retried.
_FAILED_EXCHANGE = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class _Deadline:
    """One attempt's deadline. When it passes, a timer shuts down the socket the attempt uses (registered by its
    connection as it connects or sends): the read waiting on it, in whatever phase, ends at once."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.expired = False
        self._socket: socket.socket | None = None
        self._finished = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire) if seconds is not None else None
        self._outer: _Deadline | None = None  # the deadline of an attempt this one runs within, if any

    def __enter__(self) -> _Deadline:
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()
            self._outer = getattr(_ATTEMPT, "deadline", None)
            _ATTEMPT.deadline = self
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._timer is not None:
            with self._lock:
                self._finished = True
            self._timer.cancel()
            _ATTEMPT.deadline = self._outer

    @property
    def passed(self) -> str:
        return f"took longer than its {self.seconds} s deadline"

    def using(self, sock: socket.socket) -> None:
        """The socket the attempt sends and reads on (the answer keeps reading it after the connection let go)."""
        with self._lock:
            self._socket = sock
            if self.expired:
                self._shut(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            if self._socket is not None:
                self._shut(self._socket)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):  # the plain socket's shutdown, also under TLS: it wakes any reader
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _under_deadline(connection: HTTPConnection) -> None:
    deadline = getattr(_ATTEMPT, "deadline", None)
    if deadline is not None and connection.sock is not None:
        deadline.using(connection.sock)


class _UnderDeadline:
    """Mixed into urllib3's connections: the socket joins the attempt's deadline once connected and per request."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _under_deadline(self)  # type: ignore[arg-type]

    def request(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        _under_deadline(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _DeadlineHTTPConnection(_UnderDeadline, HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_UnderDeadline, HTTPSConnection):
    pass


class _DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_DEADLINE_POOLS = {"http": _DeadlineHTTPConnectionPool, "https": _DeadlineHTTPSConnectionPool}


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter, with connections an attempt's deadline can end (directly or through an HTTP proxy)."""

    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _DEADLINE_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs) -> ProxyManager:  # type: ignore[no-untyped-def]
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:
            manager.pool_classes_by_scheme = _DEADLINE_POOLS
        return manager


def new_session(user_agent: str = "ml-connector/0.1", *, one_request_at_a_time: bool = False) -> requests.Session:
    """A pooled session.

    ``one_request_at_a_time`` (an ERP's session): one connection per host, and a thread that wants it waits
    until the previous answer has been read (urllib3's blocking pool). However many of a container's records
    are busy, it has one call in flight, so the ERP sees at most as many calls as there are containers
    (``ErpMaxConcurrency``); the records build requests and parse answers around each other's calls.
    """
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    if one_request_at_a_time:
        adapter = _Adapter(pool_connections=4, pool_maxsize=1, pool_block=True, max_retries=0)
    else:
        adapter = _Adapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def retry_after_seconds(response: requests.Response) -> float | None:
    """Seconds the server asked us to wait (Retry-After as seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, (parsed - datetime.now(UTC)).total_seconds()) if parsed else None


def _safe_url(url: str) -> str:
    """The URL without its query string, which may carry credentials (query-string auth)."""
    return url.split("?", 1)[0]


def wait_strategy(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    """Exponential back-off with jitter, or exactly the wait the server asked for (Retry-After, reset headers)."""
    backoff = wait_exponential_jitter(
        multiplier=policy.initial_delay, max=policy.max_delay, jitter=policy.initial_delay
    )

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableResponse) and error.wait_seconds is not None:
            return min(error.wait_seconds, 60.0)
        return backoff(state)

    return wait


def is_retryable(error: BaseException) -> bool:
    """Transient failures are retried; refused credentials are not (the caller refreshes once, then stops)."""
    return isinstance(error, TransientError) and not isinstance(error, AuthError)


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    policy: RetryPolicy | None = None,
    retry_statuses: Collection[int] = RETRYABLE_STATUSES,
    wait_hint: Callable[[requests.Response], float | None] = retry_after_seconds,
    before_attempt: Callable[[], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs,
) -> requests.Response:
    """Send a request, retrying connection errors, timeouts and retryable statuses.

    Returns the final response for any non-retryable status (the caller classifies 4xx);
    raises ``TransientError`` when every attempt failed transiently. Under a policy with
    ``max_response_bytes`` or ``deadline_seconds`` the answer is read here, within both.
    """
    policy = policy or RetryPolicy()
    kwargs.setdefault("timeout", (policy.connect_timeout, policy.read_timeout))
    bounded = policy.max_response_bytes is not None or policy.deadline_seconds is not None
    if bounded:
        kwargs["stream"] = True

    def attempt() -> requests.Response:
        if before_attempt:
            before_attempt()
        with _Deadline(policy.deadline_seconds) as deadline:
            try:
                response = session.request(method, url, **kwargs)
                if bounded:
                    _read_within(response, policy.max_response_bytes)
            except _FAILED_EXCHANGE as exc:
                if deadline.expired:
                    raise TransientError(f"{method} {_safe_url(url)} {deadline.passed}") from None
                raise TransientError(f"{method} {_safe_url(url)} failed: {type(exc).__name__}") from None
        if deadline.expired:  # the answer ended where the deadline cut it: not an answer
            raise TransientError(f"{method} {_safe_url(url)} {deadline.passed}")
        if response.status_code in retry_statuses:
            raise RetryableResponse(response, wait_hint(response))
        return response

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_strategy(policy),
        retry=retry_if_exception(is_retryable),
        sleep=sleep,
        reraise=True,
    )
    return retrying(attempt)


def _read_within(response: requests.Response, limit: int | None) -> None:
    """Read the answer in pieces, as ``Response.content`` would, refusing it once it holds more than ``limit``
    bytes (decompressed): a huge answer is never held whole."""
    declared = response.headers.get("Content-Length", "")
    if limit is not None and declared.isdigit() and int(declared) > limit:
        response.close()
        raise ResponseTooLarge(f"{_safe_url(response.url)} announced {declared} bytes, more than {limit}")
    pieces: list[bytes] = []
    size = 0
    for piece in response.iter_content(_READ_CHUNK):
        size += len(piece)
        if limit is not None and size > limit:
            response.close()
            raise ResponseTooLarge(f"{_safe_url(response.url)} answered more than {limit} bytes")
        pieces.append(piece)
    response._content = b"".join(pieces)  # what Response.content keeps once it has read the answer
