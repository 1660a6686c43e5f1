"""The Shopify simulator's bulk query operations against Shopify's material (tests/contracts/shopify/bulk-operations,
admin-2025-10-bulk.graphql): it refuses what Shopify's bulk rules refuse with Shopify's user errors, runs one query
operation at a time, writes the JSONL result as Shopify lays it out, serves it without a token until it expires,
and tells bulk_operations/finish subscribers as Shopify's webhook does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Request, Response

from sandbox.contracts import contract_json
from sandbox.runner import RunningServer, serve
from sandbox.shopify import ShopifyState, create_app, hmac_header
from tests.support.clock import Clock

RULES = contract_json("shopify", "bulk-operations/query-rules.json")["bulkOperationRunQuery"]
MESSAGES = RULES["messages"]
NOW = datetime(2025, 10, 20, 12, 0, tzinfo=UTC)
RUN = (
    "mutation Run($query: String!, $grouped: Boolean!) { bulkOperationRunQuery(query: $query, groupObjects: $grouped) "
    "{ bulkOperation { id status } userErrors { field message code } } }"
)
STATUS = (
    "query Status($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode objectCount "
    "rootObjectCount url partialDataUrl fileSize completedAt } } }"
)
ORDERS = (
    "{ orders(sortKey: UPDATED_AT) { edges { node { id name "
    "lineItems { edges { node { id sku } } } shippingLines { edges { node { id title } } } } } } }"
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shop(clock: Clock) -> Iterator[tuple[ShopifyState, RunningServer, str]]:
    state = ShopifyState(plan="plus", seed=11, clock=clock)
    state.generate_orders(6, 11, end=NOW)
    server = serve(create_app(state))
    yield state, server, state.add_static_token()
    server.stop()


def ask(shop, document: str, **variables: Any) -> dict[str, Any]:
    state, server, token = shop
    answer = requests.post(
        f"{server.url}/admin/api/{state.api_version}/graphql.json",
        json={"query": document, "variables": variables},
        headers={"X-Shopify-Access-Token": token},
        timeout=10,
    ).json()
    assert "errors" not in answer, answer
    return answer["data"]


def run(shop, query: str, grouped: bool = True) -> dict[str, Any]:
    return ask(shop, RUN, query=query, grouped=grouped)["bulkOperationRunQuery"]


def finished(shop, operation: str) -> dict[str, Any]:
    for _ in range(500):
        node = ask(shop, STATUS, id=operation)["node"]
        if node["status"] not in ("CREATED", "RUNNING", "CANCELING"):
            return node
        time.sleep(0.01)
    raise AssertionError("the operation did not finish")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ shop { name } }", MESSAGES["no_connection"]),
        ('{ node(id: "gid://shopify/Order/1") { id } }', MESSAGES["top_level_node"]),
        (
            "{ orders { edges { node { id a: lineItems { edges { node { id } } } "
            "b: lineItems { edges { node { id } } } c: shippingLines { edges { node { id } } } "
            "d: shippingLines { edges { node { id } } } "
            "e: lineItems { edges { node { id } } } } } } }",
            MESSAGES["too_many_connections"],
        ),
        (
            "{ orders { edges { node { id refunds { id transactions(first: 1) { nodes { id } } } } } } }",
            MESSAGES["connection_within_list"],
        ),
        (
            "{ orders { edges { node { name lineItems { edges { node { id } } } } } } }",
            MESSAGES["parent_without_id"].format(fields="node"),
        ),
        ('mutation { bulkOperationCancel(id: "x") { userErrors { message } } }', MESSAGES["not_a_query"]),
    ],
)
def test_queries_shopify_refuses_in_bulk_are_refused_with_its_user_error(shop, query: str, message: str) -> None:
    answer = run(shop, query)
    assert answer["bulkOperation"] is None
    assert {"field": RULES["refusal"]["field"], "message": message, "code": RULES["refusal"]["code"]} in answer[
        "userErrors"
    ]
    assert shop[0].bulk_operations == {}


def test_one_query_operation_at_a_time_the_second_refused_as_shopify_does(shop) -> None:
    state = shop[0]
    state.bulk_gate = threading.Event()
    first = run(shop, ORDERS)["bulkOperation"]
    refused = run(shop, ORDERS)
    state.bulk_gate.set()
    (expected,) = contract_json("shopify", "bulk-operations/operation-in-progress.json")["bulkOperationRunQuery"][
        "userErrors"
    ]
    assert refused["bulkOperation"] is None
    (error,) = refused["userErrors"]
    assert error["field"] == expected["field"] and error["code"] == expected["code"]
    assert error["message"] == expected["message"].rsplit("gid://", 1)[0] + f"{first['id']}."
    assert finished(shop, first["id"])["status"] == "COMPLETED"
    assert run(shop, ORDERS)["userErrors"] == []  # once it has finished, the next one runs


def test_the_result_is_jsonl_with_children_directly_below_their_parent(shop) -> None:
    state, _, _ = shop
    operation = finished(shop, run(shop, ORDERS)["bulkOperation"]["id"])
    assert operation["status"] == "COMPLETED" and operation["url"] and operation["partialDataUrl"] is None
    body = requests.get(operation["url"], timeout=10)  # a signed storage URL: no access token
    rows = [json.loads(line) for line in body.text.splitlines()]
    assert int(operation["fileSize"]) == len(body.content)
    assert int(operation["objectCount"]) == len(rows) and int(operation["rootObjectCount"]) == len(state.orders)
    example = [json.loads(line) for line in contract_json_lines("bulk-operations/orders-result.jsonl")]
    assert {"__parentId"} <= set(example[1]) and "__parentId" not in example[0]
    parent = None
    for row in rows:
        assert "lineItems" not in row and "shippingLines" not in row  # connections never inline
        if "__parentId" in row:
            assert row["__parentId"] == parent  # grouped: directly below its parent
        else:
            parent = row["id"]
    line_items = sum(len(o["line_items"]) for o in state.orders.values())
    assert sum(1 for r in rows if r["id"].startswith("gid://shopify/LineItem/")) == line_items


def test_ungrouped_results_put_children_after_other_parents(shop) -> None:
    operation = finished(shop, run(shop, ORDERS, grouped=False)["bulkOperation"]["id"])
    rows = [json.loads(line) for line in requests.get(operation["url"], timeout=10).text.splitlines()]
    seen: list[str] = []
    away = 0
    for row in rows:
        if "__parentId" in row:
            assert row["__parentId"] in seen  # after its parent, always
            away += row["__parentId"] != seen[-1]
        else:
            seen.append(row["id"])
    assert away > 0


def test_a_failed_operation_leaves_partial_data_and_an_expired_one_no_url(shop, clock: Clock) -> None:
    state = shop[0]
    state.bulk_failure = ("TIMEOUT", 2)
    failed = finished(shop, run(shop, ORDERS)["bulkOperation"]["id"])
    assert failed["status"] == "FAILED" and failed["errorCode"] == "TIMEOUT" and failed["url"] is None
    partial = requests.get(failed["partialDataUrl"], timeout=10).text.splitlines()
    assert sum(1 for line in partial if "__parentId" not in line) == 2

    done = finished(shop, run(shop, ORDERS)["bulkOperation"]["id"])
    clock.now += timedelta(days=RULES["result_url_expires_after_days"])
    expired = ask(shop, STATUS, id=done["id"])["node"]
    assert expired["status"] == "EXPIRED" and expired["url"] is None
    assert requests.get(done["url"], timeout=10).status_code == 403


def test_subscribers_hear_bulk_operations_finish_as_shopify_sends_it(shop) -> None:
    state = shop[0]
    heard: list[tuple[dict[str, str], bytes]] = []

    def receiver(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        heard.append((dict(request.headers), request.get_data()))
        return Response("ok")(environ, start_response)

    hook_server = serve(receiver)
    try:
        ask(
            shop,
            "mutation { webhookSubscriptionCreate(topic: BULK_OPERATIONS_FINISH, webhookSubscription: "
            f'{{uri: "{hook_server.url}/hooks", format: JSON}}) {{ userErrors {{ message }} }} }}',
        )
        operation = finished(shop, run(shop, ORDERS)["bulkOperation"]["id"])
        for _ in range(500):
            if heard:
                break
            time.sleep(0.01)
    finally:
        hook_server.stop()
    (headers, body), example = heard[0], contract_json("shopify", "bulk-operations/finish-webhook.json")
    payload = json.loads(body)
    assert headers["X-Shopify-Topic"] == "bulk_operations/finish"
    assert headers["X-Shopify-Hmac-Sha256"] == hmac_header(body, state.client_secret)
    assert set(payload) == set(example["bulk_operations/finish"])
    assert payload["admin_graphql_api_id"] == operation["id"]
    assert (payload["status"], payload["type"], payload["error_code"]) == ("completed", "query", None)


def contract_json_lines(name: str) -> list[str]:
    from sandbox.contracts import contract_path

    return contract_path("shopify", name).read_text(encoding="utf-8").splitlines()
