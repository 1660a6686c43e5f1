"""WooCommerce → PeopleSoft with the posting style a profile chooses (AR pending items or AP vouchers), through
CI WSDLs generated in either naming style (KEYPROP_/PROP_/COLL_ element names, or plain field and record names)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from local.stack import LocalStack
from tests.e2e.test_woo_psft import new_paid_order

ROOT = Path(__file__).resolve().parents[2]


WSDL_STYLES = ["prefixed", "unprefixed"]


def _profile(tmp_path: Path, style: str, wsdl_style: str) -> Path:
    profile = yaml.safe_load((ROOT / "config/local.yaml").read_text())
    connection = next(c for c in profile["connections"] if c["name"] == "woo-psft")
    connection["accounting"] = {**connection["accounting"], "posting_style": style}
    connection["erp"]["wsdl_style"] = wsdl_style
    if style == "voucher":
        connection["erp"]["voucher_vendor_id"] = "STRIPE01"
    path = tmp_path / f"{style}.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def _stack(tmp_path: Path, style: str, wsdl_style: str) -> LocalStack:
    return LocalStack(
        profile_path=_profile(tmp_path, style, wsdl_style),
        connections=["woo-psft"],
    )


def _marker(row: dict) -> str:
    return row["PROP_DESCR"][4:].split(" | ", 1)[0]


@pytest.mark.parametrize("wsdl_style", WSDL_STYLES)
def test_orders_as_ar_items_with_receipts_and_a_credit_memo(tmp_path, wsdl_style):
    with _stack(tmp_path, "ar_invoice", wsdl_style) as stack:
        woo = stack.stores["woo-psft"].state
        orders = [new_paid_order(woo) for _ in range(2)]
        assert stack.runtime.wait_until_drained(timeout=60)
        refund = woo.add_refund(orders[0]["id"], amount="10.00", reason="goodwill")
        assert stack.runtime.wait_until_drained(timeout=60)
        items = {_marker(row): row for row in stack.erps["woo-psft"].state.ar_items}

    for order in orders:
        invoice = items[f"W{order['number']}"]
        assert invoice["PROP_ENTRY_TYPE"] == "IN" and Decimal(str(invoice["PROP_ENTRY_AMT"])) == Decimal(order["total"])
        receipts = [r for ref, r in items.items() if ref.startswith(f"W{order['number']}-P")]
        assert len(receipts) == 1 and receipts[0]["PROP_ENTRY_TYPE"] == "PY"
    memo = items[f"W{orders[0]['number']}-R{refund['id']}"]
    assert memo["PROP_ENTRY_TYPE"] == "CR" and abs(Decimal(str(memo["PROP_ENTRY_AMT"]))) == Decimal("10.00")
    assert len(items) == 5  # two invoices, two receipts, one credit memo: nothing twice


@pytest.mark.parametrize("wsdl_style", WSDL_STYLES)
def test_orders_as_vouchers(tmp_path, wsdl_style):
    with _stack(tmp_path, "voucher", wsdl_style) as stack:
        woo = stack.stores["woo-psft"].state
        woo.duplicate_next_delivery = 1
        order = new_paid_order(woo)
        assert stack.runtime.wait_until_drained(timeout=60)
        vouchers = stack.erps["woo-psft"].state.vouchers
    (voucher,) = vouchers
    assert voucher["PROP_INVOICE_ID"] == f"W{order['number']}"
    assert abs(Decimal(str(voucher["PROP_GROSS_AMT"]))) == Decimal(order["total"])
