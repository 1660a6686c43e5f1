"""The settings a function gets from template.yaml's ``Environment`` section."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Environment:
    profile_location: str
    queue_url: str
    audit_table: str
    state_table: str
    idempotency_table: str
    max_receive_count: int
    retry_base_seconds: float
    retry_max_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Environment:
        return cls(
            profile_location=env.get("CONNECTOR_PROFILE", ""),
            queue_url=env.get("INGEST_QUEUE_URL", ""),
            audit_table=env.get("AUDIT_TABLE", ""),
            state_table=env.get("STATE_TABLE", ""),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            max_receive_count=int(env.get("MAX_RECEIVE_COUNT", "5")),
            retry_base_seconds=float(env.get("RETRY_BASE_SECONDS", "30")),
            retry_max_seconds=float(env.get("RETRY_MAX_SECONDS", "900")),
        )
