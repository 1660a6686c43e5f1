"""ERP simulators started per test, on persistent connections: ``start(**knobs)`` gives a fresh state and its URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sandbox.runner import serve


@contextmanager
def started_sandboxes(state_class: type, create_app: Callable[[Any], Callable]) -> Iterator[Callable[..., Any]]:
    """Yield ``start(**knobs) -> (state, url)``; every server started is stopped on exit."""
    servers = []

    def start(**knobs: Any) -> tuple[Any, str]:
        state = state_class(**knobs)
        server = serve(create_app(state), persistent=True)
        servers.append(server)
        return state, server.url

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
