"""Shopify's published examples (tests/contracts/shopify/) through the Shopify mapper and the accounting
engine of the shop-psft connection in config/local.yaml.

Each example posts balanced (settlement side = the source total, debits = credits in the document and
the base currency) or goes to review for a reason a finance user would accept, named in the test.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlconnector.accounting.engine import AccountingEngine
from mlconnector.accounting.rules import MappingRules
from mlconnector.documents import LineClass, Posting
from mlconnector.errors import ReviewError
from mlconnector.models import Order
from mlconnector.sources.shopify import mapping

ROOT = Path(__file__).resolve().parents[2]
MATERIAL = Path(__file__).parent / "shopify"
D = Decimal


def material(name: str) -> dict[str, Any]:
    """A fresh copy of one transcribed example, unwrapped from its ``{"order": ...}`` envelope."""
    data = json.loads((MATERIAL / name).read_text(encoding="utf-8"))
    (value,) = data.values()
    return value


@cache
def shop_psft() -> AccountingEngine:
    profile = yaml.safe_load((ROOT / "config" / "local.yaml").read_text(encoding="utf-8"))
    (connection,) = [c for c in profile["connections"] if c["name"] == "shop-psft"]
    return AccountingEngine("shop-psft", MappingRules.model_validate(connection["accounting"]), "S")


def order_with(transactions: list[dict[str, Any]] | None, name: str = "order.json") -> Order:
    order = material(name)
    if transactions is not None:
        order["transactions"] = transactions
    return mapping.to_order(order)


def refund_of(order: dict[str, Any], refund: dict[str, Any], transactions: list[dict[str, Any]] | None) -> Any:
    """The refund with the order context the Shopify source adds before mapping."""
    context = {**refund, "currency": order["currency"], "taxes_included": order["taxes_included"]}
    if transactions is not None:
        context["order_transactions"] = transactions
    return mapping.to_refund(context)


def assert_balanced(posting: Posting, total: Decimal) -> None:
    assert posting.balanced and posting.debits > 0
    assert posting.source_total == total
    settlement = {LineClass.CLEARING, LineClass.RECEIVABLE, LineClass.GIFT_CARD, LineClass.STORE_CREDIT}
    assert abs(sum((line.amount for line in posting.lines if line.line_class in settlement), D(0))) == total


def amounts(posting: Posting, line_class: LineClass) -> list[Decimal]:
    return [line.amount for line in posting.lines if line.line_class is line_class]


# ------------------------------------------------------------------------------------------- orders


def test_order_with_a_discount_spread_over_its_lines_posts_balanced() -> None:
    order = order_with(None)
    assert [line.total for line in order.lines] == [D("195.66"), D("195.67"), D("195.67")]
    assert order.total_tax == D("11.94") and order.total == D("598.94")
    (posting,) = shop_psft().order_postings(order)
    assert_balanced(posting, D("598.94"))
    assert amounts(posting, LineClass.TAX) == [D("-11.94")]


def test_order_with_its_transactions_posts_the_capture_and_a_receivable_for_the_rest() -> None:
    order = order_with(material("order-transactions.json"))
    assert [p.amount for p in order.payments] == [D("250.94")]
    (posting,) = shop_psft().order_postings(order)
    assert_balanced(posting, D("598.94"))
    assert amounts(posting, LineClass.RECEIVABLE) == [D("348.00")]  # the transactions' total_unsettled


@pytest.mark.parametrize(
    ("name", "total", "receivable"),
    [
        ("order-percentage-discount.json", D("181.09"), D("131.09")),  # paid with 131.09 still outstanding
        ("order-two-tax-rates.json", D("270.37"), D("270.37")),  # paid, nothing received yet
        ("order-eur.json", D("238.47"), None),  # EUR at the profile's rate to the USD ledger
    ],
)
def test_published_orders_post_balanced(name: str, total: Decimal, receivable: Decimal | None) -> None:
    order = mapping.to_order(material(name))
    (posting,) = shop_psft().order_postings(order)
    assert_balanced(posting, total)
    assert amounts(posting, LineClass.RECEIVABLE) == ([receivable] if receivable else [])
    if order.currency == "EUR":
        assert posting.exchange_rate == D("1.08") and posting.rate_source == "profile"


def test_order_with_two_tax_rates_books_each_rate() -> None:
    order = mapping.to_order(material("order-two-tax-rates.json"))
    assert {(t.label, t.amount) for t in order.tax_lines} == {("State tax", D("10.20")), ("County tax", D("4.25"))}


def test_duties_post_as_a_fee_and_their_refund_stays_unitemised() -> None:
    order_payload = material("order-duties.json")
    order = mapping.to_order(order_payload)
    assert [(fee.name, fee.total) for fee in order.fee_lines] == [("Duties", D("12.00"))]
    (posting,) = shop_psft().order_postings(order)
    assert_balanced(posting, D("250.47"))
    refund = refund_of(order_payload, material("refund-duties.json"), None)
    assert refund.amount == D("83.49")
    reversal = shop_psft().refund_posting(order, refund)
    assert_balanced(reversal, D("83.49"))
    # the duty share has no line of its own in the refund: it goes to the profile's refunds account
    assert [line.amount for line in reversal.lines if line.rule == "refunds account"] == [D("4.00")]


def test_order_in_a_presentment_currency_posts_in_the_shop_currency() -> None:
    order = order_with(None, "order-presentment-currency.json")
    assert order.currency == "USD" and order.total == D("598.94")
    (posting,) = shop_psft().order_postings(order)
    assert_balanced(posting, D("598.94"))


def test_presentment_currency_transactions_go_to_review() -> None:
    """Transactions carry the customer's currency only; the shop-currency amount is not in the payload."""
    with pytest.raises(ReviewError, match="is in EUR, not the shop currency USD"):
        order_with(material("order-transactions-presentment-currency.json"), "order-presentment-currency.json")
    order_payload = material("order-presentment-currency.json")
    with pytest.raises(ReviewError, match="is in EUR, not the shop currency USD"):
        refund_of(order_payload, material("refund-presentment-currency.json"), None)


def test_customer_maps() -> None:
    customer = mapping.to_customer(material("customer.json"))
    assert customer.email == "ada.lovelace@example.com" and customer.last_name == "Lovelace"
    assert customer.billing.city == "Springfield" and customer.billing.country == "US"


# ------------------------------------------------------------------------------------------ refunds


def _spread_refund(transaction_amount: Decimal) -> tuple[Order, Any]:
    """refund.json against order.json captured in full, its transaction returning ``transaction_amount``."""
    order_payload = material("order.json")
    authorization = next(t for t in material("order-transactions.json") if t["kind"] == "authorization")
    transactions = [authorization, material("transaction-capture-in-full.json")]
    refund = material("refund.json")
    (txn,) = refund["transactions"]
    txn["amount"], txn["parent_id"] = str(transaction_amount), transactions[1]["id"]
    order_payload["transactions"] = transactions
    return mapping.to_order(order_payload), (order_payload, refund, transactions)


def test_refunded_lines_a_cent_off_their_discounted_totals_post_balanced() -> None:
    """The published refund spreads the order's discount again: 195.67 comes back for the line sold at
    195.66. With the money the order says came back (598.94 - 199.65), it posts balanced."""
    order_payload = material("order.json")
    returned = D(order_payload["total_price"]) - D(order_payload["current_total_price"])
    order, (payload, refund, transactions) = _spread_refund(returned)
    mapped = refund_of(payload, refund, transactions)
    sold = {line.line_id: line.total for line in order.lines}
    assert any(line.amount - sold[line.line_id] == D("0.01") for line in mapped.lines)
    posting = shop_psft().refund_posting(order, mapped)
    assert_balanced(posting, D("399.29"))
    assert sorted(amounts(posting, LineClass.REVENUE)) == [D("195.66"), D("195.67")]


def test_a_line_refunded_above_its_discounted_total_goes_to_review() -> None:
    """A genuine over-refund: a line sold at 195.66 after its discount refunded at its full 199.00."""
    order, (payload, refund, transactions) = _spread_refund(D("402.62"))
    items = refund["refund_line_items"]
    over = next(item for item in items if item["subtotal_set"]["shop_money"]["amount"] == "195.67")
    over["subtotal_set"]["shop_money"]["amount"], over["subtotal"] = "199.00", 199.0
    mapped = refund_of(payload, refund, transactions)
    with pytest.raises(ReviewError, match="returns more of line"):
        shop_psft().refund_posting(order, mapped)


def test_published_refund_goes_to_review_for_money_that_does_not_match_its_lines() -> None:
    """The example's transaction returns 209.00 for lines and tax worth 399.29: not for the ledger."""
    transactions = material("order-transactions.json")
    order_payload = material("order.json")
    order = order_with(transactions)
    mapped = refund_of(order_payload, material("refund.json"), transactions)
    with pytest.raises(ReviewError, match=r"itemises 399\.29 but totals 209\.00"):
        shop_psft().refund_posting(order, mapped)


@pytest.mark.parametrize("name", ["refund-shipping.json", "refund-shipping-2024-04.json"])
def test_a_shipping_refund_is_counted_once(name: str) -> None:
    """2025-10 reports the shipping refund as a refund shipping line and as a shipping_refund adjustment,
    2024-04 as the adjustment only; one transaction of 5.00 carries the money either way."""
    transactions = material("order-transactions.json")
    order = order_with(transactions)
    mapped = refund_of(material("order.json"), material(name), transactions)
    assert (mapped.amount, mapped.shipping, mapped.shipping_tax, mapped.lines) == (D("5.00"), D("5.00"), D(0), ())
    posting = shop_psft().refund_posting(order, mapped)
    assert_balanced(posting, D("5.00"))
    assert amounts(posting, LineClass.SHIPPING) == [D("5.00")]


def test_shipping_reports_that_disagree_go_to_review() -> None:
    refund = material("refund-shipping.json")
    (adjustment,) = refund["order_adjustments"]
    adjustment["amount"] = adjustment["amount_set"]["shop_money"]["amount"] = "-7.00"
    with pytest.raises(ReviewError, match=r"refund_shipping_lines return 5\.00 of shipping"):
        refund_of(material("order.json"), refund, material("order-transactions.json"))


def test_money_back_without_itemised_lines_posts_to_the_refunds_account() -> None:
    transactions = material("order-transactions.json")
    order = order_with(transactions)
    mapped = refund_of(material("order.json"), material("refund-amount-only.json"), transactions)
    posting = shop_psft().refund_posting(order, mapped)
    assert_balanced(posting, D("41.94"))  # what the capture of 250.94 has left after the 209.00 refund
    assert [line.amount for line in posting.lines if line.rule == "refunds account"] == [D("41.94")]


def test_every_example_is_exercised() -> None:
    used = {
        "order.json",
        "order-transactions.json",
        "transaction-capture-in-full.json",
        "refund.json",
        "refund-shipping.json",
        "refund-shipping-2024-04.json",
        "refund-amount-only.json",
        "order-percentage-discount.json",
        "order-two-tax-rates.json",
        "order-eur.json",
        "order-duties.json",
        "refund-duties.json",
        "order-presentment-currency.json",
        "order-transactions-presentment-currency.json",
        "refund-presentment-currency.json",
        "customer.json",
    }
    webhooks = {"webhook-headers.json", "webhook-hmac.json"}  # tests/contracts/test_shopify_webhooks.py
    cost = {"graphql-cost.json"}  # tests/contracts/test_shopify_graphql.py
    eventbridge = {  # tests/contracts/test_shopify_eventbridge.py
        "eventbridge-order-updated.json",
        "eventbridge-customer-update.json",
        "eventbridge-arn.json",
        "eventbridge-subscription.json",
    }
    assert {p.name for p in MATERIAL.glob("*.json")} == used | webhooks | eventbridge | cost
