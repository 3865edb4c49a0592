"""Dead-letters function: records each message of any dead-letter queue in failed_tasks (for retry or discard)."""

from hydroponics.dead_letters import record_dead_letters
from hydroponics.monitoring.backlog import forget_dead_letters
from hydroponics.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    records = event.get("Records", [])
    response = record_dead_letters(records)
    forget_dead_letters(records)  # they age their DLQ now (as failed tasks), no longer their work queue
    failed = len(response["batchItemFailures"])
    metrics.add_metric(name="DeadLettersRecorded", unit="Count", value=len(records) - failed)
    return response
