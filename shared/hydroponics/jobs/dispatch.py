"""`run_job(name, event)`: runs one scheduled job in its own unit of work and says what it did."""

import time
from datetime import UTC, datetime
from typing import Any, Callable

from sqlalchemy.orm import Session

from hydroponics.crops.stages import advance_due_stages
from hydroponics.db.engine import session_scope
from hydroponics.db.sql import statement
from hydroponics.errors import InvalidInput
from hydroponics.jobs.calibration_due import raise_calibrations_due
from hydroponics.jobs.drift import detect_drift
from hydroponics.observability import logger

Job = Callable[[Session, datetime], dict[str, Any]]

# The run's duration on the job.ran event the job just wrote (its newest), in the same transaction.
_STAMP_DURATION = statement("""
UPDATE events SET details = details || jsonb_build_object('duration_seconds', CAST(:seconds AS float8))
WHERE id = (SELECT id FROM events WHERE client_id IS NULL AND event_type = 'job.ran' AND subject_id = :job
            ORDER BY occurred_at DESC, id DESC LIMIT 1)
""")

JOBS: dict[str, Job] = {
    "advance_stages": advance_due_stages,     # hourly
    "calibration_due": raise_calibrations_due,  # daily
    "drift": detect_drift,                    # daily
}


def run_job(name: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
    """Runs job `name` now (each job logs its own run as a `job.ran` event); unknown names raise."""
    job = JOBS.get(name)
    if job is None:
        raise InvalidInput(f"unknown job {name!r}", details=[{"field": "job", "reason": f"one of {', '.join(JOBS)}"}])
    started = time.monotonic()
    with session_scope() as session:
        outcome = job(session, datetime.now(UTC))
        session.execute(_STAMP_DURATION, {"seconds": round(time.monotonic() - started, 3), "job": name})
    logger.info("scheduled job ran", extra={"job": name, "input": event or {}, **outcome})
    return {"job": name, **outcome}
