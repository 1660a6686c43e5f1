"""POST /webhooks/{connection}: verify the store's signature on the raw body, enqueue, answer 200.

The HTTP API routes exactly one route here (payload format 2.0), so the handler reads the proxy event
through Powertools' ``APIGatewayProxyEventV2`` instead of loading the full event-handler router: this is
the function a store waits on, and its cold start is kept to what it needs (see docs/benchmarks.md).
"""

from __future__ import annotations

import base64
import binascii
import json

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlconnector.observability import logger, metrics
from mlconnector.pipeline.receiver import Receiver, receive_webhook

receiver = Receiver()


def _json(status: int, body: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _raw_body(event: APIGatewayProxyEventV2) -> bytes | None:
    """The body exactly as the store sent it (signatures are over these bytes); None if undecodable."""
    body = event.body or ""
    try:
        return base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode()
    except (binascii.Error, ValueError):
        return None


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=APIGatewayProxyEventV2)
def lambda_handler(event: APIGatewayProxyEventV2, context: LambdaContext) -> dict:
    metrics.add_metric(name="WebhookRequests", unit=MetricUnit.Count, value=1)
    connection = (event.path_parameters or {}).get("connection", "")
    raw = _raw_body(event)
    if raw is None:
        return _json(400, {"message": "bad request"})
    try:
        answer = receive_webhook(receiver, connection, event.headers, raw)
    except Exception as exc:  # AWS-side trouble (queue, table): 503 so the store retries; never a trace
        logger.exception("webhook not accepted", extra={"error": type(exc).__name__})
        return _json(503, {"message": "temporarily unavailable"})
    return _json(answer.status, answer.body)
