"""Hostile input against ``POST /webhooks/{connection}`` on the local runtime: real HTTP, the real handler, moto.

Hypothesis generates batches of requests for the three stores' connections (WooCommerce, BigCommerce Standard
Webhooks, Shopify), which a few threads send side by side over raw sockets, so that request lines, header bytes
and bodies go out exactly as generated: genuine deliveries; correctly signed but absurd bodies (garbage, wrong
types, huge numbers, deep nesting, unicode tricks) and headers; Standard Webhooks deliveries signed with stale
or future timestamps; signatures replayed onto other bodies or sent to another store; unsigned and mis-signed
bodies; header, content-type, encoding and size variations; unknown connections, path tricks and other methods.

Oracles, over every request: never a 5xx; no stack trace or secret in an answer or in the handlers' logs; the
ingest queue and the audit trail's ``received`` entries hold exactly what the authentic deliveries (signed by
the test with the store's secret, inside the timestamp tolerance, sent to the store's own path) were answered
as enqueued, matched by delivery id, in characters SQS accepts; each store's own delivery is still accepted
afterwards. The event-source workers are stopped, so the queue keeps everything that was enqueued.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import io
import itertools
import json
import logging
import re
import socket
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from local.stack import LocalStack
from mlconnector.observability import logger as handler_logger
from sandbox.bigcommerce import standard_signature
from sandbox.shopify import hmac_header
from sandbox.woocommerce import php_json, webhook_signature
from tests.support.stack import audit_items

WOO, BC, SHOP = "woo-psft", "bc-psft", "shop-psft"
CONNECTIONS = (WOO, BC, SHOP)
BATCHES = 250
BATCH_SIZE = 40  # 10,000 generated requests
SENDERS = 4
MARKER = "@MARKER@"  # replaced, at send time, by the request's own delivery id
NOW = "@NOW@"  # replaced by the send time (ISO 8601)
API_VERSION = "2025-10"
#: Characters SQS accepts in a message body (SendMessage: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | astral).
SQS_REFUSES = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
TRACE_WORDS = ("Traceback", 'File "', "most recent call last")


# --- the stores under test -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Store:
    """One connection of the campaign: how its store signs, and deliveries it really sends (topic, body)."""

    connection: str
    kind: str
    secret: str
    genuine: tuple[tuple[str, dict[str, Any]], ...]
    shop_domain: str = ""
    tolerance: int = 300

    def base_headers(self, topic: str) -> list[tuple[str, str]]:
        """The headers of a delivery, without its signature."""
        if self.kind == "woocommerce":
            resource, _, event = topic.partition(".")
            return [
                ("Content-Type", "application/json"),
                ("User-Agent", "WooCommerce/9.0 Hookshot (WordPress/6.5)"),
                ("X-WC-Webhook-Source", "http://woo.example/"),
                ("X-WC-Webhook-Topic", topic),
                ("X-WC-Webhook-Resource", resource),
                ("X-WC-Webhook-Event", event),
                ("X-WC-Webhook-ID", "1"),
                ("X-WC-Webhook-Delivery-ID", MARKER),
            ]
        if self.kind == "shopify":
            return [
                ("Content-Type", "application/json"),
                ("X-Shopify-Topic", topic),
                ("X-Shopify-Shop-Domain", self.shop_domain),
                ("X-Shopify-API-Version", API_VERSION),
                ("X-Shopify-Webhook-Id", MARKER),
                ("X-Shopify-Event-Id", "5d2b0e53-0000-4000-8000-000000000000"),
                ("X-Shopify-Triggered-At", NOW),
            ]
        return [("Content-Type", "application/json"), ("User-Agent", "BigCommerce-Webhooks/1.0")]

    def signature_headers(self, body: bytes, secret: str, timestamp: int, marker: str) -> list[tuple[str, str]]:
        if self.kind == "woocommerce":
            return [("X-WC-Webhook-Signature", webhook_signature(body, secret))]
        if self.kind == "shopify":
            return [("X-Shopify-Hmac-Sha256", hmac_header(body, secret))]
        return [
            ("webhook-id", marker),
            ("webhook-timestamp", str(timestamp)),
            ("webhook-signature", standard_signature(secret, marker, timestamp, body)),
        ]

    def authentic(self, headers: dict[str, str], body: bytes, now: float) -> bool:
        """Whether the request carries this store's valid signature over its own body (the receiver's rules,
        written out independently): the one case in which it may enqueue."""
        if self.kind == "woocommerce":
            sent = headers.get("x-wc-webhook-signature")
            return sent is not None and sent.strip() == webhook_signature(body, self.secret)
        if self.kind == "shopify":
            return headers.get("x-shopify-hmac-sha256", "").strip() == hmac_header(body, self.secret)
        if "x-mlc-webhook-token" in headers:  # no registration token is configured: the header cannot verify
            return False
        msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        if not msg_id or not stamp.isascii() or not stamp.strip().lstrip("+-").isdigit():
            return False
        timestamp = int(stamp)
        if abs(timestamp - now) > self.tolerance - 5:  # the margin keeps clock edges out of the oracle
            return False
        expected = standard_signature(self.secret, msg_id, timestamp, body)
        return any(entry == expected for entry in headers.get("webhook-signature", "").split(" "))

    def delivery_id(self, headers: dict[str, str], body: bytes) -> str:
        """The delivery id the envelope of an accepted request carries."""
        if self.kind == "woocommerce":
            return headers.get("x-wc-webhook-delivery-id", "")
        if self.kind == "shopify":
            return headers.get("x-shopify-webhook-id", "").strip()
        try:
            return str(json.loads(body).get("hash") or "")
        except (ValueError, AttributeError, RecursionError):
            return ""


def _genuine_woo(stack: LocalStack) -> tuple[tuple[str, dict[str, Any]], ...]:
    orders = stack.stores[WOO].state.generate_orders(4, seed=11)
    return tuple((topic, order) for order in orders for topic in ("order.updated", "order.created"))


def _genuine_shopify(stack: LocalStack) -> tuple[tuple[str, dict[str, Any]], ...]:
    state = stack.stores[SHOP].state
    orders = [state.order_json(o["id"]) for o in state.generate_orders(4, seed=11, refund_share=1.0)]
    refunds = [("refunds/create", r) for o in orders for r in o.get("refunds") or ()][:3]
    return (*(("orders/updated", o) for o in orders), *refunds)


def _genuine_bigcommerce(stack: LocalStack) -> tuple[tuple[str, dict[str, Any]], ...]:
    state = stack.stores[BC].state
    order_ids = [o["id"] for o in state.generate_orders(3, seed=11)]
    stubs = [("store/order/created", {"type": "order", "id": i}) for i in order_ids]
    stubs += [("store/order/refund/created", {"type": "order", "id": order_ids[0], "refund": {"refund_id": 7}})]
    stubs += [("store/customer/updated", {"type": "customer", "id": 3})]
    return tuple(
        (
            scope,
            {
                "scope": scope,
                "store_id": "1001",
                "data": data,
                "hash": MARKER,
                "created_at": 1_760_000_000,
                "producer": "stores/abc123xyz",
            },
        )
        for scope, data in stubs
    )


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """The three stores' connections on the local runtime, its event sources stopped. Powertools keeps one metric set
    per process, which the local runtime's concurrent invocations share (deployed, each container is a process):
    two flushing at once collide, so metric output is off here (``POWERTOOLS_METRICS_DISABLED``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
        with LocalStack(connections=list(CONNECTIONS)) as running:
            assert running.runtime
            running.runtime.stop_event_sources()
            yield running


@pytest.fixture(scope="module")
def stores(stack) -> dict[str, Store]:
    assert stack.profile
    bc_settings = stack.profile.connection(BC).store
    return {
        WOO: Store(WOO, "woocommerce", stack.stores[WOO].webhook_credentials["webhook_secret"], _genuine_woo(stack)),
        BC: Store(
            BC,
            "bigcommerce",
            stack.stores[BC].credentials["client_secret"],
            _genuine_bigcommerce(stack),
            tolerance=bc_settings.max_webhook_age_seconds,
        ),
        SHOP: Store(
            SHOP,
            "shopify",
            stack.stores[SHOP].credentials["client_secret"],
            _genuine_shopify(stack),
            shop_domain=stack.profile.connection(SHOP).store.shop_domain,
        ),
    }


def secret_values(stack: LocalStack) -> set[str]:
    """Every credential the sandboxes handed the stack (none may appear in an answer or a log line)."""
    values: set[str] = set()
    for sandbox in [*stack.stores.values(), *stack.erps.values()]:
        for group in (sandbox.credentials, getattr(sandbox, "webhook_credentials", {})):
            values |= {str(v) for v in group.values() if v and len(str(v)) >= 8}
    return values | {json.dumps(v)[1:-1] for v in values}


# --- requests ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signing:
    """How the signature headers are made at send time. ``how``: ``valid`` (over the body sent), ``replayed``
    (a valid signature over ``over``, another body), ``wrong_secret``; ``offset`` moves the Standard Webhooks
    timestamp away from now (a stale or future delivery)."""

    how: str = "valid"
    offset: int = 0
    over: bytes = b""


@dataclass(frozen=True)
class Probe:
    """One generated request. ``connection``: the store whose secret signs it; ``target``: None for the store's
    own path. Header edits apply after signing: (``set``|``add``|``drop``, name, value)."""

    category: str
    connection: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    signing: Signing | None = None
    method: str = "POST"
    target: bytes | None = None
    edits: tuple[tuple[str, str, bytes], ...] = ()
    chunked: bool = False


@dataclass
class Sent:
    probe: Probe
    status: int
    answer: bytes
    authentic: bool
    delivery_id: str
    enqueued: int = 0
    seconds: float = 0.0


def _sub(text: str, marker: str, now: str) -> str:
    return text.replace(MARKER, marker).replace(NOW, now)


def as_received(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers as the handler's event holds them (lower-cased here): the server drops leading blanks, joins
    repeated headers with commas and drops names with an underscore (werkzeug's WSGI environ)."""
    seen: dict[str, str] = {}
    for name, value in headers:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1").lstrip(" \t")
        if "_" not in key:
            seen[key] = f"{seen[key]},{text}" if key in seen else text
    return seen


@dataclass(frozen=True)
class Request:
    """A probe made ready to send now, with the oracle's view of it."""

    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    authentic: bool
    delivery_id: str


def finish(probe: Probe, store: Store, marker: str) -> Request:
    """The probe with its delivery id and time filled in and its signature made; authentic if the store's
    own path receives the store's valid signature over the body sent."""
    now = time.time()
    stamp = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
    body = probe.body.replace(MARKER.encode(), marker.encode())
    headers = [(name, _sub(value, marker, stamp)) for name, value in probe.headers]
    if probe.signing is not None:
        signing = probe.signing
        secret = store.secret if signing.how != "wrong_secret" else store.secret[::-1] + "x"
        signed_body = signing.over.replace(MARKER.encode(), marker.encode()) if signing.how == "replayed" else body
        headers += store.signature_headers(signed_body, secret, int(now) + signing.offset, marker)
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    for op, name, value in probe.edits:
        key = name.encode("latin-1").lower()
        if op in ("set", "drop"):
            raw = [(n, v) for n, v in raw if n.lower() != key]
        if op in ("set", "add"):
            raw.append((name.encode("latin-1"), value.replace(MARKER.encode(), marker.encode())))
    target = probe.target if probe.target is not None else f"/webhooks/{probe.connection}".encode()
    path = unquote(target.decode("latin-1").split("?", 1)[0])
    seen = as_received(raw)
    authentic = probe.method == "POST" and path == f"/webhooks/{store.connection}" and store.authentic(seen, body, now)
    return Request(target, raw, body, authentic, store.delivery_id(seen, body) if authentic else "")


def exchange(port: int, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes, chunked: bool):
    """Send one request exactly as given over a fresh connection; (status, answer body)."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % port, b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in _parts(body)) + b"0\r\n\r\n"
    else:
        lines.append(b"Content-Length: %d" % len(body))
        payload = body
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        # A server may answer before reading a whole (too large) body and close: its answer is still there.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + payload)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        return response.status, response.read()


def _parts(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 4096):
        yield body[start : start + 4096]


def send_one(port: int, stores: dict[str, Store], probe: Probe, marker: str) -> Sent:
    request = finish(probe, stores[probe.connection], marker)
    started = time.perf_counter()
    status, answer = exchange(port, probe.method, request.target, request.headers, request.body, probe.chunked)
    sent = Sent(probe, status, answer, request.authentic, request.delivery_id, seconds=time.perf_counter() - started)
    if status == 200 and answer.startswith(b"{"):
        sent.enqueued = int(json.loads(answer).get("enqueued", 0))
    return sent


# --- strategies ----------------------------------------------------------------------------------------------
def _deep(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "list" else '{"a":' * depth + "1" + "}" * depth


#: JSON texts a signed body may carry where a value belongs: wrong types, huge and non-finite numbers, deep
#: nesting, unicode tricks (lone surrogates, non-characters, direction overrides, digits that are not ASCII).
ABSURD_VALUES = (
    "null",
    "true",
    "[]",
    "{}",
    '""',
    '" "',
    "0",
    "-1",
    "1.5",
    "-0.0",
    "1e999",
    "-1e999",
    "1E400",
    "1E15",
    "NaN",
    "Infinity",
    "-Infinity",
    "9" * 30,
    "-9223372036854775809",
    "18446744073709551616",
    "9" * 4301,
    "1" * 2000,
    '"' + "1" * 5000 + '"',
    '"' + "9" * 25 + '"',
    '"\\u0000"',
    '"\\ud800"',
    '"\\udfff\\ud800"',
    '"\\uffff"',
    '"\\ufffe"',
    '"\\u202e1\\u202c"',
    '"\\u200b1"',
    '"\\u0661\\u0662\\u0663"',
    '"\\u00b2"',
    '"\\uff11\\uff12"',
    '"\\ud835\\udfcf"',
    '"0x10"',
    '"1_000"',
    '"+1"',
    '" 12 "',
    '"12\\n"',
    '"0001-01-01T00:00:00+01:00"',
    '"9999-12-31T23:59:59-01:00"',
    '"2024-02-30T00:00:00"',
    '"2024-01-01T00:00:00+25:00"',
    '"2024-01-01T00:00:00.123456789Z"',
    '"0000-00-00 00:00:00"',
    '"\\u0661\\u0669\\u0667\\u0660-01-01T00:00:00"',
    '"' + "a" * 100_000 + '"',
    '"<script>alert(1)</script>"',
    '"${jndi:ldap://x/a}"',
    '"../../etc/passwd"',
    "[1,2,3]",
    '[{"id":1},{"id":"x"},null,5]',
    '{"id":{"id":{"id":1}}}',
    _deep(100, "list"),
    _deep(990, "list"),
    _deep(1500, "object"),
    _deep(100_000, "list"),
    "[" + "1E15," * 20_000 + "1]",
)

#: Whole bodies a store may sign that are not a resource at all.
ABSURD_BODIES = (
    b"",
    b" ",
    b"null",
    b"[]",
    b"{}",
    b"0",
    b'"text"',
    b"[" * 50_000 + b"]" * 50_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    b'{"id": 1, "id": "2", "date_modified_gmt": "2024-01-01T00:00:00"}',
    b"{'id': 1}",
    b'{"id":1,}',
    b"\x00\x01\x02",
    b"\xc3(\xa0\xa1",
    b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
    b"webhook_id=1",
)

#: Paths a connection's key may be confused with: what the receiver must not take for one of its connections.
CONNECTION_LOOKALIKES = (
    "WOO-PSFT",
    "woo-psft.",
    "woo-psft%00",
    "woo-psft%20",
    "w%6fo-psft",
    "w\u043eo-psft",
    "woo%E2%80%8B-psft",
    "..",
    "%2e%2e",
    ".",
    "__proto__",
    "constructor",
    "x" * 5000,
    "%ff%fe",
    "%",
    "%zz",
    "woo-psft;bc-psft",
    "woo-psft,bc-psft",
    "*",
)

PATH_TRICKS = (
    "/webhooks/woo-psft%2F..%2Fbc-psft",
    "/webhooks/woo-psft%2f",
    "/webhooks/../webhooks/woo-psft",
    "/webhooks/./woo-psft",
    "/webhooks/woo-psft/.",
    "/webhooks/woo-psft/..",
    "/webhooks//woo-psft",
    "//webhooks/woo-psft",
    "/webhooks/woo-psft/",
    "/webhooks/woo-psft/extra",
    "/Webhooks/woo-psft",
    "/webhooks%2Fwoo-psft",
    "/webhooks/%2e%2e/webhooks/woo-psft",
    "/webhooks/woo-psft%23frag",
    "/webhooks/woo-psft#frag",
    "/webhooks\\woo-psft",
    "/webhooks/",
    "/webhooks",
    "/",
    "*",
    "http://evil.example/webhooks/woo-psft",
    "/webhooks/woo-psft?" + "q=" + "x" * 8000,
    "/" + "a/" * 2000 + "webhooks/woo-psft",
    "/webhooks/" + "%41" * 20_000,
)
METHODS = ("GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "post", "FOO", "PROPFIND")
SIGNATURE_HEADERS = ("X-WC-Webhook-Signature", "X-Shopify-Hmac-Sha256", "webhook-signature")
HEADER_NAMES = (
    "Content-Type",
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Delivery-ID",
    "X-WC-Webhook-Signature",
    "X-Shopify-Topic",
    "X-Shopify-Shop-Domain",
    "X-Shopify-API-Version",
    "X-Shopify-Webhook-Id",
    "X-Shopify-Triggered-At",
    "X-Shopify-Hmac-Sha256",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "X-Mlc-Webhook-Token",
    "Content-Encoding",
    "Authorization",
    "X-Forwarded-For",
    "X-Amzn-Trace-Id",
)
CONTENT_TYPES = (
    "text/plain",
    "application/xml",
    "application/json; charset=utf-16",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "",
    "application/json; charset=" + "x" * 500,
)
header_bytes = st.binary(max_size=60).map(lambda b: bytes(c for c in b if c == 9 or 32 <= c != 127))


def _body(payload: dict[str, Any], store: Store) -> bytes:
    return php_json(payload) if store.kind == "woocommerce" else json.dumps(payload, separators=(",", ":")).encode()


@st.composite
def delivery(draw: st.DrawFn, stores: dict[str, Store], kinds: tuple[str, ...] = CONNECTIONS):
    """A store, and a delivery it really sends: (store, topic, payload)."""
    store = stores[draw(st.sampled_from(kinds))]
    topic, payload = draw(st.sampled_from(store.genuine))
    return store, topic, payload


@st.composite
def genuine(draw: st.DrawFn, stores: dict[str, Store], kinds: tuple[str, ...] = CONNECTIONS) -> Probe:
    """A delivery the store really sends, signed."""
    store, topic, payload = draw(delivery(stores, kinds))
    return Probe("authentic", store.connection, _body(payload, store), tuple(store.base_headers(topic)), Signing())


def with_absurd_values(payload: dict[str, Any], edits: list[tuple[tuple[str, ...], str]]) -> bytes:
    """The payload's JSON with the value at each path replaced by a JSON text (objects made on the way)."""
    document = json.loads(json.dumps(payload))
    placeholders = {}
    for n, (path, raw) in enumerate(edits):
        node = document
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[path[-1]] = placeholder = f"\u0001absurd{n}\u0001"
        placeholders[json.dumps(placeholder)] = raw
    text = json.dumps(document, separators=(",", ":"))
    for placeholder, raw in placeholders.items():
        text = text.replace(placeholder, raw)
    return text.encode()


ABSURD_PATHS = {
    "woocommerce": (
        ("id",),
        ("date_modified_gmt",),
        ("date_created_gmt",),
        ("refunds",),
        ("status",),
        ("total",),
        ("line_items",),
        ("billing",),
        ("extra",),
    ),
    "shopify": (
        ("id",),
        ("order_id",),
        ("updated_at",),
        ("created_at",),
        ("financial_status",),
        ("payment_gateway_names",),
        ("total_price",),
        ("line_items",),
        ("transactions",),
    ),
    "bigcommerce": (
        ("scope",),
        ("data",),
        ("data", "id"),
        ("data", "refund"),
        ("data", "refund", "refund_id"),
        ("data", "address"),
        ("data", "address", "customer_id"),
        ("hash",),
        ("created_at",),
    ),
}


@st.composite
def signed_absurd(draw: st.DrawFn, stores: dict[str, Store]) -> Probe:
    """Correctly signed by the store, but the body is absurd: fields with a wrong type, a huge or non-finite
    number, deep nesting or a unicode trick, or a body that is no resource at all."""
    store, topic, payload = draw(delivery(stores))
    if draw(st.integers(0, 4)) == 0:
        body = draw(st.sampled_from(ABSURD_BODIES))
    else:
        values = st.sampled_from(ABSURD_VALUES) | st.integers().map(str) | st.text(max_size=30).map(json.dumps)
        paths = st.sampled_from(ABSURD_PATHS[store.kind])
        body = with_absurd_values(payload, draw(st.lists(st.tuples(paths, values), min_size=1, max_size=3)))
    return Probe("signed_absurd", store.connection, body, tuple(store.base_headers(topic)), Signing())


@st.composite
def signed_absurd_headers(draw: st.DrawFn, stores: dict[str, Store]) -> Probe:
    """A genuine body, correctly signed, with absurd values in the headers the receiver reads besides the signature."""
    probe = draw(genuine(stores))
    names = {
        "woocommerce": ("X-WC-Webhook-Topic", "X-WC-Webhook-Delivery-ID", "X-WC-Webhook-Source"),
        "shopify": (
            "X-Shopify-Topic",
            "X-Shopify-Shop-Domain",
            "X-Shopify-API-Version",
            "X-Shopify-Webhook-Id",
            "X-Shopify-Triggered-At",
        ),
        "bigcommerce": ("webhook-id", "User-Agent"),
    }[stores[probe.connection].kind]
    values = st.sampled_from(
        [
            b"",
            b" ",
            b"order.updated ",
            b"ORDERS/UPDATED",
            b"orders/updated\t",
            b"local-shop.myshopify.com.evil.example",
            b"LOCAL-SHOP.MYSHOPIFY.COM",
            b"0001-01-01T00:00:00+01:00",
            b"9999-12-31T23:59:59.999999999-01:00",
            b"1970-01-01T00:00:00Z",
            b"2024-13-45T99:99:99Z",
            b"unstable",
            b"x" * 8000,
            "\u00e9\u00ff".encode("latin-1"),
            b"\x80\x81\xfe",
            b"${jndi:ldap://x}",
        ]
    )
    edits = tuple(
        ("set", draw(st.sampled_from(names)), draw(values | header_bytes)) for _ in range(draw(st.integers(1, 2)))
    )
    return replace(probe, category="signed_absurd_headers", edits=edits)


@st.composite
def stale_timestamp(draw: st.DrawFn, stores: dict[str, Store]) -> Probe:
    """A BigCommerce delivery correctly signed with a timestamp outside the tolerance: a replay, or a wrong clock."""
    probe = draw(genuine(stores, (BC,)))
    tolerance = stores[BC].tolerance
    offset = draw(
        st.integers(tolerance + 10, tolerance + 7200).map(lambda s: -s)
        | st.integers(tolerance + 10, 10**6)
        | st.sampled_from([-int(time.time()), -int(time.time()) - 1, -(10**9), -(3 * 365 * 86400)])
    )
    return replace(probe, category="stale_timestamp", signing=Signing(offset=offset))


def _mutated(draw: st.DrawFn, body: bytes) -> bytes:
    how = draw(st.sampled_from(["flip", "truncate", "append", "swap", "random", "same_length"]))
    if how == "flip" and body:
        at = draw(st.integers(0, len(body) - 1))
        return body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    if how == "truncate" and body:
        return body[: draw(st.integers(0, len(body) - 1))]
    if how == "append":
        return body + draw(st.binary(min_size=1, max_size=32))
    if how == "swap":
        return body.replace(b'"id":', b'"id":9', 1).replace(b"processing", b"completed", 1) + b" "
    if how == "same_length" and body:
        return body[:-1] + (b" " if body[-1:] != b" " else b"\n")
    return draw(st.binary(min_size=1, max_size=200))


@st.composite
def replayed_signature(draw: st.DrawFn, stores: dict[str, Store]) -> Probe:
    """A valid signature (captured from a genuine delivery) sent with another body."""
    probe = draw(genuine(stores))
    store = stores[probe.connection]
    if draw(st.booleans()):
        body = _mutated(draw, probe.body)
    else:
        body = _body(draw(st.sampled_from(store.genuine))[1], store) + b" "
    return replace(probe, category="replayed_signature", body=body, signing=Signing("replayed", over=probe.body))


@st.composite
def cross_store(draw: st.DrawFn, stores: dict[str, Store]) -> Probe:
    """A delivery validly signed for one store, sent to another store's connection."""
    probe = draw(genuine(stores))
    other = draw(st.sampled_from([c for c in CONNECTIONS if c != probe.connection]))
    return replace(probe, category="cross_store", target=f"/webhooks/{other}".encode())


@st.composite
def unsigned_or_mis_signed(draw: st.DrawFn, stores: dict[str, Store]) -> Probe:
    """No signature, an empty or garbage one, one made with the wrong secret, or several, none of them right."""
    probe = draw(genuine(stores))
    if draw(st.booleans()):
        probe = replace(probe, body=_mutated(draw, probe.body))
    how = draw(st.sampled_from(["none", "garbage", "wrong_secret", "other_store", "several"]))
    if how == "none":
        return replace(probe, category="unsigned", signing=None)
    if how == "wrong_secret":
        return replace(probe, category="bad_signature", signing=Signing("wrong_secret"))
    garbage = (
        st.sampled_from(
            [
                b"",
                b" ",
                b"sha256=",
                b"A" * 44,
                base64.b64encode(b"x" * 32),
                b"v1,",
                b"v1," + b"A" * 44,
                b"v2,abc",
                b"v1",
            ]
        )
        | header_bytes
    )
    name = draw(st.sampled_from(SIGNATURE_HEADERS))
    edits = [("set", name, draw(garbage))]
    if how == "several":
        edits.append(("add", name, draw(garbage)))
        edits.append(("add", "webhook-timestamp", str(int(time.time())).encode()))
        edits.append(("add", "webhook-id", b"x"))
    return replace(probe, category="bad_signature", signing=None, edits=tuple(edits))


@st.composite
def header_variations(draw: st.DrawFn, stores: dict[str, Store]) -> Probe:
    """Signed or not, with headers set, added twice, dropped, mangled, oversized, or many of them."""
    probe = draw(genuine(stores) | unsigned_or_mis_signed(stores))
    edits: list[tuple[str, str, bytes]] = []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "add", "drop", "huge", "many", "case"]))
        name = draw(st.sampled_from(HEADER_NAMES))
        if op == "huge":
            edits.append(("set", name, b"x" * draw(st.sampled_from([4096, 8190, 16_000]))))
        elif op == "many":
            edits += [("add", f"X-Filler-{i}", b"1") for i in range(draw(st.integers(10, 120)))]
        elif op == "case":
            edits.append(
                ("add", draw(st.sampled_from([name.upper(), name.lower(), name.swapcase()])), draw(header_bytes))
            )
        else:
            edits.append((op, name, draw(header_bytes)))
    return replace(probe, category="headers", edits=probe.edits + tuple(edits))


@st.composite
def content_type_and_encoding(draw: st.DrawFn, stores: dict[str, Store]) -> Probe:
    """Other content types and charsets, compressed or re-encoded bodies (signed as sent, or not), chunked transfer."""
    probe = draw(genuine(stores))
    how = draw(st.sampled_from(["gzip", "deflate", "utf16", "utf32", "latin1", "invalid_utf8", "bom", "plain"]))
    body = probe.body
    edits = [("set", "Content-Type", draw(st.sampled_from(CONTENT_TYPES)).encode())]
    if how == "gzip":
        body = gzip.compress(body)
        edits.append(("set", "Content-Encoding", b"gzip"))
    elif how == "deflate":
        body = zlib.compress(body)
        edits.append(("set", "Content-Encoding", b"deflate"))
    elif how in ("utf16", "utf32"):
        body = body.decode().encode("utf-16" if how == "utf16" else "utf-32")
    elif how == "latin1":
        body = body.decode().replace("a", "\u00e4").encode("latin-1")
    elif how == "invalid_utf8":
        body = body[:50] + b"\xff\xfe\xc3(" + body[50:]
    elif how == "bom":
        body = b"\xef\xbb\xbf" + body
    signing = draw(st.sampled_from([Signing(), Signing("replayed", over=probe.body), None]))
    return replace(
        probe,
        category="content_type_encoding",
        body=body,
        signing=signing,
        edits=tuple(edits),
        chunked=draw(st.booleans()),
    )


@st.composite
def sizes(draw: st.DrawFn, stores: dict[str, Store]) -> Probe:
    """Bodies from empty to a megabyte: padding inside a genuine resource (signed or replayed), or filler bytes."""
    probe = draw(genuine(stores))
    size = draw(st.sampled_from([0, 1, 2, 1023, 65_536, 179_999, 180_001, 262_145, 1_000_000]))
    if draw(st.booleans()) and probe.body.startswith(b"{"):
        body = probe.body[:-1] + b',"padding":"' + b"p" * size + b'"}'
    else:
        body = (draw(st.binary(min_size=1, max_size=16)) * (size // 16 + 1))[:size]
    signing = draw(st.sampled_from([Signing(), Signing("replayed", over=probe.body), None]))
    return replace(probe, category="size", body=body, signing=signing)


@st.composite
def unknown_connection(draw: st.DrawFn, stores: dict[str, Store]) -> Probe:
    """A delivery (validly signed or not) to a connection the profile does not have."""
    probe = draw(genuine(stores) | unsigned_or_mis_signed(stores))
    name = draw(
        st.sampled_from(CONNECTION_LOOKALIKES)
        | st.text(
            alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%"),
            min_size=1,
            max_size=40,
        )
    )
    return replace(probe, category="unknown_connection", target=b"/webhooks/" + name.encode())


@st.composite
def paths_and_methods(draw: st.DrawFn, stores: dict[str, Store]) -> Probe:
    """Path tricks (encoded slashes, dot segments, very long paths) and other methods, never validly signed."""
    probe = draw(unsigned_or_mis_signed(stores) | replayed_signature(stores))
    if draw(st.booleans()):
        return replace(probe, category="path_and_method", target=draw(st.sampled_from(PATH_TRICKS)).encode())
    return replace(probe, category="path_and_method", method=draw(st.sampled_from(METHODS)))


@st.composite
def pings(draw: st.DrawFn, stores: dict[str, Store]) -> Probe:
    """WooCommerce's unsigned ``webhook_id=N`` ping and look-alikes: answered, never enqueued."""
    number = draw(st.sampled_from(["1", "0", "-1", "9" * 5000, "\u0661", "1&x=2", "", "1 ", "abc"]))
    body = f"webhook_id={number}".encode()
    headers = [("Content-Type", "application/x-www-form-urlencoded"), ("User-Agent", "WordPress/6.5")]
    if draw(st.booleans()):
        headers.append(("X-WC-Webhook-Topic", draw(st.sampled_from(["order.updated", "action.woocommerce_x"]))))
    connection = draw(st.sampled_from(CONNECTIONS))
    return Probe("ping", connection, body, tuple(headers), None)


CATEGORIES = (
    (genuine, 1),
    (signed_absurd, 5),
    (signed_absurd_headers, 2),
    (stale_timestamp, 1),
    (replayed_signature, 2),
    (cross_store, 1),
    (unsigned_or_mis_signed, 2),
    (header_variations, 2),
    (content_type_and_encoding, 1),
    (sizes, 1),
    (unknown_connection, 1),
    (paths_and_methods, 1),
    (pings, 1),
)


CATEGORY_NAMES = {
    "authentic",
    "signed_absurd",
    "signed_absurd_headers",
    "stale_timestamp",
    "replayed_signature",
    "cross_store",
    "unsigned",
    "bad_signature",
    "headers",
    "content_type_encoding",
    "size",
    "unknown_connection",
    "path_and_method",
    "ping",
}


def probes(stores: dict[str, Store]) -> st.SearchStrategy[Probe]:
    weighted = [strategy for strategy, weight in CATEGORIES for _ in range(weight)]
    return st.sampled_from(weighted).flatmap(lambda strategy: strategy(stores))


# --- the campaign --------------------------------------------------------------------------------------------
@contextmanager
def handler_logs() -> Iterator[io.StringIO]:
    """Everything the handlers log while the block runs, formatted as Lambda would write it."""
    buffer = io.StringIO()
    powertools = handler_logger.registered_handler
    assert isinstance(powertools, logging.StreamHandler)
    previous = powertools.setStream(buffer)
    stdlib = logging.StreamHandler(buffer)
    stdlib.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(stdlib)
    try:
        yield buffer
    finally:
        powertools.setStream(previous)
        root.removeHandler(stdlib)


def queued_messages(stack: LocalStack) -> list[str]:
    """Every message on the ingest queue (received with a long visibility timeout, so each is read once)."""
    assert stack.runtime
    sqs, url = stack.runtime.client("sqs"), stack.runtime.outputs["IngestQueueUrl"]
    bodies: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages"):
        bodies.extend(m["Body"] for m in batch)
    return bodies


def depth(stack: LocalStack) -> int:
    assert stack.runtime
    return stack.runtime.queue_depth(stack.runtime.outputs["IngestQueueUrl"])


def check_answer(sent: Sent, secrets: set[str]) -> str | None:
    """What is wrong with one answer, if anything."""
    probe = sent.probe
    text = sent.answer.decode("utf-8", "replace")
    if sent.status >= 500:
        return f"HTTP {sent.status}: {text[:200]}"
    if any(word in text for word in TRACE_WORDS) or any(secret in text for secret in secrets):
        return f"a stack trace or a secret in the answer: {text[:200]}"
    if sent.enqueued and not sent.authentic:
        return f"enqueued {sent.enqueued} without a valid signature (HTTP {sent.status})"
    if probe.category == "authentic" and (sent.status != 200 or sent.enqueued < 1):
        return f"a genuine delivery was not accepted: HTTP {sent.status} {text[:200]}"
    if probe.category in ("signed_absurd",) and sent.status not in (200, 400):
        return f"a correctly signed body was answered HTTP {sent.status}, not 200 or 400"
    if probe.category in ("stale_timestamp", "replayed_signature") and not sent.authentic and sent.status != 401:
        return f"an unauthentic delivery was answered HTTP {sent.status}, not 401"
    return None


def describe(sent: Sent, problem: str) -> str:
    """One line about a request that broke an oracle: what it was, and what went wrong."""
    probe = sent.probe
    target = (probe.target or b"")[:60]
    return (
        f"{probe.category} to {probe.connection}{' at ' + repr(target) if target else ''} ({probe.method}, "
        f"body {len(probe.body)} bytes {probe.body[:80]!r}, edits {[(o, n) for o, n, _ in probe.edits]}): {problem}"
    )


def test_generated_hostile_requests(stack, stores, capsys, record_property):
    assert stack.runtime
    port = int(urlsplit(stack.runtime.api_url).port or 0)
    secrets = secret_values(stack)
    numbers = itertools.count()
    results: list[Sent] = []
    started = time.monotonic()

    in_flight: list[Future[Sent]] = []

    @settings(
        max_examples=BATCHES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @given(batch=st.lists(probes(stores), min_size=BATCH_SIZE, max_size=BATCH_SIZE))
    def campaign(batch: list[Probe]) -> None:
        """Hands the batch to the senders and returns: the next batch is generated while this one is sent."""
        in_flight.extend(pool.submit(send_one, port, stores, probe, f"auth-{next(numbers)}") for probe in batch)
        while len(in_flight) > 4 * BATCH_SIZE:
            results.append(in_flight.pop(0).result())

    with handler_logs() as logs, ThreadPoolExecutor(SENDERS, thread_name_prefix="hostile") as pool:
        campaign()
        results.extend(future.result() for future in in_flight)
    elapsed = time.monotonic() - started
    log_text = logs.getvalue() + capsys.readouterr().out
    problems = [describe(sent, problem) for sent in results if (problem := check_answer(sent, secrets))]

    expected: Counter = Counter()
    for sent in results:
        if sent.authentic and sent.enqueued:
            expected[(sent.probe.connection, sent.delivery_id)] += sent.enqueued
    messages = queued_messages(stack)
    envelopes = [json.loads(body) for body in messages]
    received = [i for i in audit_items(stack) if i["event"]["S"] == "received" and "via" not in i["detail"]["M"]]

    categories = Counter(s.probe.category for s in results)
    statuses = Counter(s.status for s in results)
    authentic_sent = sum(1 for s in results if s.authentic)
    counts = (
        f"hostile webhook input: {len(results)} generated requests to 3 stores' connections in {elapsed:.0f} s "
        f"({len(results) / elapsed:.0f}/s, {SENDERS} senders); categories {dict(sorted(categories.items()))}; "
        f"answers {dict(sorted(statuses.items()))}; authentic {authentic_sent}, enqueued {sum(expected.values())}; "
        f"5xx {sum(n for status, n in statuses.items() if status >= 500)}; unauthenticated enqueues "
        f"{max(0, len(messages) - sum(expected.values()))}; log bytes scanned {len(log_text)}"
    )
    print(counts)
    record_property("counts", counts)

    assert problems == [], f"{len(problems)} problems, the first ones: " + "\n".join(problems[:15])
    assert len(results) >= 10_000
    assert set(categories) == CATEGORY_NAMES
    assert Counter((e["connection"], e["delivery_id"]) for e in envelopes) == expected
    assert Counter((i["connection"]["S"], i["detail"]["M"].get("delivery_id", {"S": ""})["S"]) for i in received) == (
        expected
    )
    assert [m[:80] for m in messages if SQS_REFUSES.search(m)] == []
    assert [w for w in TRACE_WORDS if w in log_text] == []
    assert [s[:4] + "…" for s in secrets if s in log_text] == []
    assert "webhook rejected" in log_text  # the capture did see the handlers' log lines

    before = depth(stack)
    assert store_deliveries_still_accepted(stack) == {WOO: 200, BC: 200, SHOP: 200}
    assert depth(stack) == before + 3


def store_deliveries_still_accepted(stack: LocalStack) -> dict[str, int]:
    """Each store's own next delivery (signed and sent by its simulator) after the campaign: status per connection."""
    woo, bc, shop = (stack.stores[c].state for c in CONNECTIONS)
    order = woo.generate_orders(1, seed=99)[0]
    statuses = {WOO: woo.deliver("order.updated", order)[-1].status_code}
    bc_order = bc.generate_orders(1, seed=99)[0]
    statuses[BC] = bc.deliver("store/order/updated", {"type": "order", "id": bc_order["id"]})[-1].status
    shop_order = shop.generate_orders(1, seed=99)[0]
    statuses[SHOP] = shop.deliver("orders/updated", shop.order_json(shop_order["id"]))[-1].status
    return statuses


def test_bodies_at_and_over_the_size_limits(stack, stores, record_property):
    """2 MiB is the receiver's limit, 10 MB API Gateway's: at the limit a signed body is accepted (as a stub, too large
    to travel inline), one byte over it is 413, and nothing over a limit is enqueued, signed or not."""
    assert stack.runtime
    port = int(urlsplit(stack.runtime.api_url).port or 0)
    store = stores[WOO]
    topic, order = store.genuine[0]
    answers = []
    for size in (2 * 1024 * 1024, 2 * 1024 * 1024 + 1, 6 * 1024 * 1024, 11 * 1024 * 1024):
        prefix = php_json(order)[:-1] + b',"padding":"'
        body = prefix + b"p" * (size - len(prefix) - 2) + b'"}'
        assert len(body) == size
        for signing in (Signing(), None):
            probe = Probe("size_limit", WOO, body, tuple(store.base_headers(topic)), signing)
            before = depth(stack)
            sent = send_one(port, stores, probe, f"limit-{size}-{signing is not None}")
            answers.append((size, signing is not None, sent.status, depth(stack) - before))
    record_property("counts", f"bodies at and over the size limits: {len(answers)} requests")
    assert answers == [
        (2 * 1024 * 1024, True, 200, 1),
        (2 * 1024 * 1024, False, 401, 0),
        (2 * 1024 * 1024 + 1, True, 413, 0),
        (2 * 1024 * 1024 + 1, False, 413, 0),
        (6 * 1024 * 1024, True, 413, 0),
        (6 * 1024 * 1024, False, 413, 0),
        (11 * 1024 * 1024, True, 413, 0),
        (11 * 1024 * 1024, False, 413, 0),
    ]
