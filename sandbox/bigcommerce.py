"""A faithful BigCommerce simulator: a WSGI app over a thread-safe ``BigCommerceState``.

What it reproduces (reference section 2; BigCommerce docs ``orders.v2.oas2.yml``, ``orders.v3.yml``,
``webhooks.v3.yml``, ``api-rate-limits.mdx``):

- ``/stores/{store_hash}/v2|v3/…`` with ``X-Auth-Token``; a missing or wrong token is 401 with
  BigCommerce's bodies (v2: ``[{"status", "message"}]``, v3: ``{"status", "title", "type"}``).
- v2 orders: money as 4-decimal strings ("225.0000"), RFC-2822 dates, status ids and names,
  ``products``/``shipping_addresses``/``coupons``/``fees`` as ``{url, resource}``, the sub-resources
  ``products`` (prices before discounts, ``applied_discounts``, ``discounted_total_inc_tax``),
  ``shipping_addresses``, ``coupons``, ``taxes`` (tax charged after discounts); ``page``/``limit``
  (≤ 250), ``min_/max_date_modified`` and ``_created`` (RFC-2822 or ISO-8601), ``sort``, ``include``;
  an empty list is ``[]`` (the spec declares no 204 for these lists).
- v3: ``orders/{id}/transactions``, ``orders/{id}/payment_actions/refunds``,
  ``orders/payment_actions/refunds`` (``created:min``…), ``customers`` (``id:in``,
  ``date_modified:min``, ``include=addresses``, ``sort``), ``hooks`` CRUD; money as JSON numbers,
  ISO-8601 dates, ``meta.pagination``.
- Contracts: every request is checked against BigCommerce's OpenAPI files as transcribed under
  ``tests/contracts/bigcommerce/`` (``openapi-core``) after authentication, and refused as the API
  would (400, or 422 for a body); every answer is checked before it leaves, and one the spec does not
  allow is replaced by a 500 naming the violation. Both are recorded in ``state.contract_refusals``.
  So the simulator can neither accept nor serve a field, type or status the spec does not have.
- Fees: ``create_order(fees=…)`` gives an order ``custom_fee`` fees, served as the order's ``fees``
  array with ``include=fees`` (a ``{url, resource}`` link otherwise); ``total_*`` include them.
- Tax rows: per product row, shipping and handling; ``order_product_id`` (a string) and
  ``line_item_type`` only with ``details=true``. Orders created with ``itemised_taxes=False`` answer
  as BigCommerce's own example does, one row per shipping address and rate without either field.
- Rate limits per store in a fixed window: ``X-Rate-Limit-*`` headers on every answer, real 429s
  when the quota is spent, ``force_429_next(n, with_headers=…)``; every request is recorded
  (monotonic time, method, path, query, status) in ``state.requests``.
- Webhooks: stub payloads ``{scope, store_id, data, hash, created_at, producer}`` where ``hash``
  is the SHA-1 of the JSON-encoded ``data``; Standard Webhooks headers signed with the app's
  client secret (key = the client secret's bytes, as BigCommerce's samples hand
  ``base64(CLIENT_SECRET)`` to the library) plus the hook's custom ``headers``; BigCommerce's
  11 retries over ~48 h compressed into ``delivery_attempts`` tries ``retry_delay`` apart, after
  which the hook is deactivated (``is_active=false``).

Knobs: ``drop_next_delivery``, ``duplicate_next_delivery`` (counts), ``force_429_next``,
``quota``/``window_ms``, ``delivery_attempts``/``retry_delay``; per order ``fees`` and
``itemised_taxes``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

import requests
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request.exceptions import RequestBodyValidationError
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.contracts import contract_path

CENT = Decimal("0.01")
ZERO = Decimal("0")
STATUS_NAMES = {
    0: "Incomplete",
    1: "Pending",
    2: "Shipped",
    3: "Partially Shipped",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
    7: "Awaiting Payment",
    8: "Awaiting Pickup",
    9: "Awaiting Shipment",
    10: "Completed",
    11: "Awaiting Fulfillment",
    12: "Manual Verification Required",
    13: "Disputed",
    14: "Partially Refunded",
}
CAPTURED_STATUSES = frozenset({2, 3, 4, 8, 9, 10, 11, 14})
V3_ERROR_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"


# --------------------------------------------------------------------------- helpers


def round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def bc_money(value: Decimal) -> str:
    """A v2 amount as BigCommerce prints it: "225.0000"."""
    return f"{round2(Decimal(value)):.4f}"


def num(value: Decimal) -> float:
    """A v3 amount: a JSON number."""
    return float(round2(Decimal(value)))


def rfc2822(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(value: str) -> datetime:
    """A filter date: RFC-2822, ISO-8601 / RFC 3339, or a Unix timestamp."""
    value = value.strip()
    if value.isdigit():
        return datetime.fromtimestamp(int(value), UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = parsedate_to_datetime(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def standard_signature(client_secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256("{id}.{ts}.{body}")>`` with the client secret as key."""
    mac = hmac.new(client_secret.encode("utf-8"), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


class ApiError(Exception):
    def __init__(self, status: int, title: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.errors = dict(errors or {})


@dataclass
class Hook:
    id: int
    scope: str
    destination: str
    is_active: bool
    headers: dict[str, str]
    client_id: str
    store_hash: str
    created_at: int
    updated_at: int
    failures: int = 0

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_id": self.client_id,
            "store_hash": self.store_hash,
            "scope": self.scope,
            "destination": self.destination,
            "headers": dict(self.headers),
            "is_active": self.is_active,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def matches(self, scope: str) -> bool:
        if self.scope.endswith("/*"):
            return scope.startswith(self.scope[:-1])
        return self.scope == scope


@dataclass
class Delivery:
    hook_id: int
    scope: str
    body: bytes
    headers: dict[str, str]
    status: int
    ok: bool
    attempt: int = 1
    dropped: bool = False


@dataclass
class RequestRecord:
    at: float
    method: str
    path: str
    query: dict[str, str]
    status: int = 0


@dataclass
class TaxRate:
    id: int
    name: str
    tax_class: str
    tax_class_id: int
    rate: Decimal  # fraction, 0.08 = 8 %


DEFAULT_RATES = (
    TaxRate(1, "Sales Tax", "Default Tax Class", 0, Decimal("0.08")),
    TaxRate(2, "Reduced Rate", "Reduced Goods", 1, Decimal("0.05")),
    TaxRate(3, "Zero Rate", "Exempt Goods", 2, Decimal("0")),
)
CATALOG = (
    ("Orbit Terrarium - Large", "OTL", Decimal("109.00"), 1),
    ("Utility Caddy", "OFSUC", Decimal("45.95"), 1),
    ("Able Brewing System", "ABS", Decimal("225.00"), 1),
    ("Chemex Coffeemaker 3 Cup", "CC3C", Decimal("49.50"), 1),
    ("Organic Coffee Beans 1kg", "OCB1", Decimal("23.99"), 2),
    ("Herbal Tea Sampler", "HTS", Decimal("12.49"), 2),
    ("Gift Book", "GB01", Decimal("18.00"), 3),
    ("Ceramic Mug", "MUG", Decimal("8.33"), 1),
)
GENERATED_FEES = (("Retail delivery fee", Decimal("0.28"), False), ("Packaging fee", Decimal("1.50"), True))
FIRST = ("Jane", "John", "Ana", "Li", "Omar", "Chloé", "Sven", "Priya")
LAST = ("Doe", "Smith", "García", "Wang", "Haddad", "Martin", "Berg", "Nair")


def _address(rng: random.Random, first: str, last: str, email: str) -> dict[str, str]:
    return {
        "first_name": first,
        "last_name": last,
        "company": rng.choice(["", "", "Acme Inc."]),
        "street_1": f"{rng.randint(1, 999)} Main Street",
        "street_2": "",
        "city": rng.choice(["Austin", "Portland", "Denver"]),
        "state": rng.choice(["Texas", "Oregon", "Colorado"]),
        "zip": f"{rng.randint(10000, 99999)}",
        "country": "United States",
        "country_iso2": "US",
        "phone": f"555-{rng.randint(1000, 9999)}",
        "email": email,
    }


# --------------------------------------------------------------------------- state


class BigCommerceState:
    """Everything the simulated store holds, plus the knobs tests turn. All access under ``lock``."""

    def __init__(
        self,
        *,
        store_hash: str = "abc123xyz",
        access_token: str | None = None,
        client_secret: str | None = None,
        client_id: str = "mlc-app-client",
        store_id: str = "1001085",
        quota: int = 150,
        window_ms: int = 30_000,
        delivery_attempts: int = 3,
        retry_delay: float = 0.0,
        delivery_timeout: float = 5.0,
        default_currency: str = "USD",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self.store_hash = store_hash
        self.access_token = access_token or secrets.token_hex(16)
        self.client_secret = client_secret or secrets.token_hex(20)
        self.client_id = client_id
        self.store_id = store_id
        self.default_currency = default_currency
        self.clock = clock
        self.tax_rates = {r.id: r for r in DEFAULT_RATES}
        self.orders: dict[int, dict[str, Any]] = {}
        self.products: dict[int, list[dict[str, Any]]] = {}
        self.shipping_addresses: dict[int, list[dict[str, Any]]] = {}
        self.coupons: dict[int, list[dict[str, Any]]] = {}
        self.taxes: dict[int, list[dict[str, Any]]] = {}
        self.itemised_taxes: dict[int, bool] = {}
        self.fees: dict[int, list[dict[str, Any]]] = {}
        self.transactions: dict[int, list[dict[str, Any]]] = {}
        self.refunds: dict[int, dict[str, Any]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        self.hooks: dict[int, Hook] = {}
        self.requests: list[RequestRecord] = []
        self.contract_refusals: list[str] = []
        self.deliveries: list[Delivery] = []
        self.drop_next_delivery = 0
        self.duplicate_next_delivery = 0
        self.delivery_attempts = delivery_attempts
        self.retry_delay = retry_delay
        self.delivery_timeout = delivery_timeout
        self.quota = quota
        self.window_ms = window_ms
        self._window_start = 0.0
        self._used = 0
        self._blocked_until = 0.0
        self._forced: list[tuple[bool, int]] = []
        self._ids: dict[str, int] = {}

    # ------------------------------------------------------------------ basics

    def now(self) -> datetime:
        return datetime.fromtimestamp(int(self.clock()), UTC)

    def _next(self, sequence: str, start: int = 100) -> int:
        with self.lock:
            value = self._ids.get(sequence, start) + 1
            self._ids[sequence] = value
            return value

    def force_429_next(self, n: int = 1, *, with_headers: bool = True, reset_ms: int = 1000) -> None:
        """Answer the next ``n`` requests 429; with headers, the store also refuses anything before the reset."""
        with self.lock:
            self._forced.extend([(with_headers, reset_ms)] * n)

    # ------------------------------------------------------------------ rate limiting

    def admit(self, now: float) -> tuple[int, dict[str, str]]:
        """Meter one request: (0 = go on, or 429) and the rate-limit headers to send."""
        with self.lock:
            window = self.window_ms / 1000.0
            if now >= self._window_start + window:
                self._window_start, self._used = now, 0
            reset_ms = max(0, int((self._window_start + window - now) * 1000))
            if self._forced:
                with_headers, forced_reset = self._forced.pop(0)
                if not with_headers:
                    return 429, {}
                self._blocked_until = max(self._blocked_until, now + forced_reset / 1000.0)
                return 429, self._limit_headers(forced_reset, 0)
            if now < self._blocked_until:
                return 429, self._limit_headers(int((self._blocked_until - now) * 1000) + 1, 0)
            if self._used >= self.quota:
                return 429, self._limit_headers(reset_ms, 0)
            self._used += 1
            return 0, self._limit_headers(reset_ms, self.quota - self._used)

    def _limit_headers(self, reset_ms: int, left: int) -> dict[str, str]:
        return {
            "X-Rate-Limit-Time-Window-Ms": str(self.window_ms),
            "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
            "X-Rate-Limit-Requests-Quota": str(self.quota),
            "X-Rate-Limit-Requests-Left": str(left),
        }

    # ------------------------------------------------------------------ customers

    def add_customer(
        self,
        first_name: str,
        last_name: str,
        email: str,
        *,
        company: str = "",
        phone: str = "",
        address: Mapping[str, str] | None = None,
        deliver: bool = True,
        created: datetime | None = None,
    ) -> dict[str, Any]:
        stamp = created or self.now()
        with self.lock:
            cid = self._next("customer", 0)
            record: dict[str, Any] = {
                "id": cid,
                "email": email,
                "first_name": first_name,
                "last_name": last_name,
                "company": company,
                "phone": phone,
                "customer_group_id": 0,
                "notes": "",
                "tax_exempt_category": "",
                "accepts_product_review_abandoned_cart_emails": False,
                "channel_ids": [1],
                "date_created": iso(stamp),
                "date_modified": iso(stamp),
                "addresses": [],
            }
            if address:
                record["addresses"].append(
                    {
                        "id": self._next("address", 0),
                        "customer_id": cid,
                        "first_name": first_name,
                        "last_name": last_name,
                        "company": company,
                        "address1": address.get("street_1", ""),
                        "address2": address.get("street_2", ""),
                        "city": address.get("city", ""),
                        "state_or_province": address.get("state", ""),
                        "postal_code": address.get("zip", ""),
                        "country_code": address.get("country_iso2") or "US",  # required, two letters
                        "phone": phone,
                        "address_type": "residential",
                    }
                )
            self.customers[cid] = record
        if deliver:
            self.deliver("store/customer/created", {"type": "customer", "id": cid})
        return copy.deepcopy(record)

    def update_customer(self, customer_id: int, *, deliver: bool = True, **changes: Any) -> dict[str, Any]:
        with self.lock:
            record = self.customers[customer_id]
            record.update(changes)
            record["date_modified"] = iso(self.now())
            out = copy.deepcopy(record)
        if deliver:
            self.deliver("store/customer/updated", {"type": "customer", "id": customer_id})
        return out

    # ------------------------------------------------------------------ orders

    def create_order(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        customer_id: int = 0,
        guest_email: str = "guest@example.com",
        tax_inclusive: bool = False,
        shipping: Decimal | str = "0",
        shipping_method: str = "Flat Rate",
        handling: Decimal | str = "0",
        wrapping: Decimal | str = "0",
        coupon: tuple[str, Decimal | str] | None = None,
        store_credit: Decimal | str = "0",
        gift_certificate: Decimal | str = "0",
        status_id: int = 11,
        currency: str | None = None,
        exchange_rate: Decimal | str = "1",
        gateway: str = "braintree",
        fees: Sequence[tuple[str, Decimal | str, bool]] = (),
        itemised_taxes: bool = True,
        created: datetime | None = None,
        deliver: bool = True,
    ) -> dict[str, Any]:
        """Create an order the way the storefront checkout would, computing every total.

        ``items``: ``{"name", "sku", "price", "quantity", "tax_rate_id"?, "product_id"?}``; ``price``
        and the coupon/shipping/handling/wrapping/fee amounts are entered tax-inclusive when
        ``tax_inclusive``. ``fees``: order-level custom fees ``(name, amount, taxable)``, taxed at the
        default rate and left out of the tax rows (no ``line_item_type`` covers fees); ``total_tax``
        includes their tax. ``itemised_taxes=False`` answers the tax rows as BigCommerce's own
        example does: one row per shipping address and rate, without ``order_product_id`` and
        ``line_item_type`` even with ``details=true``. Store credit and gift certificates pay first,
        a gateway capture pays the rest when ``status_id`` is a captured status.
        """
        stamp = created or self.now()
        with self.lock:
            oid = self._next("order", 100)
            order = self._build_order(
                oid,
                items,
                customer_id=customer_id,
                guest_email=guest_email,
                inclusive=tax_inclusive,
                shipping=Decimal(str(shipping)),
                shipping_method=shipping_method,
                handling=Decimal(str(handling)),
                wrapping=Decimal(str(wrapping)),
                coupon=(coupon[0], Decimal(str(coupon[1]))) if coupon else None,
                store_credit=Decimal(str(store_credit)),
                gift_certificate=Decimal(str(gift_certificate)),
                status_id=status_id,
                currency=currency or self.default_currency,
                exchange_rate=Decimal(str(exchange_rate)),
                gateway=gateway,
                fees=[(name, Decimal(str(amount)), taxable) for name, amount, taxable in fees],
                itemised_taxes=itemised_taxes,
                stamp=stamp,
            )
            out = copy.deepcopy(order)
        if deliver:
            self.deliver("store/order/created", {"type": "order", "id": oid})
        return out

    def _tax_split(self, amount: Decimal, rate: Decimal, inclusive: bool) -> tuple[Decimal, Decimal]:
        """(ex tax, tax) of an entered amount."""
        if inclusive:
            ex = round2(amount / (1 + rate))
            return ex, round2(amount) - ex
        return round2(amount), round2(amount * rate)

    def _build_order(
        self,
        oid: int,
        items: Sequence[Mapping[str, Any]],
        *,
        customer_id: int,
        guest_email: str,
        inclusive: bool,
        shipping: Decimal,
        shipping_method: str,
        handling: Decimal,
        wrapping: Decimal,
        coupon: tuple[str, Decimal] | None,
        store_credit: Decimal,
        gift_certificate: Decimal,
        status_id: int,
        currency: str,
        exchange_rate: Decimal,
        gateway: str,
        fees: Sequence[tuple[str, Decimal, bool]],
        itemised_taxes: bool,
        stamp: datetime,
    ) -> dict[str, Any]:
        if not items:
            raise ValueError("an order needs at least one item")
        if customer_id:
            customer = self.customers[customer_id]
            email, first, last = customer["email"], customer["first_name"], customer["last_name"]
            addr = (customer.get("addresses") or [{}])[0]
            billing = {
                "first_name": first,
                "last_name": last,
                "company": customer.get("company", ""),
                "street_1": addr.get("address1", "1 Main Street"),
                "street_2": addr.get("address2", ""),
                "city": addr.get("city", "Austin"),
                "state": addr.get("state_or_province", "Texas"),
                "zip": addr.get("postal_code", "78701"),
                "country": "United States",
                "country_iso2": addr.get("country_code", "US") or "US",
                "phone": customer.get("phone", ""),
                "email": email,
            }
        else:
            rng = random.Random(oid)
            billing = _address(rng, rng.choice(FIRST), rng.choice(LAST), guest_email)
        ship_rate = self.tax_rates[1].rate
        address_id = self._next("shipping_address", 0)

        # products: prices and totals before discounts
        rows: list[dict[str, Any]] = []
        bases: list[Decimal] = []
        for item in items:
            rate = self.tax_rates[int(item.get("tax_rate_id", 1))]
            qty = int(item.get("quantity", 1))
            price = Decimal(str(item["price"]))
            unit_ex, unit_tax = self._tax_split(price, rate.rate, inclusive)
            total_ex, total_tax = self._tax_split(price * qty, rate.rate, inclusive)
            bases.append(round2(price * qty))
            rows.append(
                {
                    "id": self._next("order_product", 0),
                    "order_id": oid,
                    "product_id": int(item.get("product_id", 70 + zlib.crc32(str(item["sku"]).encode()) % 100)),
                    "variant_id": 0,
                    "order_address_id": address_id,
                    "name": item["name"],
                    "name_customer": item["name"],
                    "name_merchant": item["name"],
                    "sku": item["sku"],
                    "upc": "",
                    "type": "physical",
                    "base_price": bc_money(price),
                    "price_ex_tax": bc_money(unit_ex),
                    "price_inc_tax": bc_money(unit_ex + unit_tax),
                    "price_tax": bc_money(unit_tax),
                    "base_total": bc_money(price * qty),
                    "total_ex_tax": bc_money(total_ex),
                    "total_inc_tax": bc_money(total_ex + total_tax),
                    "total_tax": bc_money(total_tax),
                    "quantity": qty,
                    "base_cost_price": "0.0000",
                    "cost_price_inc_tax": "0.0000",
                    "cost_price_ex_tax": "0.0000",
                    "weight": "1.0000",
                    "cost_price_tax": "0.0000",
                    "is_refunded": False,
                    "quantity_refunded": 0,
                    "refund_amount": "0.0000",
                    "return_id": 0,
                    "fixed_shipping_cost": "0.0000",
                    "quantity_shipped": 0,
                    "is_bundled_product": False,
                    "applied_discounts": [],
                    "product_options": [],
                    "configurable_fields": [],
                    "_rate": rate,
                }
            )
        # coupon: split over the rows by their entered totals, the last row taking the remainder
        coupon_total = ZERO
        coupon_rows: list[dict[str, Any]] = []
        if coupon:
            code, wanted = coupon
            coupon_total = min(round2(wanted), sum(bases, ZERO))
            left, base_sum = coupon_total, sum(bases, ZERO)
            coupon_id = self._next("coupon", 0)
            for i, row in enumerate(rows):
                share = left if i == len(rows) - 1 else round2(coupon_total * bases[i] / base_sum)
                share = min(share, left)
                left -= share
                if share:
                    row["applied_discounts"].append(
                        {"id": str(coupon_id), "amount": bc_money(share), "name": code, "code": code, "target": "order"}
                    )
            coupon_rows.append(
                {
                    "id": self._next("order_coupon", 0),
                    "coupon_id": coupon_id,
                    "order_id": oid,
                    "code": code,
                    "amount": bc_money(coupon_total),
                    "type": 0,
                    "discount": num(coupon_total),
                }
            )
        # tax after discounts, per row
        tax_rows: list[dict[str, Any]] = []
        lines_ex_after = ZERO
        item_tax = ZERO
        for i, row in enumerate(rows):
            rate: TaxRate = row.pop("_rate")
            discount = sum((Decimal(d["amount"]) for d in row["applied_discounts"]), ZERO)
            after = bases[i] - discount
            ex_after, tax = self._tax_split(after, rate.rate, inclusive)
            lines_ex_after += ex_after
            item_tax += tax
            row["discounted_total_inc_tax"] = bc_money(ex_after + tax)
            if rate.rate:
                tax_rows.append(self._tax_row(oid, address_id, rate, tax, row["id"], "item"))
        ship_ex, ship_tax = self._tax_split(shipping, ship_rate, inclusive)
        hand_ex, hand_tax = self._tax_split(handling, ship_rate, inclusive)
        wrap_ex, wrap_tax = round2(wrapping), ZERO  # gift wrapping untaxed here
        if ship_tax:
            tax_rows.append(self._tax_row(oid, address_id, self.tax_rates[1], ship_tax, 0, "shipping"))
        if hand_tax:
            tax_rows.append(self._tax_row(oid, address_id, self.tax_rates[1], hand_tax, 0, "handling"))
        fee_rows: list[dict[str, Any]] = []
        for name, amount, taxable in fees:
            fee_ex, fee_tax = self._tax_split(amount, ship_rate if taxable else ZERO, inclusive)
            fee_rows.append(
                {
                    "id": self._next("order_fee", 0),
                    "type": "custom_fee",
                    "display_name_customer": name,
                    "display_name_merchant": name,
                    "source": "v2",
                    "base_cost": bc_money(amount),
                    "cost_ex_tax": bc_money(fee_ex),
                    "cost_inc_tax": bc_money(fee_ex + fee_tax),
                    "cost_tax": bc_money(fee_tax),
                    "tax_class_id": None,
                }
            )
        fees_ex = sum((Decimal(f["cost_ex_tax"]) for f in fee_rows), ZERO)
        fees_tax = sum((Decimal(f["cost_tax"]) for f in fee_rows), ZERO)

        subtotal_ex = sum((Decimal(r["total_ex_tax"]) for r in rows), ZERO)
        subtotal_tax = sum((Decimal(r["total_tax"]) for r in rows), ZERO)
        total_tax = item_tax + ship_tax + hand_tax + wrap_tax + fees_tax
        total_ex = lines_ex_after + ship_ex + hand_ex + wrap_ex + fees_ex
        total_inc = total_ex + total_tax
        store_credit = min(round2(store_credit), total_inc)
        gift_certificate = min(round2(gift_certificate), total_inc - store_credit)

        order = {
            "id": oid,
            "customer_id": customer_id,
            "date_created": rfc2822(stamp),
            "date_modified": rfc2822(stamp),
            "date_shipped": "",
            "status_id": status_id,
            "status": STATUS_NAMES[status_id],
            "custom_status": STATUS_NAMES[status_id],
            "subtotal_ex_tax": bc_money(subtotal_ex),
            "subtotal_inc_tax": bc_money(subtotal_ex + subtotal_tax),
            "subtotal_tax": bc_money(subtotal_tax),
            "base_shipping_cost": bc_money(shipping),
            "shipping_cost_ex_tax": bc_money(ship_ex),
            "shipping_cost_inc_tax": bc_money(ship_ex + ship_tax),
            "shipping_cost_tax": bc_money(ship_tax),
            "shipping_cost_tax_class_id": 0,
            "base_handling_cost": bc_money(handling),
            "handling_cost_ex_tax": bc_money(hand_ex),
            "handling_cost_inc_tax": bc_money(hand_ex + hand_tax),
            "handling_cost_tax": bc_money(hand_tax),
            "handling_cost_tax_class_id": 0,
            "base_wrapping_cost": bc_money(wrapping),
            "wrapping_cost_ex_tax": bc_money(wrap_ex),
            "wrapping_cost_inc_tax": bc_money(wrap_ex + wrap_tax),
            "wrapping_cost_tax": bc_money(wrap_tax),
            "wrapping_cost_tax_class_id": 0,
            "total_ex_tax": bc_money(total_ex),
            "total_inc_tax": bc_money(total_inc),
            "total_tax": bc_money(total_tax),
            "items_total": sum(int(r["quantity"]) for r in rows),
            "items_shipped": 0,
            "payment_method": "Credit Card" if gateway else "Manual",
            "payment_provider_id": "",
            "payment_status": "captured" if status_id in CAPTURED_STATUSES else "",
            "refunded_amount": "0.0000",
            "order_is_digital": False,
            "store_credit_amount": bc_money(store_credit),
            "gift_certificate_amount": bc_money(gift_certificate),
            "ip_address": "203.0.113.10",
            "geoip_country": "United States",
            "geoip_country_iso2": "US",
            "currency_id": 1 if currency == self.default_currency else 2,
            "currency_code": currency,
            "currency_exchange_rate": f"{Decimal(exchange_rate):.10f}",
            "default_currency_id": 1,
            "default_currency_code": self.default_currency,
            "store_default_currency_code": self.default_currency,
            "store_default_to_transactional_exchange_rate": f"{Decimal(exchange_rate):.10f}",
            "staff_notes": "",
            "customer_message": "",
            "discount_amount": "0.0000",
            "coupon_discount": bc_money(coupon_total),
            "shipping_address_count": 1,
            "is_deleted": False,
            "ebay_order_id": "0",
            "cart_id": secrets.token_hex(8),
            "billing_address": billing,
            "is_email_opt_in": False,
            "credit_card_type": None,
            "order_source": "www",
            "channel_id": 1,
            "external_source": None,
            "external_id": None,
            "external_merchant_id": None,
            "tax_provider_id": "BasicTaxProvider",
            "customer_locale": "en",
            "is_tax_inclusive_pricing": inclusive,
        }
        self.orders[oid] = order
        self.products[oid] = rows
        self.coupons[oid] = coupon_rows
        self.taxes[oid] = tax_rows
        self.fees[oid] = fee_rows
        self.itemised_taxes[oid] = itemised_taxes
        self.shipping_addresses[oid] = [
            {
                "id": address_id,
                "order_id": oid,
                **{k: v for k, v in billing.items()},
                "items_total": order["items_total"],
                "items_shipped": 0,
                "shipping_method": shipping_method,
                "base_cost": bc_money(shipping),
                "cost_ex_tax": bc_money(ship_ex),
                "cost_inc_tax": bc_money(ship_ex + ship_tax),
                "cost_tax": bc_money(ship_tax),
                "cost_tax_class_id": 2,
                "base_handling_cost": bc_money(handling),
                "handling_cost_ex_tax": bc_money(hand_ex),
                "handling_cost_inc_tax": bc_money(hand_ex + hand_tax),
                "handling_cost_tax": bc_money(hand_tax),
                "handling_cost_tax_class_id": 2,
                "shipping_zone_id": 1,
                "shipping_zone_name": "United States",
                "shipping_quotes": {"url": "", "resource": ""},
            }
        ]
        self.transactions[oid] = []
        if store_credit:
            self._transaction(oid, "purchase", "store_credit", store_credit, "storecredit", stamp)
        if status_id in CAPTURED_STATUSES:
            self._capture(oid, stamp, gateway)
        elif status_id in (1, 12):
            rest = total_inc - store_credit - gift_certificate
            if rest > 0:
                self._transaction(oid, "authorization", "credit_card", rest, gateway, stamp)
        return order

    def _tax_row(
        self, oid: int, address_id: int, rate: TaxRate, amount: Decimal, product_row: int, kind: str
    ) -> dict[str, Any]:
        """One tax row as the store keeps it (``tax_rows_json`` shapes what the API answers)."""
        return {
            "id": self._next("order_tax", 0),
            "order_id": oid,
            "order_address_id": address_id,
            "tax_rate_id": rate.id,
            "tax_class_id": rate.tax_class_id,
            "name": rate.name,
            "class": rate.tax_class,
            "rate": f"{rate.rate * 100:.4f}",
            "priority": 0,
            "priority_amount": bc_money(amount),
            "line_amount": bc_money(amount),
            "order_product_id": product_row,
            "line_item_type": kind,
        }

    def _transaction(
        self, oid: int, event: str, method: str, amount: Decimal, gateway: str, stamp: datetime
    ) -> dict[str, Any]:
        tx = {
            "id": self._next("transaction", 0),
            "order_id": str(oid),
            "event": event,
            "method": method,
            "amount": num(amount),
            "currency": self.orders[oid]["currency_code"],
            "gateway": gateway,
            "gateway_transaction_id": secrets.token_hex(6),
            "date_created": iso(stamp),
            "test": False,
            "status": "ok",
            "fraud_review": False,
            "offline": None,
            "custom": None,
            "avs_result": {},
            "cvv_result": {},
        }
        self.transactions[oid].append(tx)
        return tx

    def _capture(self, oid: int, stamp: datetime, gateway: str) -> None:
        order = self.orders[oid]
        paid = sum(
            (Decimal(str(t["amount"])) for t in self.transactions[oid] if t["event"] in ("purchase", "capture")),
            ZERO,
        )
        paid += Decimal(order["gift_certificate_amount"])
        rest = Decimal(order["total_inc_tax"]) - paid
        if rest > 0:
            self._transaction(oid, "purchase", "credit_card", rest, gateway, stamp)

    def update_order(self, order_id: int, *, status_id: int | None = None, deliver: bool = True) -> dict[str, Any]:
        """Change an order's status (a captured status takes the outstanding payment)."""
        with self.lock:
            order = self.orders[order_id]
            previous = order["status_id"]
            stamp = self.now()
            if status_id is not None:
                order["status_id"], order["status"], order["custom_status"] = (
                    status_id,
                    STATUS_NAMES[status_id],
                    STATUS_NAMES[status_id],
                )
                if status_id in CAPTURED_STATUSES and previous not in CAPTURED_STATUSES:
                    self._capture(order_id, stamp, "braintree")
                    order["payment_status"] = "captured"
            order["date_modified"] = rfc2822(stamp)
            out = copy.deepcopy(order)
        if deliver:
            self.deliver("store/order/updated", {"type": "order", "id": order_id})
            if status_id is not None and status_id != previous:
                self.deliver(
                    "store/order/statusUpdated",
                    {
                        "type": "order",
                        "id": order_id,
                        "status": {"previous_status_id": previous, "new_status_id": status_id},
                    },
                )
        return out

    def add_refund(
        self,
        order_id: int,
        amount: Decimal | str | None = None,
        *,
        items: Sequence[Mapping[str, Any]] | None = None,
        reason: str = "",
        deliver: bool = True,
    ) -> dict[str, Any]:
        """Refund an order: itemised (``items`` of PRODUCT by order product id + quantity, SHIPPING) or
        amount-only (``amount``). Item amounts are tax-inclusive; the tax part follows how the item
        was taxed. Refuses more than what remains refundable."""
        with self.lock:
            order = self.orders[order_id]
            products = {r["id"]: r for r in self.products[order_id]}
            taxes = self.taxes[order_id]
            refund_items: list[dict[str, Any]] = []
            total = tax_total = ZERO
            for item in items or ():
                kind = str(item["item_type"]).upper()
                if kind == "PRODUCT":
                    row = products[int(item["item_id"])]
                    qty = int(item.get("quantity", 1))
                    if qty + int(row["quantity_refunded"]) > int(row["quantity"]):
                        raise ValueError("refund quantity exceeds what remains of the line")
                    discount = sum((Decimal(d["amount"]) for d in row["applied_discounts"]), ZERO)
                    line_tax = sum(
                        (Decimal(t["line_amount"]) for t in taxes if t["order_product_id"] == row["id"]), ZERO
                    )
                    if order["is_tax_inclusive_pricing"]:
                        gross_line = Decimal(row["total_inc_tax"]) - discount
                    else:
                        gross_line = Decimal(row["total_ex_tax"]) - discount + line_tax
                    gross = round2(gross_line * qty / int(row["quantity"]))
                    tax = round2(gross * line_tax / gross_line) if gross_line else ZERO
                    row["quantity_refunded"] = int(row["quantity_refunded"]) + qty
                    row["refund_amount"] = bc_money(Decimal(row["refund_amount"]) + gross)
                    row["is_refunded"] = row["quantity_refunded"] >= int(row["quantity"])
                elif kind == "SHIPPING":
                    gross = Decimal(str(item.get("amount", order["shipping_cost_inc_tax"])))
                    ship_inc = Decimal(order["shipping_cost_inc_tax"])
                    tax = round2(gross * Decimal(order["shipping_cost_tax"]) / ship_inc) if ship_inc else ZERO
                else:
                    raise ValueError(f"unsupported item_type {kind}")
                total += gross
                tax_total += tax
                refund_items.append(
                    {
                        "item_type": kind,
                        "item_id": int(item.get("item_id", order_id)),
                        **({"quantity": int(item.get("quantity", 1))} if kind == "PRODUCT" else {}),
                        "requested_amount": num(gross),
                        "reason": reason,
                    }
                )
            if amount is not None:
                extra = round2(Decimal(str(amount)))
                total += extra
                refund_items.append(
                    {"item_type": "ORDER", "item_id": order_id, "requested_amount": num(extra), "reason": reason}
                )
            refunded = Decimal(order["refunded_amount"])
            if total <= 0 or refunded + total > Decimal(order["total_inc_tax"]):
                raise ValueError(f"refund of {total} exceeds the refundable remainder of order {order_id}")
            capture = next(
                (t for t in self.transactions[order_id] if t["event"] == "purchase" and t["method"] != "store_credit"),
                None,
            )
            stamp = self.now()
            refund = {
                "id": self._next("refund", 0),
                "order_id": order_id,
                "user_id": 0,
                "created": iso(stamp),
                "reason": reason,
                "total_amount": num(total),
                "total_tax": num(tax_total),
                "uses_merchant_override_values": amount is not None,
                "items": refund_items,
                "payments": [
                    {
                        "id": self._next("refund_payment", 0),
                        "provider_id": capture["gateway"] if capture else "storecredit",
                        "amount": num(total),
                        "offline": capture is None,
                        "is_declined": False,
                        "declined_message": "",
                    }
                ],
            }
            self.refunds[refund["id"]] = refund
            order["refunded_amount"] = bc_money(refunded + total)
            status = 4 if refunded + total >= Decimal(order["total_inc_tax"]) else 14
            order["status_id"], order["status"], order["custom_status"] = (
                status,
                STATUS_NAMES[status],
                STATUS_NAMES[status],
            )
            order["date_modified"] = rfc2822(stamp)
            out = copy.deepcopy(refund)
        if deliver:
            self.deliver(
                "store/order/refund/created", {"type": "order", "id": order_id, "refund": {"refund_id": out["id"]}}
            )
            self.deliver("store/order/updated", {"type": "order", "id": order_id})
        return out

    def generate_orders(
        self, n: int, seed: int = 0, *, deliver: bool = False, start: datetime | None = None
    ) -> list[dict[str, Any]]:
        """``n`` consistent orders: registered customers and guests, tax-inclusive and -exclusive prices,
        coupons, shipping/handling/wrapping, order-level fees, store credit and gift certificates,
        mostly paid statuses, some in a second currency, some with tax rows shaped as BigCommerce's
        example (per address, no product), created seven minutes apart from ``start`` (default three days ago)."""
        rng = random.Random(seed)
        with self.lock:
            if len(self.customers) < 3:
                for i in range(4):
                    first, last = FIRST[(seed + i) % len(FIRST)], LAST[(seed + 2 * i) % len(LAST)]
                    email = f"{first.lower()}.{last.lower()}{seed}{i}@example.com"
                    self.add_customer(first, last, email, address=_address(rng, first, last, email), deliver=False)
            customer_ids = sorted(self.customers)
        start = start or self.now() - timedelta(days=3)
        statuses = [11] * 5 + [10] * 3 + [2] * 2 + [9, 3, 7, 1, 5, 12]
        out = []
        for i in range(n):
            picks = rng.sample(CATALOG, rng.randint(1, 4))
            items = [
                {"name": name, "sku": sku, "price": price, "quantity": rng.randint(1, 3), "tax_rate_id": rate}
                for name, sku, price, rate in picks
            ]
            inclusive = rng.random() < 0.3
            coupon = None
            if rng.random() < 0.35:
                coupon = ("SAVE10", rng.choice([Decimal("5.00"), Decimal("10.00"), Decimal("7.35")]))
            guest = rng.random() < 0.3
            foreign = rng.random() < 0.2
            fees = [f for f in GENERATED_FEES if rng.random() < 0.2]
            itemised_taxes = rng.random() >= 0.3
            order = self.create_order(
                items,
                customer_id=0 if guest else rng.choice(customer_ids),
                guest_email=f"guest{seed}.{i}@example.net",
                tax_inclusive=inclusive,
                shipping=rng.choice(["0", "4.99", "9.99", "12.50"]),
                handling="2.50" if rng.random() < 0.2 else "0",
                wrapping="3.00" if rng.random() < 0.1 else "0",
                coupon=coupon,
                store_credit=rng.choice(["10.00", "25.00"]) if rng.random() < 0.15 else "0",
                gift_certificate=rng.choice(["15.00", "50.00"]) if rng.random() < 0.1 else "0",
                status_id=rng.choice(statuses),
                currency="EUR" if foreign else None,
                exchange_rate="0.9123000000" if foreign else "1",
                gateway=rng.choice(["braintree", "stripe"]),
                fees=fees,
                itemised_taxes=itemised_taxes,
                created=start + timedelta(minutes=7 * i),
                deliver=deliver,
            )
            out.append(order)
        return out

    # ------------------------------------------------------------------ representations

    def order_json(self, oid: int, base: str = "", *, with_fees: bool = False) -> dict[str, Any]:
        """The v2 order; its ``fees`` are the array with ``include=fees``, else a link like the others."""
        with self.lock:
            order = copy.deepcopy(self.orders[oid])
            fees = copy.deepcopy(self.fees[oid])
        prefix = f"{base}/stores/{self.store_hash}/v2/orders/{oid}"
        for sub in ("products", "shipping_addresses", "coupons", "fees"):
            order[sub] = {"url": f"{prefix}/{sub}", "resource": f"/orders/{oid}/{sub}"}
        if with_fees:
            order["fees"] = fees
        return order

    def tax_rows_json(self, oid: int, *, details: bool) -> list[dict[str, Any]]:
        """``GET /orders/{id}/taxes``: per-line rows naming their product and type only with
        ``details=true``; an order with ``itemised_taxes=False`` answers one row per address and rate."""
        with self.lock:
            rows = copy.deepcopy(self.taxes[oid])
            itemised = self.itemised_taxes[oid]
        if not itemised:
            merged: dict[tuple[int, int], dict[str, Any]] = {}
            for row in rows:
                key = (row["order_address_id"], row["tax_rate_id"])
                if key in merged:
                    total = Decimal(merged[key]["line_amount"]) + Decimal(row["line_amount"])
                    merged[key]["line_amount"] = merged[key]["priority_amount"] = bc_money(total)
                else:
                    merged[key] = row
            rows, details = list(merged.values()), False
        out = []
        for row in rows:
            kind, product_row = row.pop("line_item_type"), row.pop("order_product_id")
            row["sales_tax_id"] = f"rate-{row['tax_rate_id']}"
            if details:
                row["order_product_id"] = str(product_row) if kind == "item" else None
                row["line_item_type"] = kind
            out.append(row)
        return out

    def order_bundle(self, oid: int) -> dict[str, Any]:
        """What the connector reads for an order (with ``include=fees``, taxes with ``details=true``),
        JSON round-tripped."""
        with self.lock:
            bundle = {
                "order": self.order_json(oid, with_fees=True),
                "products": self.products[oid],
                "shipping_addresses": self.shipping_addresses[oid],
                "coupons": self.coupons[oid],
                "taxes": self.tax_rows_json(oid, details=True),
                "transactions": self.transactions[oid],
                "refunds": [r for r in self.refunds.values() if r["order_id"] == oid],
            }
            return json.loads(json.dumps(bundle))

    def customer_json(self, cid: int, *, with_addresses: bool) -> dict[str, Any]:
        with self.lock:
            record = copy.deepcopy(self.customers[cid])
        record["address_count"] = len(record["addresses"])
        if not with_addresses:
            record.pop("addresses")
        return record

    # ------------------------------------------------------------------ hooks

    def create_hook(
        self, scope: str, destination: str, *, headers: Mapping[str, str] | None = None, is_active: bool = True
    ) -> Hook:
        with self.lock:
            for hook in self.hooks.values():
                if hook.scope == scope and hook.destination == destination:
                    raise ApiError(422, "Hook already exists for this scope and destination")
            stamp = int(self.clock())
            hook = Hook(
                self._next("hook", 1000), scope, destination, is_active, dict(headers or {}),
                self.client_id, self.store_hash, stamp, stamp,
            )  # fmt: skip
            self.hooks[hook.id] = hook
            return hook

    def deactivate_hook(self, hook_id: int) -> None:
        with self.lock:
            self.hooks[hook_id].is_active = False

    # ------------------------------------------------------------------ deliveries

    def deliver(self, scope: str, data: Mapping[str, Any]) -> list[Delivery]:
        """Post a stub payload for ``scope`` to every active matching hook (synchronously)."""
        encoded_data = json.dumps(data, separators=(",", ":"))
        payload = {
            "scope": scope,
            "store_id": self.store_id,
            "data": dict(data),
            "hash": hashlib.sha1(encoded_data.encode(), usedforsecurity=False).hexdigest(),
            "created_at": int(self.clock()),
            "producer": f"stores/{self.store_hash}",
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        msg_id = f"msg_{secrets.token_hex(12)}"
        jobs: list[tuple[Hook, int]] = []
        results: list[Delivery] = []
        with self.lock:
            for hook in sorted(self.hooks.values(), key=lambda h: h.id):
                if not hook.is_active or not hook.matches(scope):
                    continue
                if self.drop_next_delivery > 0:
                    self.drop_next_delivery -= 1
                    dropped = Delivery(hook.id, scope, body, {}, 0, False, dropped=True)
                    self.deliveries.append(dropped)
                    results.append(dropped)
                    continue
                copies = 1
                if self.duplicate_next_delivery > 0:
                    self.duplicate_next_delivery -= 1
                    copies = 2
                jobs.append((hook, copies))
        for hook, copies in jobs:
            for _ in range(copies):
                results.append(self._deliver_with_retries(hook, scope, body, msg_id))
        return results

    def _deliver_with_retries(self, hook: Hook, scope: str, body: bytes, msg_id: str) -> Delivery:
        record = Delivery(hook.id, scope, body, {}, 0, False)
        for attempt in range(1, self.delivery_attempts + 1):
            timestamp = int(self.clock())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "BigCommerce-Webhooks/1.0",
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": standard_signature(self.client_secret, msg_id, timestamp, body),
                **hook.headers,
            }
            status = self._post(hook.destination, body, headers)
            record = Delivery(hook.id, scope, body, headers, status, 200 <= status < 300, attempt)
            with self.lock:
                self.deliveries.append(record)
            if record.ok:
                with self.lock:
                    hook.failures = 0
                return record
            if attempt < self.delivery_attempts and self.retry_delay:
                time.sleep(self.retry_delay)
        with self.lock:  # the last retry failed: BigCommerce deactivates the hook (and emails the owner)
            hook.failures += 1
            hook.is_active = False
            hook.updated_at = int(self.clock())
        return record

    def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            response = requests.post(url, data=body, headers=dict(headers), timeout=self.delivery_timeout)
        except requests.RequestException:
            return 0
        return response.status_code


# --------------------------------------------------------------------------- HTTP

_SUBS = "products,shipping_addresses,coupons,taxes"
URLS = Map(
    [
        Rule("/stores/<store>/v2/orders", endpoint="orders", methods=["GET"]),
        Rule("/stores/<store>/v2/orders/<int:oid>", endpoint="order", methods=["GET"]),
        Rule(f"/stores/<store>/v2/orders/<int:oid>/<any({_SUBS}):sub>", endpoint="order_sub", methods=["GET"]),
        Rule("/stores/<store>/v3/orders/<int:oid>/transactions", endpoint="transactions", methods=["GET"]),
        Rule("/stores/<store>/v3/orders/<int:oid>/payment_actions/refunds", endpoint="order_refunds", methods=["GET"]),
        Rule("/stores/<store>/v3/orders/payment_actions/refunds", endpoint="refunds", methods=["GET"]),
        Rule("/stores/<store>/v3/customers", endpoint="customers", methods=["GET"]),
        Rule("/stores/<store>/v3/hooks", endpoint="hooks", methods=["GET", "POST"]),
        Rule("/stores/<store>/v3/hooks/<int:hid>", endpoint="hook", methods=["GET", "PUT", "DELETE"]),
    ]
)


# --------------------------------------------------------------------------- contracts

API_HOST = "https://api.bigcommerce.com"  # the host of the specs' servers; requests are checked as if sent there
CONTRACT_OF = {  # endpoint → the transcribed BigCommerce spec that declares it
    "orders": "orders.v2",
    "order": "orders.v2",
    "order_sub": "orders.v2",
    "transactions": "orders.v3",
    "order_refunds": "orders.v3",
    "refunds": "orders.v3",
    "customers": "customers.v3",
    "hooks": "webhooks.v3",
    "hook": "webhooks.v3",
}


@cache
def contract(name: str) -> OpenAPI:
    """One of BigCommerce's OpenAPI files as transcribed in ``tests/contracts/bigcommerce/`` (read once;
    the contract tests check the files themselves)."""
    path = contract_path("bigcommerce", f"{name}.yaml")
    return OpenAPI.from_file_path(str(path), config=Config(spec_validator_cls=None))


@dataclass
class ContractRequest:
    """A request as openapi-core reads it, addressed to BigCommerce's host as the specs' servers name it."""

    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str
    host_url: str = API_HOST

    @classmethod
    def of(cls, request: Request) -> ContractRequest:
        return cls(
            path=request.path,
            method=request.method.lower(),
            parameters=RequestParameters(
                query=ImmutableMultiDict(request.args),
                # WSGI gives every request a Content-Type, empty when none was sent: that one is absent.
                header=Headers([(name, value) for name, value in request.headers.items() if value]),
                cookie=request.cookies,
            ),
            body=request.get_data() or None,
            content_type=request.content_type or "application/octet-stream",
        )


@dataclass
class ContractResponse:
    status_code: int
    data: bytes
    content_type: str
    headers: Headers


def describe_violation(exc: BaseException) -> str:
    """What openapi-core found, with the JSON path of each schema error (never the whole value)."""
    found = []
    node: BaseException | None = exc
    while node is not None:
        for err in getattr(node, "schema_errors", ()):
            where = "/".join(str(p) for p in getattr(err, "absolute_path", ())) or "value"
            found.append(f"{where}: {str(getattr(err, 'message', err))[:200]}")
        node = node.__cause__
    said = "" if isinstance(exc, InvalidSchemaValue) else str(exc)[:200]  # that one would quote the whole value
    return "; ".join([f"{type(exc).__name__}: {said}" if said else type(exc).__name__, *found[:8]])


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _error(version: str, status: int, title: str, errors: Mapping[str, str] | None = None) -> Response:
    if version == "v2":
        return _json([{"status": status, "message": title}], status)
    body: dict[str, Any] = {"status": status, "title": title, "type": V3_ERROR_TYPE}
    if errors:
        body["errors"] = dict(errors)
    return _json(body, status)


def _includes(args: Mapping[str, str]) -> set[str]:
    return {part for part in (args.get("include") or "").split(",") if part}


def _int_arg(args: Mapping[str, str], name: str, default: int, maximum: int | None = None) -> int:
    try:
        value = int(args.get(name, default))
    except ValueError:
        raise ApiError(400, f"The field '{name}' is invalid.") from None
    value = max(1, value)
    return min(value, maximum) if maximum else value


class BigCommerceApp:
    """The WSGI application over one ``BigCommerceState``."""

    def __init__(self, state: BigCommerceState) -> None:
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        record = RequestRecord(time.monotonic(), request.method, request.path, dict(request.args))
        with self.state.lock:
            self.state.requests.append(record)
        response = self.handle(request)
        record.status = response.status_code
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        state = self.state
        version = "v3" if "/v3/" in request.path else "v2"
        verdict, limit_headers = state.admit(time.monotonic())
        if verdict == 429:
            response = _error(version, 429, "Too many requests")
            response.headers.update(limit_headers)
            return response
        response = self._route(request, version)
        response.headers.update(limit_headers)
        return response

    def _route(self, request: Request, version: str) -> Response:
        state = self.state
        try:
            endpoint, args = URLS.bind_to_environ(request.environ).match()
        except (NotFound, MethodNotAllowed):
            return _error(version, 404, "The requested resource was not found.")
        except HTTPException as exc:  # pragma: no cover - werkzeug redirects
            return _error(version, exc.code or 400, str(exc))
        if args.pop("store") != state.store_hash:
            return _error(version, 404, "Store not found.")
        token = request.headers.get("X-Auth-Token", "")
        if not token or not hmac.compare_digest(token.encode(), state.access_token.encode()):
            message = (
                "You have not been authorized to access this resource."
                if token
                else "No credentials were supplied in the request."
            )
            return _error(version, 401, message)
        spec = contract(CONTRACT_OF[endpoint])
        checked = ContractRequest.of(request)
        try:
            spec.validate_request(checked)
        except OpenAPIError as exc:
            problem = describe_violation(exc)
            self._refuse(f"request {request.method} {request.path}: {problem}")
            return _error(version, 422 if isinstance(exc, RequestBodyValidationError) else 400, problem)
        try:
            response = getattr(self, f"do_{endpoint}")(request, **args)
        except ApiError as err:
            response = _error(version, err.status, err.title, err.errors)
        except KeyError:
            response = _error(version, 404, "The requested resource was not found.")
        return self._checked(spec, checked, response, version)

    def _checked(self, spec: OpenAPI, request: ContractRequest, response: Response, version: str) -> Response:
        """``response`` if BigCommerce's spec allows it for ``request``; else a 500 naming what it breaks.

        An error status the operation does not declare (BigCommerce documents 401/404/429 once for the
        whole API, not per operation) passes; a success status it does not declare does not.
        """
        answer = ContractResponse(response.status_code, response.get_data(), response.mimetype, response.headers)
        try:
            spec.validate_response(request, answer)
        except ResponseNotFound:
            if response.status_code >= 400:
                return response
            problem = f"status {response.status_code} is not declared"
        except OpenAPIError as exc:
            problem = describe_violation(exc)
        else:
            return response
        self._refuse(f"response {request.method.upper()} {request.path}: {problem}")
        return _error(version, 500, f"simulator answer refused, BigCommerce's spec forbids it: {problem}")

    def _refuse(self, what: str) -> None:
        with self.state.lock:
            self.state.contract_refusals.append(what)

    # ------------------------------------------------------------------ paging

    @staticmethod
    def _v2_page(request: Request, items: list[Any]) -> Response:
        page = _int_arg(request.args, "page", 1)
        limit = _int_arg(request.args, "limit", 50, 250)
        # BigCommerce's spec declares only 200 for these lists (the official client also copes with 204).
        return _json(items[(page - 1) * limit : page * limit])

    @staticmethod
    def _v3_page(request: Request, items: list[Any]) -> Response:
        page = _int_arg(request.args, "page", 1)
        limit = _int_arg(request.args, "limit", 50, 250)
        total = len(items)
        total_pages = max(1, -(-total // limit))
        chunk = items[(page - 1) * limit : page * limit]
        query = {k: v for k, v in request.args.items() if k not in ("page", "limit")}

        def link(p: int) -> str:
            return "?" + urlencode({**query, "page": p, "limit": limit})

        links = {"current": link(page)}
        if page > 1:
            links["previous"] = link(page - 1)
        if page < total_pages:
            links["next"] = link(page + 1)
        meta = {
            "pagination": {
                "total": total,
                "count": len(chunk),
                "per_page": limit,
                "current_page": page,
                "total_pages": total_pages,
                "links": links,
            }
        }
        return _json({"data": chunk, "meta": meta})

    @staticmethod
    def _date_arg(args: Mapping[str, str], name: str) -> datetime | None:
        value = args.get(name)
        if not value:
            return None
        try:
            return parse_date(value)
        except (ValueError, TypeError):
            raise ApiError(400, f"The field '{name}' is invalid.", {name: "invalid date"}) from None

    @staticmethod
    def _sort(
        args: Mapping[str, str], records: list[dict[str, Any]], keys: Mapping[str, Callable[[dict], Any]], default: str
    ) -> list[dict[str, Any]]:
        field_name, _, direction = (args.get("sort") or default).partition(":")
        if field_name not in keys:
            raise ApiError(400, f"The field 'sort' is invalid: {field_name}")
        key = keys[field_name]
        return sorted(records, key=lambda r: (key(r), r["id"]), reverse=direction == "desc")

    # ------------------------------------------------------------------ v2 orders

    def do_orders(self, request: Request) -> Response:
        state, args = self.state, request.args
        with_fees = "fees" in _includes(args)
        with state.lock:
            orders = [
                state.order_json(oid, request.host_url.rstrip("/"), with_fees=with_fees) for oid in sorted(state.orders)
            ]
        filters = (
            ("min_date_modified", "date_modified", lambda a, b: a >= b),
            ("max_date_modified", "date_modified", lambda a, b: a <= b),
            ("min_date_created", "date_created", lambda a, b: a >= b),
            ("max_date_created", "date_created", lambda a, b: a <= b),
        )
        for arg, field_name, keep in filters:
            bound = self._date_arg(args, arg)
            if bound is not None:
                orders = [o for o in orders if keep(parse_date(o[field_name]), bound)]
        for arg, field_name in (("status_id", "status_id"), ("customer_id", "customer_id")):
            if args.get(arg):
                orders = [o for o in orders if str(o[field_name]) == args[arg]]
        if args.get("min_id"):
            orders = [o for o in orders if o["id"] >= int(args["min_id"])]
        if args.get("max_id"):
            orders = [o for o in orders if o["id"] <= int(args["max_id"])]
        keys = {
            "id": lambda o: o["id"],
            "customer_id": lambda o: o["customer_id"],
            "date_created": lambda o: parse_date(o["date_created"]),
            "date_modified": lambda o: parse_date(o["date_modified"]),
            "status_id": lambda o: o["status_id"],
        }
        return self._v2_page(request, self._sort(args, orders, keys, "id:asc"))

    def do_order(self, request: Request, oid: int) -> Response:
        with_fees = "fees" in _includes(request.args)
        return _json(self.state.order_json(oid, request.host_url.rstrip("/"), with_fees=with_fees))

    def do_order_sub(self, request: Request, oid: int, sub: str) -> Response:
        state = self.state
        with state.lock:
            if oid not in state.orders:
                raise KeyError(oid)
            if sub == "taxes":
                items = state.tax_rows_json(oid, details=request.args.get("details") == "true")
            else:
                items = copy.deepcopy(getattr(state, sub)[oid])
        return self._v2_page(request, items)

    # ------------------------------------------------------------------ v3 orders

    def do_transactions(self, request: Request, oid: int) -> Response:
        with self.state.lock:
            items = copy.deepcopy(self.state.transactions[oid])
        return self._v3_page(request, items)

    def do_order_refunds(self, request: Request, oid: int) -> Response:
        with self.state.lock:
            if oid not in self.state.orders:
                raise KeyError(oid)
            items = [copy.deepcopy(r) for r in self.state.refunds.values() if r["order_id"] == oid]
        return self._v3_page(request, sorted(items, key=lambda r: r["id"]))

    def do_refunds(self, request: Request) -> Response:
        args = request.args
        with self.state.lock:
            items = sorted((copy.deepcopy(r) for r in self.state.refunds.values()), key=lambda r: r["id"])
        if args.get("order_id:in"):
            wanted = {int(v) for v in args["order_id:in"].split(",") if v}
            items = [r for r in items if r["order_id"] in wanted]
        if args.get("id:in"):
            wanted = {int(v) for v in args["id:in"].split(",") if v}
            items = [r for r in items if r["id"] in wanted]
        low, high = self._date_arg(args, "created:min"), self._date_arg(args, "created:max")
        if low is not None:
            items = [r for r in items if parse_date(r["created"]) >= low]
        if high is not None:
            items = [r for r in items if parse_date(r["created"]) <= high]
        return self._v3_page(request, items)

    # ------------------------------------------------------------------ v3 customers

    def do_customers(self, request: Request) -> Response:
        args = request.args
        includes = _includes(args)
        with self.state.lock:
            items = [
                self.state.customer_json(cid, with_addresses="addresses" in includes) for cid in self.state.customers
            ]
        if args.get("id:in"):
            wanted = {int(v) for v in args["id:in"].split(",") if v}
            items = [c for c in items if c["id"] in wanted]
        for arg, field_name, keep in (
            ("date_modified:min", "date_modified", lambda a, b: a >= b),
            ("date_modified:max", "date_modified", lambda a, b: a <= b),
            ("date_created:min", "date_created", lambda a, b: a >= b),
            ("date_created:max", "date_created", lambda a, b: a <= b),
        ):
            bound = self._date_arg(args, arg)
            if bound is not None:
                items = [c for c in items if keep(parse_date(c[field_name]), bound)]
        keys = {
            "id": lambda c: c["id"],
            "date_created": lambda c: parse_date(c["date_created"]),
            "date_modified": lambda c: parse_date(c["date_modified"]),
            "last_name": lambda c: c["last_name"],
        }
        return self._v3_page(request, self._sort(args, items, keys, "id:asc"))

    # ------------------------------------------------------------------ v3 hooks

    def do_hooks(self, request: Request) -> Response:
        state, args = self.state, request.args
        if request.method == "POST":
            body = self._body(request)
            scope, destination = body.get("scope"), body.get("destination")
            if not isinstance(scope, str) or not isinstance(destination, str) or not scope or not destination:
                raise ApiError(422, "Input is invalid", {"scope": "required", "destination": "required"})
            headers = body.get("headers") or {}
            if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
                raise ApiError(422, "Input is invalid", {"headers": "must be a map of strings"})
            hook = state.create_hook(scope, destination, headers=headers, is_active=bool(body.get("is_active", True)))
            return _json({"data": hook.json(), "meta": {}})
        with state.lock:
            hooks = [h.json() for h in sorted(state.hooks.values(), key=lambda h: h.id)]
        if "is_active" in args:
            hooks = [h for h in hooks if h["is_active"] == (args["is_active"].lower() == "true")]
        for name in ("scope", "destination"):
            if args.get(name):
                hooks = [h for h in hooks if h[name] == args[name]]
        return self._v3_page(request, hooks)

    def do_hook(self, request: Request, hid: int) -> Response:
        state = self.state
        with state.lock:
            hook = state.hooks[hid]
            if request.method == "DELETE":
                del state.hooks[hid]
                return _json({"data": hook.json(), "meta": {}})
            if request.method == "PUT":
                body = self._body(request)
                if "is_active" in body:
                    hook.is_active = bool(body["is_active"])
                if "headers" in body and isinstance(body["headers"], dict):
                    hook.headers = {str(k): str(v) for k, v in body["headers"].items()}
                if "destination" in body:
                    hook.destination = str(body["destination"])
                hook.updated_at = int(state.clock())
            return _json({"data": hook.json(), "meta": {}})

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise ApiError(400, "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(422, "Input is invalid")
        return body


def create_app(state: BigCommerceState) -> BigCommerceApp:
    return BigCommerceApp(state)
