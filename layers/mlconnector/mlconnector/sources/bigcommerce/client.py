"""The BigCommerce REST client (v2 + v3): ``X-Auth-Token``, rate-limit pacing, error classification, paging.

Every request goes through ``mlconnector.http.send``. BigCommerce meters requests per store in a
fixed window (``X-Rate-Limit-*`` headers on every answer). The client:

- after a 429 with ``X-Rate-Limit-Time-Reset-Ms`` (or ``X-Retry-After``) sends nothing until that
  time has passed, then retries;
- after a 429 without those headers (platform load, not our quota) backs off longer, doubling per
  consecutive bare 429 (``throttle_backoff_seconds``, capped at 60 s);
- when ``X-Rate-Limit-Requests-Left`` falls to ``min_requests_left`` waits for the window reset
  before its next request.

The pacing state is shared by every request of one client (and thread-safe), and ``clock``/``sleep``
are injectable so that tests can check the waits. The access token is never formatted into a
message: errors quote BigCommerce's ``title``/``message`` with the token scrubbed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import requests

from mlconnector.errors import AuthError, ConnectorError
from mlconnector.http import RetryPolicy, new_session, send
from mlconnector.sources.bigcommerce.settings import BigCommerceSettings

log = logging.getLogger(__name__)

USER_AGENT = "ml-connector/0.1 (BigCommerce REST)"
MAX_WAIT_SECONDS = 60.0
Version = Literal["v2", "v3"]


class BigCommerceError(ConnectorError):
    """A 4xx answer other than an authentication failure."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class BigCommerceAuthError(AuthError):
    """401/403: the store refused the access token (revoked, wrong store, missing OAuth scope)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def _header_number(response: requests.Response, name: str) -> float | None:
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class RateGate:
    """Holds requests back until BigCommerce's quota window allows them (shared by all threads)."""

    def __init__(
        self,
        min_requests_left: int,
        throttle_backoff_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.min_requests_left = min_requests_left
        self.throttle_backoff_seconds = throttle_backoff_seconds
        self.clock = clock
        self.sleep = sleep
        self.blocked_until = 0.0
        self.waits: list[float] = []
        self._bare_429s = 0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Sleep until the gate is open (called before every attempt)."""
        while True:
            with self._lock:
                remaining = self.blocked_until - self.clock()
            if remaining <= 0:
                return
            self.waits.append(remaining)
            self.sleep(remaining)

    def observe(self, response: requests.Response) -> float | None:
        """Read the rate-limit headers of an answer; for a 429 returns how long to wait before retrying."""
        reset_ms = _header_number(response, "X-Rate-Limit-Time-Reset-Ms")
        with self._lock:
            now = self.clock()
            if response.status_code == 429:
                if reset_ms is not None:
                    wait = reset_ms / 1000.0
                elif (retry_after := _header_number(response, "X-Retry-After")) is not None:
                    wait = retry_after
                else:
                    self._bare_429s += 1
                    wait = self.throttle_backoff_seconds * 2 ** (self._bare_429s - 1)
                    log.warning("bigcommerce 429 without rate-limit headers", extra={"wait_seconds": wait})
                wait = min(max(wait, 0.0), MAX_WAIT_SECONDS)
                self.blocked_until = max(self.blocked_until, now + wait)
                # send() sleeps this much; wait() then only covers what is left of it.
                return wait
            self._bare_429s = 0
            left = _header_number(response, "X-Rate-Limit-Requests-Left")
            if left is not None and reset_ms is not None and left <= self.min_requests_left:
                wait = min(max(reset_ms / 1000.0, 0.0), MAX_WAIT_SECONDS)
                self.blocked_until = max(self.blocked_until, now + wait)
                log.info("bigcommerce quota low, pausing", extra={"requests_left": left, "wait_seconds": wait})
            return None


class BigCommerceClient:
    """Thin, safe access to one store's v2 and v3 REST APIs."""

    def __init__(
        self,
        settings: BigCommerceSettings,
        access_token: str,
        *,
        session: requests.Session | None = None,
        retry_policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not access_token:
            raise ConnectorError("BigCommerce credentials need access_token")
        self.settings = settings
        self._token = access_token
        self.session = session or new_session(USER_AGENT)
        self.policy = retry_policy or RetryPolicy(attempts=6, read_timeout=settings.timeout_seconds)
        self.sleep = sleep
        self.gate = RateGate(settings.min_requests_left, settings.throttle_backoff_seconds, clock=clock, sleep=sleep)

    def close(self) -> None:
        self.session.close()

    # ---------------------------------------------------------------- requests

    def request(
        self,
        method: str,
        version: Version,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> requests.Response:
        """One request to ``{api_root(version)}{path}``; returns the 2xx response or raises a classified error."""
        url = self.settings.api_root(version) + path.lstrip("/")
        kwargs: dict[str, Any] = {
            "params": dict(params or {}),
            # BigCommerce's specs mark Accept and Content-Type required, on GETs too (v2 order products, v3 hooks).
            "headers": {"X-Auth-Token": self._token, "Accept": "application/json", "Content-Type": "application/json"},
        }
        if json_body is not None:
            kwargs["json"] = json_body
        response = send(
            self.session,
            method,
            url,
            policy=self.policy,
            wait_hint=self.gate.observe,
            before_attempt=self.gate.wait,
            sleep=self.sleep,
            **kwargs,
        )
        self.gate.observe(response)
        if response.status_code >= 400:
            raise self._error(method, version, path, response)
        return response

    def get(self, version: Version, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON of a GET; ``None`` for 204 No Content."""
        return self._json(self.request("GET", version, path, params=params), "GET", version, path)

    def send_json(self, method: str, version: Version, path: str, body: Any) -> Any:
        return self._json(self.request(method, version, path, json_body=body), method, version, path)

    def v2_list(self, path: str, params: Mapping[str, Any] | None = None, *, page: int = 1) -> list[dict[str, Any]]:
        """One page of a v2 collection; an empty one may arrive as 204 and is ``[]``."""
        query = {**(params or {}), "page": page, "limit": self.settings.page_limit}
        items = self.get("v2", path, query)
        if items is None:
            return []
        if not isinstance(items, list):
            raise ConnectorError(f"BigCommerce GET /v2/{path.lstrip('/')} did not answer a list")
        return items

    def v2_all(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a v2 collection (page/limit until a short page)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            items = self.v2_list(path, params, page=page)
            out.extend(items)
            if len(items) < self.settings.page_limit:
                return out
            page += 1

    def v3_page(
        self, path: str, params: Mapping[str, Any] | None = None, *, page: int = 1
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of a v3 collection and whether ``meta.pagination`` says more pages follow."""
        query = {**(params or {}), "page": page, "limit": self.settings.page_limit}
        body = self.get("v3", path, query)
        if body is None:
            return [], False
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ConnectorError(f"BigCommerce GET /v3/{path.lstrip('/')} did not answer {{data: [...]}}")
        pagination = (body.get("meta") or {}).get("pagination") or {}
        current = int(pagination.get("current_page") or page)
        total_pages = pagination.get("total_pages")
        more = len(body["data"]) >= self.settings.page_limit if total_pages is None else current < int(total_pages)
        return body["data"], more

    def v3_all(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in self.v3_pages(path, params):
            out.extend(page)
        return out

    def v3_pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        page = 1
        while True:
            items, more = self.v3_page(path, params, page=page)
            yield items
            if not more or not items:
                return
            page += 1

    # ---------------------------------------------------------------- helpers

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _json(self, response: requests.Response, method: str, version: str, path: str) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return json.loads(response.content)
        except ValueError:
            raise ConnectorError(
                f"BigCommerce {method} /{version}/{path.lstrip('/')} answered HTTP {response.status_code} without JSON"
            ) from None

    def _error(self, method: str, version: str, path: str, response: requests.Response) -> ConnectorError:
        title = ""
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, list) and body and isinstance(body[0], dict):  # v2: [{"status": 401, "message": ...}]
            title = str(body[0].get("message") or "")
        elif isinstance(body, dict):  # v3: {"status": 401, "title": ..., "type": ..., "errors": {...}}
            title = str(body.get("title") or body.get("message") or "")
            errors = body.get("errors")
            if isinstance(errors, dict) and errors:
                title += " " + "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:5])
        status = response.status_code
        where = f"BigCommerce {method} /stores/{self.settings.store_hash}/{version}/{path.lstrip('/')}"
        detail = self._scrub(f"HTTP {status}: {title.strip() or response.reason or 'no error body'}")
        if status in (401, 403):
            log.warning("bigcommerce auth refused", extra={"status": status, "path": path})
            hint = " (check the API account's access token and OAuth scopes)"
            return BigCommerceAuthError(f"{where} refused the access token: {detail}{hint}", status=status)
        return BigCommerceError(f"{where} failed: {detail}", status=status)
