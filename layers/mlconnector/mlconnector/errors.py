"""Error taxonomy shared by sources, targets and the pipeline.

The poster decides what happens to a record from the class of the error alone:
``TransientError`` is retried (and ends in the DLQ), ``ReviewError`` marks the record
for a person to look at, ``AuthError`` is a configuration problem that retrying alone
cannot fix but must not lose the record either (it is treated as transient).
"""


class ConnectorError(Exception):
    """Base class for every error the connector raises on purpose."""


class TransientError(ConnectorError):
    """A failure that may succeed when retried (5xx, timeout, throttling, connection reset)."""


class AuthError(TransientError):
    """Credentials were refused even after one refresh; the message names the system, never the secret."""


class ReviewError(ConnectorError):
    """The record cannot be posted as it is (bad mapping, invalid ChartField, refund mismatch)."""

    def __init__(self, reason: str, *, detail: dict | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or {}


class ProfileError(ConnectorError):
    """A connection profile failed validation; the message carries the field path and the reason."""
