"""The BigCommerce simulator holds to BigCommerce's published OpenAPI files, and orders with fees post.

The simulator checks every request it receives and every answer it sends against the subsets
transcribed in ``tests/contracts/bigcommerce/``; these tests show it refuses both kinds of
violation, and that the source, over real HTTP, reads an order's fees and both shapes of tax rows
so that the order posts balanced with each fee on the fees account.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from mlconnector.accounting.engine import AccountingEngine
from mlconnector.accounting.rules import MappingRules
from mlconnector.documents import LineClass
from mlconnector.envelope import RecordKind
from mlconnector.http import RetryPolicy
from mlconnector.sources.bigcommerce.settings import BigCommerceSettings
from mlconnector.sources.bigcommerce.source import BigCommerceSource
from sandbox.bigcommerce import BigCommerceState, create_app
from sandbox.runner import RunningServer, serve

FAST = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.05, read_timeout=5)
RULES = {
    "base_currency": "USD",
    "default_revenue": {"account": "400000"},
    "default_tax": {"account": "220000"},
    "default_payment": {"account": "101000"},
    "shipping": {"account": "400500"},
    "fees": {"account": "400600"},
    "receivable": {"account": "120000"},
    "gift_card": {"account": "230000"},
    "store_credit": {"account": "231000"},
    "rounding": {"account": "999000"},
}
ITEMS = [
    {"name": "Able Brewing System", "sku": "ABS", "price": "225.00", "quantity": 1},
    {"name": "Coffee", "sku": "OCB1", "price": "23.99", "quantity": 3, "tax_rate_id": 2},
]
FEES = [("Retail delivery fee", "0.28", False), ("Packaging fee", "1.50", True)]


@pytest.fixture
def state() -> BigCommerceState:
    return BigCommerceState(quota=100_000, access_token="sandbox-token-123")


@pytest.fixture
def store(state: BigCommerceState) -> Iterator[RunningServer]:
    server = serve(create_app(state))
    yield server
    server.stop()


def api(state: BigCommerceState, store: RunningServer, path: str, **kwargs: Any) -> requests.Response:
    headers = {"X-Auth-Token": state.access_token, "Accept": "application/json", "Content-Type": "application/json"}
    headers.update(kwargs.pop("headers", {}))
    method = kwargs.pop("method", "GET")
    url = f"{store.url}/stores/{state.store_hash}/{path}"
    return requests.request(method, url, headers=headers, timeout=5, **kwargs)


def source_for(state: BigCommerceState, store: RunningServer) -> BigCommerceSource:
    settings = BigCommerceSettings(store_hash=state.store_hash, api_base_url=store.url)
    return BigCommerceSource("bc-it", settings, {"access_token": state.access_token}, retry_policy=FAST)


# ----------------------------------------------------------------------------- the simulator refuses


def test_an_answer_with_a_field_the_spec_lacks_is_refused(state, store) -> None:
    order = state.create_order(ITEMS, deliver=False)
    state.orders[order["id"]]["surprise_total"] = "1.0000"  # not a field of order_Resp
    answer = api(state, store, f"v2/orders/{order['id']}")
    assert answer.status_code == 500
    assert "surprise_total" in answer.json()[0]["message"]
    (refusal,) = state.contract_refusals
    assert refusal.startswith(f"response GET /stores/{state.store_hash}/v2/orders/{order['id']}")


def test_an_answer_with_a_wrongly_typed_field_is_refused(state, store) -> None:
    order = state.create_order(ITEMS, coupon=("SAVE5", "5.00"), deliver=False)
    state.coupons[order["id"]][0]["discount"] = "5.0000"  # the spec says a number
    answer = api(state, store, f"v2/orders/{order['id']}/coupons")
    assert answer.status_code == 500
    assert "0/discount" in answer.json()[0]["message"]
    assert len(state.contract_refusals) == 1


def test_an_undeclared_success_status_is_refused(state, store, monkeypatch) -> None:
    from werkzeug.wrappers import Response

    monkeypatch.setattr(type(create_app(state)), "do_order_sub", lambda self, request, oid, sub: Response(status=204))
    order = state.create_order(ITEMS, deliver=False)
    answer = api(state, store, f"v2/orders/{order['id']}/products")
    assert answer.status_code == 500
    assert "status 204 is not declared" in state.contract_refusals[0]


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "named"),
    [
        ("v2/orders?sort=total:asc", {}, 400, "sort"),  # not a field the list sorts by
        ("v2/orders/{oid}?include=refunds", {}, 400, "include"),  # include takes consignments and fees
        ("v2/orders?min_id=first", {}, 400, "min_id"),  # an integer
        ("v3/customers?sort=id:asc", {}, 400, "sort"),
        ("v3/hooks", {"method": "POST", "json": {"scope": "store/order/*"}}, 422, "destination"),
        ("v3/hooks", {"method": "POST", "json": {"scope": "x", "destination": "https://a.example", "x": 1}}, 422, "x"),
    ],
)
def test_a_request_the_spec_refuses_is_refused(state, store, path, kwargs, status, named) -> None:
    order = state.create_order(ITEMS, deliver=False)
    answer = api(state, store, path.format(oid=order["id"]), **kwargs)
    assert answer.status_code == status
    (refusal,) = state.contract_refusals
    assert refusal.startswith("request ") and named in refusal


def test_authentication_is_checked_before_the_contract(state, store) -> None:
    answer = api(state, store, "v2/orders?sort=total:asc", headers={"X-Auth-Token": "wrong"})
    assert answer.status_code == 401
    assert state.contract_refusals == []


# ----------------------------------------------------------------------------- fees, both tax shapes


@pytest.mark.parametrize("itemised_taxes", [True, False], ids=["rows-per-line", "rows-per-address"])
@pytest.mark.parametrize("inclusive", [False, True], ids=["tax-exclusive", "tax-inclusive"])
def test_an_order_with_fees_posts_with_each_fee_on_the_fees_account(state, store, itemised_taxes, inclusive) -> None:
    """Fails on the adapter before #18: it read the order without include=fees, so the fees (and the
    packaging fee's tax) were missing and the order did not balance."""
    order = state.create_order(
        ITEMS,
        tax_inclusive=inclusive,
        shipping="9.99",
        coupon=("SAVE10", "10.00"),
        fees=FEES,
        itemised_taxes=itemised_taxes,
        deliver=False,
    )
    source = source_for(state, store)
    mapped = source.to_order(source.fetch(RecordKind.ORDER, str(order["id"])))
    (posting,) = AccountingEngine("bc-it", MappingRules.model_validate(RULES), "B").order_postings(mapped)
    assert posting.balanced and posting.source_total == Decimal(order["total_inc_tax"])
    fees = sorted(line.amount for line in posting.lines if line.line_class is LineClass.FEE)
    served = sorted(-Decimal(f["cost_ex_tax"]) for f in state.fees[order["id"]])
    assert fees == served and {line.account for line in posting.lines if line.line_class is LineClass.FEE} == {"400600"}
    tax = -sum((line.amount for line in posting.lines if line.line_class is LineClass.TAX), Decimal(0))
    assert tax == Decimal(order["total_tax"])  # the packaging fee's tax included
    assert not [line for line in posting.lines if line.line_class is LineClass.ROUNDING]
    assert state.contract_refusals == []


def test_polled_orders_carry_their_fees(state, store) -> None:
    from datetime import UTC, datetime, timedelta

    order = state.create_order(ITEMS, fees=FEES, itemised_taxes=False, deliver=False)
    (changed,) = source_for(state, store).changed_since("orders", datetime.now(UTC) - timedelta(hours=1))
    assert [f["id"] for f in changed.payload["order"]["fees"]] == [f["id"] for f in state.fees[order["id"]]]
    assert all("order_product_id" not in row for row in changed.payload["taxes"])
    assert state.contract_refusals == []
