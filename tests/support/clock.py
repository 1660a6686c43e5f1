"""A settable clock the Shopify simulator and the adapter share in tests (token lifetimes, bulk expiry)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: The moment a test's shop starts at.
START = datetime(2025, 10, 20, 12, 0, tzinfo=UTC)


class Clock:
    """Returns ``now``; tests move it on with ``advance`` or by setting ``now``."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
