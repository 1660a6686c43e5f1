"""Scheduled: confirm the day's postings landed in the ERP (inquiry / read-back) and report differences.

Differences are written to the audit trail and emitted as a metric per connection; nothing is fixed
silently. Operators see the same comparison with `mlc reconcile --date D`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from mlconnector.observability import logger, metrics
from mlconnector.ops.reconcile import record_reconciliation
from mlconnector.pipeline.context import Connector
from mlconnector.tracing import tracer

connector = Connector()


class ReconcileRequest(BaseModel):
    """The schedule's Input: the day to check (default yesterday, UTC) and optionally which connections."""

    model_config = ConfigDict(extra="ignore")

    day: date | None = None
    connections: list[str] | None = None


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = parse(event=event, model=ReconcileRequest)
    day = request.day or (datetime.now(UTC).date() - timedelta(days=1))
    metrics.add_metric(name="ReconcilerRuns", unit=MetricUnit.Count, value=1)
    summary = record_reconciliation(connector, day, request.connections)
    return {"day": day.isoformat(), "connections": summary}
