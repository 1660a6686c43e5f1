"""`mlc check`: read-only probes of a connection's store and ERP with the stored credentials.

For each side the report says whether the system answered (reachable), accepted the
credentials (authenticated), allows what the connector needs (permissions, one read-only
call each), how far its clock is from ours (from the HTTP ``Date`` header: OAuth1, WS-Security
and token lifetimes break on large skew) and, for on-premise ERPs, which address to allowlist.
A Shopify connection whose webhooks come through Amazon EventBridge also has its partner event
source's state read (EventBridge DescribeEventSource): only an ACTIVE source reaches the stack.
Messages come from the adapters, which never put a secret in one; as a second guard every
credential value is masked from the report's text.
"""

from __future__ import annotations

import contextlib
import email.utils
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import requests

from mlconnector.aws.clients import client
from mlconnector.aws.secrets import get_credentials
from mlconnector.errors import AuthError, ProfileError, TransientError
from mlconnector.pipeline.context import Connector
from mlconnector.profile import Connection

#: ERPs that run on the customer's network and must allowlist the connector's egress address.
ON_PREMISE_ERPS = frozenset({"peoplesoft", "jdedwards"})
#: Skew beyond which signed requests (OAuth1, WS-Security timestamps) start to be refused.
MAX_SKEW_SECONDS = 300.0


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool
    detail: str = ""
    required: bool = True


@dataclass
class SideReport:
    """What one system (the store or the ERP) said to the probes."""

    side: str
    system: str
    reachable: bool = False
    authenticated: bool = False
    probes: list[Probe] = field(default_factory=list)
    clock_skew_seconds: float | None = None
    egress_ip: str = ""
    error: str = ""

    @property
    def permissions_ok(self) -> bool:
        return bool(self.probes) and all(p.ok for p in self.probes if p.required)

    @property
    def ok(self) -> bool:
        return self.reachable and self.authenticated and self.permissions_ok and not self.error

    @property
    def skew_ok(self) -> bool:
        return self.clock_skew_seconds is None or abs(self.clock_skew_seconds) <= MAX_SKEW_SECONDS


@dataclass(frozen=True)
class CheckReport:
    connection: str
    store: SideReport
    erp: SideReport

    @property
    def ok(self) -> bool:
        return self.store.ok and self.erp.ok


class _Responses:
    """A requests response hook remembering statuses and the server's clock."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.skews: list[float] = []

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self.statuses.append(response.status_code)
        header = response.headers.get("Date")
        if header:
            try:
                server = email.utils.parsedate_to_datetime(header)
            except (TypeError, ValueError):
                server = None
            if server is not None:
                if server.tzinfo is None:
                    server = server.replace(tzinfo=UTC)
                self.skews.append((server - datetime.now(UTC)).total_seconds())
        return response


def _session_of(adapter: Any) -> requests.Session | None:
    """The requests session an adapter sends through (sources and targets keep it on their client)."""
    client = getattr(adapter, "client", None)
    for holder, name in ((getattr(client, "connection", None), "session"), (client, "session"), (client, "_session")):
        session = getattr(holder, name, None) if holder is not None else None
        if isinstance(session, requests.Session):
            return session
    return None


def _masker(secret_names: list[str]) -> Callable[[str], str]:
    values: list[str] = []
    for name in secret_names:
        try:
            values.extend(v for v in get_credentials(name).values() if len(v) >= 4)
        except ProfileError:
            continue
    values.sort(key=len, reverse=True)

    def mask(text: str) -> str:
        for value in values:
            text = text.replace(value, "***")
        return text

    return mask


def _store_probes(source: Any) -> list[tuple[str, Callable[[], Any], bool]]:
    """(name, call, required); the first call is the authentication step."""
    client = source.client
    kind = type(source).__name__
    if kind == "WooCommerceSource":
        return [
            ("read orders", lambda: client.get_list("orders", {"per_page": 1}), True),
            ("read customers", lambda: client.get_list("customers", {"per_page": 1}), True),
            ("read webhooks (keeper)", lambda: client.get_list("webhooks", {"per_page": 1}), False),
        ]
    if kind == "BigCommerceSource":
        return [
            ("read orders", lambda: client.get("v2", "orders", {"limit": 1}), True),
            ("read customers", lambda: client.get("v3", "customers", {"limit": 1}), True),
            ("read webhooks (keeper)", lambda: client.get("v3", "hooks"), False),
        ]
    if kind == "ShopifySource":
        from mlconnector.sources.shopify import queries

        return [
            ("shop (GraphQL Admin API)", lambda: client.graphql(queries.SHOP, cost=1), True),
            ("read orders", lambda: client.graphql(queries.PROBE_ORDERS, cost=3), True),
            ("read customers", lambda: client.graphql(queries.PROBE_CUSTOMERS, cost=3), True),
            ("read webhook subscriptions (keeper)", lambda: client.graphql(queries.PROBE_WEBHOOKS, cost=3), False),
        ]
    raise ProfileError(f"no connection check for store adapter {kind}")


def _erp_probes(target: Any) -> list[tuple[str, Callable[[], Any], bool]]:
    kind = type(target).__name__
    today = date.today()
    if kind == "PeopleSoftTarget":
        from mlconnector.targets.peoplesoft.client import MSG_NO_ROWS, CIFaultError
        from mlconnector.targets.peoplesoft.settings import CUSTOMER_CI, JOURNAL_CI

        settings = target.settings

        def find(ci: str, **keys: str) -> Callable[[], Any]:
            def call() -> Any:
                try:
                    return target.client.service(ci).call("F", **keys)
                except CIFaultError as fault:
                    if fault.has(MSG_NO_ROWS):
                        return None  # the Find ran: access is granted, nothing matched
                    raise

            return call

        return [
            ("CUSTOMER_CI Find", find(CUSTOMER_CI, KEYPROP_SETID=settings.setid, KEYPROP_CUST_ID="MLCHECK"), True),
            (
                "JOURNAL_ENTRY_CI Find",
                find(JOURNAL_CI, KEYPROP_BUSINESS_UNIT=settings.business_unit, KEYPROP_JOURNAL_ID="MLCHECK"),
                True,
            ),
            ("journal inquiry (reconcile)", lambda: target.inquire("journals", today, today), False),
        ]
    if kind == "JdeTarget":
        return [
            ("AIS token request", target.client.token, True),
            ("F0101 address book read", lambda: target.address("1"), True),
            ("F0911 GL read (reconcile)", lambda: target.read_back(today, today), False),
        ]
    if kind == "FusionTarget":
        client, settings = target.client, target.settings
        return [
            (
                "receivablesInvoices read",
                lambda: client.get_json(f"{settings.fscm_url}/receivablesInvoices", {"limit": 1}),
                True,
            ),
            (
                "standardReceipts read",
                lambda: client.get_json(f"{settings.fscm_url}/standardReceipts", {"limit": 1}),
                True,
            ),
            (
                "hubOrganizations read",
                lambda: client.get_json(f"{settings.crm_url}/hubOrganizations", {"limit": 1}),
                True,
            ),
        ]
    raise ProfileError(f"no connection check for ERP adapter {kind}")


def _run(
    report: SideReport, build: Callable[[], Any], probes_for: Callable[[Any], list], mask: Callable[[str], str]
) -> None:
    try:
        adapter = build()
    except AuthError as exc:  # credentials incomplete: refused before any call
        report.error = mask(str(exc))
        return
    except (ProfileError, ValueError) as exc:
        report.error = mask(str(exc))
        return
    responses = _Responses()
    session = _session_of(adapter)
    if session is not None:
        session.hooks.setdefault("response", []).append(responses)
    try:
        for index, (name, call, required) in enumerate(probes_for(adapter)):
            try:
                call()
            except AuthError as exc:
                if index == 0:
                    report.reachable = bool(responses.statuses)
                    report.probes.append(Probe(name, False, "credentials refused: " + mask(str(exc)), required))
                    return
                report.probes.append(Probe(name, False, "permission refused: " + mask(str(exc)), required))
            except TransientError as exc:
                if index == 0 and not responses.statuses:
                    report.probes.append(Probe(name, False, "unreachable: " + mask(str(exc)), required))
                    return
                report.probes.append(Probe(name, False, mask(str(exc)), required))
            except Exception as exc:  # a check reports every failure, whatever its class
                report.probes.append(Probe(name, False, mask(f"{type(exc).__name__}: {exc}"[:400]), required))
            else:
                report.probes.append(Probe(name, True, "ok", required))
            if index == 0:
                report.reachable = True
                report.authenticated = report.probes[-1].ok
                if not report.authenticated:
                    return
    finally:
        report.reachable = report.reachable or bool(responses.statuses)
        if responses.skews:
            report.clock_skew_seconds = round(sorted(responses.skews)[len(responses.skews) // 2], 1)
        with contextlib.suppress(Exception):  # closing (JDE logout) is best effort in a check
            adapter.close()


#: What each partner event source state means for the webhooks (EventSource.State: PENDING | ACTIVE | DELETED).
EVENT_SOURCE_STATES = {
    "ACTIVE": "ACTIVE: its partner event bus accepts Shopify's webhooks",
    "PENDING": (
        "PENDING: no partner event bus has accepted it (deploy the stack with ShopifyEventSourceName set to it); "
        "until then AWS drops Shopify's webhooks and only the poller finds the records"
    ),
    "DELETED": "DELETED: the source was deleted on Shopify's side; create it again in the app's settings and redeploy",
}


def event_source_probe(source_arn: str) -> Probe:
    """The state of the partner event source a connection's webhooks come through (read-only DescribeEventSource)."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = "EventBridge partner event source (webhooks)"
    region, _, source = source_arn.removeprefix("arn:aws:events:").partition("::event-source/")
    events = client("events")
    if events.meta.region_name != region:
        return Probe(name, False, f"the source is in {region}, the stack in {events.meta.region_name}: deploy it there")
    try:
        state = str(events.describe_event_source(Name=source).get("State", ""))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return Probe(name, False, f"{source}: {error.get('Code', 'error')}: {error.get('Message', '')}"[:400])
    except BotoCoreError as exc:
        return Probe(name, False, f"{source}: {type(exc).__name__}: {exc}"[:400])
    return Probe(name, state == "ACTIVE", f"{source} {EVENT_SOURCE_STATES.get(state, state)}")


def check_connection(connector: Connector, name: str, egress_ip: str = "") -> CheckReport:
    """Probe the store and the ERP of one connection; read-only, nothing is created or changed."""
    connection: Connection = connector.connection(name)
    secret_names = [n for n in (connection.secrets.store, connection.secrets.webhook, connection.secrets.erp) if n]
    mask = _masker(secret_names)
    store = SideReport("store", connection.store_type)
    erp = SideReport("erp", connection.erp_type)
    if connection.erp_type in ON_PREMISE_ERPS:
        erp.egress_ip = egress_ip or "unknown (deploy with UseVpc=true and read the EgressIp output)"
    _run(store, lambda: connector.source(name), _store_probes, mask)
    if getattr(connection.store, "webhook_delivery", "https") == "eventbridge":
        store.probes.append(event_source_probe(str(connection.store.eventbridge_source_arn)))  # type: ignore[attr-defined]
    _run(erp, lambda: connector.target(name), _erp_probes, mask)
    return CheckReport(name, store, erp)
