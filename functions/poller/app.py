"""Scheduled poll of one connection: every configured resource changed since its watermark goes on the queue."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from mlconnector.observability import logger, metrics
from mlconnector.pipeline.context import Connector
from mlconnector.pipeline.poller import poll
from mlconnector.tracing import tracer

connector = Connector()


class PollRequest(BaseModel):
    """The schedule's Input: which connection, optionally which resources, and when it was scheduled."""

    model_config = ConfigDict(extra="ignore")

    connection: str
    resources: tuple[str, ...] | None = None
    scheduled_time: str = ""


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = parse(event=event, model=PollRequest)
    logger.set_correlation_id(request.scheduled_time or context.aws_request_id)
    metrics.add_metric(name="PollRuns", unit=MetricUnit.Count, value=1)
    resources = request.resources or connector.connection(request.connection).polling.resources
    results = [poll(connector, request.connection, resource) for resource in resources]
    return {
        "connection": request.connection,
        "polled": {r.resource: r.records for r in results},
        "watermarks": {r.resource: r.watermark.isoformat() if r.watermark else None for r in results},
    }
