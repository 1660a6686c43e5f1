"""The scheduled reconciler confirms postings landed in the ERP and reports what did not."""

from __future__ import annotations

from datetime import UTC, datetime

from local.stack import LocalStack
from tests.e2e.test_woo_psft import new_paid_order
from tests.support.stack import audit_items


def test_reconciler_confirms_postings_and_reports_a_missing_journal():
    with LocalStack(connections=["woo-psft"]) as stack:
        woo = stack.stores["woo-psft"].state
        orders = [new_paid_order(woo) for _ in range(3)]
        assert stack.runtime.wait_until_drained(timeout=60)
        today = datetime.now(UTC).date().isoformat()

        clean = stack.runtime.invoke("ReconcilerFunction", {"day": today})
        assert clean["connections"]["woo-psft"] == {"checked": 3, "differences": 0, "statuses": {}}

        psft = stack.erps["woo-psft"].state
        with psft.lock:  # somebody deletes a journal inside PeopleSoft
            stored = psft._records["JOURNAL_ENTRY_CI"]
            victim = next(k for k, j in stored.items() if j["PROP_DESCR"].startswith(f"ref:W{orders[1]['number']} |"))
            del stored[victim]
        found = stack.runtime.invoke("ReconcilerFunction", {"day": today})
        assert found["connections"]["woo-psft"]["differences"] == 1
        assert found["connections"]["woo-psft"]["statuses"] == {"missing in ERP": 1}

        entries = [i for i in audit_items(stack) if i["pk"]["S"] == f"woo-psft|reconciliation|{today}"]
        assert len(entries) == 2
        reported = [d["S"] for e in entries for d in e["detail"]["M"].get("differences", {}).get("L", [])]
        assert reported == [f"W{orders[1]['number']}: missing in ERP"]
