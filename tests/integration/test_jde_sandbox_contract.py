"""The AIS sandbox holds to Oracle's published material: it refuses what Oracle does not document."""

from __future__ import annotations

import json

import pytest
import requests
from jsonschema import Draft202012Validator

from sandbox.contracts import contract_json
from sandbox.jdedwards import JdeState, UserDates, create_app
from tests.support.sandboxes import started_sandboxes

LOGIN = {"username": "MLC_USER", "password": "sandbox-password", "deviceName": "tests", "environment": "JDV920"}


def schema(name: str) -> Draft202012Validator:
    spec = contract_json("jdedwards", "ais-rest.openapi.json")
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


def documented(name: str, body: object) -> bool:
    return not list(schema(name).iter_errors(body))


@pytest.fixture
def sandbox():
    with started_sandboxes(JdeState, create_app) as start:
        yield start


def login(url: str) -> dict:
    response = requests.post(f"{url}/jderest/v2/tokenrequest", json=LOGIN, timeout=5)
    assert response.status_code == 200
    return response.json()


def call(url: str, path: str, token: str, body: dict) -> requests.Response:
    headers = {"jde-AIS-Auth": token, "jde-AIS-Auth-Device": LOGIN["deviceName"]}
    return requests.post(f"{url}{path}", json=body, headers=headers, timeout=5)


def test_token_response_is_oracles_shape_with_the_users_date_format(sandbox):
    _, url = sandbox(user_date_formats={"MLC_USER": UserDates("DME", ".")})
    body = login(url)
    assert documented("LoginResponse", body)
    assert set(body) == set(contract_json("jdedwards", "token-response-mde.json"))
    info = body["userInfo"]
    assert (info["dateFormat"], info["dateSeperator"], info["simpleDateFormat"]) == ("DME", ".", "dd.MM.yyyy")
    assert body["userAuthorized"] is False  # as in Oracle's example of a successful token request


def test_token_request_with_an_undocumented_field_or_not_as_json_is_refused(sandbox):
    state, url = sandbox()
    refused = requests.post(f"{url}/jderest/v2/tokenrequest", json={**LOGIN, "tenant": "x"}, timeout=5)
    assert refused.status_code == 400 and "tenant" in refused.json()["message"]
    assert documented("ServiceErrorResponse", refused.json())
    as_form = requests.post(f"{url}/jderest/v2/tokenrequest", data=json.dumps(LOGIN), timeout=5)
    assert as_form.status_code == 415
    assert state.requests["tokenrequest"] == 1


def test_an_unknown_token_is_444_with_a_service_error_response(sandbox):
    _, url = sandbox()
    response = call(url, "/jderest/v2/orchestrator/ORCH_MLC_AddGLBatch", "not-a-token", {"BatchReference": "W1"})
    assert response.status_code == 444 and documented("ServiceErrorResponse", response.json())


def test_orchestrations_are_served_on_the_documented_v2_path_only(sandbox):
    _, url = sandbox()
    token = login(url)["userInfo"]["token"]
    assert call(url, "/jderest/v3/orchestrator/ORCH_MLC_GetGLBatch", token, {"BatchReference": "W1"}).status_code == 404
    assert call(url, "/jderest/v2/orchestrator/ORCH_MLC_GetGLBatch", token, {"BatchReference": "W1"}).status_code == 200


@pytest.mark.parametrize("gl_date", ["05/31/2024", "2024-05-31", "31/05/2024", "1717113600000"])
def test_a_gl_date_not_in_the_users_format_fails_the_orchestration(sandbox, gl_date):
    state, url = sandbox(user_date_formats={"MLC_USER": UserDates("DME", ".")})
    token = login(url)["userInfo"]["token"]
    inputs = {
        "BatchReference": "W1",
        "Company": "00001",
        "GLDate": gl_date,
        "CurrencyCode": "USD",
        "GridData": [{"Account": "100.1210", "Amount": "1"}, {"Account": "100.4110", "Amount": "-1"}],
    }
    response = call(url, "/jderest/v2/orchestrator/ORCH_MLC_AddGLBatch", token, inputs)
    assert response.status_code == 400 and "Invalid Date" in json.dumps(response.json())
    assert state.batches == {}
    accepted = call(url, "/jderest/v2/orchestrator/ORCH_MLC_AddGLBatch", token, {**inputs, "GLDate": "31.05.2024"})
    assert accepted.status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"targetType": "tabel"},
        {"dataServiceType": "LIST"},
        {"query": {"matchType": "ALL", "condition": []}},
        {"query": {"condition": [{"controlId": "F0101.AN8", "operator": "LIKE", "value": [{"content": "1"}]}]}},
        {"query": {"condition": [{"controlId": "F0101.AN8", "operator": "EQUAL", "value": [{"content": 1}]}]}},
    ],
    ids=["target-type", "service-type", "match-type", "operator", "numeric-content"],
)
def test_data_requests_outside_oracles_schema_are_refused(sandbox, change):
    _, url = sandbox()
    token = login(url)["userInfo"]["token"]
    request = {**contract_json("jdedwards", "dataservice-f0101-request.json"), **change}
    response = call(url, "/jderest/v2/dataservice", token, request)
    assert response.status_code == 400 and documented("ServiceErrorResponse", response.json())


def test_oracles_f0101_browse_is_answered_in_oracles_shape(sandbox):
    state, url = sandbox()
    for number in (6999, 7001, 7002):
        state.add_account_row({"AN8": number, "ALPH": f"Entry {number}", "AT1": "C", "ALKY": ""})
    token = login(url)["userInfo"]["token"]
    response = call(url, "/jderest/v2/dataservice", token, contract_json("jdedwards", "dataservice-f0101-request.json"))
    grid = response.json()["fs_DATABROWSE_F0101"]["data"]["gridData"]
    example = contract_json("jdedwards", "dataservice-f0101-response.json")["fs_DATABROWSE_F0101"]["data"]["gridData"]
    assert set(grid) == set(example) and set(grid["columns"]) == set(example["columns"])
    assert [row["F0101_AN8"] for row in grid["rowset"]] == [7001, 7002]
    assert all(set(row) == set(example["rowset"][0]) for row in grid["rowset"])
    assert grid["summary"] == {"records": 2, "moreRecords": False}
