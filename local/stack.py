"""The embedded local stack: sandbox simulators + the local runtime, wired by a profile.

``LocalStack`` starts one simulator per store and ERP the profile's connections use, puts their
credentials into the embedded Secrets Manager under the names the profile gives, exports the
``SANDBOX_*`` URLs the profile refers to, starts the local runtime on template.yaml and runs the
webhook keeper once so every store delivers to the local API.
"""

from __future__ import annotations

import os
import secrets as token_source
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from local.runtime import LocalRuntime
from mlconnector.profile import Connection, Profile, parse_profile
from sandbox.runner import RunningServer, serve

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PROFILE = ROOT / "config" / "local.yaml"


@dataclass(frozen=True)
class ExpectedDocument:
    """A document the ERP must hold exactly once for the store's data to be reconciled."""

    connection: str
    reference: str
    kind: str
    order_number: str
    total: Decimal
    currency: str


@dataclass(frozen=True)
class LedgerDocument:
    """A document as the ERP sandbox holds it."""

    reference: str
    erp_id: str
    balanced: bool
    total: Decimal


@dataclass
class StoreSandbox:
    kind: str
    state: Any
    server: RunningServer
    credentials: dict[str, str]
    webhook_credentials: dict[str, str]
    expected: Callable[[Connection], list[ExpectedDocument]]


@dataclass
class ErpSandbox:
    kind: str
    state: Any
    server: RunningServer
    credentials: dict[str, str]
    documents: Callable[[Connection], list[LedgerDocument]]


# --- WooCommerce ------------------------------------------------------------------------------------
def _start_woocommerce() -> StoreSandbox:
    from sandbox.woocommerce import WooState, create_app

    state = WooState()
    server = serve(create_app(state))
    state.home_url = server.url
    key = state.add_key("read_write")

    def expected(connection: Connection) -> list[ExpectedDocument]:
        prefix = connection.reference_prefix
        paid = set(connection.store.paid_statuses)  # type: ignore[attr-defined]
        out = []
        with state.lock:
            orders = [dict(o) for o in state.orders.values()]
            refunds = {oid: list(rs) for oid, rs in state.refunds.items()}
        for order in orders:
            if order["status"] not in paid and not order.get("date_paid_gmt"):
                continue
            number = str(order["number"])
            cards = sum((Decimal(str(c["amount"])) for c in order.get("gift_cards") or ()), Decimal(0))
            out.append(
                ExpectedDocument(
                    connection.name,
                    f"{prefix}{number}",
                    "order",
                    number,
                    Decimal(order["total"]) + cards,
                    order["currency"],
                )
            )
            for refund in refunds.get(order["id"], []):
                out.append(
                    ExpectedDocument(
                        connection.name,
                        f"{prefix}{number}-R{refund['id']}",
                        "refund",
                        number,
                        Decimal(refund["amount"]),
                        order["currency"],
                    )
                )
        return out

    return StoreSandbox(
        "woocommerce",
        state,
        server,
        {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
        {"webhook_secret": token_source.token_urlsafe(24) + "&<'\"é"},
        expected,
    )


# --- PeopleSoft -------------------------------------------------------------------------------------
def _settlement_accounts(connection: Connection) -> set[str]:
    rules = connection.accounting
    refs = [rules.receivable, rules.default_payment, rules.gift_card, rules.store_credit, *rules.payment_rules]
    return {ref.account for ref in refs if ref is not None}


def _start_peoplesoft() -> ErpSandbox:
    from sandbox.peoplesoft import PeopleSoftState, create_app

    state = PeopleSoftState(auth="wss", password=token_source.token_urlsafe(16))
    server = serve(create_app(state))

    def documents(connection: Connection) -> list[LedgerDocument]:
        settlement = _settlement_accounts(connection)
        out = []
        for journal in state.journals:
            descr = journal.get("PROP_DESCR", "")
            if not descr.startswith("ref:"):
                continue
            reference = descr[4:].split(" | ", 1)[0]
            lines = journal.get("COLL_JRNL_LN", [])
            base = sum((Decimal(str(li["PROP_MONETARY_AMOUNT"])) for li in lines), Decimal(0))
            foreign = sum((Decimal(str(li["PROP_FOREIGN_AMOUNT"])) for li in lines), Decimal(0))
            total = abs(
                sum(
                    (Decimal(str(li["PROP_FOREIGN_AMOUNT"])) for li in lines if li["PROP_ACCOUNT"] in settlement),
                    Decimal(0),
                )
            )
            erp_id = f"{journal['KEYPROP_BUSINESS_UNIT']}/{journal['KEYPROP_JOURNAL_ID']}"
            out.append(LedgerDocument(reference, erp_id, base == 0 and foreign == 0, total))
        return out

    return ErpSandbox("peoplesoft", state, server, {"username": state.username, "password": state.password}, documents)


STORE_SANDBOXES: dict[str, Callable[[], StoreSandbox]] = {"woocommerce": _start_woocommerce}
ERP_SANDBOXES: dict[str, Callable[[], ErpSandbox]] = {"peoplesoft": _start_peoplesoft}
ENV_NAMES = {
    "woocommerce": "SANDBOX_WOO_URL",
    "peoplesoft": "SANDBOX_PSFT_URL",
}


@dataclass
class LocalStack:
    """Sandboxes + local runtime for the connections of a profile (all of them by default)."""

    profile_path: Path = DEFAULT_PROFILE
    connections: list[str] | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    run_schedules: bool = False
    api_port: int = 0
    stores: dict[str, StoreSandbox] = field(default_factory=dict)
    erps: dict[str, ErpSandbox] = field(default_factory=dict)
    runtime: LocalRuntime | None = None
    profile: Profile | None = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _selected(self, profile_text: str) -> list[Connection]:
        placeholders = {name: "http://127.0.0.1:1" for name in ENV_NAMES.values() if name not in os.environ}
        os.environ.update(placeholders)
        try:
            profile = parse_profile(profile_text, str(self.profile_path))
        finally:
            for name in placeholders:
                os.environ.pop(name, None)
        wanted = self.connections or [c.name for c in profile.connections]
        return [profile.connection(name) for name in wanted]

    def start(self) -> LocalStack:
        text = self.profile_path.read_text(encoding="utf-8")
        selected = self._selected(text)
        credentials: dict[str, dict[str, str]] = {}
        for connection in selected:
            store = self.stores.get(connection.store_type) or STORE_SANDBOXES[connection.store_type]()
            erp = self.erps.get(connection.erp_type) or ERP_SANDBOXES[connection.erp_type]()
            self.stores[connection.store_type], self.erps[connection.erp_type] = store, erp
            os.environ[ENV_NAMES[connection.store_type]] = store.server.url
            os.environ[ENV_NAMES[connection.erp_type]] = erp.server.url
            credentials[connection.secrets.store] = store.credentials
            if connection.secrets.webhook:
                credentials[connection.secrets.webhook] = store.webhook_credentials
            credentials[connection.secrets.erp] = erp.credentials
        self.profile = parse_profile(text, str(self.profile_path))
        first = selected[0].name
        parameters = {
            "CustomerName": self.profile.customer,
            "PrimaryConnection": first,
            "RetryBaseSeconds": "1",
            **self.parameters,
        }
        self.runtime = LocalRuntime(
            ROOT / "template.yaml",
            parameters=parameters,
            stack_name=f"ml-connector-{self.profile.customer}",
            profile_path=self.profile_path,
            secrets=credentials,
            run_schedules=self.run_schedules,
            api_port=self.api_port,
        )
        self.runtime.start()
        self.keep_webhooks()
        return self

    def keep_webhooks(self) -> dict[str, Any]:
        assert self.runtime
        return self.runtime.trigger_schedule("WebhookKeeperFunction", "KeepWebhooks")

    def poll(self, connection: str) -> dict[str, Any]:
        """Run the poller for one connection now, with the Input its schedule would send."""
        assert self.runtime
        return self.runtime.invoke("PollerFunction", {"connection": connection})

    def selected_connections(self) -> list[Connection]:
        assert self.profile
        names = self.connections or [c.name for c in self.profile.connections]
        return [self.profile.connection(n) for n in names]

    def stop(self) -> None:
        if self.runtime:
            self.runtime.stop()
        for sandbox in [*self.stores.values(), *self.erps.values()]:
            sandbox.server.stop()
