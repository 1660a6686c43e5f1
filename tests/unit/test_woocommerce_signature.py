"""WooCommerce webhook signatures and webhook parsing, checked against a reference of WooCommerce's PHP.

The reference below re-implements the PHP primitives WooCommerce calls (``preg_replace`` with
arrays, ``strtr`` with an array, ``wp_specialchars_decode($s, ENT_QUOTES)``,
``base64_encode(hash_hmac('sha256', $body, $key, true))``) independently of the adapter's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlconnector.envelope import MAX_INLINE_PAYLOAD_BYTES, Origin, RecordKind
from mlconnector.sources.base import WebhookRejected
from mlconnector.sources.woocommerce.settings import WooCommerceSettings
from mlconnector.sources.woocommerce.signature import webhook_signature, wp_specialchars_decode
from mlconnector.sources.woocommerce.source import WooCommerceSource

# ----------------------------------------------------------------------------- PHP reference


def php_preg_replace(patterns: list[tuple[str, str, str]], text: str) -> str:
    """preg_replace(array $patterns, array $replacements, $text): each pattern in turn over the whole text."""
    for pattern, flags, replacement in patterns:
        text = re.sub(pattern, replacement, text, flags=re.IGNORECASE if "i" in flags else 0)
    return text


def php_strtr(text: str, table: dict[str, str]) -> str:
    """strtr($text, array $table): at each offset the longest matching key wins; replaced text is not rescanned."""
    out, i = [], 0
    keys = sorted(table, key=len, reverse=True)
    while i < len(text):
        for key in keys:
            if text.startswith(key, i):
                out.append(table[key])
                i += len(key)
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def php_wp_specialchars_decode_ent_quotes(text: str) -> str:
    if text == "" or "&" not in text:
        return text
    single = {"&#039;": "'", "&#x27;": "'"}
    single_preg = [(r"&#0*39;", "", "&#039;"), (r"&#x0*27;", "i", "&#x27;")]
    double = {"&quot;": '"', "&#034;": '"', "&#x22;": '"'}
    double_preg = [(r"&#0*34;", "", "&#034;"), (r"&#x0*22;", "i", "&#x22;")]
    others = {"&lt;": "<", "&#060;": "<", "&gt;": ">", "&#062;": ">", "&amp;": "&", "&#038;": "&", "&#x26;": "&"}
    others_preg = [
        (r"&#0*60;", "", "&#060;"),
        (r"&#0*62;", "", "&#062;"),
        (r"&#0*38;", "", "&#038;"),
        (r"&#x0*26;", "i", "&#x26;"),
    ]
    text = php_preg_replace(single_preg + double_preg + others_preg, text)
    return php_strtr(text, {**single, **double, **others})


def php_signature(body: bytes, secret: str) -> str:
    key = php_wp_specialchars_decode_ent_quotes(secret).encode("utf-8")
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


# ----------------------------------------------------------------------------- fixtures


def make_source(secret: str) -> WooCommerceSource:
    settings = WooCommerceSettings(base_url="https://shop.example.com")
    return WooCommerceSource("woo-test", settings, {"webhook_secret": secret})


def order_body(order_id: int = 1042, **extra: object) -> bytes:
    order = {
        "id": order_id,
        "status": "processing",
        "currency": "USD",
        "date_created_gmt": "2024-05-01T10:00:00",
        "date_modified_gmt": "2024-05-01T10:05:07",
        "total": "68.37",
        "billing": {"email": "zoë@example.com"},
        "refunds": [],
        **extra,
    }
    # WooCommerce sends wp_json_encode output: escaped slashes and \uXXXX.
    return json.dumps(order, separators=(",", ":")).replace("/", "\\/").encode()


def headers_for(body: bytes, secret: str, topic: str = "order.updated", **overrides: str) -> dict[str, str]:
    resource, _, event = topic.partition(".")
    headers = {
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": php_signature(body, secret),
        "X-WC-Webhook-ID": "17",
        "X-WC-Webhook-Delivery-ID": "0f3c9d2e1b7a4c5d8e9f0a1b2c3d4e5f",
    }
    headers.update(overrides)
    return headers


# ----------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("plainSecret123", "plainSecret123"),
        ("a&amp;b", "a&b"),
        ("a&b", "a&b"),
        ("&lt;tag&gt;", "<tag>"),
        ("&quot;q&quot; &#039;s&#039;", "\"q\" 's'"),
        ("&#39;", "'"),
        ("&#0000039;", "'"),
        ("&#x27;&#X27;&#x0027;", "'''"),
        ("&#34;&#x22;&#060;&#62;&#38;&#x26;", '""<>&&'),
        ("&amp;lt;", "&lt;"),  # strtr does not rescan what it replaced
        ("&amp;amp;", "&amp;"),
        ("&apos;&nbsp;&AMP;&copy;", "&apos;&nbsp;&AMP;&copy;"),  # not in WordPress's table
        ("&#40;&#x3c;", "&#40;&#x3c;"),  # other numeric entities stay
        ("ünï&amp;cødé€", "ünï&cødé€"),
        ("&&amp;;", "&&;"),
    ],
)
def test_wp_specialchars_decode_matches_wordpress(raw: str, decoded: str) -> None:
    assert php_wp_specialchars_decode_ent_quotes(raw) == decoded
    assert wp_specialchars_decode(raw) == decoded


ENTITY_SOUP = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "&amp;",
                "&lt;",
                "&gt;",
                "&quot;",
                "&#039;",
                "&#39;",
                "&#x27;",
                "&#X0027;",
                "&#038;",
                "&#x26;",
                "&#0060;",
                "&apos;",
                "&nbsp;",
                "&",
                "&#",
                ";",
                "x",
                "0",
                "<",
                "'",
                '"',
                "é",
                "€",
            ]
        ),
        st.text(min_size=0, max_size=4),
    ),
    max_size=12,
).map("".join)


@given(ENTITY_SOUP)
def test_decode_agrees_with_reference_on_any_text(text: str) -> None:
    assert wp_specialchars_decode(text) == php_wp_specialchars_decode_ent_quotes(text)


@pytest.mark.parametrize(
    "secret",
    [
        "abc123",
        "p&amp;ss",
        "p&ss",
        "<secret>",
        'q"uo"te',
        "it&#039;s",
        "it's",
        "&lt;&gt;&quot;",
        "sécrèt-ключ-秘密",
        "a" * 50,
    ],
)
def test_signature_is_computed_as_woocommerce_does(secret: str) -> None:
    body = order_body()
    assert webhook_signature(body, secret) == php_signature(body, secret)
    outcome = make_source(secret).parse_webhook(headers_for(body, secret), body)
    assert [e.object_id for e in outcome.envelopes] == ["1042"]


def test_entity_secret_signs_with_decoded_key_not_raw() -> None:
    body = order_body()
    raw_key_signature = base64.b64encode(hmac.new(b"p&amp;ss", body, hashlib.sha256).digest()).decode()
    with pytest.raises(WebhookRejected) as rejected:
        make_source("p&amp;ss").parse_webhook(
            headers_for(body, "p&amp;ss", **{"X-WC-Webhook-Signature": raw_key_signature}), body
        )
    assert rejected.value.status == 401
    # …and the decoded secret configured as-is verifies the same deliveries.
    assert make_source("p&ss").parse_webhook(headers_for(body, "p&amp;ss"), body).envelopes


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    secret=ENTITY_SOUP.filter(bool), position=st.integers(min_value=0), delta=st.integers(min_value=1, max_value=255)
)
def test_any_single_changed_body_byte_is_rejected(secret: str, position: int, delta: int) -> None:
    body = order_body()
    headers = headers_for(body, secret)
    tampered = bytearray(body)
    index = position % len(tampered)
    tampered[index] = (tampered[index] + delta) % 256
    with pytest.raises(WebhookRejected) as rejected:
        make_source(secret).parse_webhook(headers, bytes(tampered))
    assert rejected.value.status == 401


@given(st.binary(min_size=1, max_size=300), ENTITY_SOUP.filter(bool))
def test_signature_verifies_any_body_bytes(body: bytes, secret: str) -> None:
    from mlconnector.sources.woocommerce.signature import verify_webhook_signature

    assert verify_webhook_signature(body, secret, php_signature(body, secret))
    assert not verify_webhook_signature(body + b" ", secret, php_signature(body, secret))


# ----------------------------------------------------------------------------- parse_webhook


def test_missing_signature_is_401() -> None:
    body = order_body()
    headers = headers_for(body, "s")
    del headers["X-WC-Webhook-Signature"]
    with pytest.raises(WebhookRejected) as rejected:
        make_source("s").parse_webhook(headers, body)
    assert rejected.value.status == 401


@pytest.mark.parametrize("signature", ["", "bogus", "AAAA" * 11, "ü"])
def test_wrong_signature_is_401(signature: str) -> None:
    body = order_body()
    with pytest.raises(WebhookRejected) as rejected:
        make_source("s").parse_webhook(headers_for(body, "s", **{"X-WC-Webhook-Signature": signature}), body)
    assert rejected.value.status == 401


def test_signature_from_another_secret_is_401() -> None:
    body = order_body()
    with pytest.raises(WebhookRejected):
        make_source("right").parse_webhook(headers_for(body, "wrong"), body)


def test_headers_are_case_insensitive() -> None:
    body = order_body()
    lowered = {k.lower(): v for k, v in headers_for(body, "s").items()}
    outcome = make_source("s").parse_webhook(lowered, body)
    assert outcome.envelopes[0].delivery_id == "0f3c9d2e1b7a4c5d8e9f0a1b2c3d4e5f"
    assert outcome.headers_seen["x-wc-webhook-id"] == "17"
    assert "x-wc-webhook-signature" not in outcome.headers_seen


def test_ping_is_a_ping() -> None:
    outcome = make_source("s").parse_webhook({"Content-Type": "application/x-www-form-urlencoded"}, b"webhook_id=17")
    assert outcome.ping and outcome.envelopes == ()
    assert "17" in outcome.note


def test_ping_shaped_body_with_webhook_headers_is_not_a_ping() -> None:
    body = b"webhook_id=17"
    with pytest.raises(WebhookRejected) as rejected:
        make_source("s").parse_webhook({"X-WC-Webhook-Topic": "order.updated"}, body)
    assert rejected.value.status == 401


def test_signed_garbage_is_400() -> None:
    body = b"{not json"
    with pytest.raises(WebhookRejected) as rejected:
        make_source("s").parse_webhook(headers_for(body, "s"), body)
    assert rejected.value.status == 400


@pytest.mark.parametrize("topic", ["product.updated", "action.woocommerce_foo", "order.exploded", ""])
def test_unknown_topic_is_400(topic: str) -> None:
    body = order_body()
    with pytest.raises(WebhookRejected) as rejected:
        make_source("s").parse_webhook(headers_for(body, "s", topic=topic or "x"), body)
    assert rejected.value.status == 400


def test_order_delivery_becomes_one_envelope_with_normalised_version() -> None:
    body = order_body()
    envelope = make_source("s").parse_webhook(headers_for(body, "s", topic="order.created"), body).envelopes[0]
    assert envelope.kind is RecordKind.ORDER
    assert envelope.origin is Origin.WEBHOOK
    assert envelope.topic == "order.created"
    assert envelope.version == "2024-05-01T10:05:07+00:00"
    assert envelope.payload == json.loads(body)
    assert envelope.business_key == "woo-test|order|1042|2024-05-01T10:05:07+00:00"


def test_order_with_refunds_also_yields_refund_stubs() -> None:
    body = order_body(
        refunds=[{"id": 2001, "reason": "damaged", "total": "-10.00"}, {"id": 1990, "reason": "", "total": "-5.00"}]
    )
    envelopes = make_source("s").parse_webhook(headers_for(body, "s"), body).envelopes
    assert [(e.kind, e.object_id, e.version, e.payload) for e in envelopes[1:]] == [
        (RecordKind.REFUND, "1042:2001", "2001", None),
        (RecordKind.REFUND, "1042:1990", "1990", None),
    ]


def test_order_deleted_is_recorded() -> None:
    body = b'{"id":1042}'
    envelope = make_source("s").parse_webhook(headers_for(body, "s", topic="order.deleted"), body).envelopes[0]
    assert (envelope.kind, envelope.object_id, envelope.version, envelope.topic) == (
        RecordKind.ORDER,
        "1042",
        "deleted",
        "order.deleted",
    )
    assert envelope.payload == {"id": 1042}


def test_customer_delivery() -> None:
    body = json.dumps(
        {"id": 77, "email": "a@b.c", "date_created_gmt": "2024-01-01T00:00:00", "date_modified_gmt": None}
    ).encode()
    envelope = make_source("s").parse_webhook(headers_for(body, "s", topic="customer.created"), body).envelopes[0]
    assert (envelope.kind, envelope.object_id, envelope.version) == (
        RecordKind.CUSTOMER,
        "77",
        "2024-01-01T00:00:00+00:00",
    )


def test_large_order_travels_as_a_stub() -> None:
    body = order_body(customer_note="x" * (MAX_INLINE_PAYLOAD_BYTES + 10))
    envelope = make_source("s").parse_webhook(headers_for(body, "s"), body).envelopes[0]
    assert envelope.payload is None and envelope.object_id == "1042"
