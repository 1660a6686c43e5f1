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
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlconnector.errors import ProfileError


def read_profile_text(location: str) -> tuple[str, str]:
    """(text, source label) for ``ssm:<parameter name>`` or a file path."""
    if location.startswith("ssm:"):
        from aws_lambda_powertools.utilities import parameters

        name = location.removeprefix("ssm:")
        return parameters.get_parameter(name, max_age=300), location
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


@lru_cache(maxsize=4)
def current_webhook_connections(location: str | None = None) -> dict[str, WebhookConnection]:
    """The connections this receiver container serves (``CONNECTOR_PROFILE``), read once per container."""
    location = location or os.environ.get("CONNECTOR_PROFILE")
    if not location:
        raise ProfileError("CONNECTOR_PROFILE is not set (a file path or ssm:<parameter name>)")
    text, source = read_profile_text(location)
    return webhook_connections(text, source)
