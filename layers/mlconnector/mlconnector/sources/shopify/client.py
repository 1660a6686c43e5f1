"""The Shopify GraphQL Admin API client: access tokens (static, expiring with rotation, client
credentials), query-cost pacing and ``THROTTLED`` handling.

Every request goes through ``mlconnector.http.send`` (jittered retries on 5xx, timeouts and
connection errors; 429 waits exactly the ``Retry-After`` Shopify asked for). Shopify limits GraphQL
by calculated query cost: each answer's ``extensions.cost.throttleStatus`` says how many points the
shop's bucket holds and how fast it refills, and the client waits, before a query, until the bucket
holds the query's requested cost; a ``THROTTLED`` answer is retried after the time the bucket needs.
No token, refresh token or client secret ever appears in an exception or a log line: errors name the
shop and the HTTP status or GraphQL error code, and any text taken from a Shopify answer is scrubbed
of the credentials first.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from mlconnector.errors import AuthError, ConnectorError, TransientError
from mlconnector.http import RetryPolicy, new_session, retry_after_seconds, send
from mlconnector.sources.shopify.settings import ShopifySettings

log = logging.getLogger(__name__)

USER_AGENT = "ml-connector/0.1 (Shopify GraphQL Admin API)"
TOKEN_HEADER = "X-Shopify-Access-Token"  # noqa: S105 (a header name)
THROTTLED = "THROTTLED"
MAX_COST_EXCEEDED = "MAX_COST_EXCEEDED"
ACCESS_DENIED = "ACCESS_DENIED"
#: How many times one query is sent again after ``THROTTLED`` before the run gives up (transiently).
THROTTLED_ATTEMPTS = 8
REQUIRED_CREDENTIALS = {
    "static": ("access_token",),
    "expiring": ("access_token", "refresh_token", "client_id", "client_secret"),
    "client_credentials": ("client_id", "client_secret"),
}


class ShopifyError(ConnectorError):
    """A 4xx answer other than an authentication failure, or a GraphQL error (``code`` its extensions code)."""

    def __init__(self, message: str, *, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class QueryTooCostly(ShopifyError):
    """``MAX_COST_EXCEEDED``: the query's requested cost is over the single-query limit; ask for less."""

    def __init__(self, message: str, *, cost: int | None, limit: int | None) -> None:
        super().__init__(message, status=200, code=MAX_COST_EXCEEDED)
        self.cost = cost
        self.limit = limit


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


class CostBucket:
    """The client's view of the shop's query-cost bucket, from the last ``throttleStatus``, refilling over time."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self.monotonic = monotonic
        self.available = 0.0
        self.maximum: float | None = None
        self.restore_rate = 0.0
        self.seen_at = 0.0
        self.lock = threading.Lock()

    def observe(self, status: Mapping[str, Any] | None) -> None:
        if not status:
            return
        try:
            with self.lock:
                self.maximum = float(status["maximumAvailable"])
                self.available = float(status["currentlyAvailable"])
                self.restore_rate = float(status["restoreRate"])
                self.seen_at = self.monotonic()
        except (KeyError, TypeError, ValueError):
            return

    def wait_needed(self, cost: float) -> float:
        """Seconds until the bucket holds ``cost`` points (0 when it does, or when nothing is known yet)."""
        with self.lock:
            if self.maximum is None or self.restore_rate <= 0:
                return 0.0
            now = min(self.maximum, self.available + (self.monotonic() - self.seen_at) * self.restore_rate)
            return 0.0 if now >= min(cost, self.maximum) else (min(cost, self.maximum) - now) / self.restore_rate


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
    """Authenticated, cost-paced access to one shop's GraphQL Admin API."""

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
        self.bucket = CostBucket(monotonic)
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

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.throttled_seconds += seconds
            self.sleep(seconds)

    def post(self, body: Mapping[str, Any]) -> requests.Response:
        """One POST to ``graphql.json``; a 401 refreshes the token once, then raises ``ShopifyAuthError``."""
        url = self.settings.graphql_url
        for attempt in (1, 2):
            token = self.tokens.token()
            headers = {TOKEN_HEADER: token, "Accept": "application/json"}
            response = send(
                self.session,
                "POST",
                url,
                policy=self.policy,
                wait_hint=shopify_wait_hint,
                sleep=self.sleep,
                headers=headers,
                json=dict(body),
            )
            if response.status_code == 401 and attempt == 1 and self.tokens.can_refresh:
                log.info("shopify answered 401; refreshing the token once", extra={"shop": self.settings.shop_domain})
                self.tokens.refresh(refused=token)
                continue
            if response.status_code >= 400:
                raise self._error(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None, *, cost: int = 0) -> dict[str, Any]:
        """The ``data`` of one query, sent once the bucket holds ``cost`` (its requested cost, when known).

        ``THROTTLED`` is retried after the time the bucket needs to refill to the requested cost;
        ``MAX_COST_EXCEEDED`` (or a cost the bucket can never hold) raises ``QueryTooCostly``;
        ``ACCESS_DENIED`` raises ``ShopifyAuthError``.
        """
        body = {"query": query, "variables": dict(variables or {})}
        operation = query.split("(", 1)[0].split("{", 1)[0].split()[-1]
        for _ in range(THROTTLED_ATTEMPTS):
            self._wait(self.bucket.wait_needed(cost))
            answer = self._json(self.post(body))
            extensions = answer.get("extensions") or {}
            charge = extensions.get("cost") or {}
            self.bucket.observe(charge.get("throttleStatus"))
            errors = answer.get("errors") or []
            codes = {str((e.get("extensions") or {}).get("code") or "") for e in errors if isinstance(e, dict)}
            if THROTTLED in codes:
                cost = int(charge.get("requestedQueryCost") or cost)
                if self.bucket.maximum is not None and cost > self.bucket.maximum:
                    raise QueryTooCostly(
                        f"Shopify shop {self.settings.shop_domain} {operation} costs {cost}, more than the shop's "
                        f"bucket holds ({self.bucket.maximum:g})",
                        cost=cost,
                        limit=int(self.bucket.maximum),
                    )
                log.info("shopify throttled the query", extra={"shop": self.settings.shop_domain, "cost": cost})
                self._wait(max(self.bucket.wait_needed(cost), 0.05))
                continue
            if errors:
                raise self._graphql_error(operation, errors, codes)
            data = answer.get("data")
            if not isinstance(data, dict):
                raise ConnectorError(f"Shopify shop {self.settings.shop_domain} answered {operation} without data")
            return data
        raise TransientError(
            f"Shopify shop {self.settings.shop_domain} kept throttling {operation} ({THROTTLED_ATTEMPTS} attempts)"
        )

    # ---------------------------------------------------------------- helpers

    def _scrub(self, text: str) -> str:
        for secret in self.tokens.secrets():
            text = text.replace(secret, "***")
        return text

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ConnectorError(
                f"Shopify shop {self.settings.shop_domain} answered HTTP {response.status_code} without a GraphQL "
                "response; check shop_domain / base_url / api_version"
            )
        return body

    def _graphql_error(self, operation: str, errors: list[Any], codes: set[str]) -> ConnectorError:
        where = f"Shopify shop {self.settings.shop_domain} {operation}"
        first = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
        detail = self._scrub(str(first.get("message") or ""))[:300]
        if MAX_COST_EXCEEDED in codes:
            extensions = first.get("extensions") or {}
            return QueryTooCostly(
                f"{where} asked for more than one query may cost: {detail}",
                cost=extensions.get("cost"),
                limit=extensions.get("maxCost"),
            )
        if ACCESS_DENIED in codes:
            return ShopifyAuthError(f"{where} is forbidden: the app lacks an access scope. {detail}", status=403)
        code = next((c for c in sorted(codes) if c), "")
        return ShopifyError(f"{where} failed: {code or 'GraphQL error'} {detail}".strip(), status=200, code=code)

    def _error(self, response: requests.Response) -> ConnectorError:
        status = response.status_code
        try:
            errors = json.loads(response.content).get("errors", "")
        except (ValueError, AttributeError):
            errors = ""
        detail = self._scrub(json.dumps(errors) if not isinstance(errors, str) else errors)[:300]
        where = f"Shopify shop {self.settings.shop_domain} POST graphql.json"
        if status == 401:
            log.warning("shopify refused the access token", extra={"shop": self.settings.shop_domain})
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
