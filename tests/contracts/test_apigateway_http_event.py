"""The local runtime's API events against the HTTP API's published payload format 2.0 (tests/contracts/aws/): the
receiver reads on the local runtime the event API Gateway sends it on AWS."""

from __future__ import annotations

import base64
import http.client
import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from local.runtime import API_STAGE, api_event
from sandbox.runner import serve

PUBLISHED = json.loads((Path(__file__).parent / "aws" / "apigateway-http-payload-2.0.json").read_text())
#: In the published event only with features the webhook route does not use (mutual TLS, an authorizer, stage
#: variables) or when the request has them (cookies, a query string).
OPTIONAL = {"cookies", "queryStringParameters", "stageVariables"}
CONTEXT_OPTIONAL = {"authentication", "authorizer"}
ROUTE = "POST /webhooks/{connection}"


def _event(headers: list[tuple[str, str]], body: bytes, query: str = "") -> dict[str, Any]:
    builder = EnvironBuilder(path="/webhooks/woo-psft", query_string=query, method="POST", data=body)
    for name, value in headers:
        builder.headers.add(name, value)
    return api_event(Request(builder.get_environ()), ROUTE, {"connection": "woo-psft"})


def _shape(value: Any) -> Any:
    """Key names, nesting and JSON types of a value."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


def test_the_event_has_the_published_keys_nesting_and_types():
    event = _event([("Content-Type", "application/json"), ("Cookie", "a=1")], b'{"id": 1}', query="x=1&x=2")
    assert set(event) == set(PUBLISHED) - {"stageVariables"}  # the stage has none
    context_keys = set(PUBLISHED["requestContext"]) - CONTEXT_OPTIONAL
    assert set(event["requestContext"]) == context_keys
    published = _shape(PUBLISHED)
    for key in ("version", "routeKey", "rawPath", "rawQueryString", "body", "isBase64Encoded", "cookies"):
        assert _shape(event[key]) == published[key], key
    assert _shape(event["requestContext"]["http"]) == published["requestContext"]["http"]
    for key in context_keys - {"http"}:
        assert _shape(event["requestContext"][key]) == published["requestContext"][key], key
    assert event["queryStringParameters"] == {"x": "1,2"} and event["cookies"] == ["a=1"]


def test_names_are_lower_case_repeats_joined_and_the_named_stage_in_the_path():
    """Over HTTP through the server the local runtime's API runs on, which hands repeated headers on joined."""

    @Request.application
    def echo(request: Request) -> Response:
        event = api_event(request, ROUTE, {"connection": "woo-psft"})
        return Response(json.dumps(event), content_type="application/json")

    server = serve(echo)
    try:
        headers = [("X-WC-Webhook-Topic", "order.created"), ("X-Repeated", "one"), ("X-Repeated", "two")]
        connection = http.client.HTTPConnection("127.0.0.1", server.server.server_address[1], timeout=5)
        connection.putrequest("POST", "/webhooks/woo-psft")
        for name, value in [*headers, ("Content-Length", "2")]:
            connection.putheader(name, value)
        connection.endheaders(b"{}")
        event = json.loads(connection.getresponse().read())
    finally:
        server.stop()
    assert event["headers"]["x-wc-webhook-topic"] == "order.created"
    assert event["headers"]["x-repeated"] == "one,two"
    assert not [name for name in event["headers"] if name != name.lower()]
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == f"/{API_STAGE}/webhooks/woo-psft"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == ROUTE
    assert set(event) <= set(PUBLISHED) and not OPTIONAL & set(event)  # no cookie, no query: no such keys
    assert event["body"] == "{}" and event["isBase64Encoded"] is False


def test_powertools_reads_the_event_and_the_body_bytes_survive():
    raw = '{"total": "12.00", "name": "Zoë"}'.encode()
    binary = b"\xff\x00signed bytes"
    for body in (raw, binary):
        event = APIGatewayProxyEventV2(_event([("Content-Type", "application/json")], body))
        assert event.path_parameters == {"connection": "woo-psft"}
        assert event.request_context.http.method == "POST"
        assert event.headers.get("Content-Type") == "application/json"
        sent = base64.b64decode(event.body) if event.is_base64_encoded else event.body.encode()
        assert sent == body
    assert APIGatewayProxyEventV2(PUBLISHED).request_context.stage == "$default"


def test_the_sample_events_have_the_published_shape():
    samples = sorted((Path(__file__).parents[2] / "events" / "webhook_receiver").glob("*.json"))
    assert samples
    for sample in samples:
        event = json.loads(sample.read_text())
        assert set(event) <= set(PUBLISHED) and set(PUBLISHED) - OPTIONAL <= set(event), sample.name
        context = event["requestContext"]
        assert set(context) == set(PUBLISHED["requestContext"]) - CONTEXT_OPTIONAL, sample.name
        assert _shape(context["http"]) == _shape(PUBLISHED["requestContext"]["http"]), sample.name
        assert event["routeKey"] == ROUTE and event["rawPath"] == f"/{API_STAGE}/webhooks/woo-psft", sample.name
        assert not [name for name in event["headers"] if name != name.lower()], sample.name
