"""``BigCommerceSource``: stub webhooks in, changed records out, fetch, map, and the webhook keeper."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from mlconnector.envelope import RecordKind
from mlconnector.errors import ConnectorError, ReviewError
from mlconnector.http import RetryPolicy
from mlconnector.models import Customer, Order, Refund
from mlconnector.sources.base import ChangedRecord, StoreSource, WebhookStatus
from mlconnector.sources.bigcommerce import mapping
from mlconnector.sources.bigcommerce.client import BigCommerceClient, BigCommerceError
from mlconnector.sources.bigcommerce.settings import BigCommerceSettings
from mlconnector.sources.bigcommerce.webhooks import BigCommerceWebhooks

log = logging.getLogger(__name__)

RESOURCES = ("orders", "customers", "refunds")
# v2 orders carry their order-level fees only when asked (``fees`` is otherwise a {url, resource} link);
# order taxes name their product and line type only with details=true.
ORDER_INCLUDES = {"include": "fees"}
TAX_DETAILS = {"details": "true"}
MAX_SAME_STAMP_PAGES = 10_000


class BigCommerceSource(StoreSource):
    """One BigCommerce store behind one connection.

    ``credentials``: ``access_token`` (REST), ``client_secret`` (Standard Webhooks key) and
    ``webhook_token`` (value of the custom header registered with each hook). A receiver needs
    only the last two, a poller only the first.
    """

    def __init__(
        self,
        connection: str,
        settings: BigCommerceSettings,
        credentials: Mapping[str, str],
        *,
        session: requests.Session | None = None,
        retry_policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.connection = connection
        self.settings = settings
        self._credentials = dict(credentials)
        self._session = session
        self._retry_policy = retry_policy
        self._clock = clock
        self._sleep = sleep
        self._client: BigCommerceClient | None = None
        self.webhooks = BigCommerceWebhooks(
            connection, settings.model_dump(mode="json"), credentials, wall_clock=wall_clock
        )

    def __repr__(self) -> str:
        return f"BigCommerceSource(connection={self.connection!r}, store_hash={self.settings.store_hash!r})"

    @property
    def client(self) -> BigCommerceClient:
        if self._client is None:
            self._client = BigCommerceClient(
                self.settings,
                self._credentials.get("access_token", ""),
                session=self._session,
                retry_policy=self._retry_policy,
                clock=self._clock,
                sleep=self._sleep,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # ------------------------------------------------------------------ fetch

    def fetch(self, kind: RecordKind, object_id: str) -> dict[str, Any]:
        """The full record: the combined order fetch, "order:refund" → refund + order context, or a customer."""
        kind = RecordKind(kind)
        try:
            if kind is RecordKind.ORDER:
                return self._order_bundle(int(object_id))
            if kind is RecordKind.REFUND:
                order_part, _, refund_part = object_id.partition(":")
                order_id, refund_id = int(order_part), int(refund_part)
                refunds = self.client.v3_all(f"orders/{order_id}/payment_actions/refunds")
                refund = next((r for r in refunds if int(r.get("id", 0)) == refund_id), None)
                if refund is None:
                    raise ReviewError(f"BigCommerce order {order_id} has no refund {refund_id}")
                return self._refund_bundle(refund, order_id)
            if kind is RecordKind.CUSTOMER:
                found = self.client.v3_all("customers", {"id:in": int(object_id), "include": "addresses"})
                if not found:
                    raise ReviewError(f"BigCommerce has no customer {object_id}")
                return found[0]
        except ValueError:
            raise ReviewError(f"malformed BigCommerce {kind} id {object_id!r}") from None
        except BigCommerceError as exc:
            if exc.status == 404:
                raise ReviewError(f"BigCommerce {kind} {object_id} not found: {exc}") from None
            raise
        raise ReviewError(f"BigCommerce has no {kind} records")

    def _order_bundle(self, order_id: int, order: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The v2 order (with its fees) and products, shipping addresses, coupons and taxes, plus v3
        transactions and refunds. ``order`` is the list's summary, already read with its fees."""
        c = self.client
        return {
            "order": dict(order) if order is not None else c.get("v2", f"orders/{order_id}", ORDER_INCLUDES),
            "products": c.v2_all(f"orders/{order_id}/products"),
            "shipping_addresses": c.v2_all(f"orders/{order_id}/shipping_addresses"),
            "coupons": c.v2_all(f"orders/{order_id}/coupons"),
            "taxes": c.v2_all(f"orders/{order_id}/taxes", TAX_DETAILS),
            "transactions": c.v3_all(f"orders/{order_id}/transactions"),
            "refunds": c.v3_all(f"orders/{order_id}/payment_actions/refunds"),
        }

    def _refund_bundle(self, refund: Mapping[str, Any], order_id: int) -> dict[str, Any]:
        c = self.client
        return {
            "refund": dict(refund),
            "order": c.get("v2", f"orders/{order_id}", ORDER_INCLUDES),
            "products": c.v2_all(f"orders/{order_id}/products"),
            "taxes": c.v2_all(f"orders/{order_id}/taxes", TAX_DETAILS),
        }

    # ------------------------------------------------------------------ polling

    def changed_since(self, resource: str, since: datetime) -> Iterator[ChangedRecord]:
        """Records of ``resource`` (orders | customers | refunds) modified (refunds: created) at or after ``since``.

        Orders and customers are read sorted by ``date_modified`` ascending with keyset paging: each
        next request starts at the newest stamp seen (the filters are inclusive, second resolution)
        and skips what was already yielded at that stamp. Plain page numbers over a date-sorted list
        would skip a record whenever one read earlier is modified mid-poll and moves to the end.
        Order payloads are the full combined fetch, so the poster does not fetch again.
        Refunds are listed by ``created:min`` (ascending id, immutable, so page numbers are safe).
        """
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
        since = since.replace(microsecond=0)  # BigCommerce stamps have second resolution
        if resource == "orders":
            for summary, stamp in self._keyset(self._order_page, mapping.order_modified_at, since):
                bundle = self._order_bundle(int(summary["id"]), summary)
                yield ChangedRecord(RecordKind.ORDER, str(summary["id"]), stamp, bundle)
        elif resource == "customers":
            for customer, stamp in self._keyset(self._customer_page, mapping.customer_modified_at, since):
                yield ChangedRecord(RecordKind.CUSTOMER, str(customer["id"]), stamp, customer)
        elif resource == "refunds":
            params = {"created:min": _rfc3339(since)}
            for page in self.client.v3_pages("orders/payment_actions/refunds", params):
                for refund in page:
                    stamp = mapping.iso(refund.get("created"))
                    if stamp is None:
                        raise ReviewError(f"BigCommerce refund {refund.get('id')} has no created date")
                    order_id = int(refund["order_id"])
                    yield ChangedRecord(
                        RecordKind.REFUND, f"{order_id}:{refund['id']}", stamp, self._refund_bundle(refund, order_id)
                    )
        else:
            raise ValueError(f"unknown BigCommerce resource {resource!r}; expected one of {', '.join(RESOURCES)}")

    def _order_page(self, since: datetime, page: int) -> tuple[list[dict[str, Any]], bool]:
        params = {"min_date_modified": _rfc2822(since), "sort": "date_modified:asc", **ORDER_INCLUDES}
        items = self.client.v2_list("orders", params, page=page)
        return items, len(items) >= self.settings.page_limit

    def _customer_page(self, since: datetime, page: int) -> tuple[list[dict[str, Any]], bool]:
        params = {"date_modified:min": _rfc3339(since), "sort": "date_modified:asc", "include": "addresses"}
        return self.client.v3_page("customers", params, page=page)

    @staticmethod
    def _keyset(
        fetch_page: Callable[[datetime, int], tuple[list[dict[str, Any]], bool]],
        stamp_of: Callable[[Mapping[str, Any]], datetime],
        since: datetime,
    ) -> Iterator[tuple[dict[str, Any], datetime]]:
        cursor, page, same_stamp_pages = since.replace(microsecond=0), 1, 0
        yielded: set[tuple[str, datetime]] = set()
        while True:
            items, more = fetch_page(cursor, page)
            for item in items:
                stamp = stamp_of(item)
                key = (str(item.get("id")), stamp)
                if stamp >= since and key not in yielded:
                    yielded.add(key)
                    yield item, stamp
            if not more or not items:
                return
            newest = stamp_of(items[-1]).replace(microsecond=0)
            if newest > cursor:
                cursor, page, same_stamp_pages = newest, 1, 0
            else:  # a whole page shares one second: only page numbers move us on
                page += 1
                same_stamp_pages += 1
                if same_stamp_pages > MAX_SAME_STAMP_PAGES:
                    raise ConnectorError("BigCommerce paging does not advance")

    # ------------------------------------------------------------------ mapping

    def to_order(self, payload: dict[str, Any]) -> Order:
        return mapping.to_order(payload, self.settings.paid_status_ids)

    def to_refund(self, payload: dict[str, Any]) -> Refund:
        return mapping.to_refund(payload)

    def to_customer(self, payload: dict[str, Any]) -> Customer:
        return mapping.to_customer(payload)

    # ------------------------------------------------------------------ keeper

    def ensure_webhooks(self, delivery_url: str) -> list[WebhookStatus]:
        """Make every configured scope have an active hook to ``delivery_url`` carrying our custom header.

        Deactivated (BigCommerce gave up after ~48 h of failures) → PUT is_active=true
        ("reactivated"); missing → POST ("created"); active but with a stale custom header → PUT
        the header ("updated"); else "ok".
        """
        token = self._credentials.get("webhook_token", "")
        header = self.settings.webhook_header_name
        hooks = self.client.v3_all("hooks")
        ours: dict[str, list[dict[str, Any]]] = {}
        for hook in hooks:
            if _same_url(str(hook.get("destination") or ""), delivery_url):
                ours.setdefault(str(hook.get("scope")), []).append(hook)
        results: list[WebhookStatus] = []
        for scope in self.settings.webhook_scopes:
            candidates = sorted(ours.get(scope, []), key=lambda h: (not h.get("is_active"), int(h.get("id", 0))))
            wanted_headers = {header: token} if token else {}
            if not candidates:
                created = self._hook_data(
                    self.client.send_json(
                        "POST",
                        "v3",
                        "hooks",
                        {"scope": scope, "destination": delivery_url, "is_active": True, "headers": wanted_headers},
                    )
                )
                log.warning("bigcommerce webhook created", extra={"connection": self.connection, "scope": scope})
                results.append(WebhookStatus(scope, str(created.get("id")), _hook_status(created), "created"))
                continue
            hook = candidates[0]
            has_header = not token or (hook.get("headers") or {}).get(header) == token
            if hook.get("is_active") and has_header:
                results.append(WebhookStatus(scope, str(hook["id"]), "active", "ok"))
                continue
            change: dict[str, Any] = {"is_active": True}
            if not has_header:
                change["headers"] = {**(hook.get("headers") or {}), **wanted_headers}
            updated = self._hook_data(self.client.send_json("PUT", "v3", f"hooks/{int(hook['id'])}", change))
            action = "reactivated" if not hook.get("is_active") else "updated"
            log.warning(
                f"bigcommerce webhook {action}",
                extra={"connection": self.connection, "scope": scope, "hook_id": hook["id"]},
            )
            results.append(WebhookStatus(scope, str(hook["id"]), _hook_status(updated), action))
        return results

    @staticmethod
    def _hook_data(body: Any) -> dict[str, Any]:
        if isinstance(body, dict) and isinstance(body.get("data"), dict):
            return body["data"]
        raise ConnectorError("BigCommerce hooks API answered without {data: {...}}")


def _hook_status(hook: Mapping[str, Any]) -> str:
    return "active" if hook.get("is_active") else "inactive"


def _same_url(a: str, b: str) -> bool:
    return a.strip().rstrip("/") == b.strip().rstrip("/")


def _rfc2822(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
