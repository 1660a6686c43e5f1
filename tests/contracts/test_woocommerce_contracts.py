"""The WooCommerce adapter over the REST API docs' own examples (tests/contracts/woocommerce/), posted by the
accounting engine with the rules of every WooCommerce pair in config/local.yaml.

Each example either posts balanced and to the cent, or is not posted for a reason a finance user accepts
(never paid; or WooCommerce's own record contradicts itself, which goes to review with that reason).
Status variants are the docs' examples moved the way WooCommerce core moves an order: a status change
never clears ``date_paid`` or ``date_completed`` (``WC_Order::set_status``, ``maybe_set_date_paid``), and an
order's refunds stay on it when it is cancelled or refunded.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mlconnector.accounting.engine import AccountingEngine
from mlconnector.documents import LineClass, Posting
from mlconnector.errors import ReviewError
from mlconnector.models import Order, PaymentKind
from mlconnector.profile import Connection, parse_profile
from mlconnector.sources.woocommerce import mapping
from mlconnector.sources.woocommerce.source import WooCommerceSource
from sandbox.contracts import contract_json

ROOT = Path(__file__).resolve().parents[2]
PAIRS = ("woo-psft", "woo-jde", "woo-fusion")
SETTLEMENT = {LineClass.CLEARING, LineClass.RECEIVABLE}
D = Decimal


def example(name: str) -> Any:
    return copy.deepcopy(contract_json("woocommerce", name))


@pytest.fixture(scope="module")
def connections() -> dict[str, Connection]:
    text = re.sub(r"\$\{SANDBOX_[A-Z0-9_]+\}", "http://127.0.0.1:9", (ROOT / "config/local.yaml").read_text())
    return {c.name: c for c in parse_profile(text).connections if c.name in PAIRS}


def adapter(connection: Connection) -> WooCommerceSource:
    return WooCommerceSource(connection.name, connection.store, {})  # type: ignore[arg-type]


def engine(connection: Connection) -> AccountingEngine:
    return AccountingEngine(connection.name, connection.accounting, connection.reference_prefix)


def refunds_of(order_payload: dict[str, Any], refunds_file: str) -> list[dict[str, Any]]:
    """The order's refunds as GET /orders/{id}/refunds/{id} serves them, oldest first, with the order's context."""
    ids = {r["id"] for r in order_payload["refunds"]}
    listed = [r for r in example(refunds_file) if r["id"] in ids]
    assert {r["id"] for r in listed} == ids, "every refund the order lists is in the refunds example"
    return [mapping.refund_in_order(r, order_payload) for r in sorted(listed, key=lambda r: r["date_created_gmt"])]


def assert_balanced(posting: Posting, total: Decimal) -> None:
    assert posting.balanced, posting.reference
    assert sum(line.amount for line in posting.lines) == 0
    assert posting.source_total == total


def post_sale_then_refunds(connection: Connection, order: Order, refunds: list[dict[str, Any]]) -> list[Posting]:
    """What the poster posts for a paid order and its refunds, in that order, as the engine builds them."""
    books = engine(connection)
    postings = books.order_postings(order)
    main = postings[0]
    assert_balanced(main, order.total)
    if connection.accounting.posting_style == "ar_invoice":
        receipts = postings[1:]
        assert [r.source_total for r in receipts] == [p.amount for p in order.payments]
        for receipt in receipts:
            assert receipt.balanced
    else:
        settled = sum((line.amount for line in main.lines if line.line_class in SETTLEMENT), D(0))
        assert settled == order.total
    for payload in refunds:
        refund = adapter(connection).to_refund(payload)
        posting = books.refund_posting(order, refund)
        assert_balanced(posting, refund.amount)
        assert posting.reverses == books.order_reference(order)
        postings.append(posting)
    return postings


# --- orders ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", PAIRS)
def test_paid_order_posts_balanced(connections: dict[str, Connection], pair: str) -> None:
    connection = connections[pair]
    order = adapter(connection).to_order(example("order-processing.json"))
    assert order.paid and order.paid_at is not None
    assert [(p.kind, p.method, p.amount) for p in order.payments] == [(PaymentKind.CAPTURE, "bacs", D("29.35"))]
    assert order.total == D("29.35") and order.total_tax == D("1.35")
    assert sum((line.total + line.tax for line in order.lines), D(0)) + D("10.00") == order.total
    post_sale_then_refunds(connection, order, [])


@pytest.mark.parametrize("pair", PAIRS)
def test_completed_order_without_date_paid_posts_with_its_refunds(
    connections: dict[str, Connection], pair: str
) -> None:
    """The docs' completed order has no date_paid (completed by hand): completed is a paid status."""
    connection = connections[pair]
    payload = example("order-completed-partially-refunded.json")
    order = adapter(connection).to_order(payload)
    assert order.paid and order.paid_at is None and order.paid_total == D("39.00")
    assert [(r.source_id, r.amount) for r in order.refunds] == [("4126", D("10.00")), ("4124", D("9.00"))]
    postings = post_sale_then_refunds(connection, order, refunds_of(payload, "order-4123-refunds.json"))
    assert [p.source_total for p in postings if p.source_kind == "refund"] == [D("9.00"), D("10.00")]


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize(
    ("order_file", "refunds_file"),
    [("order-refunded.json", "order-4123-refunds.json"), ("order-refunded-by-status.json", "order-4127-refunds.json")],
)
def test_fully_refunded_order_posts_its_sale_then_every_refund(
    connections: dict[str, Connection], pair: str, order_file: str, refunds_file: str
) -> None:
    """WooCommerce sets a fully refunded order's status to 'refunded'; it was paid, so the sale posts and each
    refund reverses its part of it, the refunds together returning exactly what was paid."""
    connection = connections[pair]
    payload = example(order_file)
    assert payload["status"] == "refunded"
    order = adapter(connection).to_order(payload)
    assert order.paid
    assert order.paid_total == order.total == order.refunded_total
    refunds = refunds_of(payload, refunds_file)
    postings = post_sale_then_refunds(connection, order, refunds)
    refunded = sum((p.source_total for p in postings if p.source_kind == "refund"), D(0))
    assert refunded == order.total


@pytest.mark.parametrize("pair", PAIRS)
def test_order_cancelled_after_payment_posts_and_its_refund_follows(
    connections: dict[str, Connection], pair: str
) -> None:
    """A paid order cancelled by the shop keeps its date_paid; the refund that returns the money follows."""
    connection = connections[pair]
    payload = example("order-refunded-by-status.json") | {"status": "cancelled"}
    order = adapter(connection).to_order(payload)
    assert order.paid and order.paid_total == D("29.35")
    post_sale_then_refunds(connection, order, refunds_of(payload, "order-4127-refunds.json"))


@pytest.mark.parametrize("pair", PAIRS)
def test_paid_order_put_on_hold_still_posts(connections: dict[str, Connection], pair: str) -> None:
    """On hold after payment (a gateway holding a disputed or settling payment): date_paid says it was paid."""
    connection = connections[pair]
    order = adapter(connection).to_order(example("order-processing.json") | {"status": "on-hold"})
    assert order.paid and order.paid_total == order.total
    post_sale_then_refunds(connection, order, [])


@pytest.mark.parametrize("status", ["pending", "failed", "on-hold", "cancelled"])
def test_order_never_paid_is_not_posted(connections: dict[str, Connection], status: str) -> None:
    """Awaiting payment (pending, on-hold for a bank transfer), failed, or cancelled unpaid: WooCommerce recorded
    no payment, the order has no payment and the poster skips it ("not paid")."""
    payload = example("order-processing.json") | {"status": status, "date_paid": None, "date_paid_gmt": None}
    for connection in connections.values():
        order = adapter(connection).to_order(payload)
        assert not order.paid and order.payments == ()


@pytest.mark.parametrize("status", ["pending", "failed"])
def test_order_awaiting_payment_with_a_payment_date_goes_to_review(
    connections: dict[str, Connection], status: str
) -> None:
    payload = example("order-processing.json") | {"status": status}
    with pytest.raises(ReviewError, match=rf"4127 is '{status}' \(awaiting payment\) but records a payment"):
        adapter(connections["woo-psft"]).to_order(payload)


def test_refunded_order_with_no_sign_of_payment_goes_to_review(connections: dict[str, Connection]) -> None:
    """Refunds can be recorded against an order never paid (WooCommerce does not check): finance decides."""
    payload = example("order-refunded.json") | {"date_completed": None, "date_completed_gmt": None}
    with pytest.raises(ReviewError, match="4123 is refunded but records no payment"):
        adapter(connections["woo-psft"]).to_order(payload)


# --- refunds and customers --------------------------------------------------------------------------


def test_refund_examples_map_to_their_order_lines(connections: dict[str, Connection]) -> None:
    woo = adapter(connections["woo-psft"])
    order_payload = example("order-refunded.json")
    refunds = {r.source_id: r for r in map(woo.to_refund, refunds_of(order_payload, "order-4123-refunds.json"))}
    amount_only, notebook, tote = refunds["4126"], refunds["4124"], refunds["4128"]
    assert (amount_only.amount, amount_only.lines, amount_only.order_id, amount_only.currency) == (
        D("10.00"),
        (),
        "4123",
        "USD",
    )
    assert [(li.line_id, li.quantity, li.amount, li.tax) for li in notebook.lines] == [("911", D(1), D("9.00"), D(0))]
    assert [(li.line_id, li.amount) for li in tote.lines] == [("913", D("20.00"))]
    assert tote.reason == "Tote arrived torn"
    assert all(r.transactions == () for r in refunds.values()), "refunded_payment false: no gateway refund"


def test_customer_examples_map(connections: dict[str, Connection]) -> None:
    woo = adapter(connections["woo-psft"])
    lucia, samir = (woo.to_customer(c) for c in example("customers.json"))
    assert (lucia.source_id, lucia.email, lucia.phone, lucia.billing.country) == (
        "31",
        "lucia.ferreira@example.net",
        "(41) 5555-0101",
        "BR",
    )
    assert (samir.source_id, samir.first_name, samir.shipping.city) == ("30", "Samir", "Fresno")
    order = woo.to_order(example("order-completed-partially-refunded.json"))
    assert order.customer is not None and order.customer.source_id == lucia.source_id
