"""The dashboard's health strip: queue depths, dead letters not yet dealt with, and the last run of each
scheduled job, from the monitoring collectors that /metrics reads too."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from hydroponics.db.sql import statement
from hydroponics.monitoring.queues import queue_depths_or_unreadable
from hydroponics.monitoring.state import job_runs

_FAILED_TASKS = statement("SELECT count(*) FROM failed_tasks WHERE status = 'failed'")


def queue_depths() -> list[dict[str, Any]]:
    """Each work queue and DLQ by its short name; an unreadable one says so instead of failing the strip."""
    return [{"queue": name, "dead_letter": role == "dead_letter", "reachable": depth is not None,
             "visible": depth and depth.visible, "in_flight": depth and depth.in_flight,
             "delayed": depth and depth.delayed}
            for name, role, depth in queue_depths_or_unreadable()]


def _moment(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def jobs(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Every scheduled job's last run; overdue after two periods without one (one not yet run is not:
    a fresh stack's daily jobs have had no chance)."""
    return [{"job": run.job, "last_run": _moment(run.last_run_at), "every_seconds": run.every_seconds,
             "overdue": run.last_run_at is not None and now.timestamp() - run.last_run_at > 2 * run.every_seconds}
            for run in job_runs(session)]


def platform_status(session: Session, now: datetime, *, with_failed_tasks: bool) -> dict[str, Any]:
    """Queues, jobs, and (for platform operators: the table is not per client) the failed tasks to handle."""
    failed = session.execute(_FAILED_TASKS).scalar_one() if with_failed_tasks else None
    return {"generated_at": now, "queues": queue_depths(), "jobs": jobs(session, now), "failed_tasks": failed}
