"""Pair 5 end to end on the local runtime, against a Fusion simulator that refuses what Fusion refuses: a new
WooCommerce customer becomes a party, then an account with a bill-to site; the order's tax lands to the cent as
line tax lines; the refund's credit memo is posted on account and the audit trail and the reconciliation say so."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from local.stack import LocalStack
from tests.e2e.test_jde_fusion import CUSTOMER, order_for
from tests.support.stack import audit_items


def test_woocommerce_to_fusion_customer_tax_and_on_account_credit_memo():
    with LocalStack(connections=["woo-fusion"]) as stack:
        woo = stack.stores["woo-fusion"].state
        fusion = stack.erps["woo-fusion"].state
        customer = woo.add_customer(**CUSTOMER, country="US")
        placed = order_for(woo, customer["id"])
        assert stack.runtime.wait_until_drained(timeout=90)
        refund = woo.add_refund(placed["id"], lines={placed["line_items"][1]["id"]: 1}, reason="opened")
        assert stack.runtime.wait_until_drained(timeout=90)

        [party] = fusion.customers
        [account] = fusion.accounts
        assert "AccountNumber" not in party and account["PartyId"] == party["PartyId"]
        invoice = fusion.invoice(f"F{placed['number']}")
        assert invoice["BillToCustomerNumber"] == account["AccountNumber"]
        assert invoice["TaxAmount"] == Decimal(placed["total_tax"])  # the store's tax, to the cent
        assert invoice["EnteredAmount"] == Decimal(placed["total"])
        [memo] = fusion.credit_memos
        assert memo["CreditMemoCurrency"] == placed["currency"]
        assert -memo["TransactionBalanceDue"] == Decimal(refund["amount"])  # on account, not applied

        memo_reference = f"F{placed['number']}-R{refund['id']}"
        posted = [
            i["detail"]["M"]
            for i in audit_items(stack)
            if i["event"]["S"] == "posted" and i["detail"]["M"].get("reference", {}).get("S") == memo_reference
        ]
        assert len(posted) == 1 and posted[0]["remark"]["S"].startswith("on account:")

        today = datetime.now(UTC).date().isoformat()
        summary = stack.runtime.invoke("ReconcilerFunction", {"day": today})["connections"]["woo-fusion"]
        assert summary["differences"] == 0 and summary["checked"] == 3  # invoice, receipt, credit memo
        [entry] = [i for i in audit_items(stack) if i["pk"]["S"] == f"woo-fusion|reconciliation|{today}"]
        notes = [n["S"] for n in entry["detail"]["M"]["notes"]["L"]]
        assert len(notes) == 1 and notes[0].startswith(f"{memo_reference}: on account:")
