"""Rules function: stores each batch from the readings queue, then evaluates the stored readings against the rules.

Evaluation runs in its own transaction after the store committed. If it fails with a database
error, the batch's stored messages are reported as item failures and come back: storing again is a
no-op (readings are keyed by sensor and time) and rule states skip what was already evaluated, so a
retry neither loses nor double-counts a reading.
"""

from sqlalchemy.exc import SQLAlchemyError

from hydroponics.correlation import of_sqs_record
from hydroponics.db.engine import session_scope
from hydroponics.faults import crash_point
from hydroponics.monitoring.backlog import tracked
from hydroponics.observability import logger, metrics
from hydroponics.readings.batch import BatchOutcome, store_or_retry_later
from hydroponics.rules.engine import EvaluationOutcome, evaluate_readings


def evaluate_or_retry(outcome: BatchOutcome) -> EvaluationOutcome | None:
    """Evaluate what the store step stored; on a database error, hand those messages back to the queue."""
    if not outcome.readings:
        return None
    try:
        with session_scope() as session:
            return evaluate_readings(session, [reading for _, reading in outcome.readings])
    except SQLAlchemyError as exc:
        logger.warning("rule evaluation failed; the batch comes back", extra={"readings": len(outcome.readings),
                                                                              "error": str(exc)})
        for message_id, _ in outcome.readings:  # a message of several readings is handed back once
            outcome.fail(message_id)
        metrics.add_metric(name="RuleEvaluationsFailed", unit="Count", value=1)
        return None


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracked("readings")
def handler(event: dict, context: object) -> dict:
    outcome = store_or_retry_later(event.get("Records", []))
    metrics.add_metric(name="ReadingsStored", unit="Count", value=outcome.stored)
    evaluation = evaluate_or_retry(outcome)
    metrics.add_metric(name="ReadingMessagesFailed", unit="Count", value=len(outcome.failed_message_ids))
    # never storable, sent to the DLQ at once (listed in /admin/failed-tasks with the reason): alarm on it
    metrics.add_metric(name="ReadingsRefused", unit="Count", value=len(outcome.refused))
    summary = {"stored": outcome.stored, "failed": len(outcome.failed_message_ids), "refused": len(outcome.refused),
               # the API requests these readings came from (follow one in the ingest, notify and ac_control logs)
               "correlation_ids": sorted({cid for r in event.get("Records", []) if (cid := of_sqs_record(r))})}
    if evaluation is not None:
        metrics.add_metric(name="ReadingsEvaluated", unit="Count", value=evaluation.readings_evaluated)
        metrics.add_metric(name="AlertsOpened", unit="Count", value=len(evaluation.alerts_opened))
        metrics.add_metric(name="AlertsResolved", unit="Count", value=len(evaluation.alerts_resolved))
        metrics.add_metric(name="AlertRepeats", unit="Count", value=evaluation.repeats)
        metrics.add_metric(name="NotificationsQueued", unit="Count", value=evaluation.notifications_queued)
        summary |= {"evaluated": evaluation.readings_evaluated, "skipped": evaluation.readings_skipped,
                    "alerts_opened": len(evaluation.alerts_opened), "alerts_resolved": len(evaluation.alerts_resolved),
                    "actions_requested": len(evaluation.actions)}
    logger.info("readings batch", extra=summary)
    crash_point("rules.after_evaluation", event.get("Records", []))
    return outcome.as_sqs_response()
