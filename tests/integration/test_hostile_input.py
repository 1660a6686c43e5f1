"""Hostile requests against the webhook endpoint of the local runtime (real HTTP, real handler, moto).

Oracle: never a 5xx, and nothing is enqueued unless the body carries its own valid signature. A
"replayed signature" is a valid signature copied onto a different body. The event-source workers
are stopped, so the ingest queue's depth counts enqueues exactly.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.stack import LocalStack
from sandbox.woocommerce import php_json, webhook_signature

CONNECTION = "woo-psft"
CASES: Counter = Counter()


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(connections=[CONNECTION]) as running:
        running.runtime.stop_event_sources()
        yield running


@pytest.fixture(scope="module")
def delivery(stack) -> dict[str, Any]:
    woo = stack.stores[CONNECTION]
    order = woo.state.generate_orders(1, seed=5)[0]
    body = php_json(order)
    secret = woo.webhook_credentials["webhook_secret"]
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": f"{woo.server.url}/",
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "created",
        "X-WC-Webhook-Signature": webhook_signature(body, secret),
        "X-WC-Webhook-ID": "1",
        "X-WC-Webhook-Delivery-ID": "d" * 32,
    }
    return {"body": body, "headers": headers, "secret": secret, "url": stack.runtime.webhook_url(CONNECTION)}


def depth(stack: LocalStack) -> int:
    return stack.runtime.queue_depth(stack.runtime.outputs["IngestQueueUrl"])


def authentic(body: bytes, headers: dict[str, str], secret: str) -> bool:
    """True only if the body's own signature is present: the one case an enqueue is allowed."""
    sent = next((v for k, v in headers.items() if k.lower() == "x-wc-webhook-signature"), None)
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return sent is not None and hmac.compare_digest(sent.strip().encode(), expected.encode())


def send(stack: LocalStack, delivery: dict[str, Any], body: bytes, headers: dict[str, str], kind: str) -> int:
    """POST and check the oracle; returns the status."""
    before = depth(stack)
    response = requests.post(delivery["url"], data=body, headers=headers, timeout=30)
    after = depth(stack)
    CASES[kind] += 1
    assert response.status_code < 500, (kind, response.status_code, response.text[:200])
    assert "Traceback" not in response.text and delivery["secret"] not in response.text
    if not authentic(body, headers, delivery["secret"]):
        assert after == before, f"{kind}: an unauthenticated body was enqueued (status {response.status_code})"
    return response.status_code


def _mutate(body: bytes, data: st.DataObject) -> bytes:
    how = data.draw(st.sampled_from(["flip", "truncate", "append", "replace", "random", "json", "empty"]))
    if how == "flip" and body:
        at = data.draw(st.integers(0, len(body) - 1))
        return body[:at] + bytes([body[at] ^ data.draw(st.integers(1, 255))]) + body[at + 1 :]
    if how == "truncate":
        return body[: data.draw(st.integers(0, max(0, len(body) - 1)))]
    if how == "append":
        return body + data.draw(st.binary(min_size=1, max_size=64))
    if how == "replace":
        return body.replace(b'"total"', b'"total_"', 1).replace(b"processing", b"completed", 1)
    if how == "random":
        return data.draw(st.binary(max_size=2048))
    if how == "json":
        return data.draw(
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                max_leaves=12,
            ).map(lambda v: repr(v).encode())
        )
    return b""


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_generated_hostile_requests(stack, delivery, data):
    body, headers = delivery["body"], dict(delivery["headers"])
    kind = data.draw(
        st.sampled_from(
            ["body", "replayed_signature", "no_signature", "bad_signature", "headers", "content_type", "encoding"]
        )
    )
    if kind in ("body", "replayed_signature"):
        body = _mutate(body, data)  # the original (valid) signature stays: a replay onto another body
    elif kind == "no_signature":
        headers.pop("X-WC-Webhook-Signature")
    elif kind == "bad_signature":
        headers["X-WC-Webhook-Signature"] = data.draw(
            st.sampled_from(["", "sha256=", "A" * 44, base64.b64encode(b"x" * 32).decode()])
            | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=100)
        )
    elif kind == "headers":
        name = data.draw(st.sampled_from([k for k in headers if k != "X-WC-Webhook-Signature"]))
        value = data.draw(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=200))
        headers[name] = value
        if data.draw(st.booleans()):
            headers = {k.upper() if data.draw(st.booleans()) else k: v for k, v in headers.items()}
    elif kind == "content_type":
        headers["Content-Type"] = data.draw(
            st.sampled_from(
                [
                    "text/plain",
                    "application/xml",
                    "multipart/form-data; boundary=x",
                    "application/x-www-form-urlencoded",
                    "",
                ]
            )
        )
        if data.draw(st.booleans()):
            body = _mutate(body, data)
    else:  # encoding
        how = data.draw(st.sampled_from(["gzip", "utf16", "latin1", "invalid_utf8", "bom"]))
        if how == "gzip":
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        elif how == "utf16":
            body = body.decode().encode("utf-16")
        elif how == "latin1":
            body = body.decode().encode("latin-1", "replace")
        elif how == "invalid_utf8":
            body = body[:100] + b"\xff\xfe\xc3(" + body[100:]
        else:
            body = b"\xef\xbb\xbf" + body
    send(stack, delivery, body, headers, kind)


def test_huge_bodies_are_refused_without_enqueue(stack, delivery):
    headers = dict(delivery["headers"])
    for size in (2 * 1024 * 1024 + 1, 6 * 1024 * 1024, 11 * 1024 * 1024):
        body = b"{" + b" " * (size - 2) + b"}"
        signed = {**headers, "X-WC-Webhook-Signature": webhook_signature(body, delivery["secret"])}
        assert send(stack, delivery, body, signed, "huge_signed") == 413
        assert send(stack, delivery, body, headers, "huge_replayed") in (401, 413)


def test_ping_and_authentic_delivery_behave(stack, delivery):
    """The oracle's positive side: the ping answers 200 without enqueueing; the genuine delivery enqueues."""
    before = depth(stack)
    ping = send(stack, delivery, b"webhook_id=1", {"Content-Type": "application/x-www-form-urlencoded"}, "ping")
    assert ping == 200 and depth(stack) == before
    assert send(stack, delivery, delivery["body"], delivery["headers"], "authentic") == 200
    assert depth(stack) == before + 1


def test_report_case_count(record_property):
    total = sum(CASES.values())
    record_property("counts", f"hostile webhook requests sent: {total} ({dict(sorted(CASES.items()))})")
    assert total >= 250
