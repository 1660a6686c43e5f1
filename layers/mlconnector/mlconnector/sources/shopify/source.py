"""The Shopify ``StoreSource``: webhooks, polling, fetching, mapping and the webhook keeper."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from mlconnector.envelope import RecordKind
from mlconnector.errors import ReviewError
from mlconnector.http import RetryPolicy
from mlconnector.models import Customer, Order, Refund
from mlconnector.sources.base import ChangedRecord, StoreSource, WebhookStatus
from mlconnector.sources.shopify import mapping
from mlconnector.sources.shopify.client import ShopifyClient, ShopifyError
from mlconnector.sources.shopify.settings import ShopifySettings
from mlconnector.sources.shopify.webhooks import ShopifyWebhooks, modified_at, needs_transactions, refund_modified_at

log = logging.getLogger(__name__)

RESOURCES = ("orders", "customers", "refunds")
_KINDS = {"orders": RecordKind.ORDER, "refunds": RecordKind.REFUND, "customers": RecordKind.CUSTOMER}


class ShopifySource(StoreSource):
    """One Shopify shop, through the Admin REST API."""

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
        if monotonic is not None:
            self._client_options["monotonic"] = monotonic
        self._client: ShopifyClient | None = None
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

    # ------------------------------------------------------------------ webhooks

    # ------------------------------------------------------------------ polling

    def changed_since(self, resource: str, since: datetime) -> Iterator[ChangedRecord]:
        """Records of ``resource`` (orders | customers | refunds) updated at or after ``since``.

        Orders: ``status=any&updated_at_min=...&order=updated_at asc`` with cursor paging. Customers:
        ``updated_at_min``. Refunds have no list of their own: they come from the changed orders'
        ``refunds[]``, each with the order's currency, ``taxes_included`` and transactions (for
        validation); their ``modified_at`` is their creation time (refunds never change).
        """
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
        if resource == "orders":
            for order in self._changed_orders(since):
                if needs_transactions(order, self.settings.paid_financial_statuses):
                    order = {**order, "transactions": self._transactions(order["id"])}
                yield ChangedRecord(RecordKind.ORDER, str(order["id"]), modified_at(order), order)
        elif resource == "customers":
            params = {"updated_at_min": since.isoformat(), "limit": self.settings.page_limit}
            for page in self.client.pages("customers.json", "customers", params):
                for customer in page:
                    yield ChangedRecord(RecordKind.CUSTOMER, str(customer["id"]), modified_at(customer), customer)
        elif resource == "refunds":
            for order in self._changed_orders(since):
                if not order.get("refunds"):
                    continue
                transactions = self._transactions(order["id"])
                for refund in order["refunds"]:
                    payload = self._with_order_context(refund, order, transactions)
                    yield ChangedRecord(
                        RecordKind.REFUND,
                        f"{order['id']}:{refund['id']}",
                        refund_modified_at(refund),
                        payload,
                    )
        else:
            raise ValueError(f"unknown Shopify resource {resource!r}; expected one of {', '.join(RESOURCES)}")

    def _changed_orders(self, since: datetime) -> Iterator[dict[str, Any]]:
        params = {
            "status": "any",
            "updated_at_min": since.isoformat(),
            "order": "updated_at asc",
            "limit": self.settings.page_limit,
        }
        for page in self.client.pages("orders.json", "orders", params):
            yield from page

    def _transactions(self, order_id: Any) -> list[dict[str, Any]]:
        body = self.client.get_json(f"orders/{int(order_id)}/transactions.json")
        return list(body.get("transactions") or [])

    @staticmethod
    def _with_order_context(
        refund: Mapping[str, Any], order: Mapping[str, Any], transactions: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """A refund with what its mapping needs from the order: currency, taxes_included, transactions."""
        return {
            **refund,
            "order_id": refund.get("order_id") or order["id"],
            "currency": order.get("currency"),
            "taxes_included": bool(order.get("taxes_included")),
            "order_transactions": transactions,
        }

    # ------------------------------------------------------------------ fetch

    def fetch(self, kind: RecordKind, object_id: str) -> dict[str, Any]:
        """The full record: an order with its ``transactions`` merged, a customer, or "order:refund"
        as the refund with the order context (currency, taxes_included, ``order_transactions``)."""
        kind = RecordKind(kind)
        try:
            if kind is RecordKind.ORDER:
                order = self.client.get_json(f"orders/{int(object_id)}.json")["order"]
                return {**order, "transactions": self._transactions(object_id)}
            if kind is RecordKind.CUSTOMER:
                return self.client.get_json(f"customers/{int(object_id)}.json")["customer"]
            if kind is RecordKind.REFUND:
                order_id, _, refund_id = object_id.partition(":")
                refund = self.client.get_json(f"orders/{int(order_id)}/refunds/{int(refund_id)}.json")["refund"]
                return self._refund_context(refund)
        except ValueError:
            raise ReviewError(f"malformed Shopify {kind} id {object_id!r}") from None
        except ShopifyError as exc:
            if exc.status == 404:
                raise ReviewError(f"Shopify {kind} {object_id} does not exist (HTTP 404)") from None
            raise
        raise ReviewError(f"Shopify has no {kind} records")

    def _refund_context(self, refund: Mapping[str, Any]) -> dict[str, Any]:
        order_id = int(refund["order_id"])
        order = self.client.get_json(f"orders/{order_id}.json", {"fields": "id,currency,taxes_included"})["order"]
        return self._with_order_context(refund, order, self._transactions(order_id))

    # ------------------------------------------------------------------ mapping

    def to_order(self, payload: dict[str, Any]) -> Order:
        """Map an order; split-tender or gift-card orders get their transactions fetched first."""
        if "transactions" not in payload and needs_transactions(payload, self.settings.paid_financial_statuses):
            payload = {**payload, "transactions": self._transactions(payload["id"])}
        return mapping.to_order(payload, self.settings.paid_financial_statuses)

    def to_refund(self, payload: dict[str, Any]) -> Refund:
        """Map a refund after validating it against the order's transactions (fetched when not carried).

        A mismatch raises ``ReviewError``: the refund goes to review, not to the ledger.
        """
        if "order_transactions" not in payload:
            payload = self._refund_context(payload)
        return mapping.to_refund(payload, False if self.settings.refund_subtotals == "tax_exclusive" else None)

    def to_customer(self, payload: dict[str, Any]) -> Customer:
        return mapping.to_customer(payload)

    def validate_refund_against_order(
        self, order_payload: Mapping[str, Any], refund_payload: Mapping[str, Any]
    ) -> list[str]:
        return mapping.validate_refund_against_order(order_payload, refund_payload)

    # ------------------------------------------------------------------ keeper

    def ensure_webhooks(self, delivery_url: str) -> list[WebhookStatus]:
        """Every configured topic has a subscription to ``delivery_url``; missing ones are created.

        Shopify deletes (rather than disables) subscriptions whose deliveries keep failing, so there
        is nothing to re-enable: absent → POST ("created"), present → "ok".
        """
        delivery_url = self.settings.webhook_address(delivery_url)  # the EventBridge source ARN when so configured
        hooks = [h for page in self.client.pages("webhooks.json", "webhooks", {"limit": 250}) for h in page]
        ours = {str(h.get("topic")): h for h in hooks if _same_url(str(h.get("address") or ""), delivery_url)}
        results: list[WebhookStatus] = []
        for topic in self.settings.webhook_topics:
            hook = ours.get(topic)
            if hook is not None:
                results.append(WebhookStatus(topic, str(hook["id"]), "active", "ok"))
                continue
            body = {"webhook": {"topic": topic, "address": delivery_url, "format": "json"}}
            created = self.client.send_json("POST", "webhooks.json", body)["webhook"]
            log.warning(
                "shopify webhook created",
                extra={"connection": self.connection, "topic": topic, "hook_id": created.get("id")},
            )
            results.append(WebhookStatus(topic, str(created.get("id")), "active", "created"))
        return results


def _same_url(a: str, b: str) -> bool:
    return a.strip().rstrip("/") == b.strip().rstrip("/")
