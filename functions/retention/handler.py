"""Retention function (daily 02:00 UTC): keeps the readings partitions ahead of time.

Archiving and dropping expired partitions arrive with the retention issue; until then every run
creates the coming months' partitions and is recorded in the events log.
"""

import time

from hydroponics.db.engine import session_scope
from hydroponics.events import record_event
from hydroponics.observability import logger
from hydroponics.readings.partitions import ensure_partitions_ahead


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    started = time.monotonic()
    with session_scope() as session:
        created = ensure_partitions_ahead(session)
        record_event(session, "job.ran", client_id=None, actor="scheduler", subject_type="job",
                     subject_id="retention", details={"partitions_created": created,
                                                      "duration_seconds": round(time.monotonic() - started, 3)})
    logger.info("readings partitions ensured", extra={"partitions_created": created})
    return {"job": "retention", "partitions_created": created}
