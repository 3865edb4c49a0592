"""A retention run: the coming months' partitions, then every step of the plan, each one archived
and verified before its rows leave PostgreSQL.

Each step is one transaction: the rows are taken (a whole partition under a SHARE lock, so nothing
is added while it is archived, else `DELETE .. RETURNING` of exactly the expired rows), written to
the archive and read back, recorded (retention_archives, the run's counters), and only then does
the transaction drop the partition or commit the delete. A crash before that commit rolls the
delete back (the rows stay; the archive already holding them is merged, not doubled, next time);
after it, the rows are gone and the verified archive holds them. Runs are serialised by a session
advisory lock, which PostgreSQL releases when a crashed run's connection goes; the next run marks
the crashed one `interrupted` and carries on from what is left.
"""

import uuid
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.alerts.job_alerts import job_failed, job_succeeded
from hydroponics.db.bulk import copy_out, epoch_us, literal
from hydroponics.db.engine import get_engine, session_scope
from hydroponics.observability import logger
from hydroponics.readings.partitions import drop_partition, ensure_partitions_ahead
from hydroponics.retention import archive
from hydroponics.retention.archive import EVENTS, READINGS, ArchivedTable
from hydroponics.retention.catalogue import record_archive
from hydroponics.retention.horizons import Horizons, current_horizons
from hydroponics.retention.plan import ArchiveStep, PartitionDrop, RetentionPlan, plan_partition, plan_retention
from hydroponics.retention.runs import JOB, LOCK, RunRecord, finish_run, get_run, record_step, skip_run, start_run

LOCK_TIMEOUT = "10s"  # detaching waits this long for queries on readings, then the step is retried next run

_READING_COLUMNS = (f"r.sensor_id, r.client_id, {epoch_us('r.recorded_at')}, r.value, r.raw_value,"
                    f" {epoch_us('r.received_at')}, s.external_id, s.sensor_type, s.location")
_NOT_HELD = ("NOT EXISTS (SELECT 1 FROM retention_holds ho WHERE ho.client_id = r.client_id AND ho.hold_until > now()"
             " AND r.recorded_at >= ho.starts_at AND r.recorded_at < ho.ends_at)")


class RetentionLocked(RuntimeError):
    """Another retention run (or a restore) holds the lock."""


def _select_partition_rows(partition: str, client_id: uuid.UUID) -> str:
    return (f"SELECT {_READING_COLUMNS} FROM {partition} r JOIN sensors s ON s.id = r.sensor_id"
            f" WHERE r.client_id = {literal(client_id)}")


def _delete_readings(step: ArchiveStep) -> str:
    return (f"DELETE FROM readings r USING sensors s WHERE s.id = r.sensor_id AND r.client_id = {literal(step.client_id)}"
            f" AND r.recorded_at >= {literal(step.start)} AND r.recorded_at < {literal(step.end)} AND {_NOT_HELD}"
            f" RETURNING {_READING_COLUMNS}")


def _delete_events(step: ArchiveStep) -> str:
    return (f"DELETE FROM events e WHERE e.client_id IS NOT DISTINCT FROM {literal(step.client_id)}"
            f" AND e.occurred_at >= {literal(step.start)} AND e.occurred_at < {literal(step.end)}"
            f" RETURNING e.id, e.client_id, e.event_type, e.actor, e.subject_type, e.subject_id, e.details::text,"
            f" {epoch_us('e.occurred_at')}")


def _archive(session: Session, run_id: uuid.UUID, kind: ArchivedTable, step: ArchiveStep, query: str) -> dict[str, int]:
    """Take the step's rows with `query`, archive and verify them, record the object set; returns the counts."""
    rows = copy_out(session, query, kind.schema)
    if rows.num_rows == 0:
        return {}
    manifest, written = archive.write_object_set(kind, step.client_id, step.month, rows, covered_until=step.end,
                                                 run_id=run_id)
    record_archive(session, manifest, run_id)
    return {f"{kind.name}_archived": rows.num_rows, f"{kind.name}_deleted": rows.num_rows,
            "objects_written": 2 if written else 1, "bytes_written": manifest.bytes if written else 0}


def _add(total: dict[str, int], counts: dict[str, int]) -> None:
    for name, value in counts.items():
        total[name] = total.get(name, 0) + value


def archive_partition(run_id: uuid.UUID, horizons: Horizons, drop: PartitionDrop) -> dict[str, int]:
    """Archive every client-month of a wholly expired partition, then detach and drop it, in one transaction."""
    with session_scope() as session:
        session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        session.execute(text(f"LOCK TABLE {drop.partition} IN SHARE MODE"))
        still, steps = plan_partition(session, horizons, drop.partition, drop.month, drop.bytes)
        if still is None:  # rows that have not expired arrived since the plan: only the expired ones go
            raise RuntimeError(f"{drop.partition} changed since the plan; its expired rows go next run")
        total: dict[str, int] = {}
        for step in steps:
            _add(total, _archive(session, run_id, READINGS, step, _select_partition_rows(drop.partition,
                                                                                          step.client_id)))
        drop_partition(session, drop.partition)
        total["partitions_dropped"] = 1
        record_step(session, run_id, {"action": "drop partition", "table": "readings", "partition": drop.partition,
                                      "month": drop.month.isoformat(), "rows": total.get("readings_archived", 0),
                                      "clients": len(steps)}, **total)
        return total


def archive_rows(run_id: uuid.UUID, step: ArchiveStep) -> dict[str, int]:
    """Archive and delete one client-month's expired rows, in one transaction."""
    kind, query = (READINGS, _delete_readings(step)) if step.table == "readings" else (EVENTS, _delete_events(step))
    with session_scope() as session:
        counts = _archive(session, run_id, kind, step, query)
        if counts:
            record_step(session, run_id, {"action": "delete rows", "table": step.table, "partition": step.partition,
                                          "client_id": step.client_id, "month": step.month.isoformat(),
                                          "before": step.end.isoformat(), "rows": counts[f"{kind.name}_archived"]},
                        **counts)
        return counts


def carry_out(run_id: uuid.UUID, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every step of today's plan; a failed step is recorded and the others still run. Returns the errors."""
    with session_scope() as session:
        created = ensure_partitions_ahead(session)
        record_step(session, run_id, {"action": "create partitions", "created": created}, partitions_created=created)
    with session_scope() as session:
        plan: RetentionPlan = plan_retention(session, current_horizons(session, now))
    errors = []
    work = [(f"partition {d.partition}", archive_partition, (run_id, plan.horizons, d)) for d in plan.drops]
    work += [(f"{s.table} of client {s.client_id} in {s.month:%Y-%m}", archive_rows, (run_id, s))
             for s in plan.steps if not s.whole_partition]
    for what, do, args in work:
        try:
            do(*args)
        except Exception as exc:  # noqa: BLE001 - recorded on the run; the other steps still run
            logger.exception("retention step failed", extra={"step": what})
            errors.append({"step": what, "error": f"{type(exc).__name__}: {exc}"})
    return errors


def _failure_message(errors: list[dict[str, Any]]) -> str:
    listed = "; ".join(f"{e.get('step', 'run')}: {e['error']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return f"The retention run failed: {listed}{more}. Nothing was deleted that is not archived; the next run retries."


@contextmanager
def retention_lock() -> Iterator[None]:
    """Hold the retention lock on a connection of its own (RetentionLocked if another run or restore has it);
    PostgreSQL lets it go with the connection, so a crashed holder never keeps it."""
    with get_engine().connect() as lock:
        if not lock.execute(text(f"SELECT pg_try_advisory_lock({LOCK})")).scalar():
            lock.rollback()
            raise RetentionLocked("a retention run or a restore is in progress; try again later")
        lock.commit()
        try:
            yield
        finally:
            lock.execute(text(f"SELECT pg_advisory_unlock({LOCK})"))
            lock.commit()


def run_retention(requested_by: str = "scheduler", run_id: uuid.UUID | None = None,
                  now: datetime | None = None) -> RunRecord:
    """One recorded run (skipped if another holds the lock); a failed run opens the job's critical alert."""
    try:
        with retention_lock():
            with session_scope() as session:
                run_id = start_run(session, requested_by, run_id)
            try:
                errors = carry_out(run_id, now)
            except Exception as exc:  # noqa: BLE001 - recorded on the run and alerted
                logger.exception("retention run failed", extra={"run_id": str(run_id)})
                errors = [{"step": "run", "error": f"{type(exc).__name__}: {exc}"}]
            with session_scope() as session:
                if errors:
                    alert = job_failed(session, JOB, _failure_message(errors))
                    finish_run(session, run_id, "failed", errors, alert_id=alert.id if alert else None)
                else:
                    finish_run(session, run_id, "succeeded")
                    job_succeeded(session, JOB)
    except RetentionLocked as locked:
        with session_scope() as session:
            run_id = skip_run(session, requested_by, run_id, str(locked))
    with session_scope() as session:
        return get_run(session, run_id)
