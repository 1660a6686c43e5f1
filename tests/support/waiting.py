"""Polling helpers for tests that watch asynchronous work finish."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for[T](probe: Callable[[], T], timeout: float = 30.0, interval: float = 0.1) -> T:
    """Call ``probe`` until it returns something truthy; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = probe()
    assert value, f"condition not met within {timeout}s (last value {value!r})"
    return value
