"""The dashboard's health strip: queue depths (one GetQueueAttributes per queue), dead letters not yet
dealt with, and the last run of each scheduled job (its `job.ran` event).

A minimal collector of its own until the monitoring collectors (issue 12) land; then this module
should read theirs instead.
"""

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.orm import Session

from hydroponics.aws import client
from hydroponics.db.sql import statement
from hydroponics.observability import logger
from hydroponics.settings import get_settings

# What the template schedules, and how often: a job is overdue after two periods without a run (one
# that has not run yet is not: a fresh stack's daily jobs have had no chance).
SCHEDULED_JOBS = {"escalation": timedelta(minutes=1), "advance_stages": timedelta(hours=1),
                  "calibration_due": timedelta(days=1), "drift": timedelta(days=1), "retention": timedelta(days=1)}
QUEUE_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed"]

_LAST_RUNS = statement("""
SELECT subject_id AS job, max(occurred_at) AS last_run FROM events
WHERE client_id IS NULL AND event_type = 'job.ran' GROUP BY subject_id
""")
_FAILED_TASKS = statement("SELECT count(*) FROM failed_tasks WHERE status = 'failed'")


def _queues() -> list[tuple[str, str, bool]]:
    """(name, URL, is a DLQ) of the work queues and their dead-letter queues."""
    settings = get_settings()
    work = [(url.rsplit("/", 1)[-1], url, False) for url in
            (settings.readings_queue_url, settings.notifications_queue_url, settings.ac_commands_queue_url) if url]
    # A DLQ lives beside the work queue it catches for: same account and region, its own name.
    dead = [(name, f"{source.rsplit('/', 1)[0]}/{name}", True) for name, source in settings.dead_letter_sources.items()]
    return work + dead


def queue_depths() -> list[dict[str, Any]]:
    depths = []
    for name, url, is_dlq in _queues():
        entry: dict[str, Any] = {"queue": name, "dead_letter": is_dlq, "visible": None, "in_flight": None,
                                 "delayed": None, "reachable": False}
        try:
            attributes = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=QUEUE_ATTRIBUTES)["Attributes"]
        except (BotoCoreError, ClientError):
            logger.exception("status: queue attributes unavailable", extra={"queue": name})
        else:
            entry.update(visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
                         in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                         delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)), reachable=True)
        depths.append(entry)
    return depths


def job_runs(session: Session, now: datetime) -> list[dict[str, Any]]:
    last = {row.job: row.last_run for row in session.execute(_LAST_RUNS)}
    runs = []
    for job in [*SCHEDULED_JOBS, *sorted(set(last) - set(SCHEDULED_JOBS))]:
        period = SCHEDULED_JOBS.get(job)
        ran = last.get(job)
        runs.append({"job": job, "last_run": ran, "every_seconds": period and int(period.total_seconds()),
                     "overdue": bool(period) and ran is not None and now - ran > 2 * period})
    return runs


def platform_status(session: Session, now: datetime, *, with_failed_tasks: bool) -> dict[str, Any]:
    """Queues, jobs, and (for platform operators: the table is not per client) the failed tasks to handle."""
    failed = session.execute(_FAILED_TASKS).scalar_one() if with_failed_tasks else None
    return {"generated_at": now, "queues": queue_depths(), "jobs": job_runs(session, now), "failed_tasks": failed}
