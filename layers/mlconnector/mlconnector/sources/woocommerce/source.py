"""``WooCommerceSource``: webhooks in, changed records out, fetch, map, and the webhook keeper."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from mlconnector.envelope import RecordKind
from mlconnector.errors import ConnectorError, ReviewError
from mlconnector.http import RetryPolicy
from mlconnector.models import Customer, Order, Refund
from mlconnector.sources.base import ChangedRecord, StoreSource, WebhookStatus
from mlconnector.sources.woocommerce import mapping
from mlconnector.sources.woocommerce.client import WooCommerceClient
from mlconnector.sources.woocommerce.settings import WooCommerceSettings
from mlconnector.sources.woocommerce.webhooks import WooCommerceWebhooks, modified_at

log = logging.getLogger(__name__)

RESOURCES = ("orders", "customers", "refunds")
MAX_STEP_BACKS = 1000


class WooCommerceSource(StoreSource):
    """One WooCommerce store behind one connection.

    ``credentials``: ``consumer_key`` + ``consumer_secret`` for the REST API, ``webhook_secret`` for
    delivery signatures (the secret as entered in WooCommerce; it is HTML-entity-decoded the way
    WooCommerce does before use). A receiver only needs the webhook secret, a poller only the keys.
    """

    def __init__(
        self,
        connection: str,
        settings: WooCommerceSettings,
        credentials: Mapping[str, str],
        *,
        session: requests.Session | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.connection = connection
        self.settings = settings
        self._credentials = dict(credentials)
        self._session = session
        self._retry_policy = retry_policy
        self._client: WooCommerceClient | None = None
        self.webhooks = WooCommerceWebhooks(connection, settings.model_dump(mode="json"), credentials)

    def __repr__(self) -> str:
        return f"WooCommerceSource(connection={self.connection!r}, base_url={self.settings.base_url!r})"

    @property
    def client(self) -> WooCommerceClient:
        if self._client is None:
            self._client = WooCommerceClient(
                self.settings,
                self._credentials.get("consumer_key", ""),
                self._credentials.get("consumer_secret", ""),
                session=self._session,
                retry_policy=self._retry_policy,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # ------------------------------------------------------------------ polling

    def changed_since(self, resource: str, since: datetime) -> Iterator[ChangedRecord]:
        """Records of ``resource`` (orders | customers | refunds) modified at or after ``since``.

        ``since`` is used as given: the poller subtracts its overlap window before calling. Orders
        are listed with ``modified_after`` (GMT) ordered by id ascending, which keeps a record's
        position stable when it is modified mid-poll; pages overlap by one record so that records
        leaving the window (deleted, trashed) cannot shift an unseen record past us. A record may
        be yielded twice; the pipeline's idempotency makes that harmless.

        Customers: WooCommerce's customer list has no date filter, so every customer is scanned and
        filtered on ``date_modified_gmt``. Refunds: there is no refund list across orders, so refunds
        come from the changed orders that have ``refunds[]`` (``modified_at`` is the order's).
        """
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
        if resource == "orders":
            for order in self._changed_orders(since):
                yield ChangedRecord(RecordKind.ORDER, str(order["id"]), modified_at(order), order)
        elif resource == "customers":
            params = {"orderby": "id", "order": "asc", "role": "all"}
            for customer in self._scan("customers", params):
                stamp = modified_at(customer)
                if stamp >= since:
                    yield ChangedRecord(RecordKind.CUSTOMER, str(customer["id"]), stamp, customer)
        elif resource == "refunds":
            for order in self._changed_orders(since):
                if not order.get("refunds"):
                    continue
                stamp = modified_at(order)
                for refund in self._order_refunds(order):
                    yield ChangedRecord(
                        RecordKind.REFUND, f"{order['id']}:{refund['id']}", stamp, refund, version=str(refund["id"])
                    )
        else:
            raise ValueError(f"unknown WooCommerce resource {resource!r}; expected one of {', '.join(RESOURCES)}")

    def _changed_orders(self, since: datetime) -> Iterator[dict[str, Any]]:
        # modified_after is exclusive (WP_Date_Query, second resolution): one second earlier makes it "at or after".
        after = since.replace(microsecond=0, tzinfo=None) - timedelta(seconds=1)
        params = {"modified_after": after.isoformat(), "dates_are_gmt": "true", "orderby": "id", "order": "asc"}
        return self._scan("orders", params)

    def _scan(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Walk an id-ascending collection with offset paging, each page overlapping the last by one record."""
        per_page = self.settings.per_page
        offset, last_id, step_backs = 0, 0, 0
        while True:
            items, total = self.client.get_list(path, {**params, "per_page": per_page, "offset": offset})
            if last_id and offset > 0 and (not items or int(items[0]["id"]) > last_id):
                # Records before our position left the result set: step back until we overlap again.
                step_backs += 1
                if step_backs > MAX_STEP_BACKS:
                    raise ConnectorError(f"WooCommerce GET {path}: result set keeps shrinking while paging")
                offset = max(0, offset - per_page)
                continue
            fresh = [item for item in items if int(item["id"]) > last_id]
            yield from fresh
            if fresh:
                last_id = int(fresh[-1]["id"])
            if len(items) < per_page or (total is not None and offset + len(items) >= total):
                return
            offset += len(items) - 1

    def _order_refunds(self, order: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        for page in self.client.pages(f"orders/{int(order['id'])}/refunds"):
            for refund in page:
                yield mapping.refund_in_order(refund, order)

    # ------------------------------------------------------------------ fetch

    def fetch(self, kind: RecordKind, object_id: str) -> dict[str, Any]:
        """The full record: orders/{id}, customers/{id}, or "order:refund" → orders/{order}/refunds/{refund}."""
        kind = RecordKind(kind)
        try:
            if kind is RecordKind.ORDER:
                return self.client.get_json(f"orders/{int(object_id)}")
            if kind is RecordKind.CUSTOMER:
                return self.client.get_json(f"customers/{int(object_id)}")
            if kind is RecordKind.REFUND:
                order_id, _, refund_id = object_id.partition(":")
                refund = self.client.get_json(f"orders/{int(order_id)}/refunds/{int(refund_id)}")
                order = self.client.get_json(f"orders/{int(order_id)}")
                return mapping.refund_in_order(refund, order)
        except ValueError:
            raise ReviewError(f"malformed WooCommerce {kind} id {object_id!r}") from None
        raise ReviewError(f"WooCommerce has no {kind} records")

    # ------------------------------------------------------------------ mapping

    def to_order(self, payload: dict[str, Any]) -> Order:
        return mapping.to_order(payload, self.settings.paid_statuses)

    def to_refund(self, payload: dict[str, Any]) -> Refund:
        return mapping.to_refund(payload)

    def to_customer(self, payload: dict[str, Any]) -> Customer:
        return mapping.to_customer(payload)

    # ------------------------------------------------------------------ keeper

    def ensure_webhooks(self, delivery_url: str) -> list[WebhookStatus]:
        """Make every configured topic have an active hook to ``delivery_url``.

        disabled (WooCommerce gave up after repeated failures) or paused → PUT status=active
        ("reactivated"); no hook for the topic → POST one with our webhook secret ("created");
        already active → "ok".
        """
        hooks = [h for page in self.client.pages("webhooks") for h in page]
        ours: dict[str, list[dict[str, Any]]] = {}
        for hook in hooks:
            if _same_url(str(hook.get("delivery_url") or ""), delivery_url):
                ours.setdefault(str(hook.get("topic")), []).append(hook)
        results: list[WebhookStatus] = []
        for topic in self.settings.webhook_topics:
            candidates = ours.get(topic, [])
            active = next((h for h in candidates if h.get("status") == "active"), None)
            if active is not None:
                results.append(WebhookStatus(topic, str(active["id"]), "active", "ok"))
            elif candidates:
                hook = candidates[0]
                updated = self.client.send_json("PUT", f"webhooks/{int(hook['id'])}", {"status": "active"})
                log.warning(
                    "woocommerce webhook reactivated",
                    extra={"connection": self.connection, "topic": topic, "hook_id": hook["id"], "was": hook["status"]},
                )
                results.append(WebhookStatus(topic, str(hook["id"]), str(updated.get("status")), "reactivated"))
            else:
                secret = self._credentials.get("webhook_secret")
                if not secret:
                    raise ConnectorError(f"connection {self.connection}: no webhook_secret to register webhooks with")
                body = {
                    "name": f"ml-connector {self.connection} {topic}",
                    "topic": topic,
                    "delivery_url": delivery_url,
                    "secret": secret,
                    "status": "active",
                }
                created = self.client.send_json("POST", "webhooks", body)
                log.warning(
                    "woocommerce webhook created",
                    extra={"connection": self.connection, "topic": topic, "hook_id": created.get("id")},
                )
                results.append(WebhookStatus(topic, str(created.get("id")), str(created.get("status")), "created"))
        return results


def _same_url(a: str, b: str) -> bool:
    return a.strip().rstrip("/") == b.strip().rstrip("/")
