"""WooCommerce payloads → canonical model: worked examples, and a property over generated sandbox orders."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlconnector.errors import ReviewError
from mlconnector.models import ZERO, PaymentKind
from mlconnector.sources.woocommerce.settings import WooCommerceSettings
from mlconnector.sources.woocommerce.source import WooCommerceSource
from sandbox.woocommerce import WooState

D = Decimal


def source(**overrides: Any) -> WooCommerceSource:
    return WooCommerceSource("woo", WooCommerceSettings(base_url="https://shop.example.com", **overrides), {})


def address(**extra: str) -> dict[str, str]:
    return {
        "first_name": "Ava",
        "last_name": "Nguyen",
        "company": "",
        "address_1": "12 Main St",
        "address_2": "",
        "city": "Los Angeles",
        "state": "CA",
        "postcode": "90012",
        "country": "US",
        **extra,
    }


def exclusive_order() -> dict[str, Any]:
    """Tax-exclusive US store: 10% coupon, flat-rate shipping with tax, a taxable fee; 6% state rate.

    A: 2 x 20.00 = 40.00, -4.00 coupon = 36.00, tax 2.16 (pre-discount 2.40)
    B: 1 x 15.00 = 15.00, -1.50 coupon = 13.50, tax 0.81 (pre-discount 0.90)
    shipping 10.00 + 0.60, fee 5.00 + 0.30; cart tax 3.27; total 36 + 13.5 + 5 + 10 + 3.27 + 0.60 = 68.37
    """
    return {
        "id": 1042,
        "parent_id": 0,
        "number": "1042",
        "status": "processing",
        "currency": "USD",
        "prices_include_tax": False,
        "date_created": "2024-05-01T05:00:00",
        "date_created_gmt": "2024-05-01T10:00:00",
        "date_modified": "2024-05-01T05:05:07",
        "date_modified_gmt": "2024-05-01T10:05:07",
        "date_paid": "2024-05-01T05:00:02",
        "date_paid_gmt": "2024-05-01T10:00:02",
        "discount_total": "5.50",
        "discount_tax": "0.33",
        "shipping_total": "10.00",
        "shipping_tax": "0.60",
        "cart_tax": "3.27",
        "total": "68.37",
        "total_tax": "3.87",
        "customer_id": 7,
        "billing": {**address(), "email": "Ava@Example.com", "phone": "+1 555 0100"},
        "shipping": address(address_1="99 Oak St", phone=""),
        "payment_method": "stripe",
        "payment_method_title": "Credit Card (Stripe)",
        "transaction_id": "ch_3Ox",
        "line_items": [
            {
                "id": 311,
                "name": "Ceramic Pour-Over Set",
                "product_id": 101,
                "variation_id": 0,
                "quantity": 2,
                "tax_class": "",
                "subtotal": "40.00",
                "subtotal_tax": "2.40",
                "total": "36.00",
                "total_tax": "2.16",
                "taxes": [{"id": 1, "total": "2.16", "subtotal": "2.40"}],
                "meta_data": [{"id": 1, "key": "_categories", "value": "Brewing, Gifts"}],
                "sku": "CER-POUR-01",
                "price": 18,
            },
            {
                "id": 312,
                "name": "Espresso Cups - Blue",
                "product_id": 109,
                "variation_id": 1091,
                "quantity": 1,
                "tax_class": "",
                "subtotal": "15.00",
                "subtotal_tax": "0.90",
                "total": "13.50",
                "total_tax": "0.81",
                "taxes": [{"id": 1, "total": "0.81", "subtotal": "0.90"}],
                "meta_data": [],
                "sku": "CUP-ESP-BLU",
                "price": 13.5,
            },
        ],
        "tax_lines": [
            {
                "id": 320,
                "rate_code": "US-CA-STATE-1",
                "rate_id": 1,
                "label": "State",
                "compound": False,
                "tax_total": "3.27",
                "shipping_tax_total": "0.60",
                "rate_percent": 6,
                "meta_data": [],
            }
        ],
        "shipping_lines": [
            {
                "id": 313,
                "method_title": "Flat rate",
                "method_id": "flat_rate",
                "instance_id": "1",
                "total": "10.00",
                "total_tax": "0.60",
                "taxes": [{"id": 1, "total": "0.60", "subtotal": ""}],
                "meta_data": [],
            }
        ],
        "fee_lines": [
            {
                "id": 314,
                "name": "Gift wrap",
                "tax_class": "",
                "tax_status": "taxable",
                "amount": "5.00",
                "total": "5.00",
                "total_tax": "0.30",
                "taxes": [{"id": 1, "total": "0.30", "subtotal": ""}],
                "meta_data": [],
            }
        ],
        "coupon_lines": [{"id": 315, "code": "spring10", "discount": "5.50", "discount_tax": "0.33", "meta_data": []}],
        "refunds": [],
    }


def test_tax_exclusive_order_with_coupon_shipping_and_fee() -> None:
    order = source().to_order(exclusive_order())
    assert (order.source_id, order.number, order.status, order.paid, order.currency) == (
        "1042",
        "1042",
        "processing",
        True,
        "USD",
    )
    assert order.created_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert order.updated_at == datetime(2024, 5, 1, 10, 5, 7, tzinfo=UTC)
    assert order.total == D("68.37") and order.total_tax == D("3.87")
    first, second = order.lines
    assert (first.line_id, first.sku, first.product_id, first.quantity) == ("311", "CER-POUR-01", "101", D(2))
    assert (first.subtotal, first.total, first.tax, first.discount) == (D("40.00"), D("36.00"), D("2.16"), D("4.00"))
    assert first.categories == ("Brewing", "Gifts")
    assert first.tax_code == "US-CA-STATE-1"
    assert second.product_id == "1091" and second.categories == ()
    (tax,) = order.tax_lines
    assert (tax.code, tax.label, tax.rate, tax.amount, tax.shipping_amount) == (
        "US-CA-STATE-1",
        "State",
        D(6),
        D("3.27"),
        D("0.60"),
    )
    assert [(s.method, s.total, s.tax) for s in order.shipping_lines] == [("Flat rate", D("10.00"), D("0.60"))]
    assert [(f.name, f.total, f.tax) for f in order.fee_lines] == [("Gift wrap", D("5.00"), D("0.30"))]
    assert [(d.code, d.amount, d.tax) for d in order.discounts] == [("spring10", D("5.50"), D("0.33"))]
    (payment,) = order.payments
    assert (payment.kind, payment.amount, payment.gateway, payment.transaction_id) == (
        PaymentKind.CAPTURE,
        D("68.37"),
        "stripe",
        "ch_3Ox",
    )
    assert payment.captured_at == datetime(2024, 5, 1, 10, 0, 2, tzinfo=UTC)
    customer = order.customer
    assert customer is not None
    assert (customer.source_id, customer.email, customer.phone) == ("7", "Ava@Example.com", "+1 555 0100")
    assert customer.shipping.line1 == "99 Oak St" and customer.billing.city == "Los Angeles"
    parts = sum((li.total + li.tax for li in order.lines), ZERO) + sum(
        (s.total + s.tax for s in order.shipping_lines), ZERO
    )
    parts += sum((f.total + f.tax for f in order.fee_lines), ZERO)
    assert parts == order.total


def test_tax_inclusive_order_keeps_lines_tax_exclusive() -> None:
    """GB store entering prices with 20% VAT: 2 x 12.00 gross = 20.00 + 4.00 VAT; shipping 5.00 + 1.00."""
    payload = {
        "id": 77,
        "number": "GB-77",
        "status": "completed",
        "currency": "GBP",
        "prices_include_tax": True,
        "date_created_gmt": "2024-06-01T08:00:00",
        "date_modified_gmt": "2024-06-02T08:00:00",
        "date_paid_gmt": None,
        "total": "30.00",
        "total_tax": "5.00",
        "customer_id": 3,
        "billing": {**address(country="GB", state="", city="Leeds"), "email": "o@example.co.uk"},
        "shipping": {},
        "payment_method": "ppcp-gateway",
        "payment_method_title": "PayPal",
        "transaction_id": "PAY-1",
        "line_items": [
            {
                "id": 1,
                "name": "Mug",
                "product_id": 106,
                "variation_id": 0,
                "quantity": 2,
                "subtotal": "20.00",
                "subtotal_tax": "4.00",
                "total": "20.00",
                "total_tax": "4.00",
                "taxes": [{"id": 3, "total": "4.00", "subtotal": "4.00"}],
                "sku": "MUG",
                "price": 10,
            }
        ],
        "tax_lines": [
            {
                "id": 9,
                "rate_code": "GB-VAT-1",
                "rate_id": 3,
                "label": "VAT",
                "tax_total": "4.00",
                "shipping_tax_total": "1.00",
                "rate_percent": 20,
            }
        ],
        "shipping_lines": [
            {"id": 2, "method_title": "Royal Mail", "method_id": "flat_rate", "total": "5.00", "total_tax": "1.00"}
        ],
        "fee_lines": [],
        "coupon_lines": [],
        "refunds": [],
    }
    order = source().to_order(payload)
    assert order.prices_include_tax and order.paid and order.number == "GB-77"
    assert (order.lines[0].total, order.lines[0].tax, order.lines[0].tax_code) == (D("20.00"), D("4.00"), "GB-VAT-1")
    assert order.total == D("30.00") and order.payments[0].amount == D("30.00")
    assert order.paid_at is None
    assert order.tax_lines[0].rate == D(20)


def test_guest_order_is_keyed_by_lowercased_email_and_unpaid_has_no_payment() -> None:
    payload = exclusive_order() | {"customer_id": 0, "status": "pending", "transaction_id": ""}
    payload |= {"date_paid": None, "date_paid_gmt": None}
    payload["billing"] = {**payload["billing"], "email": "  Jane.Doe@Example.COM "}
    order = source().to_order(payload)
    assert order.customer is not None and order.customer.source_id == "guest:jane.doe@example.com"
    assert not order.paid and order.payments == ()


def test_paid_statuses_add_statuses_paid_without_a_payment_date_and_never_unpay_a_paid_order() -> None:
    awaiting_transfer = exclusive_order() | {"status": "on-hold", "date_paid": None, "date_paid_gmt": None}
    assert not source().to_order(awaiting_transfer).paid
    assert source(paid_statuses=("processing", "completed", "on-hold")).to_order(awaiting_transfer).paid
    held_after_payment = exclusive_order() | {"status": "on-hold"}
    assert source().to_order(held_after_payment).paid
    assert source(paid_statuses=("processing",)).to_order(exclusive_order() | {"status": "refunded"}).paid


@pytest.mark.parametrize("status", ["pending", "failed"])
def test_a_status_awaiting_payment_cannot_be_a_paid_status(status: str) -> None:
    with pytest.raises(ValueError, match=f"{status} cannot be a paid status"):
        source(paid_statuses=("processing", status))


def test_refunds_on_the_order_are_summarised_positive() -> None:
    payload = exclusive_order() | {
        "refunds": [
            {"id": 2001, "reason": "damaged", "total": "-10.00"},
            {"id": 2002, "refund": "old key", "total": "-2.50"},
        ]
    }
    order = source().to_order(payload)
    assert [(r.source_id, r.order_id, r.amount, r.reason) for r in order.refunds] == [
        ("2001", "1042", D("10.00"), "damaged"),
        ("2002", "1042", D("2.50"), "old key"),
    ]
    assert order.refunded_total == D("12.50")


def test_gift_cards_are_a_payment_method() -> None:
    payload = exclusive_order() | {"total": "58.37", "gift_cards": [{"id": 43, "code": "GC-XXXX", "amount": 10}]}
    order = source().to_order(payload)
    assert order.total == D("68.37")
    assert sorted((p.kind, p.amount) for p in order.payments) == [
        (PaymentKind.CAPTURE, D("58.37")),
        (PaymentKind.GIFT_CARD, D("10")),
    ]
    assert order.paid_total == order.total


def refund_payload() -> dict[str, Any]:
    return {
        "id": 2001,
        "date_created": "2024-05-03T04:00:00",
        "date_created_gmt": "2024-05-03T09:00:00",
        "amount": "29.54",
        "reason": "Damaged in transit",
        "refunded_by": 1,
        "refunded_payment": True,
        "meta_data": [],
        "line_items": [
            {
                "id": 401,
                "name": "Ceramic Pour-Over Set",
                "product_id": 101,
                "variation_id": 0,
                "quantity": -1,
                "subtotal": "-20.00",
                "subtotal_tax": "-1.20",
                "total": "-18.00",
                "total_tax": "-1.08",
                "taxes": [{"id": 1, "total": "-1.08", "subtotal": "-1.20"}],
                "meta_data": [{"id": 9, "key": "_refunded_item_id", "value": "311"}],
                "sku": "CER-POUR-01",
                "price": -18,
            }
        ],
        "shipping_lines": [{"id": 402, "method_title": "Flat rate", "total": "-10.00", "total_tax": "-0.46"}],
        "order_id": 1042,
        "currency": "USD",
        "payment_method": "stripe",
    }


def test_refund_mapping() -> None:
    refund = source().to_refund(refund_payload())
    assert (refund.source_id, refund.order_id, refund.currency, refund.amount) == ("2001", "1042", "USD", D("29.54"))
    assert refund.created_at == datetime(2024, 5, 3, 9, 0, tzinfo=UTC)
    assert [(li.line_id, li.quantity, li.amount, li.tax) for li in refund.lines] == [
        ("311", D(1), D("18.00"), D("1.08"))
    ]
    assert (refund.shipping, refund.shipping_tax) == (D("10.00"), D("0.46"))
    assert refund.reason == "Damaged in transit"
    assert [(t.amount, t.gateway) for t in refund.transactions] == [(D("29.54"), "stripe")]


def test_refund_without_injected_order_is_a_review_error() -> None:
    payload = refund_payload()
    del payload["order_id"]
    with pytest.raises(ReviewError, match="order_id"):
        source().to_refund(payload)


def test_customer_mapping() -> None:
    payload = {
        "id": 7,
        "date_created_gmt": "2023-01-01T00:00:00",
        "date_modified_gmt": "2024-02-02T12:00:00",
        "email": "ava@example.com",
        "first_name": "Ava",
        "last_name": "Nguyen",
        "role": "customer",
        "billing": {**address(company="Bean There LLC"), "email": "ava@example.com", "phone": "555"},
        "shipping": address(),
    }
    customer = source().to_customer(payload)
    assert (customer.source_id, customer.email, customer.company, customer.phone) == (
        "7",
        "ava@example.com",
        "Bean There LLC",
        "555",
    )
    assert customer.display_name == "Bean There LLC"
    assert customer.updated_at == datetime(2024, 2, 2, 12, tzinfo=UTC)


def test_bad_amount_is_a_review_error() -> None:
    payload = exclusive_order() | {"total": "12,50"}
    with pytest.raises(ReviewError, match="total"):
        source().to_order(payload)


def _amounts(value: Any) -> list[Any]:
    """Every non-id leaf of a model dump, to prove no float slipped in."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _amounts(v)]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _amounts(v)]
    return [value]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=10**6), inclusive=st.booleans())
def test_generated_sandbox_orders_balance_exactly(seed: int, inclusive: bool) -> None:
    state = WooState(prices_include_tax=inclusive)
    woo = source()
    for payload in state.generate_orders(15, seed=seed):
        # Through JSON as the wire carries it (money as strings, a few JSON numbers).
        order = woo.to_order(json.loads(json.dumps(payload)))
        parts = (
            sum((li.total + li.tax for li in order.lines), ZERO)
            + sum((s.total + s.tax for s in order.shipping_lines), ZERO)
            + sum((f.total + f.tax for f in order.fee_lines), ZERO)
        )
        assert parts == order.total, payload["id"]
        assert sum((t.amount + t.shipping_amount for t in order.tax_lines), ZERO) == order.total_tax
        assert sum((li.tax for li in order.lines), ZERO) + sum((f.tax for f in order.fee_lines), ZERO) == sum(
            (t.amount for t in order.tax_lines), ZERO
        )
        assert sum((d.amount for d in order.discounts), ZERO) == sum((li.discount for li in order.lines), ZERO)
        if order.paid:
            assert order.paid_total == order.total
        else:
            assert order.payments == ()
        assert not any(isinstance(v, float) for v in _amounts(order.model_dump()))
        assert order.customer is not None
        assert order.customer.source_id == (
            str(payload["customer_id"]) if payload["customer_id"] else f"guest:{payload['billing']['email'].lower()}"
        )
