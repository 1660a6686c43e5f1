"""Everything one container needs, built once: profile, stores, ERPs, engines, data access."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING

from mlconnector import registry
from mlconnector.aws.audit import AuditTrail
from mlconnector.aws.secrets import BuiltFromCredentials, get_credentials, store_credentials
from mlconnector.aws.state import StateStore
from mlconnector.environment import Environment
from mlconnector.profile import Connection, Profile, current_profile

if TYPE_CHECKING:  # loaded on first use: a poller or keeper never maps money or calls an ERP
    from mlconnector.accounting.engine import AccountingEngine
    from mlconnector.sources.base import StoreSource
    from mlconnector.targets.base import ErpTarget


class Connector:
    """Per-container cache of adapters; adapters are created on first use and reused."""

    def __init__(self, environment: Environment | None = None, profile: Profile | None = None) -> None:
        self.env = environment or Environment.from_env()
        self._profile = profile
        self._sources = BuiltFromCredentials()
        self._targets = BuiltFromCredentials()

    @property
    def profile(self) -> Profile:
        """The profile given, or the one published (read again every ``CONNECTOR_PROFILE_MAX_AGE``)."""
        return self._profile or current_profile(self.env.profile_location or None)

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
        """The store adapter, rebuilt when its credentials change."""
        conn = self.connection(name)
        credentials = store_credentials(conn.secrets.store, conn.secrets.webhook)
        return self._sources.get(
            name, credentials, lambda: registry.store_class(conn.store_type)(name, conn.store, credentials), conn.store
        )

    def target(self, name: str) -> ErpTarget:
        conn = self.connection(name)
        credentials = get_credentials(conn.secrets.erp)
        return self._targets.get(
            name, credentials, lambda: registry.erp_class(conn.erp_type)(conn.erp, credentials), conn.erp
        )

    def engine(self, name: str) -> AccountingEngine:
        from mlconnector.accounting.engine import AccountingEngine

        conn = self.connection(name)
        return AccountingEngine(name, conn.accounting, conn.reference_prefix)

    def close(self) -> None:
        self._sources.close()
        self._targets.close()
