"""OAuth2 client-credentials bearer tokens for the ERP clients (PeopleSoft and Fusion).

A token is fetched on first use, cached until shortly before ``expires_in`` runs out, and
dropped when a resource answers 401 so the next call fetches a new one. Refused client
credentials are an ``AuthError`` (nothing is retried); anything else from the token endpoint is
transient. Messages name the endpoint's owner and the RFC 6749 error code, never the secret.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from mlconnector.errors import AuthError, TransientError
from mlconnector.http import RetryPolicy, send


@dataclass(frozen=True)
class _Token:
    access_token: str
    expires_at: float


def _oauth_error(response: requests.Response) -> str:
    """``, invalid_client`` (the RFC 6749 error code) for a message, never the description or body."""
    try:
        code = json.loads(response.content).get("error")
    except (ValueError, RecursionError, AttributeError):
        return ""
    return f", {code}" if isinstance(code, str) and code.replace("_", "").isalnum() and len(code) < 40 else ""


class ClientCredentials:
    """One client's token for one token endpoint; thread-safe (one fetch at a time)."""

    def __init__(
        self,
        who: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        session: requests.Session,
        policy: RetryPolicy,
        scope: str | None = None,
        max_early_refresh_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.who = who
        self._token_url = token_url
        self._client = (client_id, client_secret)
        self._session = session
        self._policy = policy
        self._scope = scope
        self._early = max_early_refresh_seconds
        self._sleep = sleep
        self._token: _Token | None = None
        self._lock = threading.Lock()

    def bearer(self) -> str:
        """A valid access token, fetched if none is cached or the cached one is about to expire."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._token.expires_at:
                self._token = self._fetch()
            return self._token.access_token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _fetch(self) -> _Token:
        data = {"grant_type": "client_credentials"}
        if self._scope:
            data["scope"] = self._scope
        response = send(
            self._session,
            "POST",
            self._token_url,
            policy=self._policy,
            sleep=self._sleep,
            data=data,
            auth=self._client,
            headers={"Accept": "application/json"},
        )
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"{self.who}: the OAuth2 token endpoint refused the client credentials "
                f"(HTTP {response.status_code}{_oauth_error(response)})"
            )
        if response.status_code != 200:
            raise TransientError(f"{self.who}: the OAuth2 token endpoint answered HTTP {response.status_code}")
        try:
            body = json.loads(response.content)
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 3600))
        except (ValueError, RecursionError, KeyError, TypeError, AttributeError):
            raise TransientError(f"{self.who}: the OAuth2 token endpoint answered without an access_token") from None
        return _Token(token, time.monotonic() + lifetime - min(self._early, lifetime / 10))
