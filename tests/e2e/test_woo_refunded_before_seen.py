"""WooCommerce → PeopleSoft on the local runtime: an order fully refunded in the store before the connector ever
saw it still books its sale and then its refund, each exactly once, whether the refunded order's webhook or
the poller brings it; an order never paid and then cancelled books nothing."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from local.stack import LocalStack
from tests.support.stack import events_for, journals_for


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with LocalStack(connections=["woo-psft"]) as stack:
        yield stack


def unseen_order(woo: Any, **knobs: Any) -> dict[str, Any]:
    """A paid two-line order with shipping whose order.created webhook never reaches the connector."""
    return woo.create_order(
        lines=[
            {"product_id": 103, "name": "Stainless Kettle 1.2L", "sku": "KET-SS-12", "price": "59.99", "quantity": 1},
            {"product_id": 102, "name": "Organic Coffee Beans", "sku": "COF-ORG-1KG", "price": "24.95", "quantity": 2},
        ],
        billing={"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"},
        shipping="7.50",
        deliver=False,
        **knobs,
    )


def journal_total(journal: dict[str, Any]) -> Decimal:
    """What the journal moves: its debits (it balances, so its credits are the same)."""
    amounts = [Decimal(str(line["PROP_MONETARY_AMOUNT"])) for line in journal["COLL_JRNL_LN"]]
    assert sum(amounts) == 0
    return sum((a for a in amounts if a > 0), Decimal(0))


@pytest.mark.parametrize("how", ["refunds", "status"])
def test_order_refunded_before_the_connector_saw_it_posts_its_sale_then_its_refund_once(
    stack: LocalStack, how: str
) -> None:
    woo = stack.stores["woo-psft"].state
    order = unseen_order(woo)
    if how == "refunds":  # two refunds return everything: wc_create_refund sets the order 'refunded'
        woo.add_refund(order["id"], lines={order["line_items"][0]["id"]: 1}, reason="dented", deliver=False)
        rest = Decimal(order["total"]) - Decimal(woo.refunds[order["id"]][0]["amount"])
        woo.add_refund(order["id"], rest, reason="changed mind")  # its order.updated is the first news of the order
    else:  # the shop manager sets 'refunded': WooCommerce refunds the whole total (wc_order_fully_refunded)
        woo.update_order(order["id"], status="refunded")
    refunded = woo.orders[order["id"]]
    assert refunded["status"] == "refunded" and refunded["date_paid_gmt"] == order["date_paid_gmt"]
    refunds = woo.refunds[order["id"]]
    assert sum(Decimal(r["amount"]) for r in refunds) == Decimal(order["total"])

    assert stack.runtime.wait_until_drained(timeout=60)
    stack.poll("woo-psft")  # finds the order and its refunds again (or, after a hand status change, first)
    assert stack.runtime.wait_until_drained(timeout=60)

    reference = f"W{order['number']}"
    (sale,) = journals_for(stack, reference)
    assert journal_total(sale) == Decimal(order["total"])
    assert events_for(stack, f"woo-psft|order|{order['id']}").count("posted") == 1
    for refund in refunds:
        (journal,) = journals_for(stack, f"{reference}-R{refund['id']}")
        assert journal_total(journal) == Decimal(refund["amount"])
        assert events_for(stack, f"woo-psft|refund|{order['id']}:{refund['id']}").count("posted") == 1
    assert stack.runtime.queue_depth(stack.runtime.outputs["DeadLetterQueueUrl"]) == 0


def test_order_cancelled_unpaid_posts_nothing(stack: LocalStack) -> None:
    woo = stack.stores["woo-psft"].state
    order = unseen_order(woo, status="pending")
    woo.update_order(order["id"], status="cancelled")
    assert stack.runtime.wait_until_drained(timeout=60)
    stack.poll("woo-psft")
    assert stack.runtime.wait_until_drained(timeout=60)
    assert journals_for(stack, f"W{order['number']}") == []
    events = events_for(stack, f"woo-psft|order|{order['id']}")
    assert "skipped" in events and "posted" not in events and "needs_review" not in events
