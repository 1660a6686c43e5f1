"""HTTP access to an Oracle Fusion pod: authentication, retries, error translation, collections.

One session per target. Every request carries ``REST-Framework-Version``; OAuth2 client-credential
tokens are cached until shortly before they expire and refreshed once when a resource answers 401.
429/5xx and timeouts are retried with jittered backoff (honouring Retry-After). A create that may
have reached Fusion before failing is never blindly re-sent: ``before_retry`` lets the caller look
the document up by its natural key first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any
from urllib.parse import urlparse

import requests
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from mlconnector.errors import AuthError, ReviewError, TransientError
from mlconnector.http import (
    RETRYABLE_STATUSES,
    RetryPolicy,
    is_retryable,
    new_session,
    send,
    wait_strategy,
)
from mlconnector.oauth2 import ClientCredentials
from mlconnector.targets.base import required_credentials
from mlconnector.targets.fusion.mapping import RESOURCE_ITEM, dumps, loads
from mlconnector.targets.fusion.settings import FusionSettings

log = logging.getLogger(__name__)

MAX_ERROR_TEXT = 500


def error_text(response: requests.Response) -> str:
    """Fusion's own error message: ``o:errorDetails`` (framework >= 4 JSON errors) or the plain-text body."""
    text = ""
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        try:
            body = loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict):
            details = body.get("o:errorDetails") or []
            messages = [str(d.get("detail", "")) for d in details if isinstance(d, dict) and d.get("detail")]
            text = "; ".join(messages) or str(body.get("detail") or body.get("title") or "")
    else:
        text = response.text.strip()
    text = " ".join(text.split())
    return text[:MAX_ERROR_TEXT] if text else f"HTTP {response.status_code}"


class FusionClient:
    """Authenticated, retried JSON calls to one Fusion pod's REST resources."""

    def __init__(
        self,
        settings: FusionSettings,
        credentials: dict[str, str],
        *,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        missing = [name for name in required_credentials(settings.auth) if not credentials.get(name)]
        if missing:
            raise AuthError(f"Fusion pod {self._host(settings)}: credentials for auth={settings.auth} lack {missing}")
        self.settings = settings
        self._credentials = {name: credentials[name] for name in required_credentials(settings.auth)}
        self.session = session or new_session("ml-connector/0.1 (fusion)", one_request_at_a_time=True)
        self.session.headers["REST-Framework-Version"] = settings.rest_framework_version
        self.session.headers["Accept"] = "application/json"
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"FusionClient({self.who})"

    @staticmethod
    def _host(settings: FusionSettings) -> str:
        return urlparse(settings.base_url).netloc

    @property
    def who(self) -> str:
        return f"Fusion pod {self._host(self.settings)} ({self.settings.auth} auth)"

    @property
    def policy(self) -> RetryPolicy:
        return self.settings.retry_policy

    # -- authentication ---------------------------------------------------------------------

    @cached_property
    def _token(self) -> ClientCredentials:
        assert self.settings.token_url is not None
        return ClientCredentials(
            self.who,
            self.settings.token_url,
            self._credentials["client_id"],
            self._credentials["client_secret"],
            session=self.session,
            policy=self.policy,
            scope=self.settings.scope,
            max_early_refresh_seconds=60.0,
            sleep=self.sleep,
        )

    def _auth(self) -> dict[str, Any]:
        if self.settings.auth == "oauth2":
            return {"headers": {"Authorization": f"Bearer {self._token.bearer()}"}}
        return {"auth": (self._credentials["username"], self._credentials["password"])}

    # -- sending ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        raw: bytes | None = None,
        content_type: str = RESOURCE_ITEM,
        extra_headers: dict[str, str] | None = None,
        retry_statuses: frozenset[int] = RETRYABLE_STATUSES,
        before_retry: Callable[[], None] | None = None,
    ) -> requests.Response:
        """Send with retries; a 401 refreshes the OAuth2 token once, then raises ``AuthError``.

        Returns every other response (the caller classifies 4xx). ``before_retry`` runs before
        each attempt after the first (a create's "did the last attempt commit?" lookup).
        """
        single = self.policy.model_copy(update={"attempts": 1})
        refreshed = False
        attempts = 0
        data = dumps(body) if body is not None else raw

        def attempt() -> requests.Response:
            nonlocal refreshed, attempts
            attempts += 1
            if attempts > 1 and before_retry is not None:
                before_retry()
            while True:
                auth = self._auth()
                headers = auth.pop("headers", {})
                if data is not None:
                    headers["Content-Type"] = content_type
                headers.update(extra_headers or {})
                response = send(
                    self.session,
                    method,
                    url,
                    policy=single,
                    retry_statuses=retry_statuses,
                    params=params,
                    data=data,
                    headers=headers,
                    **auth,
                )
                if response.status_code == 401 and self.settings.auth == "oauth2" and not refreshed:
                    refreshed = True
                    self._token.invalidate()
                    log.info("%s: HTTP 401, refreshing the OAuth2 token once", self.who)
                    continue
                if response.status_code == 401:
                    raise AuthError(f"{self.who} refused the credentials (HTTP 401)")
                if response.status_code == 403:
                    raise AuthError(
                        f"{self.who}: the integration user lacks the privilege for {method} {_path(url)} (HTTP 403)"
                    )
                return response

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=wait_strategy(self.policy),
            retry=retry_if_exception(is_retryable),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(attempt)

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.request("GET", url, params=params)
        if response.status_code == 404:
            raise TransientError(f"{self.who}: {_path(url)} not found (HTTP 404); check resource_version")
        if response.status_code >= 400:
            raise TransientError(
                f"{self.who}: GET {_path(url)} answered HTTP {response.status_code}: {error_text(response)}"
            )
        try:
            body = loads(response.content)
        except ValueError:
            raise TransientError(f"{self.who}: GET {_path(url)} answered non-JSON content") from None
        if not isinstance(body, dict):
            raise TransientError(f"{self.who}: GET {_path(url)} answered an unexpected JSON shape")
        return body

    def iter_items(
        self, url: str, *, q: str | None = None, fields: str | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a collection, page by page (``offset``/``limit`` until ``hasMore`` is false)."""
        page = limit or self.settings.page_size
        offset = 0
        while True:
            params: dict[str, Any] = {"limit": page, "offset": offset, "onlyData": "true", "totalResults": "true"}
            if q:
                params["q"] = q
            if fields:
                params["fields"] = fields
            body = self.get_json(url, params)
            items = body.get("items") or []
            yield from items
            if not body.get("hasMore") or not items:
                return
            offset += len(items)

    def find_items(self, url: str, q: str, *, limit: int = 25) -> list[dict[str, Any]]:
        """The first page of a filtered collection (lookups that expect zero or a few rows)."""
        params = {"q": q, "limit": limit, "offset": 0, "onlyData": "true"}
        return list(self.get_json(url, params).get("items") or [])

    def find_by_finder(self, url: str, finder: str, conditions: dict[str, str], *, limit: int = 25) -> list[dict]:
        """The first page of a finder search (``finder=Name;Attr=value``); [] when a value cannot be written there."""
        if not all(finder_value(value) for value in conditions.values()):
            return []
        spec = ";".join([finder, *(f"{name}={value}" for name, value in conditions.items())])
        params = {"finder": spec, "limit": limit, "offset": 0, "onlyData": "true"}
        return list(self.get_json(url, params).get("items") or [])

    def post_item(
        self, url: str, body: dict[str, Any], *, before_retry: Callable[[], None] | None = None
    ) -> requests.Response:
        """POST a new resource item (``application/vnd.oracle.adf.resourceitem+json``)."""
        return self.request("POST", url, body=body, before_retry=before_retry)

    def close(self) -> None:
        self.session.close()


def finder_value(value: str) -> bool:
    """Whether ``value`` can be written as a finder variable (``finder=Name;Attr=value``) unambiguously."""
    return bool(value) and not any(c in value for c in ';,="')


def _path(url: str) -> str:
    return urlparse(url).path


def refused(who: str, what: str, response: requests.Response) -> ReviewError:
    """Fusion refused the data (HTTP 400/409/422): a ReviewError carrying Fusion's own message."""
    text = error_text(response)
    return ReviewError(f"{who} refused {what}: {text}", detail={"status": response.status_code, "fusion": text})
