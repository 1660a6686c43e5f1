"""Everything one container needs, built once: profile, stores, ERPs, engines, data access."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mlconnector import registry
from mlconnector.aws.audit import AuditTrail
from mlconnector.aws.secrets import get_credentials
from mlconnector.aws.state import StateStore
from mlconnector.profile import Connection, Profile, current_profile

if TYPE_CHECKING:  # the receiver never maps money or calls an ERP: it does not load those modules
    from mlconnector.accounting.engine import AccountingEngine
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
        self._sources: dict[str, tuple[int, Any]] = {}
        self._targets: dict[str, tuple[int, Any]] = {}
        self._lock = threading.Lock()

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            self._profile = current_profile(self.env.profile_location or None)
        return self._profile

    def connection(self, name: str) -> Connection:
        return self.profile.connection(name)

    @cached_property
    def background(self) -> ThreadPoolExecutor:
        """For an AWS call that can run beside another one in the same invocation (always awaited)."""
        return ThreadPoolExecutor(max_workers=2, thread_name_prefix="connector")

    @cached_property
    def audit(self) -> AuditTrail:
        return AuditTrail(self.env.audit_table)

    @cached_property
    def state(self) -> StateStore:
        return StateStore(self.env.state_table)

    def source(self, name: str) -> StoreSource:
        """The store adapter, rebuilt when its credentials change (rotation is picked up within the cache age)."""
        conn = self.connection(name)
        credentials = get_credentials(conn.secrets.store)
        if conn.secrets.webhook:
            credentials = {**credentials, **get_credentials(conn.secrets.webhook)}
        return self._adapter(
            self._sources,
            name,
            credentials,
            lambda: registry.store_class(conn.store_type)(name, conn.store, credentials),
        )

    def target(self, name: str) -> ErpTarget:
        conn = self.connection(name)
        credentials = get_credentials(conn.secrets.erp)
        return self._adapter(
            self._targets, name, credentials, lambda: registry.erp_class(conn.erp_type)(conn.erp, credentials)
        )

    def _adapter(self, cache: dict[str, tuple[int, Any]], name: str, credentials: dict[str, str], build: Any) -> Any:
        fingerprint = hash(tuple(sorted(credentials.items())))
        with self._lock:
            cached = cache.get(name)
            if cached and cached[0] == fingerprint:
                return cached[1]
            if cached:
                cached[1].close()
            adapter = build()
            cache[name] = (fingerprint, adapter)
            return adapter

    def engine(self, name: str) -> AccountingEngine:
        from mlconnector.accounting.engine import AccountingEngine

        conn = self.connection(name)
        return AccountingEngine(name, conn.accounting, conn.reference_prefix)

    def close(self) -> None:
        for _, adapter in [*self._sources.values(), *self._targets.values()]:
            adapter.close()
        self._sources.clear()
        self._targets.clear()
