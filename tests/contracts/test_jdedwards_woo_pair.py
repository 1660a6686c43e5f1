"""Pair 4 (WooCommerce → JD Edwards) over the WooCommerce REST API docs' examples (tests/contracts/woocommerce/).

Each documented order the engine posts becomes GL orchestration inputs in Oracle's Generic input format
with the GL date in the AIS user's format, and is posted through the AIS sandbox (which checks what it
receives against Oracle's material) for a user whose format is day-first with dots. Each documented
customer becomes an Address Book entry. An order WooCommerce's own record leaves unposted (never paid,
or contradicting itself, which the WooCommerce mapping sends to review) has no JD Edwards side to check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mlconnector.accounting.engine import AccountingEngine
from mlconnector.documents import Posting
from mlconnector.errors import ReviewError
from mlconnector.profile import Connection, load_profile
from mlconnector.sources.woocommerce.source import WooCommerceSource
from mlconnector.targets.jdedwards.dates import JdeDateFormat
from mlconnector.targets.jdedwards.mapping import customer_payload, gl_batch_payload
from mlconnector.targets.jdedwards.settings import JdeSettings
from mlconnector.targets.jdedwards.target import JdeTarget
from sandbox.contracts import CONTRACTS
from sandbox.jdedwards import JdeState, UserDates, create_app
from tests.support.sandboxes import started_sandboxes

ROOT = Path(__file__).resolve().parents[2]
WOO = CONTRACTS / "woocommerce"
DAY_FIRST = JdeDateFormat.from_pattern("dd.MM.yyyy")
ACCOUNTS = {"100.1110", "100.1210", "100.2150", "100.2160", "100.4110", "100.4110.WEB", "100.4190", "100.4300"}
ACCOUNTS |= {"100.4900", "100.7990"}


def _documents(kind: str) -> list[tuple[str, dict[str, Any]]]:
    """The WooCommerce examples that are orders (``line_items`` and ``status``) or customers (``role``)."""
    found = []
    for path in sorted(WOO.glob("*.json")) if WOO.is_dir() else []:
        content = json.loads(path.read_text(encoding="utf-8"))
        items = content if isinstance(content, list) else [content]
        for item in items:
            if not isinstance(item, dict) or "$schema" in item:
                continue
            if (kind == "order" and {"line_items", "status"} <= set(item)) or (kind == "customer" and "role" in item):
                found.append((f"{path.stem}:{item.get('id')}", item))
    return found


ORDERS = _documents("order")
CUSTOMERS = _documents("customer")
pytestmark = pytest.mark.skipif(
    not ORDERS, reason="the WooCommerce docs' examples (tests/contracts/woocommerce/) are not in this tree"
)


@pytest.fixture(scope="module")
def connection() -> Connection:
    return load_profile(str(ROOT / "config/examples/woo-jde.yaml")).connection("woo-jde")


@pytest.fixture
def ais(connection: Connection) -> Iterator[tuple[JdeState, JdeTarget]]:
    with started_sandboxes(JdeState, create_app) as start:
        state, url = start(user_date_formats={"MLC_USER": UserDates("DME", ".")}, accounts=set(ACCOUNTS))
        settings = JdeSettings.model_validate({**connection.erp.model_dump(), "base_url": url, "timeout_seconds": 5})
        target = JdeTarget(settings, {"username": "MLC_USER", "password": "sandbox-password"})
        yield state, target
        target.close()


def postings_of(connection: Connection, payload: dict[str, Any]) -> list[Posting]:
    source = WooCommerceSource(connection.name, connection.store, {})  # type: ignore[arg-type]
    try:
        order = source.to_order(payload)
    except ReviewError as review:
        assert "WooCommerce" in review.reason  # WooCommerce's record, not the JD Edwards side
        return []
    if not order.paid:
        return []
    return AccountingEngine(connection.name, connection.accounting, connection.reference_prefix).order_postings(order)


def assert_generic_input_message(inputs: dict[str, Any]) -> None:
    """Oracle's Generic input format: one JSON object of named inputs; strings and numbers, arrays of objects."""
    json.dumps(inputs)  # nothing a JSON encoder would not take (no Decimal, no date)
    for name, value in inputs.items():
        if isinstance(value, list):
            assert all(isinstance(row, dict) for row in value), name
            assert all(isinstance(v, (str, int)) for row in value for v in row.values()), name
        else:
            assert isinstance(value, (str, int)), name


@pytest.mark.parametrize(("name", "payload"), ORDERS, ids=[name for name, _ in ORDERS])
def test_documented_order_becomes_a_gl_batch_in_the_users_date_format(connection, ais, name, payload):
    state, target = ais
    postings = postings_of(connection, payload)
    for posting in postings:
        inputs = gl_batch_payload(posting, target.settings, DAY_FIRST)
        assert_generic_input_message(inputs)
        assert inputs["BatchReference"] == posting.reference and len(posting.reference) <= 25
        assert inputs["GLDate"] == DAY_FIRST.format(posting.accounting_date)
        amounts = [Decimal(row["Amount"]) for row in inputs["GridData"]]
        assert sum(amounts) == 0 and amounts == [line.base_amount for line in posting.lines]

        erp_id = target.create_posting(posting, None)
        assert target.find_posting(posting) == erp_id
        batch = state.batches[posting.reference]
        assert batch["gl_date"] == posting.accounting_date
        assert sum(line["AA"] for line in batch["lines"]) == 0
    assert state.requests["form_error:0004"] == 0


@pytest.mark.parametrize(("name", "payload"), CUSTOMERS, ids=[name for name, _ in CUSTOMERS])
def test_documented_customer_becomes_an_address_book_entry(connection, ais, name, payload):
    state, target = ais
    customer = WooCommerceSource(connection.name, connection.store, {}).to_customer(payload)  # type: ignore[arg-type]
    inputs = customer_payload(customer, target.settings)
    assert_generic_input_message(inputs)
    an8 = target.upsert_customer(customer)
    [row] = state.f0101
    assert str(row["AN8"]) == an8 and row["ALKY"] == inputs["LongAddressNumber"]
    assert row["ALPH"] == inputs["AlphaName"] and 0 < len(row["ALPH"]) <= 40
    assert target.upsert_customer(customer) == an8
