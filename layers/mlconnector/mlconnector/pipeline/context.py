"""Everything one container needs, built once: profile, stores, ERPs, engines, data access."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from mlconnector import registry
from mlconnector.accounting import AccountingEngine
from mlconnector.aws.audit import AuditTrail
from mlconnector.aws.secrets import get_credentials
from mlconnector.aws.state import StateStore
from mlconnector.profile import Connection, Profile, current_profile
from mlconnector.sources.base import StoreSource
from mlconnector.targets.base import ErpTarget


@dataclass(frozen=True)
class Environment:
    """The settings a function gets from template.yaml's Environment."""

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


class Connector:
    """Per-container cache of adapters; adapters are created on first use and reused."""

    def __init__(self, environment: Environment | None = None, profile: Profile | None = None) -> None:
        self.env = environment or Environment.from_env()
        self._profile = profile
        self._sources: dict[str, StoreSource] = {}
        self._targets: dict[str, ErpTarget] = {}
        self._lock = threading.Lock()

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            self._profile = current_profile(self.env.profile_location or None)
        return self._profile

    def connection(self, name: str) -> Connection:
        return self.profile.connection(name)

    @cached_property
    def audit(self) -> AuditTrail:
        return AuditTrail(self.env.audit_table)

    @cached_property
    def state(self) -> StateStore:
        return StateStore(self.env.state_table)

    def source(self, name: str) -> StoreSource:
        with self._lock:
            if name not in self._sources:
                conn = self.connection(name)
                credentials = get_credentials(conn.secrets.store)
                if conn.secrets.webhook:
                    credentials = {**credentials, **get_credentials(conn.secrets.webhook)}
                self._sources[name] = registry.store_class(conn.store_type)(name, conn.store, credentials)
            return self._sources[name]

    def target(self, name: str) -> ErpTarget:
        with self._lock:
            if name not in self._targets:
                conn = self.connection(name)
                credentials = get_credentials(conn.secrets.erp)
                self._targets[name] = registry.erp_class(conn.erp_type)(conn.erp, credentials)
            return self._targets[name]

    def engine(self, name: str) -> AccountingEngine:
        conn = self.connection(name)
        return AccountingEngine(name, conn.accounting, conn.reference_prefix)

    def close(self) -> None:
        for adapter in [*self._sources.values(), *self._targets.values()]:
            adapter.close()
        self._sources.clear()
        self._targets.clear()
