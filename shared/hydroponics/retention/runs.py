"""The record of retention runs (`retention_runs`): queued, started, each step done, finished.

A step's counters and description are written in the transaction that deletes its rows (or drops
its partition), so the record never claims more, or less, than PostgreSQL has given up. Monitoring
reads the job's last success from here: status, started_at, finished_at, duration_seconds.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.db.sql import statement
from hydroponics.errors import Conflict, NotFound
from hydroponics.records.pagination import Keyset, Page, PageRequest

JOB = "retention"  # the scheduled job's name: alerts.job, the event log, monitoring
LOCK = "hashtext('hydroponics.retention')"  # one retention run (or restore) at a time (job.retention_lock)
RUN_ORDER = Keyset("retention_runs", {"r.requested_at": datetime, "r.id": uuid.UUID}, descending=True)
COUNTERS = ("readings_archived", "readings_deleted", "events_archived", "events_deleted", "partitions_created",
            "partitions_dropped", "objects_written", "bytes_written")
_COLUMNS = ("r.id, r.status, r.requested_by, r.requested_at, r.started_at, r.finished_at, r.duration_seconds, "
            + ", ".join(f"r.{c}" for c in COUNTERS) + ", r.steps, r.errors, r.alert_id")


@dataclass(frozen=True)
class RunRecord:
    id: uuid.UUID
    status: str
    requested_by: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    readings_archived: int
    readings_deleted: int
    events_archived: int
    events_deleted: int
    partitions_created: int
    partitions_dropped: int
    objects_written: int
    bytes_written: int
    steps: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    alert_id: uuid.UUID | None


def queue_run(session: Session, requested_by: str) -> uuid.UUID:
    """A run asked for through the API, to be started by the retention function; 409 if one is under way.

    When nobody holds the retention lock, no run is alive: a run still `running`, or `queued` for
    longer than a function takes to start, was lost (a crash, a function that failed to start) and is
    marked interrupted instead of blocking this one."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('retention_runs.queue'))"))
    if session.execute(text(f"SELECT pg_try_advisory_xact_lock({LOCK})")).scalar():
        session.execute(text("UPDATE retention_runs SET status = 'interrupted', finished_at = now(),"
                             " errors = errors || CAST(:error AS jsonb) WHERE status = 'running'"
                             " OR (status = 'queued' AND requested_at < now() - interval '2 minutes')"),
                        {"error": json.dumps([{"error": "interrupted: the run never started or stopped early"}])})
    busy = session.execute(text("SELECT id FROM retention_runs WHERE status IN ('queued', 'running')"
                                " LIMIT 1")).scalar_one_or_none()
    if busy is not None:
        raise Conflict(f"retention run {busy} is already queued or running")
    return session.execute(text("INSERT INTO retention_runs (requested_by) VALUES (:by) RETURNING id"),
                           {"by": requested_by}).scalar_one()


def start_run(session: Session, requested_by: str, run_id: uuid.UUID | None = None) -> uuid.UUID:
    """Mark runs left `running` or `queued` by a crash as interrupted (the caller holds the retention
    lock, so none of them is alive), then start `run_id` (queued by the API) or a new run."""
    session.execute(text("UPDATE retention_runs SET status = 'interrupted', finished_at = now(),"
                         " errors = errors || CAST(:error AS jsonb)"
                         " WHERE status IN ('queued', 'running') AND id IS DISTINCT FROM :id"),
                    {"id": run_id, "error": json.dumps([{"error": "interrupted: the run stopped before it finished"}])})
    if run_id is not None:
        started = session.execute(text("UPDATE retention_runs SET status = 'running', started_at = now()"
                                       " WHERE id = :id RETURNING id"), {"id": run_id}).scalar_one_or_none()
        if started is not None:
            return started
    return session.execute(text("INSERT INTO retention_runs (requested_by, status, started_at)"
                                " VALUES (:by, 'running', now()) RETURNING id"), {"by": requested_by}).scalar_one()


def skip_run(session: Session, requested_by: str, run_id: uuid.UUID | None, reason: str) -> uuid.UUID:
    """Another run holds the lock: record this one as skipped."""
    error = json.dumps([{"error": reason}])
    if run_id is not None:
        skipped = session.execute(text("UPDATE retention_runs SET status = 'skipped', finished_at = now(),"
                                       " errors = errors || CAST(:error AS jsonb) WHERE id = :id RETURNING id"),
                                  {"id": run_id, "error": error}).scalar_one_or_none()
        if skipped is not None:
            return skipped
    return session.execute(text("INSERT INTO retention_runs (requested_by, status, started_at, finished_at, errors)"
                                " VALUES (:by, 'skipped', now(), now(), CAST(:error AS jsonb)) RETURNING id"),
                           {"by": requested_by, "error": error}).scalar_one()


_ADD_STEP = statement(
    "UPDATE retention_runs SET steps = steps || CAST(:step AS jsonb), "
    + ", ".join(f"{c} = {c} + :{c}" for c in COUNTERS) + " WHERE id = :id")


def record_step(session: Session, run_id: uuid.UUID, step: dict[str, Any], **counts: int) -> None:
    """Add a step done and its counts, in the caller's transaction (the one that deleted the rows)."""
    unknown = set(counts) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")
    session.execute(_ADD_STEP, {"id": run_id, "step": json.dumps([step], default=str)}
                    | {c: counts.get(c, 0) for c in COUNTERS})


def finish_run(session: Session, run_id: uuid.UUID, status: str, errors: list[dict[str, Any]] | None = None,
               alert_id: uuid.UUID | None = None) -> None:
    session.execute(text(
        "UPDATE retention_runs SET status = :status, finished_at = now(),"
        " duration_seconds = EXTRACT(EPOCH FROM now() - coalesce(started_at, requested_at)),"
        " errors = errors || CAST(:errors AS jsonb), alert_id = coalesce(CAST(:alert AS uuid), alert_id)"
        " WHERE id = :id"), {"id": run_id, "status": status, "errors": json.dumps(errors or [], default=str),
                             "alert": alert_id})


def get_run(session: Session, run_id: uuid.UUID) -> RunRecord:
    row = session.execute(text(f"SELECT {_COLUMNS} FROM retention_runs r WHERE r.id = :id"),
                          {"id": run_id}).one_or_none()
    if row is None:
        raise NotFound(f"retention run {run_id} not found")
    return RunRecord(**row._mapping)


def list_runs(session: Session, request: PageRequest, status: str | None = None) -> Page[RunRecord]:
    page = RUN_ORDER.clause(request)
    where = " AND r.status = :status" if status else ""
    rows = session.execute(text(f"SELECT {_COLUMNS} FROM retention_runs r WHERE {page.after}{where}"
                                f" ORDER BY {page.order_by} {page.limit}"), {"status": status} | page.params)
    return RUN_ORDER.page([RunRecord(**row._mapping) for row in rows], request)
