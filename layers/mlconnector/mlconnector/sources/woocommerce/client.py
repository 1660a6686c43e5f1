"""The WooCommerce REST (``wc/v3``) client: authentication, error classification, paging.

All requests go through ``mlconnector.http.send`` (retries with jittered backoff on 429/5xx,
timeouts and connection errors). Nothing here ever puts a consumer key or secret into an
exception or a log line: query-string auth URLs are never formatted, and every message built
from a store answer is scrubbed of the credentials before it is raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_QUERY, Client
from requests.auth import AuthBase, HTTPBasicAuth

from mlconnector.errors import AuthError, ConnectorError
from mlconnector.http import RetryPolicy, new_session, send
from mlconnector.sources.woocommerce.settings import WooCommerceSettings

log = logging.getLogger(__name__)

USER_AGENT = "ml-connector/0.1 (WooCommerce REST)"


class WooCommerceError(ConnectorError):
    """A 4xx answer other than an authentication failure; carries WooCommerce's error ``code``."""

    def __init__(self, message: str, *, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class WooCommerceAuthError(AuthError):
    """401/403: the store refused the key (wrong key/secret, signature, permissions)."""

    def __init__(self, message: str, *, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class _OAuth1(AuthBase):
    """OAuth 1.0a one-legged, as WooCommerce verifies it (``WC_REST_Authentication::check_oauth_signature``).

    Parameters travel in the query string (what WooCommerce's own client does); the JSON body is
    not signed. Each attempt gets a fresh nonce and timestamp because ``send`` prepares the request
    again for every retry. The base URI is the request URL, with the scheme WordPress sees.
    """

    def __init__(self, key: str, secret: str, signing_scheme: str | None) -> None:
        self._key = key
        self._secret = secret
        self._scheme = signing_scheme

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        client = Client(
            self._key,
            client_secret=self._secret,
            signature_method=SIGNATURE_HMAC_SHA256,
            signature_type=SIGNATURE_TYPE_QUERY,
        )
        real = urlsplit(request.url or "")
        signing_url = urlunsplit(real._replace(scheme=self._scheme)) if self._scheme else request.url
        signed, _, _ = client.sign(signing_url, http_method=request.method or "GET")
        request.url = urlunsplit(real._replace(query=urlsplit(signed).query))
        return request


class WooCommerceClient:
    """Thin, safe access to one store's REST API."""

    def __init__(
        self,
        settings: WooCommerceSettings,
        consumer_key: str,
        consumer_secret: str,
        *,
        session: requests.Session | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        if not consumer_key or not consumer_secret:
            raise ConnectorError("WooCommerce credentials need consumer_key and consumer_secret")
        self.settings = settings
        self._key = consumer_key
        self._secret = consumer_secret
        self.session = session or new_session(USER_AGENT)
        self.policy = retry_policy or RetryPolicy(read_timeout=settings.timeout_seconds)
        if settings.auth == "basic":
            self.session.auth = HTTPBasicAuth(consumer_key, consumer_secret)
        elif settings.auth == "oauth1":
            self.session.auth = _OAuth1(consumer_key, consumer_secret, settings.oauth_signing_scheme)

    def close(self) -> None:
        self.session.close()

    # ---------------------------------------------------------------- requests

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> requests.Response:
        """Send one request to ``{rest_root}{path}``; returns the 2xx response or raises a classified error."""
        url = self.settings.rest_root + path.lstrip("/")
        query = dict(params or {})
        if self.settings.auth == "query":
            query["consumer_key"] = self._key
            query["consumer_secret"] = self._secret
        kwargs: dict[str, Any] = {"params": query}
        if json_body is not None:
            kwargs["json"] = json_body
        response = send(self.session, method, url, policy=self.policy, **kwargs)
        if response.status_code >= 400:
            raise self._error(method, path, response)
        return response

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._json(self.request("GET", path, params=params), "GET", path)

    def send_json(self, method: str, path: str, body: Any, params: Mapping[str, Any] | None = None) -> Any:
        return self._json(self.request(method, path, params=params, json_body=body), method, path)

    def get_list(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], int | None]:
        """One page of a collection and the ``X-WP-Total`` the store reported with it."""
        response = self.request("GET", path, params=params)
        items = self._json(response, "GET", path)
        if not isinstance(items, list):
            raise ConnectorError(f"WooCommerce GET {path} did not answer a list")
        return items, _int_header(response, "X-WP-Total")

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Every page of a collection, following ``X-WP-TotalPages`` (page-number paging)."""
        page = 1
        while True:
            query = {**(params or {}), "page": page, "per_page": self.settings.per_page}
            response = self.request("GET", path, params=query)
            items = self._json(response, "GET", path)
            if not isinstance(items, list):
                raise ConnectorError(f"WooCommerce GET {path} did not answer a list")
            yield items
            total_pages = _int_header(response, "X-WP-TotalPages")
            if not items or (total_pages is not None and page >= total_pages):
                return
            if total_pages is None and len(items) < self.settings.per_page:
                return
            page += 1

    # ---------------------------------------------------------------- helpers

    def _scrub(self, text: str) -> str:
        for secret in (self._secret, self._key):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _json(self, response: requests.Response, method: str, path: str) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            raise ConnectorError(
                f"WooCommerce {method} /wp-json/{self.settings.api_version}/{path.lstrip('/')} answered "
                f"HTTP {response.status_code} without JSON; check base_url points at the WordPress home"
            ) from None

    def _error(self, method: str, path: str, response: requests.Response) -> ConnectorError:
        code, message = "", ""
        try:
            body = json.loads(response.content)
            if isinstance(body, dict):
                code = str(body.get("code") or "")
                message = str(body.get("message") or "")
        except ValueError:
            message = "no JSON error body"
        where = f"WooCommerce {method} /wp-json/{self.settings.api_version}/{path.lstrip('/')}"
        detail = self._scrub(f"HTTP {response.status_code} {code}: {message}".strip())
        status = response.status_code
        if status in (401, 403):
            hint = ""
            if code == "woocommerce_rest_cannot_view" and self.settings.auth in ("basic", "query"):
                hint = (
                    " (the key was not accepted at all: unknown consumer key, or WordPress does not see HTTPS "
                    "so Basic/query auth is never tried; use auth='oauth1' behind a TLS-terminating proxy)"
                )
            log.warning("woocommerce auth refused", extra={"status": status, "code": code, "path": path})
            return WooCommerceAuthError(f"{where} refused the credentials: {detail}{hint}", status=status, code=code)
        if status == 404 and code == "rest_no_route":
            detail += " (is WooCommerce active and the REST API reachable under /wp-json/?)"
        return WooCommerceError(f"{where} failed: {detail}", status=status, code=code)


def _int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
