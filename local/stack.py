"""The embedded local stack: sandbox simulators + the local runtime, wired by a profile.

``LocalStack`` starts one simulator per store and ERP the profile's connections use, puts their
credentials into the embedded Secrets Manager under the names the profile gives, exports the
``SANDBOX_*`` URLs the profile refers to, starts the local runtime on template.yaml and runs the
webhook keeper once so every store delivers to the local API — or, for a Shopify connection whose
webhooks come through Amazon EventBridge, to its partner event source, whose bus the runtime creates
(``ShopifyEventSourceName`` from the profile) and on which the simulator puts its events.
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets as token_source
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from local.runtime import LocalRuntime
from mlconnector.profile import Connection, Profile, parse_profile
from mlconnector.sources.shopify.webhooks import EVENTBRIDGE_ARN
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


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


# --- WooCommerce ------------------------------------------------------------------------------------
def _start_woocommerce() -> StoreSandbox:
    from sandbox.woocommerce import WooState, create_app

    state = WooState()
    server = serve(create_app(state))
    state.home_url = server.url
    key = state.add_key("read_write")

    def expected(connection: Connection) -> list[ExpectedDocument]:
        prefix = connection.reference_prefix
        receipts = connection.accounting.posting_style == "ar_invoice"
        out = []
        with state.lock:
            orders = copy.deepcopy(list(state.orders.values()))
            refunds = copy.deepcopy(state.refunds)
        for order in orders:
            if not order.get("date_paid_gmt"):
                continue
            number, currency = str(order["number"]), order["currency"]
            cards = [(str(c.get("id") or c.get("code")), _dec(c["amount"])) for c in order.get("gift_cards") or ()]
            total = _dec(order["total"])
            doc = f"{prefix}{number}"
            out.append(
                ExpectedDocument(connection.name, doc, "order", number, total + sum(a for _, a in cards), currency)
            )
            if receipts:
                if total:
                    out.append(
                        ExpectedDocument(
                            connection.name, f"{doc}-P{order['id']}:payment", "receipt", number, total, currency
                        )
                    )
                for card_id, amount in cards:
                    ref = f"{doc}-P{order['id']}:gift_card:{card_id}"
                    out.append(ExpectedDocument(connection.name, ref, "receipt", number, amount, currency))
            for refund in refunds.get(order["id"], []):
                ref = f"{doc}-R{refund['id']}"
                out.append(ExpectedDocument(connection.name, ref, "refund", number, _dec(refund["amount"]), currency))
        return out

    return StoreSandbox(
        "woocommerce",
        state,
        server,
        {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
        {"webhook_secret": token_source.token_urlsafe(24) + "&<'\"é"},
        expected,
    )


# --- BigCommerce ------------------------------------------------------------------------------------
def _start_bigcommerce() -> StoreSandbox:
    from sandbox.bigcommerce import BigCommerceState, create_app

    state = BigCommerceState(quota=100_000)  # the local run is not about the platform's quota
    server = serve(create_app(state))

    def expected(connection: Connection) -> list[ExpectedDocument]:
        prefix = connection.reference_prefix
        paid = connection.store.paid_status_ids  # type: ignore[attr-defined]
        out = []
        with state.lock:
            orders = copy.deepcopy(list(state.orders.values()))
            refunds = copy.deepcopy(list(state.refunds.values()))
        by_order: dict[int, list[dict[str, Any]]] = {}
        for refund in refunds:
            by_order.setdefault(refund["order_id"], []).append(refund)
        for order in orders:
            if order["status_id"] not in paid:
                continue
            number, currency = str(order["id"]), order["currency_code"]
            out.append(
                ExpectedDocument(
                    connection.name, f"{prefix}{number}", "order", number, _dec(order["total_inc_tax"]), currency
                )
            )
            for refund in by_order.get(order["id"], []):
                ref = f"{prefix}{number}-R{refund['id']}"
                out.append(
                    ExpectedDocument(connection.name, ref, "refund", number, _dec(refund["total_amount"]), currency)
                )
        return out

    return StoreSandbox(
        "bigcommerce",
        state,
        server,
        {"access_token": state.access_token, "client_secret": state.client_secret},
        {"webhook_token": token_source.token_urlsafe(24)},
        expected,
    )


# --- Shopify ----------------------------------------------------------------------------------------
def _start_shopify() -> StoreSandbox:
    from sandbox.shopify import ShopifyState, create_app

    # A Shopify Plus shop's query-cost bucket (20000 points, 1000 a second): the poll is paced by it as by a real one.
    state = ShopifyState(shop_domain="local-shop.myshopify.com", plan="plus")
    server = serve(create_app(state))
    token = state.add_static_token()

    def expected(connection: Connection) -> list[ExpectedDocument]:
        prefix = connection.reference_prefix
        paid = set(connection.store.paid_financial_statuses)  # type: ignore[attr-defined]
        out = []
        with state.lock:
            orders = copy.deepcopy(list(state.orders.values()))
        for order in orders:
            if order["financial_status"] not in paid:
                continue
            number, currency = str(order["name"]), order["currency"]
            out.append(
                ExpectedDocument(
                    connection.name, f"{prefix}{number}", "order", number, _dec(order["total_price"]), currency
                )
            )
            for refund in order.get("refunds") or ():
                amount = sum(
                    (
                        _dec(t["amount"])
                        for t in refund.get("transactions") or ()
                        if t["kind"] == "refund" and t["status"] == "success"
                    ),
                    Decimal(0),
                )
                if amount:
                    ref = f"{prefix}{number}-R{refund['id']}"
                    out.append(ExpectedDocument(connection.name, ref, "refund", number, amount, currency))
        return out

    return StoreSandbox(
        "shopify",
        state,
        server,
        {"access_token": token, "client_secret": state.client_secret},
        {},
        expected,
    )


# --- PeopleSoft -------------------------------------------------------------------------------------
def _settlement_accounts(connection: Connection) -> set[str]:
    rules = connection.accounting
    refs = [rules.receivable, rules.default_payment, rules.gift_card, rules.store_credit, *rules.payment_rules]
    return {ref.account for ref in refs if ref is not None}


def _start_peoplesoft(auth: str = "wss", wsdl_style: str = "prefixed") -> ErpSandbox:
    from sandbox.peoplesoft import PeopleSoftState, create_app

    state = PeopleSoftState(
        auth=auth,
        password=token_source.token_urlsafe(16),
        client_secret=token_source.token_urlsafe(16),
        wsdl_style=wsdl_style,
    )
    server = serve(create_app(state), persistent=True)

    def documents(connection: Connection) -> list[LedgerDocument]:
        settlement = _settlement_accounts(connection)
        out = []
        for journal in state.journals:
            descr = journal.get("PROP_DESCR", "")
            if not descr.startswith("ref:"):
                continue
            reference = descr[4:].split(" | ", 1)[0]
            lines = journal.get("COLL_JRNL_LN", [])
            base = sum((_dec(li["PROP_MONETARY_AMOUNT"]) for li in lines), Decimal(0))
            foreign = sum((_dec(li["PROP_FOREIGN_AMOUNT"]) for li in lines), Decimal(0))
            total = abs(
                sum((_dec(li["PROP_FOREIGN_AMOUNT"]) for li in lines if li["PROP_ACCOUNT"] in settlement), Decimal(0))
            )
            erp_id = f"{journal['KEYPROP_BUSINESS_UNIT']}/{journal['KEYPROP_JOURNAL_ID']}"
            out.append(LedgerDocument(reference, erp_id, base == 0 and foreign == 0, total))
        return out

    credentials = (
        {"client_id": state.client_id, "client_secret": state.client_secret}
        if auth == "oauth2"
        else {"username": state.username, "password": state.password}
    )
    return ErpSandbox("peoplesoft", state, server, credentials, documents)


# --- JD Edwards -------------------------------------------------------------------------------------
def _start_jdedwards() -> ErpSandbox:
    from sandbox.jdedwards import JdeState, UserDates, create_app

    password = token_source.token_urlsafe(16)
    # A day-first AIS user: the adapter must send dates in the format the token response names.
    state = JdeState(users={"MLC_USER": password}, user_date_formats={"MLC_USER": UserDates("DME", ".")})
    server = serve(create_app(state), persistent=True)

    def documents(connection: Connection) -> list[LedgerDocument]:
        settlement = _settlement_accounts(connection)
        out = []
        for reference, batch in state.batches.items():
            lines = batch["lines"]
            base = sum((_dec(li["AA"]) for li in lines), Decimal(0))
            total = abs(sum((_dec(li["AA"]) for li in lines if li["OBJ"] in settlement), Decimal(0)))
            out.append(LedgerDocument(reference, f"{batch['batch']}/{batch['document']}", base == 0, total))
        return out

    return ErpSandbox("jdedwards", state, server, {"username": "MLC_USER", "password": password}, documents)


# --- Oracle Fusion ----------------------------------------------------------------------------------
def _start_fusion() -> ErpSandbox:
    from sandbox.fusion import FusionState, create_app

    state = FusionState(client_secret=token_source.token_urlsafe(16))
    state.valid_combinations.add("101-23000-000")  # gift card liability
    server = serve(create_app(state), persistent=True)

    def documents(connection: Connection) -> list[LedgerDocument]:
        out = []
        for row in state.invoices + state.credit_memos:
            out.append(
                LedgerDocument(
                    row["TransactionNumber"], str(row["CustomerTransactionId"]), True, abs(_dec(row["EnteredAmount"]))
                )
            )
        for row in state.receipts:
            out.append(
                LedgerDocument(row["ReceiptNumber"], str(row["StandardReceiptId"]), True, abs(_dec(row["Amount"])))
            )
        return out

    return ErpSandbox(
        "fusion", state, server, {"client_id": state.client_id, "client_secret": state.client_secret}, documents
    )


STORE_SANDBOXES: dict[str, Callable[[], StoreSandbox]] = {
    "woocommerce": _start_woocommerce,
    "bigcommerce": _start_bigcommerce,
    "shopify": _start_shopify,
}
ERP_SANDBOXES: dict[str, Callable[..., ErpSandbox]] = {
    "peoplesoft": _start_peoplesoft,
    "jdedwards": _start_jdedwards,
    "fusion": _start_fusion,
}


def erp_sandbox_options(connection: Connection) -> dict[str, str]:
    """What an ERP simulator must be told of the connection: PeopleSoft's auth scheme and WSDL naming style."""
    if connection.erp_type != "peoplesoft":
        return {}
    return {"auth": connection.erp.auth, "wsdl_style": connection.erp.wsdl_style}  # type: ignore[attr-defined]


def env_name(connection: str, side: str) -> str:
    """``SANDBOX_<CONNECTION>_<STORE|ERP>_URL``: how config/local.yaml names a sandbox's address."""
    return f"SANDBOX_{connection.upper().replace('-', '_')}_{side}_URL"


class SandboxMap(dict):
    """Sandboxes by connection name; looking one up by type gives the first connection's of that type."""

    def __missing__(self, key: str) -> Any:
        for sandbox in self.values():
            if sandbox.kind == key:
                return sandbox
        raise KeyError(key)


_ENV_REF = re.compile(r"\$\{(SANDBOX_[A-Z0-9_]+)\}")


def _eventbridge_arn(connection: Connection) -> str:
    """The partner event source a Shopify connection's webhooks come through ('' for HTTPS delivery)."""
    store = connection.store
    if getattr(store, "webhook_delivery", "https") != "eventbridge":
        return ""
    return str(store.eventbridge_source_arn)  # type: ignore[attr-defined]


def _eventbridge_parameters(connections: list[Connection]) -> dict[str, str]:
    """``ShopifyEventSourceName`` for the connections' partner event source: one per stack, as template.yaml has."""
    names = {arn.partition(":event-source/")[2] for c in connections if (arn := _eventbridge_arn(c))}
    if len(names) > 1:
        raise ValueError(f"one Shopify partner event source per stack, the connections name {sorted(names)}")
    return {"ShopifyEventSourceName": names.pop()} if names else {}


@dataclass
class LocalStack:
    """Sandboxes + local runtime for the connections of a profile (all of them by default)."""

    profile_path: Path = DEFAULT_PROFILE
    connections: list[str] | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    run_schedules: bool = False
    api_port: int = 0
    secrets_file: Path | None = None
    public_url: str | None = None
    #: ERP kind → a sandbox factory used instead of the in-process one (a benchmark's ERP in a process of its own).
    erp_factories: dict[str, Callable[..., ErpSandbox]] = field(default_factory=dict)
    stores: SandboxMap = field(default_factory=SandboxMap)
    erps: SandboxMap = field(default_factory=SandboxMap)
    runtime: LocalRuntime | None = None
    profile: Profile | None = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _selected(self, profile_text: str) -> list[Connection]:
        placeholders = {name: "http://127.0.0.1:1" for name in _ENV_REF.findall(profile_text) if name not in os.environ}
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
        if self.secrets_file:  # a trial run against real systems: their credentials, no sandboxes
            credentials = json.loads(self.secrets_file.read_text(encoding="utf-8"))
            selected = []
        for connection in selected:
            store = STORE_SANDBOXES[connection.store_type]()
            arn = _eventbridge_arn(connection)
            if arn:  # the shop has the app whose partner event source this is installed
                store.state.app_id = EVENTBRIDGE_ARN.fullmatch(arn).group("api_client_id")  # type: ignore[union-attr]
            erp_options = erp_sandbox_options(connection)
            erp = self.erp_factories.get(connection.erp_type, ERP_SANDBOXES[connection.erp_type])(**erp_options)
            self.stores[connection.name], self.erps[connection.name] = store, erp
            os.environ[env_name(connection.name, "STORE")] = store.server.url
            os.environ[env_name(connection.name, "ERP")] = erp.server.url
            credentials[connection.secrets.store] = store.credentials
            if connection.secrets.webhook:
                credentials[connection.secrets.webhook] = store.webhook_credentials
            credentials[connection.secrets.erp] = erp.credentials
        for name in set(_ENV_REF.findall(text)) - set(os.environ):
            os.environ[name] = "http://127.0.0.1:1"  # a connection this stack does not run
        self.profile = parse_profile(text, str(self.profile_path))
        first = (self.connections or [c.name for c in self.profile.connections])[0]
        parameters = {
            "CustomerName": self.profile.customer,
            "PrimaryConnection": first,
            "RetryBaseSeconds": "1",
            **_eventbridge_parameters(selected),
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
            public_url=self.public_url,
        )
        self.runtime.start()
        for connection in selected:
            if _eventbridge_arn(connection):  # the simulated shop's EventBridge deliveries go to the local AWS
                self.stores[connection.name].state.eventbridge = self.runtime.put_partner_event
        self.keep_webhooks()
        return self

    def keep_webhooks(self) -> dict[str, Any]:
        assert self.runtime
        names = [c.name for c in self.selected_connections()]
        return self.runtime.trigger_schedule(
            "WebhookKeeperFunction", "KeepWebhooks", input_override={"connections": names}
        )

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
