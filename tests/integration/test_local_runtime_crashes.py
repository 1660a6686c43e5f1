"""The local runtime's crash injection: an invocation run in a container process of its own, killed partway."""

from __future__ import annotations

import pytest

from local.runtime import ContainerKilled
from local.stack import LocalStack
from tests.support.stack import journals_for


@pytest.fixture(scope="module")
def stack():
    with LocalStack(connections=["woo-psft"]) as stack:
        yield stack


def test_a_container_that_returns_before_its_kill_is_a_normal_invocation(stack):
    woo = stack.stores["woo-psft"].state
    woo.generate_orders(3, seed=61)
    stack.runtime.crash_next_invocations("PollerFunction", 1, after_call="sqs:SendMessageBatch", calls=1000)

    result = stack.poll("woo-psft")

    assert result["connection"] == "woo-psft" and result["polled"]["orders"] >= 3
    (crash,) = stack.runtime.crashes
    assert crash.function == "PollerFunction" and crash.killed_at is None and crash.peak_rss_kb > 0
    stack.runtime.crash_next_invocations("PollerFunction", 0, after_call="sqs:SendMessageBatch")
    assert stack.runtime.wait_until_drained(timeout=120)


def test_a_poller_killed_after_its_first_enqueue_loses_nothing(stack):
    """Killed right after its first SendMessageBatch: ten records are on the queue, neither their `enqueued` audit
    entries nor the watermark are written. The next poll lists them all again; each order posts once."""
    woo = stack.stores["woo-psft"].state
    orders = woo.generate_orders(25, seed=63, span_days=0)
    before = len(stack.runtime.crashes)
    stack.runtime.crash_next_invocations("PollerFunction", 1, after_call="sqs:SendMessageBatch", calls=1)

    with pytest.raises(ContainerKilled):
        stack.poll("woo-psft")

    killed = stack.runtime.crashes[before]
    assert killed.killed_at is not None and killed.killed_at >= killed.started
    assert stack.runtime.stats["PollerFunction"].errors >= 1
    again = stack.poll("woo-psft")  # the crash is spent: an ordinary invocation
    assert again["polled"]["orders"] >= len(orders)
    assert len(stack.runtime.crashes) == before + 1
    assert stack.runtime.wait_until_drained(timeout=180)
    with woo.lock:
        paid = [o for o in orders if woo.orders[o["id"]]["status"] in ("processing", "completed")]
    assert paid
    for order in paid:
        assert len(journals_for(stack, f"W{order['number']}")) == 1, order["number"]
