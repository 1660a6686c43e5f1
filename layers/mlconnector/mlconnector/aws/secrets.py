"""Credentials from Secrets Manager, cached per container by Powertools parameters."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from mlconnector.errors import ProfileError


def get_credentials(name: str, max_age: int = 300) -> dict[str, str]:
    """A JSON secret as a dict of strings. The error names the secret, never its value."""
    from aws_lambda_powertools.utilities import parameters

    try:
        value: Any = parameters.get_secret(name, transform="json", max_age=max_age)
    except parameters.TransformParameterError:
        raise ProfileError(f"secret {name} is not a JSON object") from None
    except parameters.GetParameterError as exc:
        raise ProfileError(f"secret {name} cannot be read: {type(exc.__cause__ or exc).__name__}") from None
    if not isinstance(value, dict):
        raise ProfileError(f"secret {name} is not a JSON object")
    return {str(k): str(v) for k, v in value.items()}


def store_credentials(store_secret: str, webhook_secret: str | None) -> dict[str, str]:
    """A store's API credentials, with its webhook signing secret merged in when that is kept apart."""
    credentials = get_credentials(store_secret)
    if webhook_secret:
        credentials = {**credentials, **get_credentials(webhook_secret)}
    return credentials


class BuiltFromCredentials:
    """Adapters by connection name, each rebuilt when its credentials change (rotation is picked up
    within the secret cache's age) or its settings are another object (a profile read again and changed);
    a replaced adapter is closed if it can be."""

    def __init__(self) -> None:
        self._built: dict[str, tuple[int, object, Any]] = {}
        self._lock = threading.Lock()

    def get(self, name: str, credentials: Mapping[str, str], build: Callable[[], Any], settings: object = None) -> Any:
        fingerprint = hash(tuple(sorted(credentials.items())))
        with self._lock:
            cached = self._built.get(name)
            if cached and cached[0] == fingerprint and cached[1] is settings:
                return cached[2]
            if cached:
                _close(cached[2])
            adapter = build()
            self._built[name] = (fingerprint, settings, adapter)
            return adapter

    def close(self) -> None:
        with self._lock:
            for *_, adapter in self._built.values():
                _close(adapter)
            self._built.clear()


def _close(adapter: Any) -> None:
    close = getattr(adapter, "close", None)
    if close is not None:
        close()
