"""The alerting minute (escalation function): escalate, check silent sensors, send digests, requeue lost messages.

Each step runs in its own transaction, so one failing step neither rolls back nor blocks the others;
the run still fails afterwards (the function's error metric and its retry see it). Notifications a
step queues are published when its transaction commits (the outbox's after-commit hook).
"""

import time
from datetime import UTC, datetime
from typing import Any, Callable

from sqlalchemy.orm import Session

from hydroponics.alerts.escalation import escalate_unacknowledged
from hydroponics.climate import commands as ac_commands
from hydroponics.db.engine import session_scope
from hydroponics.events import record_event
from hydroponics.notifications.digest import send_digests
from hydroponics.notifications.outbox import requeue_stale_pending, stage
from hydroponics.observability import logger
from hydroponics.rules.no_data import check_silent_sensors

JOB = "escalation"


def requeue_lost_notifications(session: Session, now: datetime) -> dict[str, Any]:
    """Pending notifications whose queue message was probably lost are queued again."""
    ids = requeue_stale_pending(session, now)
    stage(session, ids)
    return {"requeued": len(ids)}


def requeue_lost_ac_commands(session: Session, now: datetime) -> dict[str, Any]:
    """Queued AC commands whose queue message was probably lost are queued again (grouped by unit)."""
    commands = ac_commands.requeue_stale_queued(session, now)
    ac_commands.stage(session, commands)
    return {"requeued": len(commands)}


STEPS: dict[str, Callable[[Session, datetime], dict[str, Any]]] = {
    "escalate": escalate_unacknowledged,
    "no_data": check_silent_sensors,
    "digests": send_digests,
    "requeue": requeue_lost_notifications,
    "requeue_ac": requeue_lost_ac_commands,
}


class AlertingStepsFailed(Exception):
    """One or more steps of the alerting minute raised (the others ran)."""


def run_alerting_minute(now: datetime | None = None) -> dict[str, Any]:
    moment = now or datetime.now(UTC)
    started = time.monotonic()
    outcome: dict[str, Any] = {}
    failed: list[str] = []
    for name, step in STEPS.items():
        try:
            with session_scope() as session:
                outcome[name] = step(session, moment)
        except Exception:  # noqa: BLE001 - the other steps still run; the run fails below
            logger.exception("alerting step failed", extra={"step": name})
            failed.append(name)
    with session_scope() as session:  # the scheduler's heartbeat in the events log
        record_event(session, "job.ran", client_id=None, actor="scheduler", subject_type="job", subject_id=JOB,
                     details={"steps": outcome, "failed": failed,
                              "duration_seconds": round(time.monotonic() - started, 3)})
    logger.info("alerting minute", extra={"steps": outcome, "failed": failed})
    if failed:
        raise AlertingStepsFailed(", ".join(failed))
    return {"job": JOB, **outcome}
