"""SQS (from the Shopify partner event bus's rule): each message an EventBridge event holding a webhook;
enqueue the envelope the signed HTTPS delivery would give, with its audit entry. Partial batch failures."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlconnector.observability import logger, metrics
from mlconnector.pipeline.receiver import Receiver, receive_events

receiver = Receiver()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=SQSEvent)
def lambda_handler(event: SQSEvent, context: LambdaContext) -> dict:
    messages = [(record.message_id, record.body) for record in event.records]
    metrics.add_metric(name="EventBridgeEvents", unit=MetricUnit.Count, value=len(messages))
    failed = receive_events(receiver, messages)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
