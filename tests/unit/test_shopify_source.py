"""Shopify adapter without a network: webhook verification, envelopes, mapping worked examples,
and properties over orders the sandbox generates."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mlconnector.envelope import RecordKind
from mlconnector.errors import ReviewError
from mlconnector.models import PaymentKind
from mlconnector.sources.base import WebhookRejected
from mlconnector.sources.shopify import mapping, webhooks
from mlconnector.sources.shopify.mapping import validate_refund_against_order
from mlconnector.sources.shopify.settings import ShopifySettings
from mlconnector.sources.shopify.source import ShopifySource
from mlconnector.sources.shopify.webhooks import webhook_hmac
from sandbox.shopify import ShopifyState

SECRET = "shpss_test_client_secret"
SHOP = "acme.myshopify.com"
NOW = datetime(2025, 10, 20, 12, 0, tzinfo=UTC)
D = Decimal


def make_source(**overrides) -> ShopifySource:
    settings = ShopifySettings(shop_domain=SHOP, **overrides)
    return ShopifySource("shop1", settings, {"access_token": "shpat_x", "client_secret": SECRET}, clock=lambda: NOW)


def headers(body: bytes, topic: str = "orders/create", **extra: str) -> dict[str, str]:
    base = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": webhook_hmac(body, SECRET),
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2025-10",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-Triggered-At": "2025-10-20T11:59:58.123456789Z",
    }
    base.update(extra)
    return base


# ---------------------------------------------------------------- worked examples (REST shapes)


def _tax(title: str, rate: str, price: str) -> dict:
    return {"title": title, "rate": float(rate), "price": price, "price_set": {}, "channel_liable": False}


def exclusive_order() -> dict:
    """Two lines with a 10 % code, taxable shipping, 6.25 % state tax, tax on top."""
    return {
        "id": 5001,
        "name": "#1001",
        "order_number": 1001,
        "email": "ada@example.com",
        "created_at": "2025-10-01T10:00:00-04:00",
        "updated_at": "2025-10-01T10:05:00-04:00",
        "processed_at": "2025-10-01T10:00:00-04:00",
        "currency": "USD",
        "presentment_currency": "EUR",
        "financial_status": "paid",
        "taxes_included": False,
        "total_line_items_price": "50.00",
        "total_discounts": "5.00",
        "subtotal_price": "45.00",
        "total_tax": "3.12",
        "total_price": "53.12",
        "total_outstanding": "0.00",
        "current_total_price": "10.00",
        "payment_gateway_names": ["shopify_payments"],
        "discount_codes": [{"code": "SAVE10", "amount": "5.00", "type": "percentage"}],
        "line_items": [
            {
                "id": 11,
                "sku": "TSHIRT",
                "title": "T-shirt",
                "name": "T-shirt - M",
                "variant_id": 77,
                "product_id": 7,
                "price": "20.00",
                "quantity": 2,
                "discount_allocations": [{"amount": "4.00", "discount_application_index": 0}],
                "tax_lines": [_tax("State Tax", "0.0625", "2.25")],
            },
            {
                "id": 12,
                "sku": "MUG",
                "title": "Mug",
                "price": "10.00",
                "quantity": 1,
                "discount_allocations": [{"amount": "1.00", "discount_application_index": 0}],
                "tax_lines": [_tax("State Tax", "0.0625", "0.56")],
            },
        ],
        "shipping_lines": [
            {
                "id": 21,
                "title": "Standard",
                "price": "5.00",
                "discounted_price": "5.00",
                "discount_allocations": [],
                "tax_lines": [_tax("State Tax", "0.0625", "0.31")],
            }
        ],
        "customer": {"id": 901, "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        "billing_address": {
            "address1": "1 Main St",
            "city": "Springfield",
            "province_code": "IL",
            "zip": "62701",
            "country_code": "US",
        },
        "refunds": [],
    }


def inclusive_order() -> dict:
    """A 20 % VAT shop: prices include tax, 10 % code, shipping with VAT."""
    return {
        "id": 5002,
        "name": "#1002",
        "email": "grace@example.co.uk",
        "created_at": "2025-10-02T09:00:00+01:00",
        "updated_at": "2025-10-02T09:00:00+01:00",
        "currency": "GBP",
        "financial_status": "paid",
        "taxes_included": True,
        "total_line_items_price": "24.00",
        "total_discounts": "2.40",
        "subtotal_price": "21.60",
        "total_tax": "4.60",
        "total_price": "27.60",
        "total_outstanding": "0.00",
        "payment_gateway_names": ["paypal"],
        "discount_codes": [{"code": "TEN", "amount": "2.40", "type": "percentage"}],
        "line_items": [
            {
                "id": 31,
                "sku": "HOODIE",
                "title": "Hoodie",
                "price": "24.00",
                "quantity": 1,
                "discount_allocations": [{"amount": "2.40", "discount_application_index": 0}],
                "tax_lines": [_tax("VAT", "0.2", "3.60")],
            }
        ],
        "shipping_lines": [
            {
                "id": 41,
                "title": "Royal Mail",
                "price": "6.00",
                "discount_allocations": [],
                "tax_lines": [_tax("VAT", "0.2", "1.00")],
            }
        ],
        "customer": {"id": 902, "email": "grace@example.co.uk"},
        "refunds": [],
    }


def test_exclusive_order_with_discount_code_and_taxed_shipping() -> None:
    order = make_source().to_order(exclusive_order())
    assert order.paid and order.number == "#1001" and order.currency == "USD"
    assert [(ln.line_id, ln.subtotal, ln.total, ln.tax) for ln in order.lines] == [
        ("11", D("40.00"), D("36.00"), D("2.25")),
        ("12", D("10.00"), D("9.00"), D("0.56")),
    ]
    assert order.lines[0].discount == D("4.00") and order.lines[0].tax_code == "State Tax"
    assert [(s.method, s.total, s.tax) for s in order.shipping_lines] == [("Standard", D("5.00"), D("0.31"))]
    assert [(t.code, t.rate, t.amount, t.shipping_amount) for t in order.tax_lines] == [
        ("State Tax", D("0.0625"), D("2.81"), D("0.31"))
    ]
    assert [(d.code, d.amount) for d in order.discounts] == [("SAVE10", D("5.00"))]
    assert [(p.kind, p.amount, p.gateway) for p in order.payments] == [
        (PaymentKind.CAPTURE, D("53.12"), "shopify_payments")
    ]
    parts = sum(ln.total + ln.tax for ln in order.lines) + sum(s.total + s.tax for s in order.shipping_lines)
    assert parts == order.total == D("53.12") and order.total_tax == D("3.12")
    assert order.customer is not None and order.customer.source_id == "901"
    assert order.customer.billing.state == "IL"
    assert order.updated_at == datetime(2025, 10, 1, 14, 5, tzinfo=UTC)


def test_inclusive_order_backs_tax_out_of_lines_and_shipping() -> None:
    order = make_source().to_order(inclusive_order())
    assert order.prices_include_tax
    (line,) = order.lines
    assert (line.subtotal, line.total, line.tax) == (D("20.00"), D("18.00"), D("3.60"))
    assert [(s.total, s.tax) for s in order.shipping_lines] == [(D("5.00"), D("1.00"))]
    assert [(t.amount, t.shipping_amount) for t in order.tax_lines] == [(D("3.60"), D("1.00"))]
    assert line.total + line.tax + order.shipping_lines[0].total + order.shipping_lines[0].tax == D("27.60")
    assert order.payments[0].amount == D("27.60") and order.payments[0].gateway == "paypal"


def test_guest_order_and_unpaid_order() -> None:
    payload = exclusive_order()
    payload.pop("customer")
    payload["email"] = "Guest.Shopper@Example.com"
    payload["financial_status"] = "pending"
    payload["total_outstanding"] = "53.12"
    order = make_source().to_order(payload)
    assert order.customer is not None and order.customer.source_id == "guest:guest.shopper@example.com"
    assert not order.paid and order.payments == ()


def test_parts_not_adding_up_go_to_review() -> None:
    payload = exclusive_order()
    payload["total_price"] = "53.13"
    with pytest.raises(ReviewError, match="total_price"):
        make_source().to_order(payload)
    payload = exclusive_order()
    payload["total_tax"] = "3.00"
    with pytest.raises(ReviewError, match="total_tax"):
        make_source().to_order(payload)


def test_tip_becomes_a_fee_line() -> None:
    payload = exclusive_order()
    payload["total_tip_received"] = "2.00"
    payload["total_price"] = "55.12"
    order = make_source().to_order(payload)
    assert [(f.name, f.total) for f in order.fee_lines] == [("Tip", D("2.00"))]


def test_transactions_replace_the_single_capture_and_gift_cards_are_gift_card_payments() -> None:
    payload = exclusive_order()
    payload["payment_gateway_names"] = ["gift_card", "shopify_payments"]
    payload["transactions"] = [
        {"id": 1, "kind": "sale", "status": "success", "gateway": "gift_card", "amount": "10.00", "currency": "USD"},
        {
            "id": 2,
            "kind": "authorization",
            "status": "success",
            "gateway": "shopify_payments",
            "amount": "43.12",
            "currency": "USD",
        },
        {
            "id": 3,
            "kind": "capture",
            "status": "success",
            "gateway": "shopify_payments",
            "amount": "43.12",
            "currency": "USD",
            "parent_id": 2,
        },
        {
            "id": 4,
            "kind": "sale",
            "status": "failure",
            "gateway": "shopify_payments",
            "amount": "43.12",
            "currency": "USD",
        },
    ]
    order = make_source().to_order(payload)
    assert [(p.payment_id, p.kind, p.amount) for p in order.payments] == [
        ("1", PaymentKind.GIFT_CARD, D("10.00")),
        ("3", PaymentKind.CAPTURE, D("43.12")),
    ]
    assert order.paid_total == order.total


def test_order_refund_summaries_use_successful_refund_transactions() -> None:
    payload = exclusive_order()
    payload["financial_status"] = "partially_refunded"
    payload["refunds"] = [
        {
            "id": 71,
            "created_at": "2025-10-03T10:00:00-04:00",
            "transactions": [
                {"id": 8, "kind": "refund", "status": "success", "amount": "9.56", "parent_id": 5},
                {"id": 9, "kind": "refund", "status": "failure", "amount": "9.56", "parent_id": 5},
            ],
        }
    ]
    order = make_source().to_order(payload)
    assert [(r.source_id, r.amount) for r in order.refunds] == [("71", D("9.56"))]


def test_customer_mapping() -> None:
    customer = make_source().to_customer(
        {
            "id": 901,
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "phone": "+15555550100",
            "updated_at": "2025-10-01T10:00:00-04:00",
            "default_address": {
                "company": "Analytical Engines",
                "address1": "1 Main St",
                "zip": "62701",
                "country_code": "US",
            },
        }
    )
    assert customer.source_id == "901" and customer.company == "Analytical Engines"
    assert customer.billing.postcode == "62701" and customer.updated_at == datetime(2025, 10, 1, 14, tzinfo=UTC)


# ---------------------------------------------------------------- webhooks


def test_valid_order_webhook_becomes_an_envelope() -> None:
    payload = exclusive_order()
    body = json.dumps(payload).encode()
    outcome = make_source().parse_webhook(headers(body), body)
    (env,) = outcome.envelopes
    assert (env.kind, env.object_id, env.topic) == (RecordKind.ORDER, "5001", "orders/create")
    assert env.delivery_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert env.version == "2025-10-01T14:05:00+00:00" == webhooks.modified_at(payload).isoformat()
    assert env.payload == payload
    assert outcome.headers_seen["x-shopify-event-id"] == "98880550-7158-44d4-b7cd-2c97c8a091b5"
    assert "x-shopify-hmac-sha256" not in outcome.headers_seen
    assert "stale" not in outcome.note


def test_same_change_on_two_topics_and_a_redelivery_share_the_business_key() -> None:
    body = json.dumps(exclusive_order()).encode()
    source = make_source()
    created = source.parse_webhook(headers(body), body).envelopes[0]
    paid = source.parse_webhook(headers(body, "orders/paid", **{"X-Shopify-Webhook-Id": "other"}), body).envelopes[0]
    again = source.parse_webhook(headers(body), body).envelopes[0]
    assert created.business_key == paid.business_key == again.business_key
    assert created.delivery_id == again.delivery_id != paid.delivery_id


def test_refund_and_customer_webhooks() -> None:
    refund = {"id": 71, "order_id": 5001, "created_at": "2025-10-03T10:00:00-04:00", "transactions": []}
    body = json.dumps(refund).encode()
    (env,) = make_source().parse_webhook(headers(body, "refunds/create"), body).envelopes
    assert (env.kind, env.object_id, env.version) == (RecordKind.REFUND, "5001:71", "2025-10-03T14:00:00+00:00")
    customer = {"id": 901, "email": "a@b.c", "updated_at": "2025-10-01T10:00:00-04:00"}
    body = json.dumps(customer).encode()
    (env,) = make_source().parse_webhook(headers(body, "customers/update"), body).envelopes
    assert (env.kind, env.object_id) == (RecordKind.CUSTOMER, "901")


def test_stale_delivery_is_flagged_but_enqueued() -> None:
    body = json.dumps(exclusive_order()).encode()
    old = (NOW - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S.") + "123456789Z"  # Shopify sends nanoseconds
    outcome = make_source(max_webhook_delay_seconds=3600).parse_webhook(
        headers(body, **{"X-Shopify-Triggered-At": old}), body
    )
    assert "stale" in outcome.note and len(outcome.envelopes) == 1


def test_split_tender_order_is_enqueued_as_a_stub() -> None:
    payload = exclusive_order()
    payload["payment_gateway_names"] = ["gift_card", "shopify_payments"]
    body = json.dumps(payload).encode()
    (env,) = make_source().parse_webhook(headers(body), body).envelopes
    assert env.payload is None


@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_any_changed_byte_is_rejected(data: st.DataObject) -> None:
    body = json.dumps(exclusive_order()).encode()
    index = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    with pytest.raises(WebhookRejected) as caught:
        make_source().parse_webhook(headers(body), tampered)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    "missing", ["X-Shopify-Hmac-Sha256", "X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id"]
)
def test_missing_header_is_401(missing: str) -> None:
    body = json.dumps(exclusive_order()).encode()
    h = headers(body)
    del h[missing]
    with pytest.raises(WebhookRejected) as caught:
        make_source().parse_webhook(h, body)
    assert caught.value.status == 401


def test_delivery_without_api_version_is_400_and_the_version_travels_in_the_envelope() -> None:
    body = json.dumps(exclusive_order()).encode()
    (envelope,) = make_source().parse_webhook(headers(body), body).envelopes
    assert envelope.api_version == "2025-10"
    h = headers(body)
    del h["X-Shopify-API-Version"]
    with pytest.raises(WebhookRejected) as caught:
        make_source().parse_webhook(h, body)
    assert caught.value.status == 400 and "X-Shopify-API-Version" in caught.value.reason


def test_wrong_shop_wrong_secret_bad_json_unknown_topic() -> None:
    body = json.dumps(exclusive_order()).encode()
    with pytest.raises(WebhookRejected) as caught:
        make_source().parse_webhook(headers(body, **{"X-Shopify-Shop-Domain": "evil.myshopify.com"}), body)
    assert caught.value.status == 401
    with pytest.raises(WebhookRejected) as caught:
        make_source().parse_webhook(headers(body, **{"X-Shopify-Hmac-Sha256": webhook_hmac(body, "other")}), body)
    assert caught.value.status == 401
    junk = b"{not json"
    with pytest.raises(WebhookRejected) as caught:
        make_source().parse_webhook(headers(junk), junk)
    assert caught.value.status == 400
    with pytest.raises(WebhookRejected) as caught:
        make_source().parse_webhook(headers(body, "products/create"), body)
    assert caught.value.status == 400


def test_webhook_secret_credential_takes_precedence() -> None:
    settings = ShopifySettings(shop_domain=SHOP)
    source = ShopifySource("s", settings, {"access_token": "t", "client_secret": "a", "webhook_secret": SECRET})
    body = json.dumps(exclusive_order()).encode()
    assert source.parse_webhook(headers(body), body).envelopes


# ---------------------------------------------------------------- settings


def test_settings_validation() -> None:
    with pytest.raises(ValidationError, match="token_secret_name"):
        ShopifySettings(shop_domain=SHOP, token_mode="expiring")
    with pytest.raises(ValidationError, match="shop_domain"):
        ShopifySettings(shop_domain="https://acme.myshopify.com/")
    with pytest.raises(ValidationError, match="unsupported webhook topics"):
        ShopifySettings(shop_domain=SHOP, webhook_topics=("products/create",))
    with pytest.raises(ValidationError):
        ShopifySettings(shop_domain=SHOP, surprise=True)
    assert ShopifySettings(shop_domain="Acme.MyShopify.com").graphql_url == (
        "https://acme.myshopify.com/admin/api/2025-10/graphql.json"
    )
    with pytest.raises(ValidationError, match="leak_rate_per_second"):  # the REST bucket is gone
        ShopifySettings(shop_domain=SHOP, leak_rate_per_second=2.0)


# ---------------------------------------------------------------- properties over sandbox orders


def _with_transactions(state: ShopifyState, order: dict) -> dict:
    return {**order, "transactions": copy.deepcopy(state.transactions[order["id"]])}


def _parts(order) -> Decimal:
    return (
        sum((ln.total + ln.tax for ln in order.lines), D(0))
        + sum((s.total + s.tax for s in order.shipping_lines), D(0))
        + sum((f.total + f.tax for f in order.fee_lines), D(0))
    )


@given(seed=st.integers(0, 10_000))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_orders_add_up_to_total_price_exactly(seed: int) -> None:
    state = ShopifyState()
    source = make_source()
    for payload in state.generate_orders(12, seed):
        for variant in (payload, _with_transactions(state, payload)):
            if "transactions" not in variant and webhooks.needs_transactions(variant, mapping.DEFAULT_PAID):
                continue  # the adapter fetches transactions for split tenders
            order = source.to_order(variant)
            assert _parts(order) == order.total == D(payload["total_price"])
            assert sum((t.amount + t.shipping_amount for t in order.tax_lines), D(0)) == order.total_tax
            assert all(ln.total <= ln.subtotal for ln in order.lines)
            if order.paid:
                assert order.paid_total == order.total


money_strings = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2).map(str)


@given(
    lines=st.lists(st.tuples(money_strings, st.integers(1, 5)), min_size=1, max_size=4),
    inclusive=st.booleans(),
    rates=st.lists(st.sampled_from(["0.05", "0.0625", "0.0175", "0.2", "0.19"]), max_size=2, unique=True),
    discount=st.one_of(
        st.none(),
        st.tuples(st.just("PCT"), st.just("percentage"), st.sampled_from(["5.0", "10.0", "33.0", "100.0"])),
        st.tuples(st.just("FIX"), st.just("fixed_amount"), money_strings),
    ),
    shipping=st.one_of(st.none(), money_strings),
)
@example(  # a fixed discount whose proportional cents once left the last line a negative share
    lines=[("0.01", 2), ("0.44", 2), ("0.59", 2), ("0.01", 1)],
    inclusive=False,
    rates=[],
    discount=("FIX", "fixed_amount", "0.56"),
    shipping=None,
)
@settings(max_examples=150, deadline=None)
def test_arbitrary_orders_add_up_exactly(lines, inclusive, rates, discount, shipping) -> None:
    state = ShopifyState()
    payload = state.create_order(
        line_items=[{"sku": f"S{i}", "price": p, "quantity": q} for i, (p, q) in enumerate(lines)],
        email="x@example.com",
        taxes_included=inclusive,
        tax_rates=[(f"T{r}", r) for r in rates],
        discount=discount,
        shipping=("Ship", shipping) if shipping else None,
        deliver=False,
    )
    order = make_source().to_order(payload)
    assert _parts(order) == order.total == D(payload["total_price"])
    assert all(ln.total <= ln.subtotal for ln in order.lines)


# ---------------------------------------------------------------- refunds


def _refund_context(state: ShopifyState, order_id: int, refund: dict) -> dict:
    order = state.orders[order_id]
    return {
        **refund,
        "currency": order["currency"],
        "taxes_included": order["taxes_included"],
        "order_transactions": copy.deepcopy(state.transactions[order_id]),
    }


def _paid_order(state: ShopifyState, inclusive: bool = False) -> dict:
    return state.create_order(
        line_items=[{"sku": "A", "price": "30.00", "quantity": 2}, {"sku": "B", "price": "12.50", "quantity": 1}],
        email="r@example.com",
        taxes_included=inclusive,
        tax_rates=[("VAT", "0.2")] if inclusive else [("State Tax", "0.0625")],
        discount=("SAVE10", "percentage", "10.0"),
        shipping=("Standard", "5.00"),
        deliver=False,
    )


@pytest.mark.parametrize("inclusive", [False, True])
def test_refund_maps_lines_shipping_and_transactions(inclusive: bool) -> None:
    state = ShopifyState()
    order = _paid_order(state, inclusive)
    line = order["line_items"][0]
    refund = state.add_refund(order["id"], lines=[(line["id"], 1)], shipping=True, note="return", deliver=False)
    payload = _refund_context(state, order["id"], refund)
    assert validate_refund_against_order({"transactions": payload["order_transactions"]}, payload) == []
    mapped = make_source().to_refund(payload)
    (rl,) = mapped.lines
    assert rl.line_id == str(line["id"]) and rl.quantity == 1
    item = refund["refund_line_items"][0]
    expected_tax = D(item["total_tax_set"]["shop_money"]["amount"])
    subtotal = D(item["subtotal_set"]["shop_money"]["amount"])
    assert rl.tax == expected_tax and rl.amount == (subtotal - expected_tax if inclusive else subtotal)
    assert mapped.shipping + mapped.shipping_tax == D("5.00") + (D(0) if inclusive else D("0.31"))
    assert rl.amount + rl.tax + mapped.shipping + mapped.shipping_tax == mapped.amount
    (txn,) = mapped.transactions
    assert txn.amount == mapped.amount and txn.method == "shopify_payments" and mapped.reason == "return"
    summary = make_source().to_order(state.orders[order["id"]])
    assert [r.amount for r in summary.refunds] == [mapped.amount]


def test_refund_subtotals_setting_says_whether_they_include_tax() -> None:
    """No published example shows a refund of a tax-inclusive order: the profile can say how to read it."""
    state = ShopifyState()
    order = _paid_order(state, inclusive=True)
    refund = state.add_refund(order["id"], lines=[(order["line_items"][0]["id"], 1)], deliver=False)
    payload = _refund_context(state, order["id"], refund)
    (item,) = refund["refund_line_items"]
    subtotal, tax = (D(item[name]["shop_money"]["amount"]) for name in ("subtotal_set", "total_tax_set"))
    assert [rl.amount for rl in make_source().to_refund(payload).lines] == [subtotal - tax]
    assert [rl.amount for rl in make_source(refund_subtotals="tax_exclusive").to_refund(payload).lines] == [subtotal]


def test_refund_discrepancy_keeps_the_refund_consistent() -> None:
    state = ShopifyState()
    order = _paid_order(state)
    line = order["line_items"][0]
    less = state.add_refund(order["id"], lines=[(line["id"], 1)], amount="20.00", deliver=False)
    mapped = make_source().to_refund(_refund_context(state, order["id"], less))
    assert mapped.amount == D("20.00")
    assert sum(rl.amount + rl.tax for rl in mapped.lines) + mapped.shipping + mapped.shipping_tax == D("20.00")
    more = state.add_refund(order["id"], lines=[(line["id"], 1)], amount="40.00", deliver=False)
    mapped = make_source().to_refund(_refund_context(state, order["id"], more))
    itemised = sum(rl.amount + rl.tax for rl in mapped.lines)
    assert mapped.amount == D("40.00") and itemised < mapped.amount  # the rest is unitemised


@pytest.mark.parametrize("mismatch", ["unknown_parent", "excess"])
def test_mismatched_refund_goes_to_review(mismatch: str) -> None:
    state = ShopifyState()
    order = _paid_order(state)
    refund = state.add_refund(order["id"], lines=[(order["line_items"][1]["id"], 1)], mismatch=mismatch, deliver=False)
    payload = _refund_context(state, order["id"], refund)
    problems = validate_refund_against_order({"transactions": payload["order_transactions"]}, payload)
    assert problems and all(p.startswith(f"refund {refund['id']}") for p in problems)
    with pytest.raises(ReviewError) as caught:
        make_source().to_refund(payload)
    assert caught.value.detail["problems"] == problems


def test_refunds_together_exceeding_the_capture_are_a_mismatch() -> None:
    state = ShopifyState()
    order = _paid_order(state)
    total = D(order["total_price"])
    first = state.add_refund(order["id"], amount=str(total - 1), deliver=False)
    assert make_source().to_refund(_refund_context(state, order["id"], first)).amount == total - 1
    second = state.add_refund(order["id"], amount="5.00", deliver=False)
    with pytest.raises(ReviewError, match="more than its"):
        make_source().to_refund(_refund_context(state, order["id"], second))


# ---------------------------------------------------------------- through the accounting engine

ENGINE_RULES = {
    "base_currency": "USD",
    "default_revenue": {"account": "400000"},
    "default_tax": {"account": "220000"},
    "default_payment": {"account": "101000"},
    "discounts": {"account": "410000"},
    "shipping": {"account": "400500"},
    "fees": {"account": "400600"},
    "receivable": {"account": "120000"},
    "gift_card": {"account": "230000"},
    "store_credit": {"account": "231000"},
    "refunds": {"account": "450000"},
    "rounding": {"account": "999000"},
}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_orders_and_refunds_post_through_the_engine(seed: int) -> None:
    from mlconnector.accounting.engine import AccountingEngine
    from mlconnector.accounting.rules import MappingRules

    engine = AccountingEngine("shopify-psft", MappingRules.model_validate(ENGINE_RULES), "S")
    state = ShopifyState()
    source = make_source()
    posted_refunds = 0
    for payload in state.generate_orders(40, seed, refund_share=0.4):
        order = source.to_order(_with_transactions(state, payload))
        if not order.paid:
            continue
        for posting in engine.order_postings(order):
            assert posting.source_total == order.total
        for refund in payload["refunds"]:
            mapped = source.to_refund(_refund_context(state, payload["id"], refund))
            assert engine.refund_posting(order, mapped).source_total == mapped.amount
            posted_refunds += 1
    assert posted_refunds > 0
