"""The Shopify Admin REST client: access tokens (static, expiring with rotation, client credentials),
leaky-bucket pacing, 429 handling and ``Link`` cursor paging.

Every request goes through ``mlconnector.http.send`` (jittered retries on 5xx, timeouts and
connection errors; 429 waits exactly the ``Retry-After`` Shopify asked for). No token, refresh
token or client secret ever appears in an exception or a log line: errors name the shop and the
HTTP status, and any text taken from a Shopify answer is scrubbed of the credentials first.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from mlconnector.errors import AuthError, ConnectorError, TransientError
from mlconnector.http import RetryPolicy, new_session, retry_after_seconds, send
from mlconnector.sources.shopify.settings import ShopifySettings

log = logging.getLogger(__name__)

USER_AGENT = "ml-connector/0.1 (Shopify Admin REST)"
CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
TOKEN_HEADER = "X-Shopify-Access-Token"  # noqa: S105 (a header name)
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_PAGE_INFO = re.compile(r"[?&]page_info=([^&#]+)")
REQUIRED_CREDENTIALS = {
    "static": ("access_token",),
    "expiring": ("access_token", "refresh_token", "client_id", "client_secret"),
    "client_credentials": ("client_id", "client_secret"),
}


class ShopifyError(ConnectorError):
    """A 4xx answer other than an authentication failure (404 unknown record, 422 invalid, ...)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class ShopifyAuthError(AuthError):
    """The shop refused the credentials even after one refresh (or a refresh itself failed)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def shopify_wait_hint(response: requests.Response) -> float | None:
    """Shopify's ``Retry-After`` on 429 (seconds, default 1 s as its own clients assume)."""
    wait = retry_after_seconds(response)
    if wait is None and response.status_code == 429:
        return 1.0
    return wait


def next_page_info(link_header: str | None) -> str | None:
    """The raw (still URL-encoded) ``page_info`` of the ``rel="next"`` link, if any."""
    for part in (link_header or "").split(","):
        match = _NEXT_LINK.search(part)
        if match:
            info = _PAGE_INFO.search(match.group(1))
            return info.group(1) if info else None
    return None


class LeakyBucket:
    """The client's view of Shopify's REST bucket, from the last ``used/max`` header, leaking over time."""

    def __init__(self, leak_rate: float, headroom: int, monotonic: Callable[[], float]) -> None:
        self.leak_rate = leak_rate
        self.headroom = headroom
        self.monotonic = monotonic
        self.used = 0.0
        self.size: int | None = None
        self.seen_at = 0.0
        self.lock = threading.Lock()

    def observe(self, header: str | None) -> None:
        if not header:
            return
        used, _, size = header.partition("/")
        try:
            with self.lock:
                self.used, self.size, self.seen_at = float(used), int(size), self.monotonic()
        except ValueError:
            return

    def wait_needed(self) -> float:
        """Seconds to wait so that one more call leaves ``headroom`` free; 0 when there is room."""
        with self.lock:
            if self.size is None:
                return 0.0
            level = max(0.0, self.used - (self.monotonic() - self.seen_at) * self.leak_rate)
            allowed = max(1.0, self.size - self.headroom - 1)
            return 0.0 if level <= allowed else (level - allowed) / self.leak_rate


class TokenManager:
    """Holds the current access token and gets a new one when it expires or is refused.

    ``expiring``: refresh-token grant (JSON); the refresh token rotates on every use, so the new
    pair is written back to Secrets Manager (``token_secret_name``) before it is relied upon.
    ``client_credentials``: a new token from the client-credentials grant (form-encoded).
    """

    def __init__(
        self,
        settings: ShopifySettings,
        credentials: Mapping[str, str],
        session: requests.Session,
        policy: RetryPolicy,
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        secrets_client: Callable[[], Any],
    ) -> None:
        missing = [k for k in REQUIRED_CREDENTIALS[settings.token_mode] if not credentials.get(k)]
        if missing:
            raise ConnectorError(
                f"Shopify shop {settings.shop_domain}: token_mode={settings.token_mode!r} needs credentials "
                f"{', '.join(missing)}"
            )
        self.settings = settings
        self.mode = settings.token_mode
        self._creds = dict(credentials)
        self._session = session
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._secrets_client = secrets_client
        self._lock = threading.RLock()
        self._token: str | None = self._creds.get("access_token") or None
        self._expires_at: datetime | None = _parse_time(self._creds.get("access_token_expires_at"))
        self._unsaved = False
        self.refreshes = 0

    @property
    def can_refresh(self) -> bool:
        return self.mode in ("expiring", "client_credentials")

    def secrets(self) -> tuple[str, ...]:
        with self._lock:
            values = [self._token, *(self._creds.get(k) for k in ("refresh_token", "client_secret", "access_token"))]
        return tuple(v for v in values if v)

    def token(self) -> str:
        """The access token to send, refreshed first when it is missing or about to expire."""
        with self._lock:
            if self._unsaved:
                self._save()
            margin = timedelta(seconds=self.settings.token_refresh_margin_seconds)
            stale = self._expires_at is not None and self._clock() >= self._expires_at - margin
            if self._token is None or (stale and self.can_refresh):
                self.refresh()
            assert self._token is not None
            return self._token

    def refresh(self, refused: str | None = None) -> None:
        """Get a new access token; ``refused`` is the token the shop just answered 401 to.

        Another thread may have refreshed already: then its token is used instead of refreshing twice.
        """
        with self._lock:
            if refused is not None and self._token != refused:
                return
            if self.mode == "expiring":
                self._refresh_token_grant()
            elif self.mode == "client_credentials":
                self._client_credentials_grant()
            else:
                raise ShopifyAuthError(
                    f"Shopify shop {self.settings.shop_domain} refused the static access token (HTTP 401); "
                    "the app was uninstalled or the token revoked: reinstall and update the store secret",
                    status=401,
                )
            self.refreshes += 1

    def _grant(self, what: str, **kwargs: Any) -> dict[str, Any]:
        url = self.settings.token_url
        response = send(
            self._session, "POST", url, policy=self._policy, wait_hint=shopify_wait_hint, sleep=self._sleep, **kwargs
        )
        if response.status_code >= 400:
            log.warning(
                "shopify token grant refused",
                extra={"shop": self.settings.shop_domain, "grant": what, "status": response.status_code},
            )
            raise ShopifyAuthError(
                f"Shopify shop {self.settings.shop_domain} refused the {what} grant (HTTP {response.status_code}); "
                "the app needs to be re-authorised or its client credentials updated",
                status=response.status_code,
            )
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise TransientError(
                f"Shopify shop {self.settings.shop_domain} answered the {what} grant without an access token"
            ) from None
        self._token = token
        expires_in = body.get("expires_in")
        self._expires_at = self._clock() + timedelta(seconds=int(expires_in)) if expires_in else None
        return body

    def _refresh_token_grant(self) -> None:
        body = self._grant(
            "refresh_token",
            json={
                "client_id": self._creds["client_id"],
                "client_secret": self._creds["client_secret"],
                "grant_type": "refresh_token",
                "refresh_token": self._creds["refresh_token"],
            },
        )
        if body.get("refresh_token"):
            self._creds["refresh_token"] = str(body["refresh_token"])
        self._creds["access_token"] = self._token or ""
        self._unsaved = True
        self._save()
        log.info("shopify access token refreshed", extra={"shop": self.settings.shop_domain})

    def _client_credentials_grant(self) -> None:
        self._grant(
            "client_credentials",
            data={
                "grant_type": "client_credentials",
                "client_id": self._creds["client_id"],
                "client_secret": self._creds["client_secret"],
            },
        )
        log.info("shopify client-credentials token obtained", extra={"shop": self.settings.shop_domain})

    def _save(self) -> None:
        """Write the rotated pair back into the token secret, keeping the secret's other keys.

        A failed write is retried before the next request: the old refresh token stops working once
        the new one is used, so the new one must reach the secret.
        """
        name = self.settings.token_secret_name
        try:
            sm = self._secrets_client()
            try:
                current = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
                if not isinstance(current, dict):
                    current = {}
            except sm.exceptions.ResourceNotFoundException:
                current = {}
            current.update(
                access_token=self._creds["access_token"],
                refresh_token=self._creds["refresh_token"],
                access_token_expires_at=self._expires_at.isoformat() if self._expires_at else "",
            )
            sm.put_secret_value(SecretId=name, SecretString=json.dumps(current))
        except Exception as exc:
            log.error(
                "could not save the rotated Shopify refresh token",
                extra={"shop": self.settings.shop_domain, "secret": name, "error": type(exc).__name__},
            )
            return
        self._unsaved = False


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class ShopifyClient:
    """Authenticated, paced access to one shop's Admin REST API."""

    def __init__(
        self,
        settings: ShopifySettings,
        credentials: Mapping[str, str],
        *,
        session: requests.Session | None = None,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        secrets_client: Callable[[], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.session = session or new_session(USER_AGENT)
        self.policy = retry_policy or RetryPolicy(read_timeout=settings.timeout_seconds)
        self.sleep = sleep
        self.bucket = LeakyBucket(settings.leak_rate_per_second, settings.bucket_headroom, monotonic)
        self.throttled_seconds = 0.0
        self.tokens = TokenManager(
            settings,
            credentials,
            self.session,
            self.policy,
            clock=clock or (lambda: datetime.now(UTC)),
            sleep=sleep,
            secrets_client=secrets_client or _default_secrets_client,
        )

    def close(self) -> None:
        self.session.close()

    def _pace(self) -> None:
        wait = self.bucket.wait_needed()
        if wait > 0:
            self.throttled_seconds += wait
            self.sleep(wait)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | str | None = None,
        json_body: Any = None,
    ) -> requests.Response:
        """One request to ``{api_root}{path}``; a 401 refreshes the token once, then raises ``ShopifyAuthError``."""
        url = self.settings.api_root + path.lstrip("/")
        if isinstance(params, str):  # a cursor page: the query string is sent verbatim
            url, params = f"{url}?{params}", None
        for attempt in (1, 2):
            token = self.tokens.token()
            kwargs: dict[str, Any] = {"headers": {TOKEN_HEADER: token, "Accept": "application/json"}}
            if params:
                kwargs["params"] = dict(params)
            if json_body is not None:
                kwargs["json"] = json_body
            response = send(
                self.session,
                method,
                url,
                policy=self.policy,
                wait_hint=shopify_wait_hint,
                before_attempt=self._pace,
                sleep=self.sleep,
                **kwargs,
            )
            self.bucket.observe(response.headers.get(CALL_LIMIT_HEADER))
            if response.status_code == 401 and attempt == 1 and self.tokens.can_refresh:
                log.info("shopify answered 401; refreshing the token once", extra={"shop": self.settings.shop_domain})
                self.tokens.refresh(refused=token)
                continue
            if response.status_code >= 400:
                raise self._error(method, path, response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._json(self.request("GET", path, params=params), "GET", path)

    def send_json(self, method: str, path: str, body: Any) -> Any:
        return self._json(self.request(method, path, json_body=body), method, path)

    def pages(self, path: str, key: str, params: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Every page of a collection, following ``Link: <...page_info=...>; rel="next"``.

        After the first page only ``limit`` and the opaque ``page_info`` are sent (Shopify rejects
        filters next to a cursor, the cursor carries them).
        """
        limit = int(params.get("limit", self.settings.page_limit))
        query: Mapping[str, Any] | str = {**params, "limit": limit}
        while True:
            response = self.request("GET", path, params=query)
            body = self._json(response, "GET", path)
            items = body.get(key) if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise ConnectorError(f"Shopify GET {path} did not answer a {key!r} list")
            yield items
            page_info = next_page_info(response.headers.get("Link"))
            if not page_info:
                return
            query = f"limit={limit}&page_info={page_info}"

    # ---------------------------------------------------------------- helpers

    def _scrub(self, text: str) -> str:
        for secret in self.tokens.secrets():
            text = text.replace(secret, "***")
        return text

    def _json(self, response: requests.Response, method: str, path: str) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            raise ConnectorError(
                f"Shopify shop {self.settings.shop_domain} {method} {path} answered HTTP {response.status_code} "
                "without JSON; check shop_domain / base_url"
            ) from None

    def _error(self, method: str, path: str, response: requests.Response) -> ConnectorError:
        status = response.status_code
        try:
            errors = json.loads(response.content).get("errors", "")
        except (ValueError, AttributeError):
            errors = ""
        detail = self._scrub(json.dumps(errors) if not isinstance(errors, str) else errors)[:300]
        where = f"Shopify shop {self.settings.shop_domain} {method} {path}"
        if status == 401:
            log.warning("shopify refused the access token", extra={"shop": self.settings.shop_domain, "path": path})
            when = " after one refresh" if self.tokens.can_refresh else ""
            return ShopifyAuthError(
                f"{where} refused the access token (HTTP 401){when}; the app was uninstalled or its token revoked: "
                "re-authorise it and update the store secret",
                status=status,
            )
        if status == 403:
            return ShopifyAuthError(
                f"{where} is forbidden (HTTP 403): the app lacks an access scope. {detail}", status=status
            )
        return ShopifyError(f"{where} failed: HTTP {status} {detail}".strip(), status=status)


def _default_secrets_client() -> Any:
    from mlconnector.aws.clients import client

    return client("secretsmanager")
