"""A faithful WooCommerce (REST ``wc/v3``) simulator: a WSGI app over a thread-safe ``WooState``.

What it reproduces, from WooCommerce's own code (``class-wc-rest-authentication.php``,
``class-wc-webhook.php``, the v3 CRUD controllers):

- Authentication: Basic (or ``consumer_key``/``consumer_secret`` query) only when the request is
  "ssl" (``assume_ssl``, on by default for loopback), otherwise OAuth 1.0a one-legged
  (HMAC-SHA1/SHA256, base URI built from the home URL with the scheme WordPress sees, timestamp
  ±15 min, nonces remembered per key and timestamp) with WooCommerce's error bodies. An unknown key
  is not an authentication error in WooCommerce: the request runs as a guest and the endpoint
  answers ``woocommerce_rest_cannot_view`` (401).
- Orders with money as strings, totals computed the way WooCommerce computes them (line taxes per
  rate rounded to 2 dp, tax-inclusive stores backing the tax out of the entered price),
  ``*_gmt`` dates next to store-local ones, refunds sharing the order id sequence.
- Orders, refunds and customers exactly as the REST API docs describe them: each one is checked
  against the schemas transcribed in tests/contracts/woocommerce/ when it is stored, changed, served
  or delivered, and one that is not is refused (``ContractViolation``; a 500 over HTTP).
- Status as core moves it: ``date_paid`` recorded once when payment completes (``maybe_set_date_paid``)
  and never cleared, ``refunded`` once refunds return the whole total (``wc_create_refund``), and a
  hand-set ``refunded`` refunding what remains (``wc_order_fully_refunded``).
- Lists with ``page``/``per_page``/``offset``/``modified_after``/``dates_are_gmt``/``orderby``/
  ``order``/``status``, ``X-WP-Total``, ``X-WP-TotalPages`` and ``Link``.
- Webhooks: the management API, the unsigned ``webhook_id=N`` ping on creation (and when a saved
  active hook still has a pending ping or a new delivery URL), signed deliveries with WooCommerce's
  headers and ``wp_json_encode`` body, and the disable policy (failure count checked, then
  incremented: the 7th consecutive failure disables; reactivation does not reset the count).

Knobs for tests: ``drop_next_delivery`` / ``duplicate_next_delivery`` (counts), ``fail_next()``
(HTTP faults on the REST API), ``async_delivery``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import math
import random
import re
import secrets
import string
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlencode

import requests
from jsonschema import Draft202012Validator
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.contracts import contract_json

CENT = Decimal("0.01")
ZERO = Decimal("0")
REST_PREFIX = "/wp-json/wc/v3"
ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")
WEBHOOK_STATUSES = ("active", "paused", "disabled")
MAX_DELIVERY_FAILURES = 5  # apply_filters( 'woocommerce_max_webhook_delivery_failures', 5 )
OAUTH_WINDOW = 15 * 60
TOPIC_HOOKS = {
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post"],
    "order.restored": ["untrashed_post"],
    "customer.created": ["user_register", "woocommerce_created_customer", "woocommerce_new_customer"],
    "customer.updated": ["profile_update", "woocommerce_update_customer"],
    "customer.deleted": ["delete_user"],
}


# --------------------------------------------------------------------------- helpers


def round2(value: Decimal) -> Decimal:
    """PHP ``round($x, 2)``: half away from zero."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def wc_money(value: Decimal) -> str:
    """``wc_format_decimal($x, 2)`` as the REST API prints it ("10.00")."""
    value = round2(value)
    return "0.00" if value == 0 else f"{value:.2f}"


def php_json(payload: Any) -> bytes:
    """``wp_json_encode`` with default flags: ASCII only (\\uXXXX) and escaped slashes."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def wp_specialchars_decode(text: str) -> str:
    """WordPress's ``wp_specialchars_decode($text, ENT_QUOTES)`` (the simulator's own copy)."""
    if "&" not in text:
        return text
    for pattern, replacement, flags in (
        (r"&#0*39;", "&#039;", 0),
        (r"&#x0*27;", "&#x27;", re.IGNORECASE),
        (r"&#0*34;", "&#034;", 0),
        (r"&#x0*22;", "&#x22;", re.IGNORECASE),
        (r"&#0*60;", "&#060;", 0),
        (r"&#0*62;", "&#062;", 0),
        (r"&#0*38;", "&#038;", 0),
        (r"&#x0*26;", "&#x26;", re.IGNORECASE),
    ):
        text = re.sub(pattern, replacement, text, flags=flags)
    table = {
        "&#039;": "'",
        "&#x27;": "'",
        "&quot;": '"',
        "&#034;": '"',
        "&#x22;": '"',
        "&lt;": "<",
        "&#060;": "<",
        "&gt;": ">",
        "&#062;": ">",
        "&amp;": "&",
        "&#038;": "&",
        "&#x26;": "&",
    }
    alternation = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
    return re.sub(alternation, lambda m: table[m.group(0)], text)


def webhook_signature(body: bytes, secret: str) -> str:
    """``WC_Webhook::generate_signature``: base64 of the raw HMAC-SHA256 with the entity-decoded secret."""
    key = wp_specialchars_decode(secret).encode("utf-8")
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode("ascii")


def rfc3986(value: str) -> str:
    """``wc_rest_urlencode_rfc3986`` (rawurlencode)."""
    return quote(value, safe="~")


class ContractViolation(AssertionError):
    """The simulator was about to hold or serve a document the WooCommerce REST API docs do not describe."""


CONTRACT_SCHEMAS = {
    "order": "order.schema.json",
    "refund": "order-refund.schema.json",
    "customer": "customer.schema.json",
}


@cache
def _contract(kind: str) -> Draft202012Validator:
    return Draft202012Validator(contract_json("woocommerce", CONTRACT_SCHEMAS[kind]))


def documented[T: Mapping[str, Any]](kind: str, document: T) -> T:
    """``document`` unchanged if it is a WooCommerce ``kind`` exactly as the docs describe one (no field the docs
    lack, none missing, every type theirs, see tests/contracts/woocommerce/); ``ContractViolation`` otherwise."""
    errors = sorted(_contract(kind).iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        where = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:5])
        raise ContractViolation(
            f"WooCommerce {kind} {document.get('id')} is not as the REST API docs describe: {where}"
        )
    return document


def _refunded(order: Mapping[str, Any]) -> Decimal:
    """``get_total_refunded``: what the order's refunds returned so far."""
    return sum((-Decimal(r["total"]) for r in order["refunds"]), ZERO)


def fmt(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") if moment else None


def wp_generate_password(length: int = 50) -> str:
    """``wp_generate_password($length, true, true)``: letters, digits and special characters."""
    chars = string.ascii_letters + string.digits + "!@#$%^&*()" + "-_ []{}<>~`+=,.;:/?|"
    return "".join(secrets.choice(chars) for _ in range(length))


class RestError(Exception):
    """A WordPress REST error: ``{"code","message","data":{"status"}}``."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data


# --------------------------------------------------------------------------- state


@dataclass
class ApiKey:
    key_id: int
    consumer_key: str
    consumer_secret: str
    permissions: str = "read_write"
    user_id: int = 1
    nonces: dict[int, str] = field(default_factory=dict)


@dataclass
class Webhook:
    id: int
    name: str
    status: str
    topic: str
    delivery_url: str
    secret: str
    date_created: datetime
    date_modified: datetime
    failure_count: int = 0
    pending_delivery: bool = True
    api_version: str = "wp_api_v3"
    user_id: int = 1


@dataclass(frozen=True)
class Delivery:
    """One attempted POST (a delivery or a ping) and how it ended."""

    webhook_id: int
    topic: str
    delivery_id: str
    status_code: int
    ok: bool
    body: bytes
    headers: Mapping[str, str]
    ping: bool = False
    dropped: bool = False
    error: str = ""


@dataclass(frozen=True)
class TaxRate:
    id: int
    country: str
    state: str
    name: str
    priority: int
    percent: Decimal
    shipping: bool

    @property
    def code(self) -> str:
        """``WC_Tax::get_rate_code``: COUNTRY-STATE-NAME-PRIORITY, upper case, empty parts dropped."""
        return "-".join(p for p in (self.country, self.state, self.name or "TAX", str(self.priority)) if p).upper()


US_RATES = (
    TaxRate(1, "US", "CA", "State", 1, Decimal("6.0000"), True),
    TaxRate(2, "US", "CA", "County", 2, Decimal("2.2500"), False),
)
GB_RATES = (TaxRate(3, "GB", "", "VAT", 1, Decimal("20.0000"), True),)

CATALOG = (
    (101, 0, "Ceramic Pour-Over Set", "CER-POUR-01", "34.00"),
    (102, 0, "Organic Coffee Beans 1kg", "COF-ORG-1KG", "24.95"),
    (103, 0, "Stainless Kettle 1.2L", "KET-SS-12", "59.99"),
    (104, 0, "Paper Filters x100", "FLT-100", "6.49"),
    (105, 0, "Burr Grinder", "GRD-BURR", "129.00"),
    (106, 0, "Travel Mug 350ml", "MUG-TRV-350", "18.50"),
    (107, 0, "Barista Apron", "APR-BAR", "22.00"),
    (108, 0, "Cleaning Tablets x20", "CLN-TAB-20", "9.99"),
    (109, 1091, "Espresso Cups - Blue", "CUP-ESP-BLU", "14.00"),
    (109, 1092, "Espresso Cups - Sand", "CUP-ESP-SND", "14.00"),
    (110, 0, "Café Crème Syrup", "SYR-CREME", "7.25"),
)
FIRST = ("Ava", "Liam", "Noah", "Emma", "Mia", "Lucas", "Zoë", "Ethan", "Chloé", "Omar", "Priya", "Jonas")
LAST = ("Nguyen", "García", "Smith", "O'Brien", "Müller", "Okafor", "Rossi", "Kowalski", "Tanaka", "Dubois")
PAYMENT_METHODS = (
    ("stripe", "Credit Card (Stripe)", "ch_"),
    ("ppcp-gateway", "PayPal", "PAY-"),
    ("bacs", "Direct bank transfer", ""),
    ("cod", "Cash on delivery", ""),
)


def _address(rng: random.Random, country: str) -> dict[str, str]:
    if country == "GB":
        city, state, postcode = rng.choice(
            (("London", "", "SW1A 1AA"), ("Leeds", "", "LS1 4AP"), ("Bath", "", "BA1 1LT"))
        )
    else:
        city, state, postcode = rng.choice(
            (("Los Angeles", "CA", "90012"), ("San Diego", "CA", "92101"), ("Oakland", "CA", "94607"))
        )
    return {
        "address_1": f"{rng.randint(1, 999)} {rng.choice(('Main', 'Oak', 'High', 'Market'))} St",
        "address_2": rng.choice(("", "", "Apt 4")),
        "city": city,
        "state": state,
        "postcode": postcode,
        "country": country,
    }


class WooState:
    """Everything the simulated store knows, behind one re-entrant lock."""

    def __init__(
        self,
        *,
        home_url: str | None = None,
        assume_ssl: bool = True,
        prices_include_tax: bool = False,
        currency: str | None = None,
        utc_offset: timedelta = timedelta(hours=-5),
        async_delivery: bool = False,
        delivery_timeout: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        wc_version: str = "9.4.2",
        wp_version: str = "6.7.1",
    ) -> None:
        self.lock = threading.RLock()
        self.home_url = home_url.rstrip("/") if home_url else None
        self.assume_ssl = assume_ssl
        self.prices_include_tax = prices_include_tax
        self.currency = currency or ("GBP" if prices_include_tax else "USD")
        self.utc_offset = utc_offset
        self.async_delivery = async_delivery
        self.delivery_timeout = delivery_timeout
        self.clock = clock or (lambda: datetime.now(UTC))
        self.wc_version, self.wp_version = wc_version, wp_version
        self.orders: dict[int, dict[str, Any]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        self.refunds: dict[int, list[dict[str, Any]]] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.keys: dict[str, ApiKey] = {}
        self.deliveries: list[Delivery] = []
        self.requests: list[tuple[str, str]] = []
        self.drop_next_delivery = 0
        self.duplicate_next_delivery = 0
        self._faults: list[tuple[int, str | None]] = []
        self._post_id = 1000  # orders and refunds share WordPress's post id sequence
        self._item_id = 5000
        self._customer_id = 10
        self._webhook_id = 0
        self._key_id = 0
        self._threads: list[threading.Thread] = []
        self._salt = secrets.token_bytes(16)

    # ------------------------------------------------------------- clock and ids

    def now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def _local(self, moment: datetime | None) -> str | None:
        return fmt((moment + self.utc_offset).replace(tzinfo=None)) if moment else None

    def _stamp(self, record: dict[str, Any], name: str, moment: datetime | None) -> None:
        record[name] = self._local(moment)
        record[f"{name}_gmt"] = fmt(moment.replace(tzinfo=None)) if moment else None

    def _next_post(self) -> int:
        self._post_id += 1
        return self._post_id

    def _next_item(self) -> int:
        self._item_id += 1
        return self._item_id

    # ------------------------------------------------------------- keys and faults

    def add_key(
        self, permissions: str = "read_write", *, consumer_key: str | None = None, consumer_secret: str | None = None
    ) -> ApiKey:
        with self.lock:
            self._key_id += 1
            key = ApiKey(
                self._key_id,
                consumer_key or "ck_" + secrets.token_hex(20),
                consumer_secret or "cs_" + secrets.token_hex(20),
                permissions,
            )
            self.keys[key.consumer_key] = key
            return key

    def fail_next(self, status: int, times: int = 1, *, retry_after: str | None = None) -> None:
        """The next ``times`` REST requests answer ``status`` (429/5xx faults) before any other processing."""
        with self.lock:
            self._faults.extend([(status, retry_after)] * times)

    # ------------------------------------------------------------- customers

    def add_customer(
        self,
        *,
        first_name: str,
        last_name: str,
        email: str,
        country: str = "US",
        rng: random.Random | None = None,
        created: datetime | None = None,
        deliver: bool = True,
    ) -> dict[str, Any]:
        rng = rng or random.Random()
        with self.lock:
            self._customer_id += 1
            cid = self._customer_id
            address = _address(rng, country)
            phone = (
                f"+1 555 {rng.randint(1000000, 9999999)}"
                if country == "US"
                else f"+44 20 {rng.randint(10**7, 10**8 - 1)}"
            )
            moment = created or self.now()
            customer: dict[str, Any] = {"id": cid}
            self._stamp(customer, "date_created", moment)
            self._stamp(customer, "date_modified", moment)
            customer.update(
                {
                    "email": email,
                    "first_name": first_name,
                    "last_name": last_name,
                    "role": "customer",
                    "username": email.split("@")[0],
                    "billing": {
                        "first_name": first_name,
                        "last_name": last_name,
                        "company": rng.choice(("", "", "Bean There LLC")),
                        **address,
                        "email": email,
                        "phone": phone,
                    },
                    "shipping": {"first_name": first_name, "last_name": last_name, "company": "", **address},
                    "is_paying_customer": False,
                    "avatar_url": "https://secure.gravatar.com/avatar/?s=96&d=mm&r=g",
                    "meta_data": [],
                }
            )
            self.customers[cid] = documented("customer", customer)
            snapshot = copy.deepcopy(customer)
        if deliver:
            self.deliver("customer.created", snapshot)
        return snapshot

    def update_customer(self, customer_id: int, *, deliver: bool = True, **changes: Any) -> dict[str, Any]:
        with self.lock:
            customer = {**copy.deepcopy(self.customers[customer_id]), **changes}
            self._stamp(customer, "date_modified", self.now())
            self.customers[customer_id].update(documented("customer", customer))
            snapshot = copy.deepcopy(customer)
        if deliver:
            self.deliver("customer.updated", snapshot)
        return snapshot

    # ------------------------------------------------------------- orders

    def create_order(
        self,
        *,
        lines: Sequence[Mapping[str, Any]],
        customer_id: int = 0,
        billing: Mapping[str, Any] | None = None,
        status: str = "processing",
        coupon: Mapping[str, Any] | None = None,
        shipping: str | Decimal | None = None,
        fees: Sequence[Mapping[str, Any]] = (),
        payment_method: str = "stripe",
        prices_include_tax: bool | None = None,
        created: datetime | None = None,
        modified: datetime | None = None,
        deliver: bool = True,
    ) -> dict[str, Any]:
        """Create an order from its ingredients, computing every total as WooCommerce does.

        ``lines``: ``{"product_id", "variation_id"?, "name", "sku", "price", "quantity"}``; ``price`` is the
        unit price as entered (tax-inclusive when the store enters prices with tax).
        ``coupon``: ``{"code", "percent"}`` or ``{"code", "amount"}`` (fixed cart, tax-exclusive in
        exclusive stores). ``fees``: ``{"name", "amount", "taxable"?}``.
        """
        rng = random.Random()
        with self.lock:
            order = self._build_order(
                rng,
                lines=lines,
                customer_id=customer_id,
                billing=billing,
                status=status,
                coupon=coupon,
                shipping=Decimal(str(shipping)) if shipping is not None else None,
                fees=fees,
                payment_method=payment_method,
                inclusive=self.prices_include_tax if prices_include_tax is None else prices_include_tax,
                created=created or self.now(),
                modified=modified,
            )
            snapshot = copy.deepcopy(order)
        if deliver:
            self.deliver("order.created", snapshot)
        return snapshot

    def generate_orders(
        self,
        n: int,
        seed: int,
        *,
        prices_include_tax: bool | None = None,
        end: datetime | None = None,
        span_days: int = 30,
        deliver: bool = False,
    ) -> list[dict[str, Any]]:
        """``n`` realistic orders, deterministic for a seed: registered customers and guests, several
        lines with SKUs (and variations), coupons, shipping with tax, fees,
        mostly processing/completed with some pending/on-hold/cancelled; created over ``span_days``
        before ``end`` (default now) in id order."""
        rng = random.Random(seed)
        inclusive = self.prices_include_tax if prices_include_tax is None else prices_include_tax
        country = "GB" if inclusive else "US"
        end = (end or self.now()).astimezone(UTC).replace(microsecond=0)
        with self.lock:
            registered = [c for c in self.customers.values() if c["billing"]["country"] == country]
        while len(registered) < 6:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first.lower()}.{rng.randint(10, 9999)}@example.com".replace("ë", "e").replace("é", "e")
            registered.append(
                self.add_customer(
                    first_name=first,
                    last_name=last,
                    email=email,
                    country=country,
                    rng=rng,
                    created=end - timedelta(days=span_days + 5),
                    deliver=deliver,
                )
            )
        offsets = sorted(rng.uniform(0, span_days * 86400) for _ in range(n))
        made: list[dict[str, Any]] = []
        for offset in offsets:
            created = end - timedelta(seconds=span_days * 86400 - offset)
            modified = min(end, created + timedelta(seconds=rng.choice((0, 0, 60, 3600, 86400))))
            lines = []
            for product_id, variation_id, name, sku, price in rng.sample(CATALOG, rng.randint(1, 4)):
                lines.append(
                    {
                        "product_id": product_id,
                        "variation_id": variation_id,
                        "name": name,
                        "sku": sku,
                        "price": price,
                        "quantity": rng.choice((1, 1, 1, 2, 3)),
                    }
                )
            roll = rng.random()
            coupon = None
            if roll < 0.2:
                coupon = {
                    "code": rng.choice(("welcome10", "spring15", "vip20")),
                    "percent": rng.choice(("10", "15", "20")),
                }
            elif roll < 0.3:
                coupon = {"code": "take5", "amount": "5.00"}
            shipping = rng.choice((None, "0.00", "4.95", "7.50", "12.00"))
            fees = []
            if rng.random() < 0.2:
                fees.append(
                    rng.choice(({"name": "Gift wrap", "amount": "3.50"}, {"name": "Handling", "amount": "2.00"}))
                )
            status = rng.choices(
                ("processing", "completed", "pending", "on-hold", "cancelled"), weights=(55, 30, 8, 4, 3)
            )[0]
            payment = "bacs" if status == "on-hold" else rng.choice(("stripe", "stripe", "ppcp-gateway", "cod"))
            customer_id, billing = 0, None
            if rng.random() < 0.65:
                customer = rng.choice(registered)
                customer_id, billing = customer["id"], customer["billing"]
            else:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                billing = {
                    "first_name": first,
                    "last_name": last,
                    "company": "",
                    **_address(rng, country),
                    "email": f"{first}.{last}{rng.randint(1, 99)}@Example.org".replace("'", ""),
                    "phone": f"555-{rng.randint(1000, 9999)}",
                }
            with self.lock:
                order = self._build_order(
                    rng,
                    lines=lines,
                    customer_id=customer_id,
                    billing=billing,
                    status=status,
                    coupon=coupon,
                    shipping=Decimal(shipping) if shipping is not None else None,
                    fees=fees,
                    payment_method=payment,
                    inclusive=inclusive,
                    created=created,
                    modified=modified,
                )
                snapshot = copy.deepcopy(order)
            made.append(snapshot)
            if deliver:
                self.deliver("order.created", snapshot)
        return made

    def _rates(self, inclusive: bool) -> tuple[TaxRate, ...]:
        return GB_RATES if inclusive else US_RATES

    def _build_order(
        self,
        rng: random.Random,
        *,
        lines: Sequence[Mapping[str, Any]],
        customer_id: int,
        billing: Mapping[str, Any] | None,
        status: str,
        coupon: Mapping[str, Any] | None,
        shipping: Decimal | None,
        fees: Sequence[Mapping[str, Any]],
        payment_method: str,
        inclusive: bool,
        created: datetime,
        modified: datetime | None,
    ) -> dict[str, Any]:
        if status not in ORDER_STATUSES:
            raise ValueError(f"unknown order status {status!r}")
        if not lines:
            raise ValueError("an order needs at least one line")
        rates = self._rates(inclusive)
        combined = sum((r.percent for r in rates), ZERO)
        country = "GB" if inclusive else "US"
        order_id = self._next_post()

        # Prices as entered (gross in inclusive stores), then the coupon split over lines.
        entered = [Decimal(str(spec["price"])) * int(spec.get("quantity", 1)) for spec in lines]
        discounts = [ZERO] * len(lines)
        if coupon and "percent" in coupon:
            pct = Decimal(str(coupon["percent"]))
            discounts = [round2(base * pct / 100) for base in entered]
        elif coupon and "amount" in coupon:
            amount = min(Decimal(str(coupon["amount"])), sum(entered, ZERO))
            whole = sum(entered, ZERO)
            discounts = [round2(amount * base / whole) for base in entered]
            discounts[-1] = amount - sum(discounts[:-1], ZERO)

        line_items, cart_taxes, shipping_taxes = [], dict.fromkeys((r.id for r in rates), ZERO), {}
        for spec, base, discount in zip(lines, entered, discounts, strict=True):
            quantity = int(spec.get("quantity", 1))
            after = base - discount
            if inclusive:
                sub_taxes = {r.id: round2(base * r.percent / (100 + combined)) for r in rates}
                tot_taxes = {r.id: round2(after * r.percent / (100 + combined)) for r in rates}
                subtotal, total = base - sum(sub_taxes.values()), after - sum(tot_taxes.values())
            else:
                subtotal, total = base, after
                sub_taxes = {r.id: round2(subtotal * r.percent / 100) for r in rates}
                tot_taxes = {r.id: round2(total * r.percent / 100) for r in rates}
            for rid, tax in tot_taxes.items():
                cart_taxes[rid] += tax
            line_items.append(
                {
                    "id": self._next_item(),
                    "name": spec["name"],
                    "product_id": spec["product_id"],
                    "variation_id": spec.get("variation_id", 0),
                    "quantity": quantity,
                    "tax_class": "",
                    "subtotal": wc_money(subtotal),
                    "subtotal_tax": wc_money(sum(sub_taxes.values(), ZERO)),
                    "total": wc_money(total),
                    "total_tax": wc_money(sum(tot_taxes.values(), ZERO)),
                    "taxes": [
                        {"id": rid, "total": wc_money(tot_taxes[rid]), "subtotal": wc_money(sub_taxes[rid])}
                        for rid in tot_taxes
                    ],
                    "meta_data": [],
                    "sku": spec.get("sku", ""),
                    "price": float(total / quantity),
                }
            )

        shipping_lines = []
        if shipping is not None:
            taxes = {r.id: round2(shipping * r.percent / 100) for r in rates if r.shipping}
            shipping_taxes = taxes
            method = ("free_shipping", "Free shipping") if shipping == 0 else ("flat_rate", "Flat rate")
            shipping_lines.append(
                {
                    "id": self._next_item(),
                    "method_title": method[1],
                    "method_id": method[0],
                    "total": wc_money(shipping),
                    "total_tax": wc_money(sum(taxes.values(), ZERO)),
                    "taxes": [{"id": rid, "total": wc_money(t), "subtotal": ""} for rid, t in taxes.items()],
                    "meta_data": [],
                }
            )

        fee_lines = []
        for fee in fees:
            amount = Decimal(str(fee["amount"]))
            taxes = {r.id: round2(amount * r.percent / 100) for r in rates} if fee.get("taxable", True) else {}
            for rid, tax in taxes.items():
                cart_taxes[rid] += tax
            fee_lines.append(
                {
                    "id": self._next_item(),
                    "name": fee["name"],
                    "tax_class": "",
                    "tax_status": "taxable" if taxes else "none",
                    "total": wc_money(amount),
                    "total_tax": wc_money(sum(taxes.values(), ZERO)),
                    "taxes": [{"id": rid, "total": wc_money(t), "subtotal": ""} for rid, t in taxes.items()],
                    "meta_data": [],
                }
            )

        coupon_lines = []
        discount_total = sum((Decimal(li["subtotal"]) - Decimal(li["total"]) for li in line_items), ZERO)
        discount_tax = sum((Decimal(li["subtotal_tax"]) - Decimal(li["total_tax"]) for li in line_items), ZERO)
        if coupon:
            coupon_lines.append(
                {
                    "id": self._next_item(),
                    "code": coupon["code"],
                    "discount": wc_money(discount_total),
                    "discount_tax": wc_money(discount_tax),
                    "meta_data": [],
                }
            )

        tax_lines = []
        for rate in rates:
            cart, ship = cart_taxes.get(rate.id, ZERO), shipping_taxes.get(rate.id, ZERO)
            if cart == 0 and ship == 0:
                continue
            tax_lines.append(
                {
                    "id": self._next_item(),
                    "rate_code": rate.code,
                    "rate_id": rate.id,
                    "label": rate.name,
                    "compound": False,
                    "tax_total": wc_money(cart),
                    "shipping_tax_total": wc_money(ship),
                    "meta_data": [],
                }
            )

        cart_tax = sum(cart_taxes.values(), ZERO)
        shipping_total = shipping or ZERO
        shipping_tax = sum(shipping_taxes.values(), ZERO)
        gross = (
            sum((Decimal(li["total"]) for li in line_items), ZERO)
            + sum((Decimal(f["total"]) for f in fee_lines), ZERO)
            + shipping_total
            + cart_tax
            + shipping_tax
        )
        method_id, method_title, prefix = next(p for p in PAYMENT_METHODS if p[0] == payment_method)
        paid = status in ("processing", "completed")
        billing = dict(billing or {})
        billing_block = {
            "first_name": "",
            "last_name": "",
            "company": "",
            "address_1": "",
            "address_2": "",
            "city": "",
            "state": "",
            "postcode": "",
            "country": country,
            "email": "",
            "phone": "",
            **billing,
        }
        shipping_block = {k: billing_block[k] for k in billing_block if k not in ("email", "phone")}
        order: dict[str, Any] = {
            "id": order_id,
            "parent_id": 0,
            "status": status,
            "currency": self.currency if inclusive == self.prices_include_tax else ("GBP" if inclusive else "USD"),
            "version": self.wc_version,
            "prices_include_tax": inclusive,
        }
        self._stamp(order, "date_created", created)
        self._stamp(order, "date_modified", modified or created)
        order.update(
            {
                "discount_total": wc_money(discount_total),
                "discount_tax": wc_money(discount_tax),
                "shipping_total": wc_money(shipping_total),
                "shipping_tax": wc_money(shipping_tax),
                "cart_tax": wc_money(cart_tax),
                "total": wc_money(gross),
                "total_tax": wc_money(cart_tax + shipping_tax),
                "customer_id": customer_id,
                "order_key": "wc_order_" + "".join(rng.choices(string.ascii_letters + string.digits, k=13)),
                "billing": billing_block,
                "shipping": shipping_block,
                "payment_method": method_id,
                "payment_method_title": method_title,
                "transaction_id": f"{prefix}{rng.getrandbits(64):016x}" if paid and prefix else "",
                "customer_ip_address": f"203.0.113.{rng.randint(1, 254)}",
                "customer_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
                "created_via": "checkout",
                "customer_note": "",
                "cart_hash": hashlib.md5(str(order_id).encode(), usedforsecurity=False).hexdigest(),
                "number": str(order_id),
                "meta_data": [],
                "line_items": line_items,
                "tax_lines": tax_lines,
                "shipping_lines": shipping_lines,
                "fee_lines": fee_lines,
                "coupon_lines": coupon_lines,
                "refunds": [],
            }
        )
        self._stamp(order, "date_paid", created if paid else None)
        self._stamp(order, "date_completed", (modified or created) if status == "completed" else None)
        order["_links"] = {"self": [{"href": f"{self._home()}{REST_PREFIX}/orders/{order_id}"}]}
        self.orders[order_id] = documented("order", order)
        self.refunds[order_id] = []
        return order

    def update_order(
        self, order_id: int, *, status: str | None = None, deliver: bool = True, **changes: Any
    ) -> dict[str, Any]:
        """Change an order (status or other top-level fields) as ``WC_Order::set_status`` and ``save`` do,
        bump ``date_modified``, send ``order.updated``.

        Reaching processing or completed records ``date_paid`` once (``maybe_set_date_paid``), completed
        stamps ``date_completed``, and no status clears either. Setting ``refunded`` by hand refunds what
        remains (``wc_order_fully_refunded``: reason "Order fully refunded.", no gateway refund).
        """
        with self.lock:
            order = copy.deepcopy(self.orders[order_id])
            now = self.now()
            if status is not None:
                if status not in (*ORDER_STATUSES, "trash"):
                    raise ValueError(f"unknown order status {status!r}")
                if status in ("processing", "completed") and not order.get("date_paid_gmt"):
                    self._stamp(order, "date_paid", now)
                if status == "completed":
                    self._stamp(order, "date_completed", now)
                order["status"] = status
            order.update(changes)
            self._stamp(order, "date_modified", now)
            self.orders[order_id].update(documented("order", order))
            if status == "refunded":
                remaining = Decimal(order["total"]) - _refunded(order)
                if remaining > 0:
                    self._refund(order_id, remaining, reason="Order fully refunded.", refunded_payment=False)
            snapshot = copy.deepcopy(self.orders[order_id])
        if deliver:
            self.deliver("order.updated", snapshot)
        return snapshot

    def delete_order(self, order_id: int, *, force: bool = True, deliver: bool = True) -> None:
        """Delete (``force``) or trash an order; either way ``order.deleted`` carries ``{"id": N}``."""
        with self.lock:
            if force:
                del self.orders[order_id]
                self.refunds.pop(order_id, None)
            else:
                self.orders[order_id]["status"] = "trash"
                self._stamp(self.orders[order_id], "date_modified", self.now())
        if deliver:
            self.deliver("order.deleted", {"id": order_id})

    def add_refund(
        self,
        order_id: int,
        amount: str | Decimal | None = None,
        *,
        lines: Mapping[int, int] | None = None,
        refund_shipping: bool = False,
        reason: str = "",
        refunded_payment: bool = True,
        deliver: bool = True,
    ) -> dict[str, Any]:
        """Refund an order as ``wc_create_refund`` does and send ``order.updated``.

        ``lines`` maps order line id → quantity; ``amount`` defaults to what the lines (and shipping, if
        ``refund_shipping``) come to. The refund joins ``refunds[]`` (newest first), ``date_modified`` moves,
        and once nothing is left to refund the order becomes ``refunded``. A shipping refund is in the amount
        only: the documented refund representation itemises product lines alone.
        """
        with self.lock:
            order = self.orders[order_id]
            refund_lines, computed = [], ZERO
            items = {li["id"]: li for li in order["line_items"]}
            for line_id, qty in (lines or {}).items():
                item = items[line_id]
                if not 0 < qty <= item["quantity"]:
                    raise ValueError(f"cannot refund {qty} of line {line_id}")
                line, line_amount = self._refund_line(item, qty)
                refund_lines.append(line)
                computed += line_amount
            if refund_shipping:
                computed += sum(
                    (Decimal(sl["total"]) + Decimal(sl["total_tax"]) for sl in order["shipping_lines"]), ZERO
                )
            value = round2(Decimal(str(amount))) if amount is not None else computed
            refund = self._refund(order_id, value, lines=refund_lines, reason=reason, refunded_payment=refunded_payment)
            snapshot, order_snapshot = copy.deepcopy(refund), copy.deepcopy(order)
        if deliver:
            self.deliver("order.updated", order_snapshot)
        return snapshot

    def _refund_line(self, item: Mapping[str, Any], qty: int) -> tuple[dict[str, Any], Decimal]:
        """The negative copy of ``qty`` of an order line that a refund carries, and what it returns with tax."""
        share = Decimal(qty) / Decimal(item["quantity"])
        total = round2(Decimal(item["total"]) * share)
        subtotal = round2(Decimal(item["subtotal"]) * share)
        taxes = [
            {
                "id": t["id"],
                "total": wc_money(-round2(Decimal(t["total"]) * share)),
                "subtotal": wc_money(-round2(Decimal(t["subtotal"]) * share)),
            }
            for t in item["taxes"]
        ]
        tax = -sum((Decimal(t["total"]) for t in taxes), ZERO)
        line = {
            "id": self._next_item(),
            "name": item["name"],
            "product_id": item["product_id"],
            "variation_id": item["variation_id"],
            "quantity": -qty,
            "tax_class": "",
            "subtotal": wc_money(-subtotal),
            "subtotal_tax": wc_money(-round2(Decimal(item["subtotal_tax"]) * share)),
            "total": wc_money(-total),
            "total_tax": wc_money(-tax),
            "taxes": taxes,
            "meta_data": [{"id": self._next_item(), "key": "_refunded_item_id", "value": str(item["id"])}],
            "sku": item["sku"],
            "price": -float(Decimal(item["total"]) / item["quantity"]),
        }
        return line, total + tax

    def _refund(
        self,
        order_id: int,
        value: Decimal,
        *,
        lines: Sequence[dict[str, Any]] = (),
        reason: str,
        refunded_payment: bool,
    ) -> dict[str, Any]:
        """Record one refund of ``value`` on the order (lock held): ``wc_create_refund`` after its checks."""
        order = self.orders[order_id]
        remaining = Decimal(order["total"]) - _refunded(order)
        if value <= 0 or value > remaining:
            raise ValueError("Invalid refund amount.")
        now = self.now()
        refund: dict[str, Any] = {"id": self._next_post()}
        self._stamp(refund, "date_created", now)
        refund.update(
            {
                "amount": wc_money(value),
                "reason": reason,
                "refunded_by": 1,
                "refunded_payment": refunded_payment,
                "meta_data": [],
                "line_items": list(lines),
                "_links": {"up": [{"href": f"{self._home()}{REST_PREFIX}/orders/{order_id}"}]},
            }
        )
        self.refunds[order_id].insert(0, documented("refund", refund))
        order["refunds"].insert(0, {"id": refund["id"], "reason": reason, "total": "-" + wc_money(value)})
        if value == remaining:  # woocommerce_order_fully_refunded_status
            order["status"] = "refunded"
        self._stamp(order, "date_modified", now)
        documented("order", order)
        return refund

    # ------------------------------------------------------------- webhooks

    def _home(self) -> str:
        return self.home_url or "http://localhost"

    def create_webhook(
        self,
        *,
        topic: str,
        delivery_url: str,
        secret: str | None = None,
        status: str = "active",
        name: str = "",
        ping: bool = True,
    ) -> Webhook:
        """What ``POST /webhooks`` does: save, then ping the delivery URL (result ignored)."""
        if not valid_topic(topic):
            raise ValueError(f"invalid topic {topic!r}")
        with self.lock:
            self._webhook_id += 1
            now = self.now()
            hook = Webhook(
                id=self._webhook_id,
                name=name or f"Webhook created on {now:%b %d, %Y @ %I:%M %p}",
                status=status if status in WEBHOOK_STATUSES else "disabled",
                topic=topic,
                delivery_url=delivery_url,
                secret=secret or wp_generate_password(50),
                date_created=now,
                date_modified=now,
            )
            self.webhooks[hook.id] = hook
        if ping:
            self.ping(hook.id)
        return hook

    def update_webhook(self, webhook_id: int, **changes: Any) -> Webhook:
        """Apply changes; an active hook whose URL changed or whose ping is pending is pinged again."""
        with self.lock:
            hook = self.webhooks[webhook_id]
            url_changed = "delivery_url" in changes and changes["delivery_url"] != hook.delivery_url
            for key, value in changes.items():
                if key == "status" and value not in WEBHOOK_STATUSES:
                    value = "disabled"  # WC_Webhook::set_status
                setattr(hook, key, value)
            hook.date_modified = self.now()
            should_ping = hook.status == "active" and (url_changed or hook.pending_delivery)
        if should_ping:
            self.ping(webhook_id)
        return hook

    def ping(self, webhook_id: int) -> Delivery:
        """``WC_Webhook::deliver_ping``: unsigned ``webhook_id=N``; only HTTP 200 counts."""
        with self.lock:
            hook = self.webhooks[webhook_id]
            url = hook.delivery_url
        headers = {
            "User-Agent": f"WordPress/{self.wp_version}; {self._home()}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        body = f"webhook_id={webhook_id}".encode()
        code, error = self._post(url, body, headers)
        with self.lock:
            if code == 200:
                hook.pending_delivery = False
            record = Delivery(webhook_id, hook.topic, "", code, code == 200, body, headers, ping=True, error=error)
            self.deliveries.append(record)
        return record

    def deliver(self, topic: str, payload: Mapping[str, Any]) -> list[Delivery]:
        """Send ``payload`` to every active hook on ``topic`` (synchronously unless ``async_delivery``)."""
        resource, _, event = topic.partition(".")
        if resource in CONTRACT_SCHEMAS and event != "deleted":
            documented(resource, payload)
        body = php_json(payload)
        jobs: list[tuple[Webhook, int]] = []
        dropped: list[Delivery] = []
        with self.lock:
            for hook in sorted(self.webhooks.values(), key=lambda h: h.id):
                if hook.status != "active" or hook.topic != topic:
                    continue
                if self.drop_next_delivery > 0:
                    self.drop_next_delivery -= 1
                    dropped.append(Delivery(hook.id, topic, "", 0, False, body, {}, dropped=True))
                    continue
                copies = 1
                if self.duplicate_next_delivery > 0:
                    self.duplicate_next_delivery -= 1
                    copies = 2
                jobs.append((hook, copies))
            self.deliveries.extend(dropped)
        if self.async_delivery:
            for hook, copies in jobs:
                thread = threading.Thread(target=self._deliver_copies, args=(hook, topic, body, copies), daemon=True)
                thread.start()
                with self.lock:
                    self._threads.append(thread)
            return dropped
        results = list(dropped)
        for hook, copies in jobs:
            results.extend(self._deliver_copies(hook, topic, body, copies))
        return results

    def wait_for_deliveries(self, timeout: float = 10.0) -> None:
        with self.lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout)

    def _deliver_copies(self, hook: Webhook, topic: str, body: bytes, copies: int) -> list[Delivery]:
        return [self._deliver_one(hook, topic, body) for _ in range(copies)]

    def _deliver_one(self, hook: Webhook, topic: str, body: bytes) -> Delivery:
        resource, _, event = topic.partition(".")
        delivery_id = hmac.new(self._salt, f"{hook.id}{int(self.now().timestamp())}".encode(), "md5").hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"WooCommerce/{self.wc_version} Hookshot (WordPress/{self.wp_version})",
            "X-WC-Webhook-Source": f"{self._home()}/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": webhook_signature(body, hook.secret),
            "X-WC-Webhook-ID": str(hook.id),
            "X-WC-Webhook-Delivery-ID": delivery_id,
        }
        code, error = self._post(hook.delivery_url, body, headers)
        ok = 200 <= code < 303
        with self.lock:
            if ok:
                hook.failure_count = 0
            elif hook.failure_count > MAX_DELIVERY_FAILURES:
                hook.status = "disabled"
            else:
                hook.failure_count += 1
            record = Delivery(hook.id, topic, delivery_id, code, ok, body, headers, error=error)
            self.deliveries.append(record)
        return record

    def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
        try:
            response = requests.post(
                url, data=body, headers=dict(headers), timeout=self.delivery_timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            return 0, type(exc).__name__  # WP_Error: counts as a failure (code 0)
        return response.status_code, ""

    # ------------------------------------------------------------- REST representations

    def webhook_json(self, hook: Webhook, *, with_secret: bool = False) -> dict[str, Any]:
        resource, _, event = hook.topic.partition(".")
        data: dict[str, Any] = {
            "id": hook.id,
            "name": hook.name,
            "status": hook.status,
            "topic": hook.topic,
            "resource": resource,
            "event": event,
            "hooks": TOPIC_HOOKS.get(hook.topic, []),
            "delivery_url": hook.delivery_url,
        }
        if with_secret:
            data["secret"] = hook.secret
        self._stamp(data, "date_created", hook.date_created)
        self._stamp(data, "date_modified", hook.date_modified)
        data["_links"] = {"self": [{"href": f"{self._home()}{REST_PREFIX}/webhooks/{hook.id}"}]}
        return data


def valid_topic(topic: str) -> bool:
    """``wc_is_webhook_valid_topic``."""
    if topic.startswith(("action.woocommerce_", "action.wc_")):
        return True
    resource, _, event = topic.partition(".")
    if topic == "product.published":
        return True
    return resource in ("coupon", "customer", "order", "product") and event in (
        "created",
        "updated",
        "deleted",
        "restored",
    )


# --------------------------------------------------------------------------- the WSGI app

URLS = Map(
    [
        Rule(f"{REST_PREFIX}/orders", endpoint="orders", methods=["GET", "POST"]),
        Rule(f"{REST_PREFIX}/orders/<int:oid>", endpoint="order", methods=["GET", "PUT", "DELETE"]),
        Rule(f"{REST_PREFIX}/orders/<int:oid>/refunds", endpoint="refunds", methods=["GET", "POST"]),
        Rule(f"{REST_PREFIX}/orders/<int:oid>/refunds/<int:rid>", endpoint="refund", methods=["GET"]),
        Rule(f"{REST_PREFIX}/customers", endpoint="customers", methods=["GET"]),
        Rule(f"{REST_PREFIX}/customers/<int:cid>", endpoint="customer", methods=["GET"]),
        Rule(f"{REST_PREFIX}/webhooks", endpoint="webhooks", methods=["GET", "POST"]),
        Rule(f"{REST_PREFIX}/webhooks/<int:wid>", endpoint="webhook", methods=["GET", "PUT", "DELETE"]),
    ],
    strict_slashes=False,
)
_OAUTH_HEADER = re.compile(r'(oauth_[a-z_-]*)=(:?"([^"]*)"|([^,]*))')
_OAUTH_PARAMS = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}(?::\d{2})?)?$")


def _error(status: int, code: str, message: str, **data: Any) -> Response:
    body = {"code": code, "message": message, "data": {"status": status, **data}}
    return Response(php_json(body), status=status, content_type="application/json; charset=UTF-8")


def _json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        php_json(payload), status=status, headers=dict(headers or {}), content_type="application/json; charset=UTF-8"
    )


class _Auth:
    """``WC_REST_Authentication`` for one request."""

    def __init__(self, state: WooState, request: Request) -> None:
        self.state, self.request = state, request
        self.user: ApiKey | None = None
        self.error: RestError | None = None

    def run(self) -> None:
        if self.state.assume_ssl:
            self.user = self._basic()
        if self.user is None:
            self.user = self._oauth()

    def _basic(self) -> ApiKey | None:
        args, key, secret = self.request.args, "", ""
        if args.get("consumer_key") and args.get("consumer_secret"):
            key, secret = args["consumer_key"], args["consumer_secret"]
        auth = self.request.authorization
        if not key and auth is not None and auth.type == "basic" and auth.username and auth.password:
            key, secret = auth.username, auth.password
        if not key or not secret:
            return None
        user = self.state.keys.get(key)
        if user is None:
            return None  # unknown key: no error, the request continues as a guest
        if not hmac.compare_digest(user.consumer_secret.encode(), secret.encode()):
            self.error = RestError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
            return None
        return user

    def _oauth_params(self) -> dict[str, str]:
        params: dict[str, str] = {**self.request.args.to_dict(), **self.request.form.to_dict()}
        header = (self.request.headers.get("Authorization") or "").strip()
        if header.startswith("OAuth "):
            for match in _OAUTH_HEADER.finditer(header):
                params[match.group(1)] = unquote_plus(match.group(3) or match.group(4) or "")
        missing = [name for name in _OAUTH_PARAMS if not params.get(name)]
        if len(missing) == len(_OAUTH_PARAMS):
            return {}
        if missing:
            noun = "parameter" if len(missing) == 1 else "parameters"
            self.error = RestError(
                401, "woocommerce_rest_authentication_missing_parameter", f"Missing OAuth {noun} {', '.join(missing)}"
            )
            return {}
        return params

    def _oauth(self) -> ApiKey | None:
        params = self._oauth_params()
        if not params:
            return None
        user = self.state.keys.get(params["oauth_consumer_key"])
        if user is None:
            self.error = RestError(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
            return None
        scheme = "https" if self.state.assume_ssl else "http"
        host = self.state.home_url.split("://", 1)[1] if self.state.home_url else self.request.host
        base_uri = rfc3986(f"{scheme}://{host}{self.request.path}")
        provided = unquote(params.pop("oauth_signature").replace(" ", "+"))  # rawurldecode(str_replace(' ', '+', …))
        ordered = sorted(params.items(), key=lambda kv: kv[0].encode())
        query_string = "%26".join(rfc3986(f"{rfc3986(k)}={rfc3986(v)}") for k, v in ordered)
        to_sign = f"{self.request.method.upper()}&{base_uri}&{query_string}"
        method = params["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            self.error = RestError(
                401, "woocommerce_rest_authentication_error", "Invalid signature - signature method is invalid."
            )
            return None
        digest = hashlib.sha1 if method == "HMAC-SHA1" else hashlib.sha256
        expected = base64.b64encode(hmac.new(f"{user.consumer_secret}&".encode(), to_sign.encode(), digest).digest())
        if not hmac.compare_digest(expected, provided.encode()):
            self.error = RestError(
                401, "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match."
            )
            return None
        now = int(self.state.now().timestamp())
        try:
            timestamp = int(params["oauth_timestamp"])
        except ValueError:
            timestamp = -(10**12)
        if timestamp < now - OAUTH_WINDOW or timestamp > now + OAUTH_WINDOW:
            self.error = RestError(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
            return None
        with self.state.lock:
            if params["oauth_nonce"] in user.nonces.values():
                self.error = RestError(
                    401, "woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been used."
                )
                return None
            user.nonces[timestamp] = params["oauth_nonce"]  # keyed by timestamp, exactly as WooCommerce stores them
            for stamp in [s for s in user.nonces if s < now - OAUTH_WINDOW]:
                del user.nonces[stamp]
        return user


class WooApp:
    """The WSGI application over one ``WooState``."""

    def __init__(self, state: WooState) -> None:
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            state.requests.append((request.method, request.path))
            fault = state._faults.pop(0) if state._faults else None
        if fault is not None:
            status, retry_after = fault
            response = _error(
                status,
                "too_many_requests" if status == 429 else "internal_server_error",
                "Too many requests." if status == 429 else "There has been a critical error on this website.",
            )
            if retry_after is not None:
                response.headers["Retry-After"] = retry_after
            return response
        try:
            endpoint, args = URLS.bind_to_environ(request.environ).match()
        except (NotFound, MethodNotAllowed):
            return _error(404, "rest_no_route", "No route was found matching the URL and request method.")
        except HTTPException as exc:  # pragma: no cover - werkzeug redirects
            return _error(exc.code or 400, "rest_invalid_request", str(exc))
        auth = _Auth(state, request)
        auth.run()
        if auth.error is not None:
            err = auth.error
            return _error(err.status, err.code, err.message)
        if auth.user is not None:
            needs = "read" if request.method in ("GET", "HEAD") else "write"
            if auth.user.permissions not in (needs, "read_write"):
                return _error(
                    401,
                    "woocommerce_rest_authentication_error",
                    f"The API key provided does not have {needs} permissions.",
                )
        else:
            return self._cannot(endpoint, request.method)
        try:
            body = self._body(request)
            return getattr(self, f"do_{endpoint}")(request, body, **args)
        except RestError as err:
            return _error(err.status, err.code, err.message, **err.data)
        except ContractViolation as violation:  # refuse, loudly, to serve what WooCommerce would not
            return _error(500, "simulator_contract_violation", str(violation))

    @staticmethod
    def _cannot(endpoint: str, method: str) -> Response:
        collection = endpoint in ("orders", "refunds", "customers", "webhooks")
        if method == "GET":
            code, message = (
                ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
                if collection
                else ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
            )
        elif method == "POST":
            code, message = "woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."
        elif method == "DELETE":
            code, message = "woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."
        else:
            code, message = "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."
        return _error(401, code, message)

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        if request.method not in ("POST", "PUT", "PATCH"):
            return {}
        if request.mimetype == "application/json":
            raw = request.get_data()
            if not raw:
                return {}
            try:
                data = json.loads(raw)
            except ValueError:
                raise RestError(400, "rest_invalid_json", "Invalid JSON body passed.") from None
            return data if isinstance(data, dict) else {}
        return request.form.to_dict()

    # ------------------------------------------------------------- collections

    def _paginate(self, request: Request, items: list[dict[str, Any]], path: str, kind: str | None = None) -> Response:
        args = request.args
        per_page = _int_param(args, "per_page", 10)
        if not 1 <= per_page <= 100:
            raise RestError(
                400,
                "rest_invalid_param",
                "Invalid parameter(s): per_page",
                params={"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"},
            )
        page = _int_param(args, "page", 1)
        if page < 1:
            raise RestError(
                400, "rest_invalid_param", "Invalid parameter(s): page", params={"page": "page must be >= 1"}
            )
        offset = args.get("offset")
        start = _int_param(args, "offset", 0) if offset not in (None, "") else (page - 1) * per_page
        total = len(items)
        max_pages = math.ceil(total / per_page) if total else 0
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(max_pages)}
        base = f"{self.state._home()}{REST_PREFIX}/{path}"
        query = {
            k: v
            for k, v in args.items()
            if k not in ("page", "consumer_key", "consumer_secret") and not k.startswith("oauth_")
        }
        links = []
        if page > 1:
            links.append(f'<{base}?{urlencode({**query, "page": min(page - 1, max_pages) or 1})}>; rel="prev"')
        if max_pages > page:
            links.append(f'<{base}?{urlencode({**query, "page": page + 1})}>; rel="next"')
        if links:
            headers["Link"] = ", ".join(links)
        page_items = copy.deepcopy(items[start : start + per_page])
        if kind is not None:
            page_items = [documented(kind, item) for item in page_items]
        return _json_response(page_items, headers=headers)

    def _date_filters(self, request: Request, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        args = request.args
        gmt = args.get("dates_are_gmt", "false").lower() in ("1", "true", "yes")
        checks = (
            ("after", "date_created", "gt"),
            ("before", "date_created", "lt"),
            ("modified_after", "date_modified", "gt"),
            ("modified_before", "date_modified", "lt"),
        )
        for param, column, op in checks:
            raw = args.get(param)
            if not raw:
                continue
            if not _DATE.match(raw):
                raise RestError(
                    400, "rest_invalid_param", f"Invalid parameter(s): {param}", params={param: "Invalid date."}
                )
            bound = datetime.fromisoformat(raw.replace(" ", "T"))
            if bound.tzinfo is not None:
                bound = bound.astimezone(UTC).replace(tzinfo=None)
                if not gmt:
                    bound = bound + self.state.utc_offset
            bound = bound.replace(microsecond=0)
            field_name = f"{column}_gmt" if gmt else column
            records = [
                r
                for r in records
                if r.get(field_name)
                and (
                    (datetime.fromisoformat(r[field_name]) > bound)
                    if op == "gt"
                    else (datetime.fromisoformat(r[field_name]) < bound)
                )
            ]
        return records

    @staticmethod
    def _sort(
        request: Request,
        records: list[dict[str, Any]],
        allowed: Mapping[str, Callable[[dict], Any]],
        default: str,
        default_order: str,
    ) -> list[dict[str, Any]]:
        orderby = request.args.get("orderby", default)
        if orderby not in allowed:
            raise RestError(
                400,
                "rest_invalid_param",
                "Invalid parameter(s): orderby",
                params={"orderby": f"orderby is not one of {', '.join(allowed)}."},
            )
        order = request.args.get("order", default_order)
        if order not in ("asc", "desc"):
            raise RestError(
                400,
                "rest_invalid_param",
                "Invalid parameter(s): order",
                params={"order": "order is not one of asc and desc."},
            )
        key = allowed[orderby]
        return sorted(records, key=lambda r: (key(r), r["id"]), reverse=order == "desc")

    @staticmethod
    def _id_filters(request: Request, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        include = {int(i) for i in request.args.get("include", "").split(",") if i.strip().isdigit()}
        exclude = {int(i) for i in request.args.get("exclude", "").split(",") if i.strip().isdigit()}
        if include:
            records = [r for r in records if r["id"] in include]
        return [r for r in records if r["id"] not in exclude]

    # ------------------------------------------------------------- orders

    def do_orders(self, request: Request, body: dict[str, Any]) -> Response:
        if request.method == "POST":
            raise RestError(501, "rest_not_implemented", "The simulator creates orders through WooState.create_order.")
        statuses = [s for s in request.args.get("status", "any").split(",") if s]
        with self.state.lock:  # filter and sort references; only the page served is copied (see _paginate)
            records = list(self.state.orders.values())
            if "any" in statuses:
                records = [r for r in records if r["status"] != "trash"]
            else:
                records = [r for r in records if r["status"] in statuses]
            if request.args.get("customer"):
                records = [r for r in records if str(r["customer_id"]) == request.args["customer"]]
            records = self._id_filters(request, self._date_filters(request, records))
            records = self._sort(
                request,
                records,
                {
                    "date": lambda r: r["date_created_gmt"],
                    "id": lambda r: r["id"],
                    "include": lambda r: r["id"],
                    "title": lambda r: r["id"],
                    "slug": lambda r: r["id"],
                    "modified": lambda r: r["date_modified_gmt"],
                },
                "date",
                "desc",
            )
            return self._paginate(request, records, "orders", "order")

    def do_order(self, request: Request, body: dict[str, Any], oid: int) -> Response:
        with self.state.lock:
            order = self.state.orders.get(oid)
            if order is None:
                raise RestError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            snapshot = copy.deepcopy(order)
        if request.method == "GET":
            return _json_response(documented("order", snapshot))
        if request.method == "PUT":
            status = body.pop("status", None)
            allowed = {k: v for k, v in body.items() if k in ("customer_note", "transaction_id", "meta_data")}
            return _json_response(documented("order", self.state.update_order(oid, status=status, **allowed)))
        force = request.args.get("force", "false").lower() in ("1", "true")
        self.state.delete_order(oid, force=force)
        return _json_response(snapshot)

    def do_refunds(self, request: Request, body: dict[str, Any], oid: int) -> Response:
        with self.state.lock:
            if oid not in self.state.orders:
                raise RestError(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
            refunds = copy.deepcopy(self.state.refunds.get(oid, []))
        if request.method == "GET":
            refunds = self._sort(
                request,
                refunds,
                {"date": lambda r: r["date_created_gmt"], "id": lambda r: r["id"], "include": lambda r: r["id"]},
                "date",
                "desc",
            )
            return self._paginate(request, refunds, f"orders/{oid}/refunds", "refund")
        lines = {int(li["id"]): int(li.get("quantity", 0)) for li in body.get("line_items") or () if li.get("quantity")}
        try:
            refund = self.state.add_refund(
                oid,
                body.get("amount"),
                lines=lines or None,
                reason=str(body.get("reason") or ""),
                refunded_payment=bool(body.get("api_refund", True)),
            )
        except (ValueError, KeyError) as exc:
            raise RestError(500, "woocommerce_rest_cannot_create_order_refund", str(exc).strip("'")) from None
        return _json_response(documented("refund", refund), status=201)

    def do_refund(self, request: Request, body: dict[str, Any], oid: int, rid: int) -> Response:
        with self.state.lock:
            if oid not in self.state.orders:
                raise RestError(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
            refund = next((r for r in self.state.refunds.get(oid, []) if r["id"] == rid), None)
            if refund is None:
                raise RestError(404, "woocommerce_rest_invalid_id", "Invalid ID.")
            return _json_response(documented("refund", copy.deepcopy(refund)))

    # ------------------------------------------------------------- customers

    def do_customers(self, request: Request, body: dict[str, Any]) -> Response:
        with self.state.lock:
            records = copy.deepcopy(list(self.state.customers.values()))
        role = request.args.get("role", "customer")
        if role != "all":
            records = [r for r in records if r["role"] == role]
        if request.args.get("email"):
            records = [r for r in records if r["email"] == request.args["email"]]
        records = self._id_filters(request, records)  # customers have no date filters in WooCommerce
        records = self._sort(
            request,
            records,
            {
                "id": lambda r: r["id"],
                "include": lambda r: r["id"],
                "name": lambda r: r["username"],
                "registered_date": lambda r: r["date_created_gmt"],
            },
            "name",
            "asc",
        )
        return self._paginate(request, records, "customers", "customer")

    def do_customer(self, request: Request, body: dict[str, Any], cid: int) -> Response:
        with self.state.lock:
            customer = self.state.customers.get(cid)
            if customer is None:
                raise RestError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
            return _json_response(documented("customer", copy.deepcopy(customer)))

    # ------------------------------------------------------------- webhooks

    def do_webhooks(self, request: Request, body: dict[str, Any]) -> Response:
        if request.method == "POST":
            missing = [p for p in ("topic", "delivery_url") if not body.get(p)]
            if missing:
                raise RestError(
                    400, "rest_missing_callback_param", f"Missing parameter(s): {', '.join(missing)}", params=missing
                )
            if not valid_topic(str(body["topic"])):
                raise RestError(
                    400, "woocommerce_rest_webhook_invalid_topic", "Webhook topic is required and must be valid."
                )
            hook = self.state.create_webhook(
                topic=str(body["topic"]),
                delivery_url=str(body["delivery_url"]),
                secret=str(body.get("secret") or "") or None,
                status=str(body.get("status") or "active"),
                name=str(body.get("name") or ""),
            )
            with self.state.lock:
                data = self.state.webhook_json(hook, with_secret=True)
            return _json_response(data, 201, {"Location": f"{self.state._home()}{REST_PREFIX}/webhooks/{hook.id}"})
        status = request.args.get("status", "all")
        with self.state.lock:
            hooks = [
                self.state.webhook_json(h, with_secret=request.args.get("context") == "edit")
                for h in self.state.webhooks.values()
                if status == "all" or h.status == status
            ]
        hooks = self._id_filters(request, hooks)
        hooks = self._sort(
            request,
            hooks,
            {
                "date": lambda r: r["date_created_gmt"],
                "id": lambda r: r["id"],
                "title": lambda r: r["name"],
                "include": lambda r: r["id"],
            },
            "date",
            "desc",
        )
        return self._paginate(request, hooks, "webhooks")

    def do_webhook(self, request: Request, body: dict[str, Any], wid: int) -> Response:
        with self.state.lock:
            hook = self.state.webhooks.get(wid)
            if hook is None:
                raise RestError(404, "woocommerce_rest_webhook_invalid_id", "Invalid webhook ID.")
            before = self.state.webhook_json(hook)
        if request.method == "GET":
            with self.state.lock:
                return _json_response(self.state.webhook_json(hook, with_secret=request.args.get("context") == "edit"))
        if request.method == "DELETE":
            if request.args.get("force", "false").lower() not in ("1", "true"):
                raise RestError(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
            with self.state.lock:
                del self.state.webhooks[wid]
            return _json_response(before)
        changes = {k: body[k] for k in ("name", "status", "delivery_url", "secret") if k in body}
        if "topic" in body:
            if not valid_topic(str(body["topic"])):
                raise RestError(400, "woocommerce_rest_webhook_invalid_topic", "Webhook topic must be valid.")
            changes["topic"] = body["topic"]
        if "status" in changes and changes["status"] not in WEBHOOK_STATUSES:
            raise RestError(
                400,
                "rest_invalid_param",
                "Invalid parameter(s): status",
                params={"status": "status is not one of active, paused, and disabled."},
            )
        hook = self.state.update_webhook(wid, **changes)
        with self.state.lock:
            return _json_response(self.state.webhook_json(hook, with_secret=True))


def _int_param(args: Mapping[str, str], name: str, default: int) -> int:
    raw = args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise RestError(
            400, "rest_invalid_param", f"Invalid parameter(s): {name}", params={name: f"{name} is not of type integer."}
        ) from None


def create_app(state: WooState) -> WooApp:
    """The WSGI app serving ``state`` under ``/wp-json/wc/v3/``."""
    return WooApp(state)
