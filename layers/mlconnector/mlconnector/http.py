"""HTTP calls to stores and ERPs: one pooled session, timeouts always, retries with jittered backoff.

Every adapter sends its requests through ``send`` so that retry, back-off and error
classification behave the same toward every system.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime

import requests
from pydantic import BaseModel
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from mlconnector.errors import AuthError, TransientError

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryPolicy(BaseModel):
    attempts: int = 4
    initial_delay: float = 0.2
    max_delay: float = 8.0
    connect_timeout: float = 3.05
    read_timeout: float = 20.0


class RetryableResponse(TransientError):
    """A response whose status says "try again"; carries the wait the server asked for, if any."""

    def __init__(self, response: requests.Response, wait_seconds: float | None) -> None:
        super().__init__(f"{response.request.method} {_safe_url(response.url)} answered HTTP {response.status_code}")
        self.response = response
        self.wait_seconds = wait_seconds


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
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=1, pool_block=True, max_retries=0)
    else:
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
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
    raises ``TransientError`` when every attempt failed transiently.
    """
    policy = policy or RetryPolicy()
    kwargs.setdefault("timeout", (policy.connect_timeout, policy.read_timeout))

    def attempt() -> requests.Response:
        if before_attempt:
            before_attempt()
        try:
            response = session.request(method, url, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"{method} {_safe_url(url)} failed: {type(exc).__name__}") from None
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
