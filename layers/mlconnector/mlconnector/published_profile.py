"""The profile as deployed functions read it, and the part of it the webhook receiver needs.

``mlc profile push`` (and the local runtime) validate a profile once and store it in SSM as JSON,
with ``${VAR}`` references expanded and every default filled in (``Profile.model_dump_json``).
The functions that map and post validate that document again with pydantic (``profile.py``). The
webhook receiver, whose cold start a store waits on, reads only what it needs from it with the
standard library: per connection, whether it is enabled, the store type and settings, and the
names of the secrets that verify deliveries. A YAML file (development) is validated and turned into
the same document first.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlconnector.errors import ProfileError


def read_profile_text(location: str) -> tuple[str, str]:
    """(text, source label) for ``ssm:<parameter name>`` or a file path."""
    if location.startswith("ssm:"):
        from aws_lambda_powertools.utilities import parameters

        name = location.removeprefix("ssm:")
        return parameters.get_parameter(name, force_fetch=True), location
    path = Path(location)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        raise ProfileError(f"{location}: cannot read profile: {exc.strerror}") from None


def is_published(text: str) -> bool:
    """A published profile is a JSON object; a profile as written is YAML (which never starts with ``{``)."""
    return text.lstrip().startswith("{")


def published_document(text: str, source: str) -> Any:
    """The JSON of a published profile, not yet checked."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ProfileError(f"{source}: published profile is not valid JSON: {exc}") from None


@dataclass(frozen=True)
class WebhookConnection:
    """What the receiver knows of one connection."""

    name: str
    enabled: bool
    store_type: str
    store: Mapping[str, Any]  # the store settings, JSON form
    store_secret: str
    webhook_secret: str | None


def webhook_connections(text: str, source: str = "profile") -> dict[str, WebhookConnection]:
    """Connection name → what its webhooks need, from a published profile (or a YAML one, validated first)."""
    if is_published(text):
        document = published_document(text, source)
    else:
        from mlconnector.profile import parse_profile

        document = json.loads(parse_profile(text, source).model_dump_json())
    try:
        return {c["name"]: _webhook_connection(c) for c in document["connections"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{source}: not a published profile ({type(exc).__name__}: {exc})") from None


def _webhook_connection(data: Mapping[str, Any]) -> WebhookConnection:
    secrets = data["secrets"]
    connection = WebhookConnection(
        name=data["name"],
        enabled=data["enabled"],
        store_type=data["store"]["type"],
        store=data["store"],
        store_secret=secrets["store"],
        webhook_secret=secrets.get("webhook"),
    )
    expected = {"name": str, "enabled": bool, "store_type": str, "store_secret": str, "webhook_secret": str | None}
    for field, kind in expected.items():
        if not isinstance(getattr(connection, field), kind):
            raise ValueError(f"connection {connection.name!r}: {field} has the wrong type")
    return connection


#: How long a container serves a profile before it reads it again (seconds); a pushed profile reaches warm
#: containers within this age. One SSM read a container per period.
DEFAULT_PROFILE_MAX_AGE = 300.0


class RefreshedProfile[T]:
    """The profile at ``CONNECTOR_PROFILE`` as ``parse`` makes it, for one container: read again once it is
    ``CONNECTOR_PROFILE_MAX_AGE`` seconds old (default 300) and parsed again only when its text changed, so a
    pushed profile reaches warm containers without redeploying and an unchanged one costs one read a period.
    One that cannot be read or parsed again leaves the container on the profile it had (logged as an error)."""

    def __init__(self, parse: Callable[[str, str], T]) -> None:
        self._parse = parse
        self._lock = threading.Lock()
        self._served: dict[str, tuple[float, str, T]] = {}

    def __call__(self, location: str | None = None) -> T:
        location = location or os.environ.get("CONNECTOR_PROFILE")
        if not location:
            raise ProfileError("CONNECTOR_PROFILE is not set (a file path or ssm:<parameter name>)")
        max_age = float(os.environ.get("CONNECTOR_PROFILE_MAX_AGE", DEFAULT_PROFILE_MAX_AGE))
        with self._lock:
            served = self._served.get(location)
            if served and time.monotonic() - served[0] < max_age:
                return served[2]
            try:
                text, source = read_profile_text(location)
                parsed = served[2] if served and served[1] == text else self._parse(text, source)
            except Exception as exc:
                if not served:
                    raise
                from mlconnector.observability import logger  # keep serving what was read before, and say so

                logger.error("profile not read again; serving the one read before", extra={"reason": str(exc)})
                text, parsed = served[1], served[2]
            self._served[location] = (time.monotonic(), text, parsed)
            return parsed

    def cache_clear(self) -> None:
        with self._lock:
            self._served.clear()


#: The connections this receiver container serves.
current_webhook_connections = RefreshedProfile(webhook_connections)
