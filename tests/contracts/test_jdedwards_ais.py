"""The JD Edwards adapter against AIS answering with Oracle's published material (not the simulator).

A small HTTP server plays AIS: it answers the token request with Oracle's example token responses
(``tests/contracts/jdedwards/token-response-*.json``), errors with the ServiceErrorResponse of
Oracle's schema, the data service with Oracle's F0101 example, and records what the adapter sends,
which is checked against Oracle's request schemas (``ais-rest.openapi.json``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from werkzeug.wrappers import Request, Response

from mlconnector.documents import LineClass, Posting, PostingKind, PostingLine
from mlconnector.errors import AuthError, ReviewError, TransientError
from mlconnector.targets.jdedwards.mapping import browse_rows
from mlconnector.targets.jdedwards.settings import JdeSettings
from mlconnector.targets.jdedwards.target import JdeTarget
from sandbox.contracts import contract_json
from sandbox.runner import serve

CREDENTIALS = {"username": "INTEGRATION", "password": "not-a-real-password"}
GL_DATE = date(2024, 5, 31)  # day 31: a day-first and a month-first date cannot be mistaken for each other
SPEC = contract_json("jdedwards", "ais-rest.openapi.json")


def schema(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]})


def token_response(name: str, **user_info: Any) -> dict[str, Any]:
    """Oracle's token response example ``name``, with ``userInfo`` fields changed (None removes one)."""
    body = copy.deepcopy(contract_json("jdedwards", name))
    for key, value in user_info.items():
        if value is None:
            body["userInfo"].pop(key)
        else:
            body["userInfo"][key] = value
    return body


def service_error(message: str, *, user_text: str = "", exception: str = "") -> dict[str, Any]:
    body = {"message": message, "status": "ERROR", "timeStamp": "2024-05-31T09:15:00.000Z", "type": "ERROR"}
    if exception:
        body["exception"] = exception
    if user_text:
        body["userDefinedErrorText"] = user_text
    assert not list(schema("ServiceErrorResponse").iter_errors(body))
    return body


@dataclass
class PublishedAis:
    """AIS as Oracle's material shows it: the answers are set by the test, the requests are kept."""

    token_body: dict[str, Any]
    #: Orchestration answers in turn (status, body); the last one repeats.
    orchestration_answers: list[tuple[int, dict[str, Any]]] = field(
        default_factory=lambda: [(200, {"BatchNumber": "1001", "DocumentNumber": 5001})]
    )
    data_answer: dict[str, Any] = field(
        default_factory=lambda: contract_json("jdedwards", "dataservice-f0101-response.json")
    )
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        body = request.get_json(silent=True)
        self.requests.append(
            {"path": request.path, "headers": dict(request.headers), "mimetype": request.mimetype, "body": body}
        )
        if request.path == "/jderest/v2/tokenrequest":
            answer = (200, self.token_body)
        elif request.path == "/jderest/v2/tokenrequest/logout":
            answer = (200, {})
        elif request.path.startswith("/jderest/v2/orchestrator/"):
            answer = (
                self.orchestration_answers.pop(0)
                if len(self.orchestration_answers) > 1
                else self.orchestration_answers[0]
            )
        elif request.path == "/jderest/v2/dataservice":
            answer = (200, self.data_answer)
        else:
            answer = (404, service_error("Not Found"))
        status, payload = answer
        return Response(json.dumps(payload), status=status, mimetype="application/json")(environ, start_response)

    def sent(self, path: str) -> list[dict[str, Any]]:
        """Requests to ``path`` (every path under it when it ends with ``/``)."""
        return [r for r in self.requests if r["path"] == path or (path.endswith("/") and r["path"].startswith(path))]


@pytest.fixture
def published() -> Iterator[Callable[..., tuple[PublishedAis, JdeTarget]]]:
    servers = []

    def start(token_body: dict[str, Any], **settings: Any) -> tuple[PublishedAis, JdeTarget]:
        ais = PublishedAis(token_body)
        server = serve(ais)
        servers.append(server)
        target = JdeTarget(
            JdeSettings(
                base_url=server.url,
                retry_attempts=2,
                retry_initial_delay=0.01,
                retry_max_delay=0.02,
                timeout_seconds=5,
                **settings,
            ),
            dict(CREDENTIALS),
        )
        return ais, target

    yield start
    for server in servers:
        server.stop()


def journal(reference: str = "J1042") -> Posting:
    lines = (
        PostingLine(
            line_class=LineClass.CLEARING, account="1110", amount=Decimal("59.99"), base_amount=Decimal("59.99")
        ),
        PostingLine(
            line_class=LineClass.REVENUE, account="4110", amount=Decimal("-54.54"), base_amount=Decimal("-54.54")
        ),
        PostingLine(line_class=LineClass.TAX, account="2150", amount=Decimal("-5.45"), base_amount=Decimal("-5.45")),
    )
    return Posting(
        kind=PostingKind.JOURNAL,
        reference=reference,
        connection="woo-jde",
        source_kind="order",
        source_id="1042",
        order_reference="1042",
        accounting_date=GL_DATE,
        currency="USD",
        base_currency="USD",
        description="Web order 1042",
        source_total=Decimal("59.99"),
        lines=lines,
    )


def gl_inputs(ais: PublishedAis) -> dict[str, Any]:
    [request] = ais.sent("/jderest/v2/orchestrator/")
    return request["body"]


# -- the token response ----------------------------------------------------------------------------


def test_oracles_token_response_is_accepted_and_its_token_used(published):
    """Oracle's example answers a successful token request with userAuthorized false: not a refusal."""
    documented = contract_json("jdedwards", "token-response-mde.json")
    assert documented["userAuthorized"] is False
    ais, target = published(documented)
    assert target.create_posting(journal(), None) == "1001/5001"
    [call] = ais.sent("/jderest/v2/orchestrator/")
    assert call["path"] == "/jderest/v2/orchestrator/ORCH_MLC_AddGLBatch"
    assert call["headers"]["Jde-Ais-Auth"] == documented["userInfo"]["token"]
    assert call["headers"]["Jde-Ais-Auth-Device"] == "ml-connector"
    assert call["mimetype"] == "application/json"
    assert gl_inputs(ais)["GLDate"] == "05/31/2024"  # MDE, MM/dd/yyyy


def test_gl_date_in_the_day_first_format_of_oracles_v2_example(published):
    documented = contract_json("jdedwards", "token-response-dme.json")
    assert documented["userInfo"]["simpleDateFormat"] == "dd/MM/yyyy"
    ais, target = published(documented)
    target.create_posting(journal(), None)
    assert gl_inputs(ais)["GLDate"] == "31/05/2024"


@pytest.mark.parametrize(
    ("user_info", "sent"),
    [
        ({"dateFormat": "DME", "dateSeperator": ".", "simpleDateFormat": "dd.MM.yyyy"}, "31.05.2024"),
        ({"dateFormat": "EMD", "dateSeperator": "-", "simpleDateFormat": "yyyy-MM-dd"}, "2024-05-31"),
        ({"dateFormat": "DME", "dateSeperator": ".", "simpleDateFormat": None}, "31.05.2024"),
    ],
    ids=["DMY-dots", "YMD-dashes", "code-and-separator-only"],
)
def test_gl_date_in_the_format_the_token_names_for_the_user(published, user_info, sent):
    ais, target = published(token_response("token-response-dme.json", **user_info))
    target.create_posting(journal(), None)
    assert gl_inputs(ais)["GLDate"] == sent


def test_the_profiles_date_format_wins_over_the_users(published):
    ais, target = published(contract_json("jdedwards", "token-response-dme.json"), date_format="yyyy/MM/dd")
    target.create_posting(journal(), None)
    assert gl_inputs(ais)["GLDate"] == "2024/05/31"


def test_a_token_response_naming_no_date_format_needs_the_profile_setting(published):
    nameless = token_response("token-response-mde.json", dateFormat=None, dateSeperator=None, simpleDateFormat=None)
    ais, target = published(nameless)
    with pytest.raises(TransientError, match="date_format"):
        target.create_posting(journal(), None)
    assert ais.sent("/jderest/v2/orchestrator/") == []
    _, configured = published(nameless, date_format="dd.MM.yyyy")
    assert configured.create_posting(journal(), None) == "1001/5001"


def test_the_token_request_is_oracles_login_request(published):
    ais, target = published(contract_json("jdedwards", "token-response-mde.json"))
    target.create_posting(journal(), None)
    target.close()
    [request] = ais.sent("/jderest/v2/tokenrequest")
    documented = contract_json("jdedwards", "token-request.json")
    assert request["mimetype"] == "application/json"
    assert set(request["body"]) == set(documented)  # the fields of Oracle's example, all of them LoginRequest's
    assert not list(schema("LoginRequest").iter_errors(request["body"]))
    [logout] = ais.sent("/jderest/v2/tokenrequest/logout")
    assert not list(schema("LogoutRequest").iter_errors(logout["body"]))


# -- errors ----------------------------------------------------------------------------------------


def test_invalid_token_444_gets_one_new_token_and_the_call_once_more(published):
    ais, target = published(contract_json("jdedwards", "token-response-dme.json"))
    ais.orchestration_answers = [
        (444, contract_json("jdedwards", "service-error-444.json")),
        (200, {"BatchNumber": "1001", "DocumentNumber": 5001}),
    ]
    assert target.create_posting(journal(), None) == "1001/5001"
    assert len(ais.sent("/jderest/v2/tokenrequest")) == 2
    assert len(ais.sent("/jderest/v2/orchestrator/")) == 2


def test_service_errors_are_classified_by_status_and_text(published):
    documented = contract_json("jdedwards", "token-response-dme.json")

    ais, target = published(documented)
    ais.orchestration_answers = [(400, service_error("Bad Request - Invalid JSON Input"))]
    with pytest.raises(ReviewError, match="Invalid JSON Input"):
        target.create_posting(journal(), None)

    ais, target = published(documented)
    ais.orchestration_answers = [(403, service_error("Authorization Failure"))]
    with pytest.raises(AuthError, match="Authorization Failure"):
        target.create_posting(journal(), None)

    ais, target = published(documented)
    ais.orchestration_answers = [(500, service_error("Server Failed to Process Request", exception="Exception"))]
    ais.data_answer = {"fs_DATABROWSE_F0911": {"data": {"gridData": {"rowset": [], "summary": {"records": 0}}}}}
    with pytest.raises(TransientError, match="Server Failed to Process Request") as caught:
        target.create_posting(journal(), None)
    assert not isinstance(caught.value, AuthError)

    ais, target = published(documented)
    custom = service_error("Exception", user_text="Batch reference J1042 is closed")
    ais.orchestration_answers = [(500, custom)]
    with pytest.raises(ReviewError, match="Batch reference J1042 is closed"):
        target.create_posting(journal(), None)


# -- the data service ------------------------------------------------------------------------------


def test_oracles_f0101_browse_response_is_read():
    rows, more = browse_rows(contract_json("jdedwards", "dataservice-f0101-response.json"), "F0101")
    assert [row["F0101_AN8"] for row in rows] == [7001, 7009, 7020, 7027, 7028] and more


def test_address_lookup_sends_a_documented_data_request_and_reads_the_answer(published):
    ais, target = published(contract_json("jdedwards", "token-response-mde.json"))
    row = target.address("7001")
    assert row == {"F0101_AT1": "O", "F0101_AN8": 7001, "F0101_ALPH": "Example Holding Company"}
    [request] = ais.sent("/jderest/v2/dataservice")
    assert not list(schema("DataRequest").iter_errors(request["body"]))
    documented = contract_json("jdedwards", "dataservice-f0101-request.json")
    assert set(request["body"]) == set(documented)
    assert set(request["body"]["query"]) == set(documented["query"])
