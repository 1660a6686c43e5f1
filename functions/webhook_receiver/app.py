"""POST /webhooks/{connection}: verify the store's signature on the raw body, enqueue, answer 200."""

from __future__ import annotations

import base64
import binascii
import json

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlconnector.observability import logger, metrics, tracer
from mlconnector.pipeline.context import Connector
from mlconnector.pipeline.receiver import receive_webhook

app = APIGatewayRestResolver()
connector = Connector()


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


@app.post("/webhooks/<connection>")
def webhook(connection: str) -> Response:
    event = app.current_event
    try:
        raw = (
            base64.b64decode(event.body or "", validate=True)
            if event.is_base64_encoded
            else (event.body or "").encode()
        )
    except (binascii.Error, ValueError):
        return _json(400, {"message": "bad request"})
    answer = receive_webhook(connector, connection, event.headers, raw)
    return _json(answer.status, answer.body)


@app.exception_handler(Exception)
def unavailable(exc: Exception) -> Response:
    """AWS-side trouble (queue, table): 503 so the store retries; the caller never sees a trace."""
    logger.exception("webhook not accepted", extra={"error": type(exc).__name__})
    return _json(503, {"message": "temporarily unavailable"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    metrics.add_metric(name="WebhookRequests", unit=MetricUnit.Count, value=1)
    return app.resolve(event, context)
