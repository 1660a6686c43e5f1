"""The Shopify ``StoreSource`` over the GraphQL Admin API: polling, fetching, mapping and the webhook keeper."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from mlconnector.envelope import RecordKind
from mlconnector.errors import ReviewError
from mlconnector.http import RetryPolicy
from mlconnector.models import Customer, Order, Refund
from mlconnector.sources.base import ChangedRecord, StoreSource, WebhookStatus
from mlconnector.sources.bulk import BulkPosition, BulkRecord, BulkStatus
from mlconnector.sources.shopify import mapping, payloads, queries
from mlconnector.sources.shopify.bulk import BulkOperationFailed, BulkOperations, Operation, regroup, resumed
from mlconnector.sources.shopify.client import QueryTooCostly, ShopifyClient, ShopifyError
from mlconnector.sources.shopify.settings import ShopifySettings
from mlconnector.sources.shopify.webhooks import ShopifyWebhooks, modified_at, needs_transactions, refund_modified_at

log = logging.getLogger(__name__)

RESOURCES = ("orders", "customers", "refunds")
#: What a polled order carries instead of its fields when one query could not list all of them.
UNREADABLE = "unreadable"


class ShopifySource(StoreSource):
    """One Shopify shop, through the GraphQL Admin API."""

    #: What ``mlc backfill`` reads with a bulk query operation; refunds are read as the poll reads them (a refund's
    #: lines, shipping, adjustments and transactions are connections inside the order's refunds list, which a bulk
    #: query may not select).
    bulk_resources = ("orders", "customers")

    def __init__(
        self,
        connection: str,
        settings: ShopifySettings,
        credentials: Mapping[str, str],
        *,
        session: requests.Session | None = None,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
        secrets_client: Callable[[], Any] | None = None,
    ) -> None:
        self.connection = connection
        self.settings = settings
        self._credentials = dict(credentials)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._client_options: dict[str, Any] = {
            "session": session,
            "retry_policy": retry_policy,
            "clock": self._clock,
            "secrets_client": secrets_client,
        }
        if sleep is not None:
            self._client_options["sleep"] = sleep
        self._sleep = sleep or time.sleep
        if monotonic is not None:
            self._client_options["monotonic"] = monotonic
        self._client: ShopifyClient | None = None
        self.sizes = queries.Sizes()
        self.webhooks = ShopifyWebhooks(connection, settings.model_dump(mode="json"), credentials, clock=self._clock)

    def __repr__(self) -> str:
        return f"ShopifySource(connection={self.connection!r}, shop={self.settings.shop_domain!r})"

    @property
    def client(self) -> ShopifyClient:
        if self._client is None:
            self._client = ShopifyClient(self.settings, self._credentials, **self._client_options)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # ------------------------------------------------------------------ polling

    def changed_since(self, resource: str, since: datetime) -> Iterator[ChangedRecord]:
        """Records of ``resource`` (orders | customers | refunds) updated at or after ``since``.

        Orders and customers: ``query: "updated_at:>='...'"`` sorted by ``UPDATED_AT``, cursor-paged
        (``pageInfo { hasNextPage endCursor }``). Refunds have no list of their own: they come from the
        changed orders, each with the order's currency, ``taxes_included`` and transactions (for
        validation); their ``modified_at`` is their creation time (refunds never change). Every record
        is the REST-shaped payload a webhook would deliver (``payloads``).
        """
        search = _updated_since(since)
        if resource == "orders":
            for node in self._pages("orders", queries.orders_page(self.sizes), self._order_page_cost, search):
                yield self._order_record(
                    node, lambda node=node: self._complete_order(node), lambda node=node: self._transactions(node["id"])
                )
        elif resource == "customers":
            for node in self._pages("customers", queries.CUSTOMERS_PAGE, queries.customers_page_cost, search):
                customer = payloads.customer(node)
                yield ChangedRecord(RecordKind.CUSTOMER, str(customer["id"]), modified_at(customer), customer)
        elif resource == "refunds":
            document = queries.refund_ids_page(self.sizes)
            for node in self._pages("orders", document, self._refund_ids_page_cost, search):
                refunds = node.get("refunds") or []
                if not refunds:
                    continue
                if len(refunds) >= self.sizes.refund_ids:
                    refunds = self._all_refunds(
                        queries.ALL_REFUND_IDS, queries.ALL_REFUND_IDS_COST, queries.ALL_REFUND_IDS_FIRST, node["id"]
                    )
                try:
                    context: dict[str, Any] = self._order_context(node["id"])
                except ReviewError as exc:  # mapping the refund fetches it again, and sends it to review with this
                    log.warning("shopify order context incomplete", extra={"order": node["id"], "reason": str(exc)})
                    context = {}
                for summary in refunds:
                    refund = self._refund(summary["id"], context)
                    yield ChangedRecord(
                        RecordKind.REFUND,
                        f"{refund['order_id']}:{refund['id']}",
                        refund_modified_at(refund),
                        refund,
                    )
        else:
            raise ValueError(f"unknown Shopify resource {resource!r}; expected one of {', '.join(RESOURCES)}")

    def _order_record(
        self,
        node: Mapping[str, Any],
        read: Callable[[], dict[str, Any]],
        transactions: Callable[[], list[dict[str, Any]]],
    ) -> ChangedRecord:
        """A changed order as a webhook delivers it: ``read`` gives the payload, ``transactions`` its transactions
        (merged when mapping needs them). One the adapter cannot read whole is enqueued all the same, as a stub
        that mapping sends to review with the reason; so is the poll's, so is the bulk read's."""
        try:
            order = read()
        except ReviewError as exc:
            order = {"id": payloads.legacy_id(node["id"]), "updated_at": node["updatedAt"], UNREADABLE: exc.reason}
            return ChangedRecord(RecordKind.ORDER, str(order["id"]), modified_at(order), order)
        if needs_transactions(order, self.settings.paid_financial_statuses):
            try:
                order["transactions"] = transactions()
            except ReviewError as exc:  # mapping the order fetches them again, and sends it to review
                log.warning("shopify transactions incomplete", extra={"order": node["id"], "reason": str(exc)})
        return ChangedRecord(RecordKind.ORDER, str(order["id"]), modified_at(order), order)

    # ------------------------------------------------------------------ bulk

    def read_in_bulk(
        self,
        resource: str,
        since: datetime,
        resume: BulkPosition | None,
        report: Callable[[BulkStatus], None],
    ) -> Iterator[BulkRecord]:
        """Orders or customers updated at or after ``since``, oldest change first, through a bulk query operation.

        ``resume``: the operation of an interrupted backfill and how far its result was read. While it runs it is
        waited for, once completed its result is read on after that point; failed, canceled or expired, a new
        operation reads from ``since`` (the backfill's checkpoint). A bulk order is the poll's order: its line items
        and shipping lines come as rows of their own, its transactions inline, and the transactions of its refunds
        from one query per refunded order (``all_refund_summaries`` for as many refunds as it has).
        """
        if resource not in self.bulk_resources:
            raise ValueError(f"Shopify reads {', '.join(self.bulk_resources)} in bulk, not {resource!r}")
        bulk = BulkOperations(self.client, poll_seconds=self.settings.bulk_poll_seconds, sleep=self._sleep)
        operation = bulk.get(resume.operation) if resume else None
        if resume and (operation is None or operation.status not in ("CREATED", "RUNNING", "COMPLETED")):
            gone = operation.status.lower() if operation else "unknown to the shop"
            report(BulkStatus(resume.operation, gone.upper(), note=f"{resume.operation} {gone}; starting a new one"))
            operation, resume = None, None
        if operation is None:
            search = _updated_since(since)
            operation = bulk.start(
                queries.bulk_orders(search) if resource == "orders" else queries.bulk_customers(search)
            )

        def told(found: Operation) -> None:
            report(
                BulkStatus(found.id, found.status, found.objects, found.roots if found.status == "COMPLETED" else None)
            )

        told(operation)
        operation = bulk.wait(operation, told)
        if operation.status != "COMPLETED" or not operation.url:
            raise BulkOperationFailed(self.settings.shop_domain, operation)
        skip = resume.lines if resume else 0
        lines = resumed(bulk.lines(operation.url), skip, resume.last if resume else None)
        for grouped in regroup(lines, queries.BULK_CHILDREN):
            record = self._bulk_order(grouped.node) if resource == "orders" else self._bulk_customer(grouped.node)
            yield BulkRecord(record, BulkPosition(operation.id, skip + grouped.lines, grouped.node["id"]))

    def _bulk_order(self, node: dict[str, Any]) -> ChangedRecord:
        refunds = node.get("refunds") or []

        def read() -> dict[str, Any]:
            summaries: list[dict[str, Any]] = []
            if len(refunds) >= queries.ALL_REFUNDS:
                raise ReviewError(f"Shopify order {node['id']} has more refunds than one query can list")
            if refunds:
                document = queries.all_refund_summaries(self.sizes, len(refunds))
                cost = queries.all_refund_summaries_cost(self.sizes, len(refunds))
                summaries = self._all_refunds(document, cost, queries.ALL_REFUNDS, node["id"])
            return self._order_payload(node, summaries)

        return self._order_record(node, read, lambda: self._transactions_of(node))

    @staticmethod
    def _bulk_customer(node: dict[str, Any]) -> ChangedRecord:
        customer = payloads.customer(node)
        return ChangedRecord(RecordKind.CUSTOMER, str(customer["id"]), modified_at(customer), customer)

    def _order_page_cost(self, first: int) -> int:
        return queries.orders_page_cost(self.sizes, first)

    def _refund_ids_page_cost(self, first: int) -> int:
        return queries.refund_ids_page_cost(self.sizes, first)

    def _pages(self, field: str, document: str, cost: Callable[[int], int], search: str) -> Iterator[dict[str, Any]]:
        """Every node of the ``field`` connection matching ``search``, page after page.

        A page asks for as many nodes as fit the single-query cost limit and the shop's bucket (at most
        ``page_limit``); when Shopify still finds it too costly (its own reckoning may differ), the page is
        asked for again at half the size.
        """
        first = queries.page_size(cost(1) - cost(0), self.settings.page_limit, self.client.bucket.maximum)
        after: str | None = None
        while True:
            variables = {"first": first, "after": after, "query": search}
            try:
                data = self.client.graphql(document, variables, cost=cost(first))
            except QueryTooCostly:
                if first == 1:
                    raise
                first = max(1, first // 2)
                log.warning("shopify page too costly; asking for fewer", extra={"shop": self.settings.shop_domain})
                continue
            connection = data[field]
            yield from connection["nodes"]
            info = connection["pageInfo"]
            if not info["hasNextPage"]:
                return
            after = info["endCursor"]

    def _rest_of(self, owner: str, node_id: str, field: str, connection: dict[str, Any]) -> dict[str, Any]:
        """``connection`` with every node after its first page (``node(id:)`` follow-ups)."""
        found = list(connection.get("nodes") or ())
        info = connection.get("pageInfo") or {}
        document, cost = queries.more_of(owner, field), queries.more_cost(owner, field)
        while info.get("hasNextPage"):
            data = self.client.graphql(document, {"id": node_id, "after": info["endCursor"]}, cost=cost)
            page = (data.get("node") or {}).get(field) or {}
            found += page.get("nodes") or ()
            info = page.get("pageInfo") or {}
        return {"nodes": found}

    def _complete(self, owner: str, node: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
        node = dict(node)
        for field in fields:
            if field in node:
                node[field] = self._rest_of(owner, node["id"], field, node[field])
        return node

    def _all_refunds(self, document: str, cost: int, most: int, order_gid: str) -> list[dict[str, Any]]:
        """An order's refunds when its page showed as many as it asked for: all of them (fewer than ``most``)."""
        order = self.client.graphql(document, {"id": order_gid}, cost=cost)["order"] or {}
        refunds = list(order.get("refunds") or ())
        if len(refunds) >= most:
            raise ReviewError(f"Shopify order {order_gid} has more refunds than one query can list")
        return refunds

    def _complete_order(self, node: dict[str, Any], transactions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        node = self._complete("Order", node, ("lineItems", "shippingLines"))
        refunds = node.get("refunds") or []
        if len(refunds) >= self.sizes.refunds:
            document, cost = queries.all_refund_summaries(self.sizes), queries.all_refund_summaries_cost(self.sizes)
            refunds = self._all_refunds(document, cost, queries.ALL_REFUNDS, node["id"])
        return self._order_payload(node, refunds, transactions)

    def _order_payload(
        self, node: dict[str, Any], refunds: list[dict[str, Any]], transactions: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The REST-shaped order of a node whose connections are whole, with its refund summaries completed."""
        node = {**node, "refunds": [self._complete("Refund", r, ("transactions",)) for r in refunds]}
        return payloads.order(node, transactions)

    def _transactions(self, order_gid: str) -> list[dict[str, Any]]:
        order = self.client.graphql(queries.ORDER_TRANSACTIONS, {"id": order_gid}, cost=queries.ORDER_CONTEXT_COST)
        if order["order"] is None:
            raise ReviewError(f"Shopify order {order_gid} does not exist")
        return self._transactions_of(order["order"])

    @staticmethod
    def _transactions_of(order: Mapping[str, Any]) -> list[dict[str, Any]]:
        transactions = list(order.get("transactions") or ())
        if len(transactions) >= queries.TRANSACTIONS:
            raise ReviewError(f"Shopify order {order['id']} has more transactions than one query can list")
        order_id = payloads.legacy_id(order["id"])
        return [payloads.transaction(t, order_id) for t in transactions]

    def _order_context(self, order_gid: str) -> dict[str, Any]:
        """What a refund is mapped with from its order: currency, taxes_included and the transactions."""
        data = self.client.graphql(queries.ORDER_CONTEXT, {"id": order_gid}, cost=queries.ORDER_CONTEXT_COST)
        order = data["order"]
        if order is None:
            raise ReviewError(f"Shopify order {order_gid} does not exist")
        return {
            "order_id": payloads.legacy_id(order["id"]),
            "currency": order.get("currencyCode"),
            "taxes_included": bool(order.get("taxesIncluded")),
            "order_transactions": self._transactions_of(order),
        }

    def _refund(self, refund_gid: str, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A refund as ``refunds/create`` delivers it, with its order's context (fetched when not given)."""
        data = self.client.graphql(
            queries.refund_by_id(self.sizes), {"id": refund_gid}, cost=queries.refund_by_id_cost(self.sizes)
        )
        node = data["refund"]
        if node is None:
            raise ReviewError(f"Shopify refund {refund_gid} does not exist")
        node = self._complete(
            "Refund", node, ("transactions", "refundLineItems", "refundShippingLines", "orderAdjustments")
        )
        negated = self.settings.graphql_adjustment_amounts == "refund_perspective"
        refund = payloads.refund(node, payloads.legacy_id(node["order"]["id"]), adjustments_negated=negated)
        if context is None:
            context = self._order_context(node["order"]["id"])
        return {**refund, **context}

    # ------------------------------------------------------------------ fetch

    def fetch(self, kind: RecordKind, object_id: str) -> dict[str, Any]:
        """The full record: an order with its ``transactions`` merged, a customer, or "order:refund"
        as the refund with the order context (currency, taxes_included, ``order_transactions``)."""
        kind = RecordKind(kind)
        try:
            if kind is RecordKind.ORDER:
                order_gid = payloads.gid("Order", object_id)
                data = self.client.graphql(
                    queries.order_by_id(self.sizes), {"id": order_gid}, cost=queries.order_cost(self.sizes)
                )
                if data["order"] is None:
                    raise ReviewError(f"Shopify order {object_id} does not exist")
                return self._complete_order(data["order"], self._transactions(order_gid))
            if kind is RecordKind.CUSTOMER:
                customer_gid = payloads.gid("Customer", object_id)
                data = self.client.graphql(queries.CUSTOMER_BY_ID, {"id": customer_gid}, cost=queries.CUSTOMER_COST)
                if data["customer"] is None:
                    raise ReviewError(f"Shopify customer {object_id} does not exist")
                return payloads.customer(data["customer"])
            if kind is RecordKind.REFUND:
                order_id, _, refund_id = object_id.partition(":")
                refund = self._refund(payloads.gid("Refund", refund_id))
                if refund["order_id"] != int(order_id):
                    raise ReviewError(
                        f"Shopify refund {refund_id} belongs to order {refund['order_id']}, not {order_id}"
                    )
                return refund
        except ValueError:
            raise ReviewError(f"malformed Shopify {kind} id {object_id!r}") from None
        raise ReviewError(f"Shopify has no {kind} records")

    # ------------------------------------------------------------------ mapping

    def to_order(self, payload: dict[str, Any]) -> Order:
        """Map an order; split-tender or gift-card orders get their transactions fetched first."""
        if UNREADABLE in payload:
            raise ReviewError(f"Shopify order {payload['id']} could not be read whole: {payload[UNREADABLE]}")
        if "transactions" not in payload and needs_transactions(payload, self.settings.paid_financial_statuses):
            payload = {**payload, "transactions": self._transactions(payloads.gid("Order", payload["id"]))}
        return mapping.to_order(payload, self.settings.paid_financial_statuses)

    def to_refund(self, payload: dict[str, Any]) -> Refund:
        """Map a refund after validating it against the order's transactions (fetched when not carried).

        A mismatch raises ``ReviewError``: the refund goes to review, not to the ledger.
        """
        if "order_transactions" not in payload:
            payload = {**payload, **self._order_context(payloads.gid("Order", payload["order_id"]))}
        return mapping.to_refund(payload, False if self.settings.refund_subtotals == "tax_exclusive" else None)

    def to_customer(self, payload: dict[str, Any]) -> Customer:
        return mapping.to_customer(payload)

    def validate_refund_against_order(
        self, order_payload: Mapping[str, Any], refund_payload: Mapping[str, Any]
    ) -> list[str]:
        return mapping.validate_refund_against_order(order_payload, refund_payload)

    # ------------------------------------------------------------------ keeper

    def webhook_address(self, delivery_url: str) -> str:
        return self.settings.webhook_address(delivery_url)  # the EventBridge source ARN when so configured

    def ensure_webhooks(self, delivery_url: str) -> list[WebhookStatus]:
        """Every configured topic has a subscription to ``delivery_url`` that delivers whole JSON payloads.

        Shopify deletes (rather than disables) subscriptions whose deliveries keep failing, so there is
        nothing to re-enable: absent → ``webhookSubscriptionCreate`` ("created"); present but delivering
        XML or trimmed payloads (``includeFields`` / ``filter``, which would leave out what the mapper
        reads) → ``webhookSubscriptionUpdate`` ("updated"); present as it should be → "ok".
        """
        delivery_url = self.webhook_address(delivery_url)
        ours: dict[str, dict[str, Any]] = {}
        after: str | None = None
        while True:
            data = self.client.graphql(
                queries.WEBHOOKS_PAGE,
                {"first": self.sizes.webhooks, "after": after},
                cost=queries.connection_cost(self.sizes.webhooks, 1),
            )
            connection = data["webhookSubscriptions"]
            for hook in connection["nodes"]:
                if _same_url(str(hook.get("uri") or ""), delivery_url):
                    ours.setdefault(webhook_topic(str(hook["topic"])), hook)
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["pageInfo"]["endCursor"]
        wanted = {"uri": delivery_url, "format": "JSON"}
        results: list[WebhookStatus] = []
        for topic in self.settings.webhook_topics:
            hook = ours.get(topic)
            if (
                hook is not None
                and hook.get("format") == "JSON"
                and not hook.get("includeFields")
                and not hook.get("filter")
            ):
                results.append(WebhookStatus(topic, str(payloads.legacy_id(hook["id"])), "active", "ok"))
                continue
            if hook is None:
                variables = {"topic": graphql_topic(topic), "subscription": wanted}
                done = self._subscription(queries.WEBHOOK_CREATE, "webhookSubscriptionCreate", variables)
                action = "created"
            else:
                variables = {"id": hook["id"], "subscription": {**wanted, "includeFields": [], "filter": ""}}
                done = self._subscription(queries.WEBHOOK_UPDATE, "webhookSubscriptionUpdate", variables)
                action = "updated"
            hook_id = str(payloads.legacy_id(done["id"]))
            log.warning(
                f"shopify webhook {action}", extra={"connection": self.connection, "topic": topic, "hook_id": hook_id}
            )
            results.append(WebhookStatus(topic, hook_id, "active", action))
        return results

    def _subscription(self, document: str, field: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        result = self.client.graphql(document, variables, cost=queries.MUTATION_COST)[field] or {}
        problems = [str(e.get("message")) for e in result.get("userErrors") or ()]
        if problems or not result.get("webhookSubscription"):
            raise ShopifyError(
                f"Shopify shop {self.settings.shop_domain} refused {field}: {'; '.join(problems) or 'no subscription'}",
                status=200,
            )
        return result["webhookSubscription"]


def _updated_since(since: datetime) -> str:
    """Shopify's search for records updated at or after ``since``."""
    since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
    return f"updated_at:>='{since.isoformat().replace('+00:00', 'Z')}'"


def graphql_topic(topic: str) -> str:
    """``orders/create`` → ``ORDERS_CREATE`` (``WebhookSubscriptionTopic``)."""
    return topic.replace("/", "_").upper()


def webhook_topic(topic: str) -> str:
    """``ORDERS_CREATE`` → ``orders/create`` (how deliveries name it in ``X-Shopify-Topic``)."""
    resource, _, event = topic.lower().partition("_")
    return f"{resource}/{event}"


def _same_url(a: str, b: str) -> bool:
    return a.strip().rstrip("/") == b.strip().rstrip("/")
