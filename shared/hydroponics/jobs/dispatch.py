"""`run_job(name, event)`: runs one scheduled job in its own unit of work and says what it did."""

from datetime import UTC, datetime
from typing import Any, Callable

from sqlalchemy.orm import Session

from hydroponics.crops.stages import advance_due_stages
from hydroponics.db.engine import session_scope
from hydroponics.errors import InvalidInput
from hydroponics.jobs.calibration_due import raise_calibrations_due
from hydroponics.jobs.drift import detect_drift
from hydroponics.observability import logger

Job = Callable[[Session, datetime], dict[str, Any]]

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
    with session_scope() as session:
        outcome = job(session, datetime.now(UTC))
    logger.info("scheduled job ran", extra={"job": name, "input": event or {}, **outcome})
    return {"job": name, **outcome}
