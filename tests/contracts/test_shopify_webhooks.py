"""Shopify's webhook parser over the deliveries Shopify's own library documents (tests/contracts/shopify/):
its signature vector, the headers its validator requires and those it reads when present."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlconnector.envelope import RecordKind
from mlconnector.sources.base import WebhookRejected
from mlconnector.sources.shopify.settings import ShopifySettings
from mlconnector.sources.shopify.webhooks import ShopifyWebhooks, verify_webhook_hmac, webhook_hmac

MATERIAL = Path(__file__).parent / "shopify"
HEADERS = json.loads((MATERIAL / "webhook-headers.json").read_text(encoding="utf-8"))
VECTOR = json.loads((MATERIAL / "webhook-hmac.json").read_text(encoding="utf-8"))
SECRET = "shpss_contract_secret"  # ours: the delivery below is signed as the vector shows Shopify signs
ORDER = json.loads((MATERIAL / "order.json").read_text(encoding="utf-8"))["order"]


def parser() -> ShopifyWebhooks:
    settings = ShopifySettings(shop_domain=HEADERS["example"]["X-Shopify-Shop-Domain"])
    return ShopifyWebhooks(
        "shop-psft", settings.model_dump(mode="json"), {"client_secret": SECRET}, clock=lambda: datetime.now(UTC)
    )


def delivery(**changes: str | None) -> tuple[dict[str, str], bytes]:
    """The published order as an orders/create delivery with the documented headers (``None`` drops one)."""
    body = json.dumps(ORDER).encode()
    headers: dict[str, Any] = {**HEADERS["example"], "X-Shopify-Hmac-Sha256": webhook_hmac(body, SECRET), **changes}
    return {k: v for k, v in headers.items() if v is not None}, body


def test_the_signature_is_the_one_shopify_computes() -> None:
    body = VECTOR["body"].encode()
    assert webhook_hmac(body, VECTOR["secret"]) == VECTOR["X-Shopify-Hmac-Sha256"]
    assert verify_webhook_hmac(body, VECTOR["secret"], VECTOR["X-Shopify-Hmac-Sha256"])
    assert not verify_webhook_hmac(body + b" ", VECTOR["secret"], VECTOR["X-Shopify-Hmac-Sha256"])


def test_a_documented_delivery_becomes_an_envelope_carrying_its_api_version() -> None:
    headers, body = delivery()
    assert set(HEADERS["webhooks"]["required"]) <= set(headers)
    (envelope,) = parser().parse(headers, body).envelopes
    assert envelope.kind is RecordKind.ORDER and envelope.object_id == str(ORDER["id"])
    assert envelope.api_version == HEADERS["example"]["X-Shopify-API-Version"]
    assert envelope.delivery_id == HEADERS["example"]["X-Shopify-Webhook-Id"]
    assert envelope.topic == "orders/create"


def test_the_optional_headers_are_kept_when_present() -> None:
    optional = {"X-Shopify-Name": "erp-sync", "X-Shopify-Triggered-At": "2025-04-02T16:38:15.000000000Z"}
    optional["X-Shopify-Event-Id"] = "6f3c1f4a-0b7e-4a3f-8e27-5d8b2c9e1a40"
    assert set(optional) == set(HEADERS["webhooks"]["optional"])
    headers, body = delivery(**optional)
    seen = parser().parse(headers, body).headers_seen
    assert {name.lower() for name in optional} <= set(seen)


@pytest.mark.parametrize("missing", HEADERS["webhooks"]["required"])
@pytest.mark.parametrize("empty", [None, ""], ids=["absent", "empty"])
def test_a_delivery_without_a_required_header_is_refused(missing: str, empty: str | None) -> None:
    """Shopify's validator answers missing_headers for each of these, empty or absent."""
    headers, body = delivery(**{missing: empty})
    with pytest.raises(WebhookRejected) as refused:
        parser().parse(headers, body)
    assert missing.lower() in refused.value.reason.lower()
    # no version, no shape to read the body by: a malformed delivery; the rest fail authentication
    assert refused.value.status == (400 if missing == "X-Shopify-API-Version" else 401)
