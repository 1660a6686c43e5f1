"""Pair 4 end to end for an AIS user whose date format is day-first with dots (DME, "."), as the token names it."""

from __future__ import annotations

from datetime import UTC, datetime

from local.stack import LocalStack
from sandbox.jdedwards import UserDates
from tests.e2e.test_woo_psft import new_paid_order


def test_woocommerce_to_jd_edwards_for_a_day_first_user_posts_and_reconciles():
    with LocalStack(connections=["woo-jde"]) as stack:
        jde = stack.erps["woo-jde"].state
        jde.user_date_formats["MLC_USER"] = UserDates("DME", ".")
        jde.expire_all_tokens()  # any token issued while the stack started named the old format
        woo = stack.stores["woo-jde"].state
        orders = [new_paid_order(woo) for _ in range(2)]
        refund = woo.add_refund(orders[0]["id"], lines={orders[0]["line_items"][0]["id"]: 1}, reason="dented")
        assert stack.runtime.wait_until_drained(timeout=90)

        assert set(jde.batches) == {
            *(f"J{order['number']}" for order in orders),
            f"J{orders[0]['number']}-R{refund['id']}",
        }
        assert jde.requests["form_error:0004"] == 0  # no date the user's format could not read
        today = datetime.now(UTC).date()
        report = stack.runtime.invoke("ReconcilerFunction", {"day": today.isoformat()})
        assert report["connections"]["woo-jde"] == {"checked": 3, "differences": 0, "statuses": {}}
