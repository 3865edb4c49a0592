"""Rules function: stores each batch from the readings queue (rule evaluation follows in its issue)."""

from hydroponics.observability import logger, metrics
from hydroponics.readings.batch import store_or_retry_later


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    outcome = store_or_retry_later(event.get("Records", []))
    metrics.add_metric(name="ReadingsStored", unit="Count", value=outcome.stored)
    metrics.add_metric(name="ReadingMessagesFailed", unit="Count", value=len(outcome.failed_message_ids))
    logger.info("readings batch", extra={"stored": outcome.stored, "failed": len(outcome.failed_message_ids)})
    return outcome.as_sqs_response()
