"""AIS REST access: one token per target instance, one retry loop, one error classification.

Token lifecycle: ``POST /jderest/v2/tokenrequest`` issues a token bound to the device name;
it is cached (thread-safe), replaced before the configured lifetime ends, and replaced once
when AIS answers HTTP 444 (invalid token: the request was not processed, so resending is safe).
Refused credentials (401/403) raise ``AuthError`` naming the environment, never the password.
A token response is read as Oracle documents it: the token and the user's date format in
``userInfo``; ``userAuthorized`` is not a verdict on the credentials (Oracle's own example of a
successful token request answers it false) and is not read.

Classification of answers: JDE form errors (``{"CODE", "TITLE", ...}`` entries under an
``errors`` list) or a ``userDefinedErrorText`` are JDE refusing the data, whatever the HTTP
status (AIS reports failed orchestration steps as 500): ``JdeError`` (a ``ReviewError``).
Other 4xx are refusals too; 5xx without JDE errors, 429, timeouts and connection errors are
transient and retried with jittered backoff.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from mlconnector.errors import AuthError, ReviewError, TransientError
from mlconnector.http import (
    RetryableResponse,
    is_retryable,
    new_session,
    retry_after_seconds,
    send,
    wait_strategy,
)
from mlconnector.targets.jdedwards.dates import JdeDateFormat
from mlconnector.targets.jdedwards.settings import JdeSettings

log = logging.getLogger(__name__)

TOKEN_PATH = "/jderest/v2/tokenrequest"  # noqa: S105 (a path, not a secret)
LOGOUT_PATH = "/jderest/v2/tokenrequest/logout"
DATA_SERVICE_PATH = "/jderest/v2/dataservice"
ORCHESTRATOR_PATH = "/jderest/v2/orchestrator"

INVALID_TOKEN = 444
#: Texts by which a JDE error says the record exists already (the orchestration's duplicate check).
DUPLICATE_MARKERS = ("already exists", "duplicate")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class JdeMessage:
    code: str
    title: str
    description: str = ""

    @property
    def text(self) -> str:
        return f"{self.title} ({self.code})" if self.code else self.title


class JdeError(ReviewError):
    """JD Edwards refused the request; the message is JDE's own error text."""

    def __init__(self, what: str, status: int, messages: list[JdeMessage]) -> None:
        first = messages[0].text if messages else f"HTTP {status}"
        super().__init__(
            f"JD Edwards {what}: {first}",
            detail={"status": status, "errors": [{"code": m.code, "title": m.title} for m in messages]},
        )
        self.status = status
        self.messages = messages

    def is_duplicate(self) -> bool:
        return any(marker in m.title.lower() for m in self.messages for marker in DUPLICATE_MARKERS)


def _walk_errors(node: Any) -> Iterator[JdeMessage]:
    if isinstance(node, dict):
        for key, item in node.items():
            if key == "errors" and isinstance(item, list):
                for entry in item:
                    if isinstance(entry, dict) and ("TITLE" in entry or "CODE" in entry):
                        yield JdeMessage(
                            str(entry.get("CODE", "")).strip(),
                            str(entry.get("TITLE") or entry.get("MOBILE") or "").strip(),
                            str(entry.get("DESC", "")).strip()[:300],
                        )
            else:
                yield from _walk_errors(item)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_errors(item)


def jde_messages(body: Any) -> list[JdeMessage]:
    """JDE's own errors in an AIS answer: form errors anywhere in it, else a user-defined error text."""
    messages = list(_walk_errors(body))
    if not messages and isinstance(body, dict):
        custom = str(body.get("userDefinedErrorText") or "").strip()
        if custom:
            messages.append(JdeMessage("", custom))
    return messages


def service_error_text(body: Any) -> str:
    """The message of a ServiceErrorResponse (or of a plain-text body), shortened."""
    if isinstance(body, dict):
        for key in ("message", "errorText", "exception"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:300]
        return ""
    return str(body or "").strip()[:300]


def parse_body(response: requests.Response) -> Any:
    """The JSON body with numbers as ``Decimal`` (never float), or the text when it is not JSON."""
    try:
        return json.loads(response.text, parse_float=Decimal) if response.content else {}
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser reads
        return response.text


@dataclass
class _Token:
    value: str
    issued: float
    #: The AIS user's date format as the token response names it (None when it names none).
    date_format: JdeDateFormat | None


class AisClient:
    """Token-authenticated JSON calls to one AIS server."""

    def __init__(
        self,
        settings: JdeSettings,
        credentials: dict[str, str],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        missing = [k for k in ("username", "password") if not credentials.get(k)]
        if missing:
            raise AuthError(f"JD Edwards credentials for environment {settings.environment} lack {', '.join(missing)}")
        self.settings = settings
        self._username = credentials["username"]
        self._password = credentials["password"]
        self._sleep = sleep
        self._clock = clock
        self._session = new_session("ml-connector/0.1 (jdedwards)", one_request_at_a_time=True)
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self._date_override = settings.date_override
        self.policy = settings.retry_policy
        self._single = self.policy.model_copy(update={"attempts": 1})
        self.token_requests = 0

    # -- token ------------------------------------------------------------------------------------

    def _who(self) -> str:
        return f"JD Edwards AIS (environment {self.settings.environment}, role {self.settings.role})"

    def _fetch_token(self) -> _Token:
        body = {
            "username": self._username,
            "password": self._password,
            "deviceName": self.settings.device_name,
            "environment": self.settings.environment,
            "role": self.settings.role,
        }
        response = send(
            self._session,
            "POST",
            self.settings.base_url + TOKEN_PATH,
            json=body,
            policy=self.policy,
            sleep=self._sleep,
        )
        self.token_requests += 1
        data = parse_body(response)
        if response.status_code in (401, 403):
            text = service_error_text(data)
            detail = f": {text}" if text else ""
            raise AuthError(f"{self._who()} refused the credentials (HTTP {response.status_code}){detail}")
        if not response.ok:
            raise TransientError(f"{self._who()} token request answered HTTP {response.status_code}")
        user_info = data.get("userInfo") if isinstance(data, dict) else None
        user_info = user_info if isinstance(user_info, dict) else {}
        token = str(user_info.get("token") or "")
        if not token:
            raise TransientError(f"{self._who()} token response holds no token")
        date_format = JdeDateFormat.from_user_info(user_info)
        log.info(
            "JD Edwards token issued",
            extra={
                "environment": self.settings.environment,
                "user_date_format": date_format.pattern if date_format else None,
            },
        )
        return _Token(token, self._clock(), date_format)

    def _current(self) -> _Token:
        with self._lock:
            if self._token is None or self._clock() - self._token.issued >= self.settings.refresh_after_seconds:
                self._token = self._fetch_token()
            return self._token

    def token(self) -> str:
        """The current token, requesting one when none is cached or the cached one is near its end."""
        return self._current().value

    def date_format(self) -> JdeDateFormat:
        """The format of dates sent to and read from AIS: the profile's, else the token user's own."""
        if self._date_override is not None:
            return self._date_override
        user_format = self._current().date_format
        if user_format is None:
            raise TransientError(
                f"{self._who()} token response names no date format for the user "
                "(userInfo.simpleDateFormat, or dateFormat and dateSeperator); set date_format in the profile"
            )
        return user_format

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (unless another thread already replaced it)."""
        with self._lock:
            if self._token is not None and self._token.value == token:
                self._token = None

    # -- calls ------------------------------------------------------------------------------------

    def post(self, path: str, body: dict[str, Any], *, what: str, retry: bool = True) -> dict[str, Any]:
        """POST JSON with the token; ``retry=False`` sends once (for calls that are not idempotent)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.attempts if retry else 1),
            wait=wait_strategy(self.policy),
            retry=retry_if_exception(is_retryable),
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(self._attempt, path, body, what)

    def orchestrate(self, name: str, inputs: dict[str, Any], *, retry: bool = True) -> dict[str, Any]:
        return self.post(f"{ORCHESTRATOR_PATH}/{name}", inputs, what=f"orchestration {name}", retry=retry)

    def browse(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.post(DATA_SERVICE_PATH, request, what=f"data service {request.get('targetName', '')}")

    def _attempt(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        for refreshed in (False, True):
            token = self.token()
            response = send(
                self._session,
                "POST",
                self.settings.base_url + path,
                json=body,
                headers={"jde-AIS-Auth": token, "jde-AIS-Auth-Device": self.settings.device_name},
                policy=self._single,
                retry_statuses=(),
                sleep=self._sleep,
            )
            if response.status_code != INVALID_TOKEN:
                return self._classify(response, what)
            self.invalidate(token)
            if refreshed:
                raise AuthError(f"{self._who()} rejected a freshly issued token on {what} (HTTP 444)")
            log.info("JD Edwards token invalid (HTTP 444); requesting a new one", extra={"call": what})
        raise AssertionError("unreachable")

    def _classify(self, response: requests.Response, what: str) -> dict[str, Any]:
        status = response.status_code
        body = parse_body(response)
        messages = jde_messages(body)
        if 200 <= status < 300:
            if messages and isinstance(body, dict) and str(body.get("jde__status", "")).upper() == "ERROR":
                raise JdeError(what, status, messages)
            if not isinstance(body, dict):
                raise TransientError(f"JD Edwards {what} answered HTTP {status} without a JSON object")
            return body
        if messages:
            raise JdeError(what, status, messages)
        text = service_error_text(body)
        if status in RETRY_STATUSES:
            error = RetryableResponse(response, retry_after_seconds(response))
            if text:
                error.args = (f"{error.args[0]}: {text}",)
            raise error
        if status in (401, 403):
            raise AuthError(f"{self._who()} refused {what} (HTTP {status}){': ' + text if text else ''}")
        if status == 404:
            raise TransientError(f"JD Edwards {what} not found (HTTP 404); check the connection profile")
        if 400 <= status < 500:
            raise JdeError(what, status, [JdeMessage("", text or f"HTTP {status}")])
        raise TransientError(f"JD Edwards {what} answered HTTP {status}{': ' + text if text else ''}")

    def close(self) -> None:
        """Log the token out (best effort) and release the connection pool."""
        with self._lock:
            token, self._token = self._token, None
        try:
            if token is not None:
                send(
                    self._session,
                    "POST",
                    self.settings.base_url + LOGOUT_PATH,
                    json={"token": token.value},
                    headers={"jde-AIS-Auth-Device": self.settings.device_name},
                    policy=self._single,
                    retry_statuses=(),
                    sleep=self._sleep,
                )
        except TransientError as exc:
            log.info("JD Edwards logout failed: %s", exc)
        finally:
            self._session.close()
