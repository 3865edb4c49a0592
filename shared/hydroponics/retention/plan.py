"""What a retention run would archive, delete and drop, worked out from PostgreSQL without changing it.

Readings: every monthly partition that starts before the latest cutoff, and the default partition,
are counted per client and month (expired = before the client's cutoff and outside any hold). A
monthly partition whose every row has expired (or that is empty and older than every cutoff) is
archived whole and then detached and dropped; in any other partition only the expired rows of each
client-month are archived and deleted. Events: every client-month before the events cutoff.
The dry run prints this plan; a real run carries it out step by step.
"""

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from uuid import UUID

from sqlalchemy.orm import Session

from hydroponics.db.sql import MOMENT, statement
from hydroponics.retention.horizons import Horizons, month_start, next_month

MONTHLY = re.compile(r"^readings_(\d{4})(\d{2})$")
DEFAULT_PARTITION = "readings_default"

_PARTITIONS = statement("""
SELECT c.relname, pg_total_relation_size(c.oid) AS bytes
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'readings'::regclass ORDER BY c.relname""")

# Rows per client and month of one partition, and how many of them have expired.
_READINGS_COUNTS = """
WITH horizon AS (SELECT * FROM json_to_recordset(CAST(:cutoffs AS json)) AS h(client_id uuid, cutoff timestamptz))
SELECT r.client_id, date_trunc('month', r.recorded_at AT TIME ZONE 'UTC')::date AS month, count(*) AS total,
       count(*) FILTER (WHERE e.expired) AS expired
FROM {partition} r
LEFT JOIN horizon h ON h.client_id = r.client_id
CROSS JOIN LATERAL (SELECT r.recorded_at < coalesce(h.cutoff, :default_cutoff) AND NOT EXISTS (
    SELECT 1 FROM retention_holds ho WHERE ho.client_id = r.client_id AND ho.hold_until > :now
      AND r.recorded_at >= ho.starts_at AND r.recorded_at < ho.ends_at) AS expired) e
GROUP BY 1, 2 ORDER BY 2, 1"""

_EVENTS_COUNTS = statement("""
SELECT e.client_id, date_trunc('month', e.occurred_at AT TIME ZONE 'UTC')::date AS month, count(*) AS total,
       sum(pg_column_size(e.*)) AS bytes
FROM events e WHERE e.occurred_at < :cutoff GROUP BY 1, 2 ORDER BY 2, 1""", cutoff=MOMENT)


@dataclass(frozen=True)
class ArchiveStep:
    """Archive one client's rows of one month in [start, end), then delete them (or drop their partition)."""

    table: str  # readings | events
    client_id: UUID | None
    month: date
    start: datetime
    end: datetime
    rows: int
    bytes: int  # space in PostgreSQL: exact for a dropped partition's share, else estimated
    partition: str | None = None
    whole_partition: bool = False  # the rows leave with their partition (detach + drop)


@dataclass(frozen=True)
class PartitionDrop:
    partition: str
    month: date
    rows: int
    bytes: int  # pg_total_relation_size


@dataclass
class RetentionPlan:
    horizons: Horizons
    steps: list[ArchiveStep] = field(default_factory=list)
    drops: list[PartitionDrop] = field(default_factory=list)

    def steps_of(self, table: str, partition: str | None = None) -> list[ArchiveStep]:
        return [s for s in self.steps if s.table == table and (partition is None or s.partition == partition)]

    def to_dict(self) -> dict:
        def total(table: str, key: str) -> int:
            return sum(getattr(s, key) for s in self.steps_of(table))

        return {
            "horizons": self.horizons.to_dict(),
            "readings": {"rows": total("readings", "rows"), "bytes": total("readings", "bytes"),
                         "partitions_dropped": [asdict(d) | {"month": d.month.isoformat()} for d in self.drops],
                         "rows_deleted": sum(s.rows for s in self.steps_of("readings") if not s.whole_partition)},
            "events": {"rows": total("events", "rows"), "bytes": total("events", "bytes")},
            "steps": [_step_dict(s) for s in self.steps],
        }


def _step_dict(step: ArchiveStep) -> dict:
    values = asdict(step)
    values.update(client_id=str(step.client_id) if step.client_id else None, month=step.month.isoformat(),
                  start=step.start.isoformat(), end=step.end.isoformat(),
                  action="drop partition" if step.whole_partition else "delete rows")
    return values


def _partitions(session: Session, before: datetime) -> list[tuple[str, date | None, int]]:
    """(name, month or None for the default partition, bytes) of the partitions that may hold expired rows."""
    found = []
    for name, size in session.execute(_PARTITIONS).all():
        match = MONTHLY.match(name)
        if match:
            month = date(int(match[1]), int(match[2]), 1)
            if month_start(month) < before:
                found.append((name, month, size))
        elif name == DEFAULT_PARTITION:
            found.append((name, None, size))
    return found


def _cutoffs(horizons: Horizons) -> str:
    return json.dumps([{"client_id": str(c), "cutoff": horizons.readings_cutoff_of(c).isoformat()}
                       for c in horizons.client_days])


def plan_partition(session: Session, horizons: Horizons, name: str, month: date | None,
                   size: int) -> tuple[PartitionDrop | None, list[ArchiveStep]]:
    """One partition's expired rows per client-month, and whether the whole partition can go."""
    params = {"cutoffs": _cutoffs(horizons), "default_cutoff": horizons.readings_cutoff, "now": horizons.now}
    counts = statement(_READINGS_COUNTS.format(partition=name), default_cutoff=MOMENT, now=MOMENT)
    rows = session.execute(counts, params).all()
    total = sum(r.total for r in rows)
    whole = month is not None and all(r.expired == r.total for r in rows) and (
        total > 0 or next_month(month) <= horizons.earliest_readings_cutoff)
    steps = []
    for r in rows:
        if r.expired == 0:
            continue
        start = month_start(r.month)
        end = next_month(start) if whole else min(next_month(start), horizons.readings_cutoff_of(r.client_id))
        share = size * r.expired // total if total else 0
        steps.append(ArchiveStep("readings", r.client_id, r.month, start, end, r.expired, share,
                                 partition=name, whole_partition=whole))
    return (PartitionDrop(name, month, total, size) if whole else None), steps


def plan_readings(session: Session, plan: RetentionPlan) -> None:
    for name, month, size in _partitions(session, plan.horizons.latest_readings_cutoff):
        drop, steps = plan_partition(session, plan.horizons, name, month, size)
        if drop is not None:
            plan.drops.append(drop)
        plan.steps.extend(steps)


def plan_events(session: Session, plan: RetentionPlan) -> None:
    cutoff = plan.horizons.events_cutoff
    for r in session.execute(_EVENTS_COUNTS, {"cutoff": cutoff}).all():
        start = month_start(r.month)
        plan.steps.append(ArchiveStep("events", r.client_id, r.month, start, min(next_month(start), cutoff),
                                      r.total, int(r.bytes or 0)))


def plan_retention(session: Session, horizons: Horizons) -> RetentionPlan:
    plan = RetentionPlan(horizons)
    plan_readings(session, plan)
    plan_events(session, plan)
    return plan
