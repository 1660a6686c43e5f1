"""Pairs 4 and 5 end to end: WooCommerce → JD Edwards and WooCommerce → Oracle Fusion.

Token expiry mid-run, a duplicate webhook, a partial refund and a returning customer, through the
real handlers on the local runtime against the AIS and Fusion simulators.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from local.stack import LocalStack

LINES = [
    {"product_id": 103, "name": "Stainless Kettle 1.2L", "sku": "KET-SS-12", "price": "59.99", "quantity": 1},
    {"product_id": 102, "name": "Organic Coffee Beans 1kg", "sku": "COF-ORG-1KG", "price": "24.95", "quantity": 2},
]
CUSTOMER = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}


@pytest.fixture
def stack():
    with LocalStack(connections=["woo-jde", "woo-fusion"], parameters={"MaxReceiveCount": "4"}) as stack:
        yield stack


def order_for(woo, customer_id: int, *, duplicate: bool = False) -> dict:
    woo.duplicate_next_delivery = 1 if duplicate else 0
    return woo.create_order(
        lines=LINES, customer_id=customer_id, shipping="7.50", coupon={"code": "welcome10", "percent": "10"}
    )


def drain(stack) -> None:
    assert stack.runtime.wait_until_drained(timeout=90)


def test_woocommerce_to_jd_edwards(stack):
    woo = stack.stores["woo-jde"].state
    jde = stack.erps["woo-jde"].state
    customer = woo.add_customer(**CUSTOMER, country="US")
    first = order_for(woo, customer["id"], duplicate=True)
    drain(stack)
    jde.expire_all_tokens()  # every container's cached AIS token is now invalid: 444, one refresh, no loss
    later = []
    for _ in range(3):  # one at a time, so each warm container meets its expired token
        later.append(order_for(woo, customer["id"]))
        drain(stack)
    refund = woo.add_refund(first["id"], lines={first["line_items"][0]["id"]: 1}, reason="dented")
    drain(stack)

    batches = jde.batches
    assert set(batches) == {
        f"J{first['number']}",
        *(f"J{o['number']}" for o in later),
        f"J{first['number']}-R{refund['id']}",
    }
    for batch in batches.values():
        assert sum(Decimal(str(line["AA"])) for line in batch["lines"]) == 0
    credit = batches[f"J{first['number']}-R{refund['id']}"]
    assert credit["reverses"] == f"J{first['number']}"
    clearing = sum(Decimal(str(line["AA"])) for line in credit["lines"] if line["OBJ"] == "1110")
    assert clearing == -Decimal(refund["amount"])
    assert jde.requests["invalid_token"] >= 1 and jde.requests["tokenrequest"] >= 2  # the expiry was met and healed
    assert len([row for row in jde.f0101 if row.get("ALKY", "").endswith(str(customer["id"]))]) == 1


def test_woocommerce_to_oracle_fusion(stack):
    woo = stack.stores["woo-fusion"].state
    fusion = stack.erps["woo-fusion"].state
    customer = woo.add_customer(**CUSTOMER, country="US")
    first = order_for(woo, customer["id"], duplicate=True)
    drain(stack)
    tokens_before = fusion.requests["token"]
    fusion.expire_tokens()  # every cached OAuth token is refused with 401: one refresh, no loss
    later = []
    for _ in range(3):
        later.append(order_for(woo, customer["id"]))
        drain(stack)
    refund = woo.add_refund(first["id"], lines={first["line_items"][1]["id"]: 1}, reason="opened")
    drain(stack)

    invoices = {row["TransactionNumber"]: row for row in fusion.invoices}
    assert set(invoices) == {f"F{first['number']}", *(f"F{o['number']}" for o in later)}
    assert invoices[f"F{first['number']}"]["EnteredAmount"] == Decimal(first["total"])
    receipts = {row["ReceiptNumber"]: row for row in fusion.receipts}
    assert sorted(Decimal(str(r["Amount"])) for r in receipts.values()) == sorted(
        Decimal(o["total"]) for o in (first, *later)
    )
    (memo,) = fusion.credit_memos
    assert memo["TransactionNumber"] == f"F{first['number']}-R{refund['id']}"
    assert abs(Decimal(str(memo["EnteredAmount"]))) == Decimal(refund["amount"])
    assert fusion.requests["unauthorised"] >= 1 and fusion.requests["token"] > tokens_before
    assert len(fusion.customers) == 1  # created for the first order, matched for the second
