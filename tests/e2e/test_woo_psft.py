"""WooCommerce → PeopleSoft end to end through the local runtime, driven as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from local.stack import LocalStack
from tests.support.stack import audit_items, event_counts, events_for, journals_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack(tmp_path):
    # One attempt per ERP call inside the target, so an injected 500 fails the record and SQS retries it.
    profile = yaml.safe_load((ROOT / "config/local.yaml").read_text())
    for connection in profile["connections"]:
        if connection["erp"]["type"] == "peoplesoft":
            connection["erp"]["retry_attempts"] = 1
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(profile))
    with LocalStack(profile_path=path, connections=["woo-psft"], parameters={"MaxReceiveCount": "3"}) as stack:
        yield stack


def _paid(stack, orders):
    return [o for o in orders if o["status"] in ("processing", "completed")]


def new_paid_order(woo, *, deliver: bool = True) -> dict:
    """One paid order with two lines, a coupon and shipping; its webhook is the only delivery it causes."""
    return woo.create_order(
        lines=[
            {"product_id": 103, "name": "Stainless Kettle 1.2L", "sku": "KET-SS-12", "price": "59.99", "quantity": 1},
            {
                "product_id": 102,
                "name": "Organic Coffee Beans 1kg",
                "sku": "COF-ORG-1KG",
                "price": "24.95",
                "quantity": 2,
            },
        ],
        billing={"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
        coupon={"code": "welcome10", "percent": "10"},
        shipping="7.50",
        deliver=deliver,
    )


def test_make_run_reconciles_and_exits_zero(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "local.run", "--orders", "24", "--log", str(tmp_path / "run.log")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "RECONCILED" in result.stdout and "NOT RECONCILED" not in result.stdout


def test_duplicate_webhook_and_poll_post_once(stack):
    woo = stack.stores["woocommerce"].state
    woo.duplicate_next_delivery = 1
    order = new_paid_order(woo)
    assert stack.runtime.wait_until_drained(timeout=60)
    stack.poll("woo-psft")
    assert stack.runtime.wait_until_drained(timeout=60)

    assert len(journals_for(stack, f"W{order['number']}")) == 1
    events = events_for(stack, f"woo-psft|order|{order['id']}")
    assert events.count("posted") == 1
    assert events.count("duplicate_suppressed") >= 1  # the second delivery (the poll says so in its run entry)


def test_lost_webhook_is_found_by_the_poller(stack):
    woo = stack.stores["woocommerce"].state
    woo.drop_next_delivery = 1
    order = new_paid_order(woo)
    assert stack.runtime.wait_until_drained(timeout=60)
    assert journals_for(stack, f"W{order['number']}") == []
    stack.poll("woo-psft")
    assert stack.runtime.wait_until_drained(timeout=60)
    (journal,) = journals_for(stack, f"W{order['number']}")
    assert sum(Decimal(str(li["PROP_MONETARY_AMOUNT"])) for li in journal["COLL_JRNL_LN"]) == 0
    assert events_for(stack, f"woo-psft|order|{order['id']}")[:2] == ["enqueued", "processing"]


def test_poster_failing_partway_through_a_batch_retries_only_the_failed_records(stack):
    psft = stack.erps["peoplesoft"].state
    woo = stack.stores["woocommerce"].state
    with woo.lock:
        woo.drop_next_delivery = 10**6  # queue them all at once through the poller, as one batch
    orders = woo.generate_orders(10, seed=21, deliver=True)
    woo.drop_next_delivery = 0
    psft.fail_next_n = 3  # the first three ERP calls answer 500: those records fail, the rest of the batch posts
    stack.poll("woo-psft")
    assert stack.runtime.wait_until_drained(timeout=90)

    counts = event_counts(stack)
    assert counts["failed"] >= 1
    paid = _paid(stack, [woo.orders[o["id"]] for o in orders])
    assert paid
    for order in paid:
        assert len(journals_for(stack, f"W{order['number']}")) == 1, order["number"]
    failed_keys = {
        key
        for order in paid
        if "failed" in (events := events_for(stack, key := f"woo-psft|order|{order['id']}"))
        and events.index("failed") < events.index("posted")
    }
    assert failed_keys, "a record failed and was then posted"
    assert stack.runtime.queue_depth(stack.runtime.outputs["DeadLetterQueueUrl"]) == 0


def test_erp_down_lands_the_record_in_the_dlq_with_the_reason(stack):
    psft = stack.erps["peoplesoft"].state
    woo = stack.stores["woocommerce"].state
    psft.error_rate = 1.0
    order = new_paid_order(woo)
    dlq = stack.runtime.outputs["DeadLetterQueueUrl"]
    from tests.support.waiting import wait_for

    wait_for(lambda: stack.runtime.queue_depth(dlq) >= 1, timeout=90, interval=0.5)
    events = events_for(stack, f"woo-psft|order|{order['id']}")
    assert events.count("failed") == 3 and events[-1] == "dead_lettered"
    assert journals_for(stack, f"W{order['number']}") == []


def test_disabled_hook_is_reactivated_and_the_poller_posts_what_it_missed(stack):
    woo = stack.stores["woo-psft"].state
    secret_name = "ml-connector/local/woo-psft/webhook"
    good = stack.stores["woo-psft"].webhook_credentials
    stack.runtime.put_secret(secret_name, {"webhook_secret": "rotated-elsewhere"})  # every delivery now gets 401
    failed = [new_paid_order(woo) for _ in range(7)]  # WooCommerce disables a hook on the 7th failure
    hook = next(h for h in woo.webhooks.values() if h.topic == "order.created")
    assert hook.status == "disabled"
    stack.runtime.put_secret(secret_name, good)
    missed = [new_paid_order(woo) for _ in range(2)]  # created while disabled: never delivered
    assert stack.runtime.wait_until_drained(timeout=60)
    assert all(journals_for(stack, f"W{o['number']}") == [] for o in failed + missed)

    result = stack.keep_webhooks()
    assert result["woo-psft"]["order.created"] == "reactivated"
    assert woo.webhooks[hook.id].status == "active"
    stack.poll("woo-psft")
    assert stack.runtime.wait_until_drained(timeout=60)
    for order in failed + missed:
        assert len(journals_for(stack, f"W{order['number']}")) == 1
    assert event_counts(stack)["webhook_keeper"] >= 2


def test_invalid_chartfield_combination_goes_to_review_and_the_rest_of_the_batch_posts(stack):
    woo = stack.stores["woo-psft"].state
    psft = stack.erps["woo-psft"].state
    psft.account_deptids = {"410000": {"EQUIP"}}  # equipment revenue may not carry DEPTID WEB
    woo.drop_next_delivery = 10**6  # enqueue them together through the poller: one batch
    bad = new_paid_order(woo)  # the kettle maps to 410000 with DEPTID WEB
    coffee = [
        woo.create_order(
            lines=[{"product_id": 102, "name": "Beans", "sku": "COF-ORG-1KG", "price": "24.95", "quantity": n}],
            billing={"email": f"c{n}@example.com"},
            shipping="4.00",
        )
        for n in (1, 2, 3)
    ]
    woo.drop_next_delivery = 0
    stack.poll("woo-psft")
    assert stack.runtime.wait_until_drained(timeout=60)

    assert journals_for(stack, f"W{bad['number']}") == []
    for order in coffee:
        assert len(journals_for(stack, f"W{order['number']}")) == 1
    rows = [i for i in audit_items(stack) if i["pk"]["S"] == f"woo-psft|order|{bad['id']}"]
    review = [i for i in rows if i["event"]["S"] == "needs_review"]
    assert len(review) == 1
    assert "Invalid ChartField combination" in review[0]["detail"]["M"]["reason"]["S"]
    assert stack.runtime.queue_depth(stack.runtime.outputs["DeadLetterQueueUrl"]) == 0


def test_a_posted_order_costs_the_poster_four_dynamodb_round_trips(stack):
    """Idempotency claim and completion, one read of the order's bindings, one write of its audit
    entries, bindings and status: a regression to one call per item shows up here."""
    from tests.bench.common import ApiCalls

    woo = stack.stores["woocommerce"].state
    with ApiCalls() as calls:
        order = new_paid_order(woo)
        assert stack.runtime.wait_until_drained(timeout=60)
    poster_calls = {op: n for (role, op), n in calls.by_role.items() if role == "PosterFunction"}
    dynamodb = {op: n for op, n in poster_calls.items() if op.startswith("dynamodb:")}
    assert dynamodb == {
        "dynamodb:PutItem": 1,
        "dynamodb:BatchGetItem": 1,
        "dynamodb:BatchWriteItem": 1,
        "dynamodb:UpdateItem": 1,
    }, poster_calls
    assert events_for(stack, f"woo-psft|order|{order['id']}") == [
        "received",
        "processing",
        "customer_upserted",
        "posted",
    ]
