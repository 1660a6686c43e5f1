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


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    poster.config.register_lambda_context(context)
    records = [SQSRecord(raw) for raw in event.get("Records", [])]
    metrics.add_metric(name="BatchRecords", unit=MetricUnit.Count, value=len(records))
    # The records run side by side (their ERP calls in turn); Powertools reports the failed ones.
    outcomes = poster.handle_batch(records, seconds_left=lambda: context.get_remaining_time_in_millis() / 1000)

    def record_handler(record: SQSRecord) -> str:
        return outcomes[record.message_id].result().status

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
