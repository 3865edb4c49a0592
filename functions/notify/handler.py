"""Notify function: delivers queued notifications through their channels (retries by visibility, then the DLQ)."""

from hydroponics.monitoring.backlog import tracked
from hydroponics.notifications.worker import process_batch
from hydroponics.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracked("notifications")
def handler(event: dict, context: object) -> dict:
    outcome = process_batch(event.get("Records", []),
                            time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="NotificationsSent", unit="Count", value=outcome.sent)
    metrics.add_metric(name="NotificationsFailed", unit="Count", value=len(outcome.failed))
    logger.info("notifications batch", extra={"sent": outcome.sent, "skipped": outcome.skipped,
                                              "refused": outcome.refused, "failed": len(outcome.failed)})
    return outcome.as_sqs_response()
