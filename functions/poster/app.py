"""SQS → ERP: each record posted exactly once; failures reported per item so only they are retried."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlconnector.observability import logger, metrics
from mlconnector.pipeline.context import Connector
from mlconnector.pipeline.poster import Poster
from mlconnector.tracing import tracer

processor = BatchProcessor(event_type=EventType.SQS)
poster = Poster(Connector())


def record_handler(record: SQSRecord) -> str:
    return poster.handle_record(record).status


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    poster.config.register_lambda_context(context)
    metrics.add_metric(name="BatchRecords", unit=MetricUnit.Count, value=len(event.get("Records", [])))
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
