"""Scheduled: make sure every store still delivers webhooks to this stack (re-enable, re-register)."""

from __future__ import annotations

import os

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlconnector.observability import logger, metrics
from mlconnector.pipeline.context import Connector
from mlconnector.pipeline.keeper import keep_webhooks
from mlconnector.tracing import tracer

connector = Connector()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    metrics.add_metric(name="KeeperRuns", unit=MetricUnit.Count, value=1)
    connections = event.get("connections") or None
    reports = keep_webhooks(connector, os.environ["WEBHOOK_BASE_URL"], connections)
    return {r.connection: {"error": r.error} if r.error else {s.topic: s.action for s in r.statuses} for r in reports}
