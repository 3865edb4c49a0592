"""Behaviour of functions whose issue has not landed yet: deployable, invocable, and honest about it.

A scheduled job still records each run in the events log (so operators and tests can see the
schedule fire); a queue consumer leaves its messages on the queue (they are not lost).
"""


from hydroponics.db.engine import session_scope
from hydroponics.events import record_event
from hydroponics.observability import logger


def not_yet_scheduled(job: str, event: dict) -> dict:
    logger.info("scheduled job ran (not implemented yet)", extra={"job": job})
    with session_scope() as session:
        record_event(session, "job.ran", client_id=None, actor="scheduler", subject_type="job", subject_id=job,
                     details={"implemented": False, "input": event})
    return {"job": job, "implemented": False}


def not_yet_batch(consumer: str, event: dict) -> dict:
    records = event.get("Records", [])
    logger.warning("consumer not implemented yet; returning messages to the queue", extra={"consumer": consumer})
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
