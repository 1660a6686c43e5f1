"""Fault soak in the suite: ``tests/bench/soak.py`` at 2,000 orders (``make soak`` runs it at 10,000).

Every pair of the local profile at once, the stores sending while the pollers overlap, every fault the
simulators inject, poster containers killed partway through their batches, a dead-letter round trip through
``mlc redrive`` and a webhook keeper run after the stores disabled their webhooks. Then: every paid order and
refund in its ERP exactly once and balanced, every audit trail complete, no secret in a log line or audit
record, nothing left in the DLQ. ``SOAK_ORDERS`` changes the size. Killed batches come back after 30 s here
instead of the queue's 540 s visibility timeout, so that the suite does not wait nine minutes for them.
"""

from __future__ import annotations

import pytest

from tests.bench.soak import Soak, SoakPlan

PLAN = SoakPlan.from_environment(
    2000,
    poll_every=150.0,
    crash_visible_again_after=30.0,
    dead_letter_orders=8,
    keeper_orders=3,
    drain_timeout=900.0,
)


@pytest.mark.slow
def test_fault_soak(capfd, record_property):
    result = Soak(PLAN).run(lambda: "".join(capfd.readouterr()))
    summary = result.summary()
    print(summary)
    record_property("counts", summary)

    assert not result.problems(), result.problems()
    assert result.documents_by_kind["order"] >= PLAN.orders * 0.7 and result.documents_by_kind["refund"] >= 5

    # The faults did happen: failed attempts retried, duplicates suppressed, connections reset, containers killed
    # partway (some of their records done, the rest back after the visibility timeout).
    assert result.events["failed"] > 0 and result.events["duplicate_suppressed"] > 0
    assert result.faults["erp_connection_resets"] > 0 and result.faults["store_connection_resets"] > 0
    assert result.crashes["killed"] > 0
    assert 0 < result.crashes["finished_before_the_kill"] < result.crashes["records_in_their_batches"]

    # The dead-letter round trip: every order sent into the outage was dead-lettered, then posted once.
    forced = result.dead_letters["paid_orders_sent_into_the_outage"]
    assert forced > 0 and result.dead_letters["all_of_them_dead_lettered"]
    assert result.dead_letters["moved_by_mlc_redrive"] >= forced
    assert result.dead_letters["posted_after_redrive"] == forced

    # The keeper: nothing delivered while the webhooks were off, every delivery accepted once it had run.
    keeper = result.keeper
    assert keeper["deliveries_while_disabled"] == 0
    assert keeper["keeper_actions"].get("reactivated", 0) + keeper["keeper_actions"].get("created", 0) > 0
    assert keeper["deliveries_after_keeper"] > 0
    assert keeper["delivered_ok_after_keeper"] == keeper["deliveries_after_keeper"]
