"""A faithful Shopify simulator: the GraphQL Admin API, OAuth tokens and webhook deliveries, a WSGI app
over a thread-safe ``ShopifyState``.

What it reproduces (see reference/storefronts.md §3):

- ``POST /admin/api/{version}/graphql.json``: the GraphQL Admin API over Shopify's published schema,
  with calculated query cost, the per-shop cost bucket, ``THROTTLED`` and ``MAX_COST_EXCEEDED``
  (``sandbox.shopify_graphql``). The REST Admin API is legacy and not served: a REST Admin call is
  counted (``rest_admin_calls``) and answered 404.
- The records behind it in the REST shapes the webhooks deliver: orders (money as strings, ISO dates
  with the shop's UTC offset, ``taxes_included`` true and false with per-line and per-shipping tax
  allocations computed on the discounted price, ``discount_codes`` and ``discount_allocations``,
  ``financial_status``), transactions (authorization/capture/sale/refund with ``parent_id``),
  refunds (``refund_line_items``, ``refund_shipping_lines``, ``order_adjustments``,
  ``transactions``; refunded shipping in both places, as Shopify's 2025-10 example shows, and as
  ``shipping_refund`` adjustments only in an order's ``refunds``), customers and webhook subscriptions.
- Every order, refund, transaction and customer it serves and every webhook it delivers is checked
  first against Shopify's published material (``sandbox.shopify_contract``, ``tests/contracts/shopify``);
  a difference is an error naming it (a delivery raises ``ContractViolation``).
- Tokens: ``X-Shopify-Access-Token``; static tokens; expiring tokens with a lifetime (401 after
  it); ``POST /admin/oauth/access_token`` with the refresh-token grant (JSON; the refresh token
  rotates and the previous one stays valid until the new one is used) and the client-credentials
  grant (form-encoded).
- Webhook deliveries with Shopify's headers and ``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of
  the body with the app's client secret); a subscription is deleted after ``max_failures``
  consecutive failed deliveries. A subscription to a partner event source ARN of the app (``app_id``)
  delivers the partner event to ``eventbridge`` instead (``sandbox.shopify_eventbridge``).

- Bulk query operations (``sandbox.shopify_bulk``): the JSONL result of each is a file served at
  ``/bulk-results/<token>.jsonl`` (its ``url``), streamed, without the access token a signed URL does not need.

Knobs for tests: ``plan`` / ``restore_rate`` / ``bucket_size`` (the query-cost bucket), ``force_throttle``
(count), ``max_query_cost``, ``drop_next_delivery`` / ``duplicate_next_delivery`` (counts),
``add_refund(..., mismatch=...)``, ``expire_token()``, ``bulk_failure`` / ``bulk_gate`` /
``bulk_download_breaks_after`` (bulk operations), ``generate_orders(..., keep=False)`` (large shops).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import random
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

import requests
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from sandbox import shopify_bulk, shopify_graphql
from sandbox.shopify_contract import ContractViolation, check_delivery
from sandbox.shopify_eventbridge import is_eventbridge_address, partner_event

CENT = Decimal("0.01")
ZERO = Decimal("0")
TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "refunds/create",
    "customers/create",
    "customers/update",
    "bulk_operations/finish",
)
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Lee")
PRODUCTS = (
    ("TSHIRT-BLK-M", "Black T-shirt - M", "19.99"),
    ("TSHIRT-WHT-L", "White T-shirt - L", "21.50"),
    ("MUG-001", "Enamel mug", "12.00"),
    ("CAP-RED", "Red cap", "15.75"),
    ("HOODIE-GRY-S", "Grey hoodie - S", "49.90"),
    ("SOCKS-3PK", "Socks (3 pack)", "9.99"),
    ("POSTER-A2", "Poster A2", "7.33"),
)


def round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def sm(value: Decimal) -> str:
    """Shopify money: a string with two decimals."""
    return str(round2(value))


def hmac_header(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _first_gateway(order: Mapping[str, Any]) -> str:
    return next(iter(order["payment_gateway_names"]), "") or "manual"


def _money_set(amount: Decimal, currency: str) -> dict[str, Any]:
    money = {"amount": sm(amount), "currency_code": currency}
    return {"shop_money": money, "presentment_money": dict(money)}


@dataclass
class Subscription:
    id: int
    topic: str
    address: str
    created_at: str
    updated_at: str
    format: str = "json"
    api_version: str = "2025-10"
    failures: int = 0
    name: str = ""
    include_fields: list[str] = field(default_factory=list)
    filter: str | None = None


@dataclass
class Delivery:
    subscription_id: int
    topic: str
    webhook_id: str
    event_id: str
    status: int
    ok: bool
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    dropped: bool = False
    error: str = ""


@dataclass
class Token:
    value: str
    expires_at: datetime | None
    kind: str  # static | expiring | client_credentials


@dataclass
class RefreshToken:
    value: str
    predecessor: str | None
    valid: bool = True


class ShopifyState:
    """Everything the simulated shop knows, behind one re-entrant lock."""

    def __init__(
        self,
        *,
        shop_domain: str = "acme.myshopify.com",
        api_version: str = "2025-10",
        currency: str = "USD",
        utc_offset: timedelta = timedelta(hours=-4),
        plan: str = "standard",
        restore_rate: float | None = None,
        bucket_size: float | None = None,
        token_lifetime: int = 3600,
        client_credentials_lifetime: int = 86399,
        max_failures: int = 8,
        delivery_timeout: float = 5.0,
        client_id: str | None = None,
        client_secret: str | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        seed: int | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self._rng = random.Random(seed)  # ids and other incidental randomness: fixed by ``seed``
        self.shop_domain = shop_domain
        self.api_version = api_version
        self.currency = currency
        self.tz = timezone(utc_offset)
        limits = shopify_graphql.cost_rules()["plans"][plan]
        self.cost_bucket = shopify_graphql.CostBucket(
            float(bucket_size or limits["maximumAvailable"]), float(restore_rate or limits["restoreRate"]), monotonic
        )
        #: (operation, requested cost, actual cost or None when refused) of every GraphQL query answered
        self.graphql_costs: list[tuple[str, int, int | None]] = []
        self.force_throttle = 0
        #: Shopify's single-query limit; lower it to act as a Shopify whose reckoning of a query exceeds the adapter's
        self.max_query_cost = int(shopify_graphql.cost_rules()["single_query_max_cost"])
        self.rest_admin_calls = 0
        self.token_lifetime = token_lifetime
        self.client_credentials_lifetime = client_credentials_lifetime
        self.max_failures = max_failures
        self.delivery_timeout = delivery_timeout
        self.client_id = client_id or secrets.token_hex(16)
        self.client_secret = client_secret or "shpss_" + secrets.token_hex(16)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.monotonic = monotonic
        self.orders: dict[int, dict[str, Any]] = {}
        self.transactions: dict[int, list[dict[str, Any]]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        self.subscriptions: dict[int, Subscription] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.deliveries: list[Delivery] = []
        self.requests: list[tuple[str, str, int]] = []
        self.drop_next_delivery = 0
        self.duplicate_next_delivery = 0
        #: The app's numeric id (in its EventBridge ARNs) and the AWS side of those ARNs: (ARN, partner event) → put.
        self.app_id = str(10**8 + secrets.randbelow(9 * 10**8))  # not from _rng: seeded runs keep their ids
        self.eventbridge: Callable[[str, dict[str, Any]], Any] | None = None
        self._ids = 5_000_000_000_000
        self._order_number = 1000
        #: Bumped whenever orders or customers change: listings sorted for one page serve the next until then.
        self.revision = 0
        self.listings: dict[tuple[Any, ...], tuple[tuple[int, int], list[Any], list[Any]]] = {}
        #: Bulk query operations by numeric id; their JSONL results are files in ``bulk_dir``, served under
        #: ``public_url`` (the address the app was first reached at).
        self.bulk_operations: dict[int, shopify_bulk.BulkOperation] = {}
        self.bulk_dir = tempfile.mkdtemp(prefix="shopify-bulk-")
        self.public_url = ""
        #: Knobs: the next bulk operation fails with this error code after that many root objects (partial data);
        #: a set gate holds every bulk operation's run until it is set.
        self.bulk_failure: tuple[str, int] | None = None
        self.bulk_gate: threading.Event | None = None
        #: A download of a bulk result breaks off (the connection closes) before its root object past this many.
        self.bulk_download_breaks_after: int | None = None

    # ------------------------------------------------------------- clock, ids, formatting

    def now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def iso(self, moment: datetime) -> str:
        """Shopify's timestamp: ISO 8601 in the shop's zone, with its offset."""
        return moment.astimezone(self.tz).replace(microsecond=0).isoformat()

    def next_id(self) -> int:
        with self.lock:
            self._ids += self._rng.randint(1, 997)
            return self._ids

    # ------------------------------------------------------------- tokens

    def add_static_token(self, value: str | None = None) -> str:
        value = value or "shpat_" + secrets.token_hex(16)
        with self.lock:
            self.tokens[value] = Token(value, None, "static")
        return value

    def issue_expiring_token(self, lifetime: int | None = None) -> tuple[str, str]:
        """A fresh (access token, refresh token) pair as after an expiring token exchange."""
        with self.lock:
            access = self._expiring(lifetime)
            refresh = "shprt_" + secrets.token_hex(16)
            self.refresh_tokens[refresh] = RefreshToken(refresh, None)
        return access, refresh

    def _expiring(self, lifetime: int | None = None) -> str:
        value = "shpua_" + secrets.token_hex(16)
        seconds = self.token_lifetime if lifetime is None else lifetime
        self.tokens[value] = Token(value, self.now() + timedelta(seconds=seconds), "expiring")
        return value

    def expire_token(self, value: str) -> None:
        with self.lock:
            self.tokens[value].expires_at = self.now() - timedelta(seconds=1)

    def revoke_token(self, value: str) -> None:
        with self.lock:
            self.tokens.pop(value, None)

    def check_token(self, value: str | None) -> bool:
        with self.lock:
            token = self.tokens.get(value or "")
            return token is not None and (token.expires_at is None or self.now() < token.expires_at)

    def grant(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """``POST /admin/oauth/access_token``: refresh-token or client-credentials grant."""
        with self.lock:
            if form.get("client_id") != self.client_id or not hmac.compare_digest(
                str(form.get("client_secret") or ""), self.client_secret
            ):
                return 400, {"error": "invalid_client", "error_description": "Client authentication failed"}
            grant_type = form.get("grant_type")
            if grant_type == "refresh_token":
                old = self.refresh_tokens.get(str(form.get("refresh_token") or ""))
                if old is None or not old.valid:
                    return 400, {"error": "invalid_grant", "error_description": "refresh token is invalid"}
                if old.predecessor and old.predecessor in self.refresh_tokens:
                    self.refresh_tokens[old.predecessor].valid = False  # the replacement is now in use
                access = self._expiring()
                new = "shprt_" + secrets.token_hex(16)
                self.refresh_tokens[new] = RefreshToken(new, old.value)
                return 200, {
                    "access_token": access,
                    "expires_in": self.token_lifetime,
                    "refresh_token": new,
                    "refresh_token_expires_in": 90 * 86400,
                    "scope": "read_orders,read_customers,read_all_orders",
                }
            if grant_type == "client_credentials":
                value = "shpat_" + secrets.token_hex(16)
                expires = self.now() + timedelta(seconds=self.client_credentials_lifetime)
                self.tokens[value] = Token(value, expires, "client_credentials")
                return 200, {
                    "access_token": value,
                    "expires_in": self.client_credentials_lifetime,
                    "scope": "read_orders,read_customers",
                }
            return 400, {"error": "unsupported_grant_type"}

    # ------------------------------------------------------------- customers

    def add_customer(
        self,
        *,
        email: str,
        first_name: str = "",
        last_name: str = "",
        phone: str | None = None,
        address: Mapping[str, str] | None = None,
        deliver: bool = True,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            cid = self.next_id()
            moment = created_at or self.now()
            addr = self._address(first_name, last_name, address or {})
            addr.update({"id": self.next_id(), "customer_id": cid, "default": True})
            customer = {
                "id": cid,
                "email": email,
                "first_name": first_name,
                "last_name": last_name,
                "phone": phone,
                "state": "enabled",
                "created_at": self.iso(moment),
                "updated_at": self.iso(moment),
                "orders_count": 0,
                "total_spent": "0.00",
                "note": None,
                "verified_email": True,
                "tax_exempt": False,
                "tags": "",
                "currency": self.currency,
                "addresses": [addr],
                "default_address": addr,
                "email_marketing_consent": {"state": "not_subscribed", "opt_in_level": "single_opt_in"},
                "sms_marketing_consent": None,
                "admin_graphql_api_id": f"gid://shopify/Customer/{cid}",
            }
            self.customers[cid] = customer
            self.revision += 1
            snapshot = copy.deepcopy(customer)
        if deliver:
            self.deliver("customers/create", snapshot)
        return snapshot

    def update_customer(self, customer_id: int, *, deliver: bool = True, **changes: Any) -> dict[str, Any]:
        with self.lock:
            customer = self.customers[customer_id]
            customer.update(changes)
            customer["updated_at"] = self.iso(self.now())
            self.revision += 1
            snapshot = copy.deepcopy(customer)
        if deliver:
            self.deliver("customers/update", snapshot)
        return snapshot

    @staticmethod
    def _address(first: str, last: str, given: Mapping[str, str]) -> dict[str, Any]:
        base = {
            "first_name": first,
            "last_name": last,
            "company": None,
            "address1": "1 Main St",
            "address2": None,
            "city": "Springfield",
            "province": "Illinois",
            "province_code": "IL",
            "zip": "62701",
            "country": "United States",
            "country_code": "US",
            "phone": None,
            "name": f"{first} {last}".strip(),
        }
        base.update(given)
        return base

    # ------------------------------------------------------------- orders

    def create_order(
        self,
        *,
        line_items: Sequence[Mapping[str, Any]],
        customer_id: int | None = None,
        email: str | None = None,
        taxes_included: bool = False,
        tax_rates: Sequence[tuple[str, str]] = (("State Tax", "0.0625"),),
        discount: tuple[str, str, str] | None = None,
        shipping: tuple[str, str] | None = None,
        shipping_taxable: bool = True,
        financial_status: str = "paid",
        gateways: Sequence[tuple[str, str | None]] = (("shopify_payments", None),),
        auth_then_capture: bool = False,
        created_at: datetime | None = None,
        deliver: bool = True,
        snapshot: bool = True,
    ) -> dict[str, Any]:
        """Create an order the way checkout would, and deliver orders/create (and orders/paid).

        ``line_items``: ``{"sku", "title", "price", "quantity", "taxable"=True}`` (price as string,
        tax-inclusive when ``taxes_included``). ``tax_rates``: (title, rate) pairs. ``discount``:
        (code, "percentage"|"fixed_amount", value) applied across lines. ``shipping``: (title, price).
        ``gateways``: (gateway, amount or None for the remainder) tenders for a paid order. ``snapshot=False``
        (undelivered orders only) returns the shop's own record rather than a copy: large histories are built
        without copying every order.
        """
        with self.lock:
            order = self._build_order(
                line_items=line_items,
                customer_id=customer_id,
                email=email,
                taxes_included=taxes_included,
                tax_rates=[(t, Decimal(r)) for t, r in tax_rates],
                discount=discount,
                shipping=shipping,
                shipping_taxable=shipping_taxable,
                created_at=created_at or self.now(),
            )
            self._pay(order, financial_status, gateways, auth_then_capture)
            self.orders[order["id"]] = order
            self.revision += 1
            if not snapshot and not deliver:
                return order
            copied = self.order_json(order["id"])
        if deliver:
            self.deliver("orders/create", copied)
            if financial_status == "paid":
                self.deliver("orders/paid", copied)
        return copied

    def _build_order(
        self,
        *,
        line_items: Sequence[Mapping[str, Any]],
        customer_id: int | None,
        email: str | None,
        taxes_included: bool,
        tax_rates: list[tuple[str, Decimal]],
        discount: tuple[str, str, str] | None,
        shipping: tuple[str, str] | None,
        shipping_taxable: bool,
        created_at: datetime,
    ) -> dict[str, Any]:
        cur = self.currency
        oid = self.next_id()
        self._order_number += 1
        rate_sum = sum((r for _, r in tax_rates), ZERO)
        grosses = [Decimal(str(li["price"])) * int(li["quantity"]) for li in line_items]
        allocations = self._allocate_discount(discount, grosses)
        tax_totals: dict[tuple[str, Decimal], Decimal] = {}

        def taxes_on(amount: Decimal, taxable: bool) -> list[dict[str, Any]]:
            out = []
            for title, rate in tax_rates if taxable else ():
                # Tax is computed on the discounted amount; inclusive prices have it backed out.
                tax = round2(amount * rate / (1 + rate_sum)) if taxes_included else round2(amount * rate)
                tax_totals[(title, rate)] = tax_totals.get((title, rate), ZERO) + tax
                out.append(
                    {
                        "title": title,
                        "price": sm(tax),
                        "rate": float(rate),
                        "price_set": _money_set(tax, cur),
                        "channel_liable": False,
                    }
                )
            return out

        items = []
        for li, gross, disc in zip(line_items, grosses, allocations, strict=True):
            price = Decimal(str(li["price"]))
            taxable = bool(li.get("taxable", True))
            item_id = self.next_id()
            items.append(
                {
                    "id": item_id,
                    "admin_graphql_api_id": f"gid://shopify/LineItem/{item_id}",
                    "variant_id": self.next_id(),
                    "product_id": self.next_id(),
                    "sku": li.get("sku", ""),
                    "title": li.get("title", li.get("sku", "")),
                    "name": li.get("title", li.get("sku", "")),
                    "quantity": int(li["quantity"]),
                    "current_quantity": int(li["quantity"]),
                    "price": sm(price),
                    "price_set": _money_set(price, cur),
                    "taxable": taxable,
                    "requires_shipping": True,
                    "gift_card": False,
                    "fulfillment_status": None,
                    "total_discount": "0.00",
                    "total_discount_set": _money_set(ZERO, cur),
                    "discount_allocations": (
                        [{"amount": sm(disc), "amount_set": _money_set(disc, cur), "discount_application_index": 0}]
                        if disc
                        else []
                    ),
                    "tax_lines": taxes_on(gross - disc, taxable),
                    "duties": [],
                }
            )
        ship_lines, ship_total = [], ZERO
        if shipping:
            title, raw = shipping
            price = Decimal(raw)
            ship_total = price
            sid = self.next_id()
            ship_lines.append(
                {
                    "id": sid,
                    "title": title,
                    "code": title,
                    "source": "shopify",
                    "price": sm(price),
                    "price_set": _money_set(price, cur),
                    "discounted_price": sm(price),
                    "discounted_price_set": _money_set(price, cur),
                    "discount_allocations": [],
                    "tax_lines": taxes_on(price, shipping_taxable),
                }
            )
        line_total = sum(grosses, ZERO)
        discount_total = sum(allocations, ZERO)
        subtotal = line_total - discount_total
        total_tax = sum(tax_totals.values(), ZERO)
        total = subtotal + ship_total + (ZERO if taxes_included else total_tax)
        customer = copy.deepcopy(self.customers[customer_id]) if customer_id else None
        if customer:
            for field_name in ("addresses", "orders_count", "total_spent"):
                customer.pop(field_name, None)
            email = email or customer["email"]
            first, last = customer["first_name"], customer["last_name"]
        else:
            first, last = "Guest", "Shopper"
        address = self._address(first, last, {})
        moment = self.iso(created_at)
        discount_codes = []
        discount_applications = []
        if discount:
            code, kind, value = discount
            discount_codes.append({"code": code, "amount": sm(discount_total), "type": kind})
            discount_applications.append(
                {
                    "type": "discount_code",
                    "code": code,
                    "value": value,
                    "value_type": kind,
                    "allocation_method": "across",
                    "target_selection": "all",
                    "target_type": "line_item",
                }
            )
        order = {
            "id": oid,
            "admin_graphql_api_id": f"gid://shopify/Order/{oid}",
            "name": f"#{self._order_number}",
            "number": self._order_number - 1000,
            "order_number": self._order_number,
            "email": email or "",
            "contact_email": email or "",
            "phone": None,
            "created_at": moment,
            "updated_at": moment,
            "processed_at": moment,
            "cancelled_at": None,
            "cancel_reason": None,
            "closed_at": None,
            "currency": cur,
            "presentment_currency": cur,
            "financial_status": "pending",
            "fulfillment_status": None,
            "confirmed": True,
            "test": False,
            "taxes_included": taxes_included,
            "tax_exempt": False,
            "total_line_items_price": sm(line_total),
            "total_line_items_price_set": _money_set(line_total, cur),
            "total_discounts": sm(discount_total),
            "total_discounts_set": _money_set(discount_total, cur),
            "subtotal_price": sm(subtotal),
            "subtotal_price_set": _money_set(subtotal, cur),
            "total_shipping_price_set": _money_set(ship_total, cur),
            "total_tax": sm(total_tax),
            "total_tax_set": _money_set(total_tax, cur),
            "total_price": sm(total),
            "total_price_set": _money_set(total, cur),
            "total_outstanding": sm(total),
            "total_tip_received": "0.00",
            "current_total_price": sm(total),
            "current_subtotal_price": sm(subtotal),
            "current_total_tax": sm(total_tax),
            "current_total_discounts": sm(discount_total),
            "tax_lines": [
                {"title": t, "rate": float(r), "price": sm(v), "price_set": _money_set(v, cur)}
                for (t, r), v in tax_totals.items()
            ],
            "line_items": items,
            "shipping_lines": ship_lines,
            "discount_codes": discount_codes,
            "discount_applications": discount_applications,
            "payment_gateway_names": [],
            "customer": customer,
            "billing_address": address,
            "shipping_address": dict(address),
            "refunds": [],
            "fulfillments": [],
            "tags": "",
            "note": None,
            "source_name": "web",
        }
        return order

    @staticmethod
    def _allocate_discount(discount: tuple[str, str, str] | None, grosses: list[Decimal]) -> list[Decimal]:
        if not discount:
            return [ZERO] * len(grosses)
        _, kind, raw = discount
        value = Decimal(raw)
        if kind == "percentage":
            return [round2(g * value / 100) for g in grosses]
        total = sum(grosses, ZERO)
        value = min(value, total)
        if not total:
            return [ZERO] * len(grosses)
        # In proportion to each line, whole cents down; the cents left go to the largest remainders, so no
        # line gets more than its gross or less than nothing.
        exact = [value * g / total for g in grosses]
        out = [e.quantize(CENT, rounding=ROUND_DOWN) for e in exact]
        left = value - sum(out, ZERO)  # fewer cents than lines; each goes where a fraction was cut
        for i in sorted(range(len(grosses)), key=lambda i: exact[i] - out[i], reverse=True):
            if left <= ZERO:
                break
            out[i] += CENT
            left -= CENT
        return out

    def _txn(
        self, order: dict[str, Any], kind: str, amount: Decimal, gateway: str, at: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        tid = self.next_id()
        at = at or self.iso(self.now())
        txn = {
            "id": tid,
            "admin_graphql_api_id": f"gid://shopify/OrderTransaction/{tid}",
            "order_id": order["id"],
            "kind": kind,
            "gateway": gateway,
            "status": "success",
            "message": None,
            "created_at": at,
            "processed_at": at,
            "test": False,
            "authorization": f"{self._rng.getrandbits(48):012x}",
            "parent_id": None,
            "amount": sm(amount),
            "currency": order["currency"],
            "source_name": "web",
            "error_code": None,
        }
        txn.update(extra)
        self.transactions.setdefault(order["id"], []).append(txn)
        return txn

    def _pay(
        self,
        order: dict[str, Any],
        status: str,
        gateways: Sequence[tuple[str, str | None]],
        auth_then_capture: bool,
    ) -> None:
        total = Decimal(order["total_price"])
        names = list(dict.fromkeys(g for g, _ in gateways))
        order["payment_gateway_names"] = names
        self.transactions.setdefault(order["id"], [])
        if status == "pending" or not gateways:
            order["financial_status"] = "pending"
            return
        if status == "authorized":
            self._txn(order, "authorization", total, names[0], at=order["created_at"])
            order["financial_status"] = "authorized"
            return
        remaining = total if status == "paid" else round2(total / 2)
        for i, (gateway, raw) in enumerate(gateways):
            amount = remaining if raw is None or i == len(gateways) - 1 else min(Decimal(raw), remaining)
            if amount <= 0:
                continue
            if auth_then_capture and gateway not in ("gift_card",):
                auth = self._txn(order, "authorization", amount, gateway, at=order["created_at"])
                self._txn(order, "capture", amount, gateway, at=order["created_at"], parent_id=auth["id"])
            else:
                self._txn(order, "sale", amount, gateway, at=order["created_at"])
            remaining -= amount
        paid = sum((Decimal(t["amount"]) for t in self._captures(order["id"])), ZERO)
        order["total_outstanding"] = sm(total - paid)
        order["financial_status"] = "paid" if paid >= total else "partially_paid"

    def _captures(self, order_id: int) -> list[dict[str, Any]]:
        return [
            t
            for t in self.transactions.get(order_id, [])
            if t["kind"] in ("sale", "capture") and t["status"] == "success"
        ]

    def update_order(self, order_id: int, *, deliver: bool = True, **changes: Any) -> dict[str, Any]:
        """Change top-level fields (note, tags, ...) and bump ``updated_at``; delivers orders/updated."""
        with self.lock:
            order = self.orders[order_id]
            order.update(changes)
            order["updated_at"] = self.iso(self.now())
            self.revision += 1
            snapshot = self.order_json(order_id)
        if deliver:
            self.deliver("orders/updated", snapshot)
        return snapshot

    def capture(self, order_id: int, *, deliver: bool = True) -> dict[str, Any]:
        """Capture the outstanding balance of an authorized / partially paid order (orders/paid)."""
        with self.lock:
            order = self.orders[order_id]
            outstanding = Decimal(order["total_outstanding"])
            auths = [t for t in self.transactions.get(order_id, []) if t["kind"] == "authorization"]
            gateway = _first_gateway(order)
            if auths:
                self._txn(order, "capture", outstanding, gateway, parent_id=auths[-1]["id"])
            else:
                self._txn(order, "sale", outstanding, gateway)
            order["total_outstanding"] = "0.00"
            order["financial_status"] = "paid"
            order["updated_at"] = self.iso(self.now())
            self.revision += 1
            snapshot = self.order_json(order_id)
        if deliver:
            self.deliver("orders/paid", snapshot)
            self.deliver("orders/updated", snapshot)
        return snapshot

    def add_refund(
        self,
        order_id: int,
        *,
        lines: Iterable[tuple[int, int]] | None = None,
        shipping: bool = False,
        amount: str | None = None,
        note: str = "",
        mismatch: str | None = None,
        deliver: bool = True,
        snapshot: bool = True,
    ) -> dict[str, Any]:
        """Refund ``lines`` ((line_item_id, quantity) pairs) and optionally the shipping.

        Money goes back through refund transactions whose ``parent_id`` is the order's sale or
        capture. ``amount`` overrides the money refunded (the difference becomes a
        ``refund_discrepancy`` adjustment). ``mismatch``: ``"unknown_parent"`` (the transaction names
        a parent that does not exist) or ``"excess"`` (more than was captured) makes a refund whose
        transactions do not match the order. Delivers refunds/create and orders/updated.

        As Shopify's 2025-10 example shows, refunded shipping is reported twice - a refund shipping
        line (its subtotal tax-inclusive when the order's taxes are) and a ``shipping_refund``
        adjustment per shipping line (the amount without tax, negative, and its tax) - while the
        refund's transactions carry the whole amount once.
        """
        with self.lock:
            order = self.orders[order_id]
            cur = order["currency"]
            inclusive = order["taxes_included"]
            by_id = {li["id"]: li for li in order["line_items"]}
            rid = self.next_id()
            moment = self.iso(self.now())
            refund_lines, computed = [], ZERO
            for line_id, qty in lines or ():
                li = by_id[line_id]
                sold = li["quantity"]
                disc = sum((Decimal(a["amount"]) for a in li["discount_allocations"]), ZERO)
                after = Decimal(li["price"]) * sold - disc
                subtotal = round2(after * qty / sold)
                tax = round2(sum((Decimal(t["price"]) for t in li["tax_lines"]), ZERO) * qty / sold)
                computed += subtotal if inclusive else subtotal + tax
                refund_lines.append(
                    {
                        "id": self.next_id(),
                        "line_item_id": line_id,
                        "line_item": copy.deepcopy(li),
                        "quantity": qty,
                        "restock_type": "return",
                        "location_id": None,
                        "subtotal": float(subtotal),  # a JSON number here, as Shopify sends it
                        "subtotal_set": _money_set(subtotal, cur),
                        "total_tax": float(tax),
                        "total_tax_set": _money_set(tax, cur),
                    }
                )
            shipping_lines, adjustments = [], []
            if shipping:
                for ship in order["shipping_lines"]:
                    price = Decimal(ship["discounted_price"])
                    tax = sum((Decimal(t["price"]) for t in ship["tax_lines"]), ZERO)
                    computed += price if inclusive else price + tax
                    shipping_lines.append(
                        {
                            "id": self.next_id(),
                            "shipping_line_id": ship["id"],
                            "subtotal_amount_set": _money_set(price, cur),
                            "shipping_line": copy.deepcopy(ship),
                        }
                    )
                    net = price - tax if inclusive else price
                    adjustments.append(self._adjustment(order_id, rid, "shipping_refund", -net, -tax))
            money_back = Decimal(amount) if amount is not None else computed
            if money_back != computed:
                adjustments.append(self._adjustment(order_id, rid, "refund_discrepancy", computed - money_back, ZERO))
            transactions = self._refund_transactions(order, money_back, mismatch)
            refund = {
                "id": rid,
                "admin_graphql_api_id": f"gid://shopify/Refund/{rid}",
                "order_id": order_id,
                "created_at": moment,
                "processed_at": moment,
                "note": note or None,
                "user_id": None,
                "restock": bool(refund_lines),
                "duties": [],
                "total_duties_set": _money_set(ZERO, cur),
                "refund_line_items": refund_lines,
                "refund_shipping_lines": shipping_lines,
                "order_adjustments": adjustments,
                "transactions": transactions,
            }
            order["refunds"].append(refund)
            refunded = sum(
                (Decimal(t["amount"]) for r in order["refunds"] for t in r["transactions"] if t["status"] == "success"),
                ZERO,
            )
            captured = sum((Decimal(t["amount"]) for t in self._captures(order_id)), ZERO)
            order["financial_status"] = "refunded" if refunded >= captured else "partially_refunded"
            order["current_total_price"] = sm(Decimal(order["total_price"]) - refunded)
            order["updated_at"] = moment
            self.revision += 1
            if not snapshot and not deliver:  # building history: the shop's own record, no copies
                return refund
            refund_snapshot = copy.deepcopy(refund)
            order_snapshot = self.order_json(order_id)
        if deliver:
            self.deliver("refunds/create", refund_snapshot)
            self.deliver("orders/updated", order_snapshot)
        return refund_snapshot

    def _adjustment(self, order_id: int, refund_id: int, kind: str, amount: Decimal, tax: Decimal) -> dict[str, Any]:
        currency = self.orders[order_id]["currency"]
        return {
            "id": self.next_id(),
            "order_id": order_id,
            "refund_id": refund_id,
            "amount": sm(amount),
            "tax_amount": sm(tax),
            "kind": kind,
            "reason": "Shipping refund" if kind == "shipping_refund" else "Refund discrepancy",
            "amount_set": _money_set(amount, currency),
            "tax_amount_set": _money_set(tax, currency),
        }

    def _refund_transactions(
        self, order: dict[str, Any], amount: Decimal, mismatch: str | None
    ) -> list[dict[str, Any]]:
        if amount <= 0:
            return []
        captures = self._captures(order["id"])
        if mismatch == "unknown_parent" or not captures:
            return [self._txn(order, "refund", amount, _first_gateway(order), parent_id=self.next_id() + 10**9)]
        if mismatch == "excess":
            parent = captures[0]
            return [
                self._txn(
                    order,
                    "refund",
                    Decimal(parent["amount"]) + Decimal("10.00"),
                    parent["gateway"],
                    parent_id=parent["id"],
                )
            ]
        refunded: dict[int, Decimal] = {}
        for t in self.transactions.get(order["id"], []):
            if t["kind"] == "refund" and t["status"] == "success" and t.get("parent_id"):
                refunded[t["parent_id"]] = refunded.get(t["parent_id"], ZERO) + Decimal(t["amount"])
        out, left = [], amount
        # Back to the card first, gift cards last (what Shopify's refund suggestion does).
        for parent in sorted(captures, key=lambda t: t["gateway"] == "gift_card"):
            room = Decimal(parent["amount"]) - refunded.get(parent["id"], ZERO)
            take = min(room, left)
            if take > 0:
                out.append(self._txn(order, "refund", take, parent["gateway"], parent_id=parent["id"]))
                left -= take
        if left > 0:  # the shop refunds more than remains: attach the rest to the first capture
            out.append(self._txn(order, "refund", left, captures[0]["gateway"], parent_id=captures[0]["id"]))
        return out

    def generate_orders(
        self,
        n: int,
        seed: int,
        *,
        end: datetime | None = None,
        span_days: int = 30,
        deliver: bool = False,
        refund_share: float = 0.15,
        keep: bool = True,
    ) -> list[dict[str, Any]]:
        """``n`` realistic orders, deterministic for a seed (apart from ids): registered customers and
        guests, taxes_included true and false, several tax rates, discount codes, shipping with tax,
        split tenders with gift cards, mostly paid (some pending/authorized/partially paid), some
        with refunds; created over ``span_days`` before ``end`` in order. ``keep=False`` (undelivered
        orders): the same orders, returned as nothing and never copied - a shop of 50,000 orders holds
        each once (about 19 KB an order)."""
        rng = random.Random(seed)
        end = (end or self.now()).astimezone(UTC).replace(microsecond=0)
        start = end - timedelta(days=span_days)
        step = (end - start) / max(n, 1)
        out = []
        customers = []
        for i in range(max(2, n // 5)):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            customers.append(
                self.add_customer(
                    email=f"{first.lower()}.{last.lower()}{i}@example.com",
                    first_name=first,
                    last_name=last,
                    deliver=deliver,
                    created_at=start,
                )["id"]
            )
        for i in range(n):
            inclusive = rng.random() < 0.35
            rates = (
                [("VAT", "0.20")]
                if inclusive
                else rng.choice([[("State Tax", "0.0625")], [("State Tax", "0.06"), ("County Tax", "0.0175")], []])
            )
            lines = []
            for sku, title, price in rng.sample(PRODUCTS, rng.randint(1, 3)):
                lines.append({"sku": sku, "title": title, "price": price, "quantity": rng.randint(1, 4)})
            discount = None
            roll = rng.random()
            if roll < 0.2:
                discount = ("SAVE10", "percentage", "10.0")
            elif roll < 0.3:
                discount = ("FIVEOFF", "fixed_amount", "5.00")
            shipping = rng.choice([None, ("Standard", "4.99"), ("Express", "12.50")])
            status = rng.choices(["paid", "pending", "authorized", "partially_paid"], [85, 5, 5, 5])[0]
            gateways: list[tuple[str, str | None]] = [("shopify_payments", None)]
            if rng.random() < 0.1:
                gateways = [("gift_card", "10.00"), ("shopify_payments", None)]
            guest = rng.random() < 0.3
            order = self.create_order(
                line_items=lines,
                customer_id=None if guest else rng.choice(customers),
                email=f"guest{i}@example.net" if guest else None,
                taxes_included=inclusive,
                tax_rates=rates,
                discount=discount,
                shipping=shipping,
                financial_status=status,
                gateways=gateways,
                auth_then_capture=rng.random() < 0.2,
                created_at=start + step * i,
                deliver=deliver,
                snapshot=keep,
            )
            if status == "paid" and rng.random() < refund_share:
                item = rng.choice(order["line_items"])
                order = self._refund_in_generation(order, item, rng, deliver, keep)
            if keep:
                out.append(order)
        return out

    def _refund_in_generation(
        self, order: dict[str, Any], item: dict[str, Any], rng: random.Random, deliver: bool, keep: bool
    ) -> dict[str, Any]:
        self.add_refund(
            order["id"],
            lines=[(item["id"], rng.randint(1, item["quantity"]))],
            shipping=bool(order["shipping_lines"]) and rng.random() < 0.3,
            note="Customer return",
            deliver=deliver,
            snapshot=keep,
        )
        with self.lock:
            return self.order_json(order["id"]) if keep else order

    # ------------------------------------------------------------- webhooks

    def create_subscription(self, topic: str, address: str, *, name: str = "") -> Subscription:
        with self.lock:
            sid = self.next_id()
            moment = self.iso(self.now())
            hook = Subscription(sid, topic, address, moment, moment, api_version=self.api_version, name=name)
            self.subscriptions[sid] = hook
            return hook

    def deliver(self, topic: str, payload: Mapping[str, Any]) -> list[Delivery]:
        """Send ``payload`` to every subscription on ``topic``, synchronously, with Shopify's headers."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        event_id = str(uuid.uuid4())
        triggered = self.now().strftime("%Y-%m-%dT%H:%M:%S.") + f"{self._rng.randint(0, 10**9 - 1):09d}Z"
        results: list[Delivery] = []
        with self.lock:
            hooks = [h for h in sorted(self.subscriptions.values(), key=lambda h: h.id) if h.topic == topic]
        for hook in hooks:
            webhook_id = str(uuid.uuid4())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Shopify-Captain-Hook",
                "X-Shopify-Topic": topic,
                "X-Shopify-Hmac-Sha256": hmac_header(body, self.client_secret),
                "X-Shopify-Shop-Domain": self.shop_domain,
                "X-Shopify-API-Version": hook.api_version,
                "X-Shopify-Webhook-Id": webhook_id,
                "X-Shopify-Event-Id": event_id,
                "X-Shopify-Triggered-At": triggered,
            }
            if hook.name:
                headers["X-Shopify-Name"] = hook.name
            check_delivery(headers, topic, payload)
            with self.lock:
                if self.drop_next_delivery > 0:
                    self.drop_next_delivery -= 1
                    results.append(
                        Delivery(hook.id, topic, webhook_id, event_id, 0, False, body, headers, dropped=True)
                    )
                    continue
                copies = 1
                if self.duplicate_next_delivery > 0:
                    self.duplicate_next_delivery -= 1
                    copies = 2
            for _ in range(copies):
                results.append(self._deliver_one(hook, topic, body, headers))
        with self.lock:
            self.deliveries.extend(d for d in results if d.dropped)
        return results

    def _deliver_one(self, hook: Subscription, topic: str, body: bytes, headers: dict[str, str]) -> Delivery:
        try:
            if is_eventbridge_address(hook.address):  # PutPartnerEvents: AWS takes it whether or not a bus accepts it
                if self.eventbridge is not None:
                    self.eventbridge(hook.address, partner_event(hook.address, headers, json.loads(body)))
                code, error = (200, "") if self.eventbridge is not None else (0, "no AWS account behind the ARN")
            else:
                response = requests.post(
                    hook.address, data=body, headers=headers, timeout=self.delivery_timeout, allow_redirects=False
                )
                code, error = response.status_code, ""
        except requests.RequestException as exc:
            code, error = 0, type(exc).__name__
        ok = 200 <= code < 300
        with self.lock:
            if ok:
                hook.failures = 0
            else:
                hook.failures += 1
                if hook.failures >= self.max_failures:
                    self.subscriptions.pop(hook.id, None)  # Shopify deletes, it does not disable
            record = Delivery(
                hook.id,
                topic,
                headers["X-Shopify-Webhook-Id"],
                headers["X-Shopify-Event-Id"],
                code,
                ok,
                body,
                dict(headers),
                error=error,
            )
            self.deliveries.append(record)
        return record

    # ------------------------------------------------------------- REST representations

    def order_json(self, order_id: int) -> dict[str, Any]:
        """The order as Shopify represents it: its refunds as the order example embeds them (shipping as
        ``shipping_refund`` adjustments only, no ``refund_shipping_lines``)."""
        with self.lock:
            order = copy.deepcopy(self.orders[order_id])
        for refund in order["refunds"]:
            refund.pop("refund_shipping_lines", None)
        return order


# ------------------------------------------------------------------ WSGI app


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, headers=dict(headers or {}), mimetype="application/json")


def _errors(status: int, errors: Any) -> Response:
    return _json({"errors": errors}, status)


class ShopifyApp:
    """The WSGI application."""

    def __init__(self, state: ShopifyState) -> None:
        self.state = state
        self.urls = Map(
            [
                Rule("/admin/oauth/access_token", endpoint="token", methods=["POST"]),
                Rule("/bulk-results/<token>.jsonl", endpoint="bulk_result", methods=["GET"]),
                Rule("/admin/api/<version>/graphql.json", endpoint="graphql", methods=["POST"]),
                Rule("/admin/api/<version>/<path:rest>", endpoint="rest_admin"),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request)
        with self.state.lock:
            self.state.requests.append((request.method, request.full_path, response.status_code))
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        adapter = self.urls.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return _errors(404, "Not Found")
        except MethodNotAllowed:
            return _errors(406, "Not Acceptable")
        except HTTPException as exc:
            return _errors(exc.code or 400, exc.description)
        if not self.state.public_url:
            with self.state.lock:
                self.state.public_url = self.state.public_url or request.host_url
        if endpoint == "token":
            return self.do_token(request)
        if endpoint == "bulk_result":
            return self.bulk_result(request, args["token"])
        if endpoint == "rest_admin":
            with self.state.lock:
                self.state.rest_admin_calls += 1
            return _errors(404, "Not Found: this shop serves the Admin API over GraphQL only")
        if args["version"] != self.state.api_version:
            return _errors(404, "Not Found")
        if not self.state.check_token(request.headers.get("X-Shopify-Access-Token")):
            return _errors(401, INVALID_TOKEN)
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            return _errors(400, "Invalid JSON in request body")
        try:
            answer = shopify_graphql.run(self.state, body)
        except ContractViolation as drift:
            return _errors(500, str(drift))
        response = _json(answer)
        response.headers["X-Request-Id"] = str(uuid.uuid4())
        return response

    def bulk_result(self, request: Request, token: str) -> Response:
        """A bulk operation's JSONL, streamed from its file (a signed storage URL: no access token; refused once
        the operation's result has expired)."""
        path = shopify_bulk.result_path(self.state, token)
        if path is None:
            return Response("AccessDenied: the URL has expired or is not valid", status=403, mimetype="text/plain")
        stream = open(path, "rb")  # noqa: SIM115 (closed by the server once the body is sent)
        headers = {"Content-Length": str(os.path.getsize(path))}
        roots = self.state.bulk_download_breaks_after
        body = wrap_file(request.environ, stream, buffer_size=64 * 1024) if roots is None else _broken(stream, roots)
        return Response(body, mimetype="application/jsonl", headers=headers, direct_passthrough=True)

    # ------------------------------------------------------------- oauth

    def do_token(self, request: Request) -> Response:
        if request.mimetype == "application/json":
            try:
                form = json.loads(request.get_data() or b"{}")
            except ValueError:
                return _json({"error": "invalid_request"}, 400)
            if not isinstance(form, dict):
                return _json({"error": "invalid_request"}, 400)
        else:
            form = {k: v for k, v in request.form.items()}
        status, body = self.state.grant({k: str(v) for k, v in form.items()})
        return _json(body, status)


def _broken(stream: Any, roots: int) -> Iterator[bytes]:
    """The result's lines up to its root object ``roots``: then the body ends short of its Content-Length."""
    with stream:
        for line in stream:
            if b'"__parentId"' not in line:
                roots -= 1
                if roots < 0:
                    return
            yield line


def create_app(state: ShopifyState) -> ShopifyApp:
    """The WSGI app serving ``state`` (use ``sandbox.runner.serve`` to put it on a port)."""
    return ShopifyApp(state)
