"""The platform's state in PostgreSQL, in one statement: connections, readings stored, ingest lag, alerts,
notifications, AC commands and refusals, failed tasks, scheduled jobs and readings partitions.

Every figure comes from a small table or an index (readings are counted by the store statement in
reading_counts, the newest reading per sensor is on its sensors row), so the statement costs a few
milliseconds with tens of thousands of sensors; no section reads the readings table. Sections can
be asked for alone (`platform_state(session, ["jobs"])`), still in one round trip.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import TextClause
from sqlalchemy.orm import Session

from hydroponics.db.sql import statement
from hydroponics.monitoring.jobs import RECORDED_IN_RUNS_TABLE, SCHEDULED_JOBS
from hydroponics.settings import get_settings

_JOBS = ", ".join(f"('{name}', {interval})" for name, interval in SCHEDULED_JOBS.items()
                  if name not in RECORDED_IN_RUNS_TABLE)
_RETENTION_EVERY = SCHEDULED_JOBS["retention"]
NOTIFICATION_STATES = ("pending", "sending", "sent", "retrying", "failed", "suppressed", "held", "digested")
_SUCCEEDED = "coalesce(e.details -> 'failed', '[]'::jsonb) = '[]'::jsonb"  # the alerting minute lists failed steps

SECTIONS: dict[str, str] = {
    "connections": """json_build_object(
        'states', coalesce((SELECT json_object_agg(state, n) FROM (
            SELECT CASE WHEN wait_event_type = 'Lock' THEN 'waiting' ELSE coalesce(state, 'unknown') END AS state,
                   count(*) AS n
            FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'
            GROUP BY 1) s), '{}'::json),
        'server', (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
        'limit', current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int,
        'role_limit', (SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user))""",
    "clients": "(SELECT json_agg(json_build_array(id, name)) FROM clients WHERE is_active)",
    "readings": "(SELECT json_agg(json_build_array(client_id, sensor_type, stored)) FROM reading_counts)",
    "ingest_lag": """(SELECT json_agg(json_build_array(s.client_id, greatest(0, extract(epoch FROM now() - s.newest))))
        FROM (SELECT client_id, max(last_recorded_at) AS newest FROM sensors
              WHERE is_active AND last_recorded_at IS NOT NULL GROUP BY client_id) s
        JOIN clients c ON c.id = s.client_id AND c.is_active)""",
    "alerts": """(SELECT json_agg(json_build_array(severity, status, n)) FROM (
        SELECT severity, status, count(*) AS n FROM alerts WHERE status <> 'resolved' GROUP BY 1, 2) a)""",
    # per channel, the last day's notifications by state (along the (channel, created_at) index: the
    # delivery log grows for ever, a day of it does not)
    "notifications": """(SELECT json_agg(json_build_array(c.id, c.name, c.kind, coalesce(x.states, '{}'::json)))
        FROM notification_channels c LEFT JOIN LATERAL (
            SELECT json_object_agg(state, n) AS states FROM (
                SELECT CASE WHEN status = 'failed' AND attempts < :max_attempts THEN 'retrying' ELSE status END AS state,
                       count(*) AS n
                FROM notifications WHERE channel_id = c.id AND created_at > now() - interval '1 day' GROUP BY 1) s
        ) x ON true)""",
    "ac_commands": "(SELECT json_agg(json_build_array(status, n)) FROM (SELECT status, count(*) AS n FROM ac_commands GROUP BY 1) x)",
    # an interlock's refusal reads "<interlock>: why", so the part before the colon is a bounded label
    "refusals": """(SELECT json_agg(json_build_array(reason, n)) FROM (
        SELECT split_part(reason, ':', 1) AS reason, count(*) AS n FROM ac_commands WHERE status = 'rejected'
        GROUP BY 1) x)""",
    "failed_tasks": """(SELECT json_agg(json_build_array(source_queue, status, n, oldest)) FROM (
        SELECT source_queue, status, count(*) AS n, extract(epoch FROM now() - min(failed_at)) AS oldest
        FROM failed_tasks GROUP BY 1, 2) x)""",
    # per job its newest run and newest successful run, each found backwards along ix_events_job_runs;
    # retention's from retention_runs (along its requested_at and (status, finished_at) indexes)
    "jobs": f"""(SELECT json_agg(run) FROM (
        SELECT json_build_array(j.name, j.every, last.at, ok.at, ok.duration, last.ok) AS run FROM (VALUES {_JOBS}) AS j(name, every)
        LEFT JOIN LATERAL (SELECT extract(epoch FROM e.occurred_at) AS at, {_SUCCEEDED} AS ok FROM events e
            WHERE e.event_type = 'job.ran' AND e.subject_id = j.name
            ORDER BY e.occurred_at DESC LIMIT 1) last ON true
        LEFT JOIN LATERAL (SELECT extract(epoch FROM e.occurred_at) AS at, (e.details ->> 'duration_seconds')::float8 AS duration
            FROM events e WHERE e.event_type = 'job.ran' AND e.subject_id = j.name AND {_SUCCEEDED}
            ORDER BY e.occurred_at DESC LIMIT 1) ok ON true
        UNION ALL
        SELECT json_build_array('retention', {_RETENTION_EVERY},
            (SELECT extract(epoch FROM coalesce(finished_at, started_at, requested_at)) FROM retention_runs
             ORDER BY requested_at DESC LIMIT 1),
            (SELECT extract(epoch FROM finished_at) FROM retention_runs WHERE status = 'succeeded'
             ORDER BY finished_at DESC LIMIT 1),
            (SELECT duration_seconds FROM retention_runs WHERE status = 'succeeded' ORDER BY finished_at DESC LIMIT 1),
            (SELECT status NOT IN ('failed', 'interrupted') FROM retention_runs ORDER BY requested_at DESC LIMIT 1))
        ) runs)""",
    "partitions": """(SELECT json_agg(json_build_array(c.relname, pg_total_relation_size(c.oid)))
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'readings'::regclass)""",
}


@dataclass(frozen=True)
class Connections:
    """This database's client connections by state ('waiting': blocked on a lock), the server's, and the limit."""

    states: dict[str, int]
    server: int
    limit: int  # max_connections less the superuser reserve, or the role's own limit if lower

    @property
    def in_use(self) -> int:
        return sum(self.states.values())


@dataclass(frozen=True)
class ReadingsStored:
    client_id: UUID
    sensor_type: str
    stored: int


@dataclass(frozen=True)
class IngestLag:
    """Seconds since the client's newest stored reading was taken."""

    client_id: UUID
    seconds: float


@dataclass(frozen=True)
class NotificationCount:
    """The last day's notifications of one channel in one state: sent, retrying (failed, attempts left),
    failed, suppressed, ... (every state of every channel, zeros too: a first failure is a change, not a new series)."""

    channel_id: UUID
    channel: str
    kind: str
    state: str
    count: int


@dataclass(frozen=True)
class FailedTasks:
    """Dead letters recorded for one work queue (its URL) in one status, and how long the oldest has waited."""

    source_queue: str
    status: str
    count: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class JobRun:
    """A scheduled job's newest run and newest successful run (epoch seconds; None: never)."""

    job: str
    every_seconds: int
    last_run_at: float | None
    last_success_at: float | None
    last_duration_seconds: float | None
    last_run_ok: bool | None


@dataclass
class PlatformState:
    """What the asked-for sections found (sections not asked for stay empty)."""

    connections: Connections | None = None
    clients: dict[UUID, str] = field(default_factory=dict)
    readings: list[ReadingsStored] = field(default_factory=list)
    ingest_lag: list[IngestLag] = field(default_factory=list)
    alerts: dict[tuple[str, str], int] = field(default_factory=dict)  # (severity, status) -> unresolved alerts
    notifications: list[NotificationCount] = field(default_factory=list)
    ac_commands: dict[str, int] = field(default_factory=dict)  # status -> commands
    refusals: dict[str, int] = field(default_factory=dict)  # interlock -> commands it rejected
    failed_tasks: list[FailedTasks] = field(default_factory=list)
    jobs: list[JobRun] = field(default_factory=list)
    partitions: dict[str, int] = field(default_factory=dict)  # readings partition -> bytes (with indexes)


def _connections(raw: dict[str, Any]) -> Connections:
    limit = raw["limit"] if raw["role_limit"] in (None, -1) else min(raw["limit"], raw["role_limit"])
    return Connections({state: int(n) for state, n in raw["states"].items()}, int(raw["server"]), int(limit))


_READERS = {
    "connections": _connections,
    "clients": lambda rows: {UUID(client_id): name for client_id, name in rows},
    "readings": lambda rows: [ReadingsStored(UUID(c), t, int(n)) for c, t, n in rows],
    "ingest_lag": lambda rows: [IngestLag(UUID(c), float(s)) for c, s in rows],
    "alerts": lambda rows: {(severity, status): int(n) for severity, status, n in rows},
    "notifications": lambda rows: [NotificationCount(UUID(c), name, kind, state, int(states.get(state, 0)))
                                   for c, name, kind, states in rows for state in NOTIFICATION_STATES],
    "ac_commands": lambda rows: {status: int(n) for status, n in rows},
    "refusals": lambda rows: {reason: int(n) for reason, n in rows},
    "failed_tasks": lambda rows: [FailedTasks(q, s, int(n), float(age)) for q, s, n, age in rows],
    "jobs": lambda rows: [JobRun(name, every, last, success, duration, ok) for name, every, last, success, duration, ok in rows],
    "partitions": lambda rows: {name: int(size) for name, size in rows},
}


@lru_cache(maxsize=16)
def _statement(sections: tuple[str, ...]) -> TextClause:
    return statement("SELECT " + ", ".join(f"{SECTIONS[name]} AS {name}" for name in sections))


def max_attempts() -> int:
    """A notification's attempts before its DLQ: the first and one per backoff delay."""
    return len(get_settings().notify_backoff_seconds) + 1


def platform_state(session: Session, sections: Iterable[str] = SECTIONS) -> PlatformState:
    """The asked-for sections of the platform's state, read in one statement."""
    wanted = list(sections)
    unknown = set(wanted) - SECTIONS.keys()
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}")
    parameters = {"max_attempts": max_attempts()} if "notifications" in wanted else {}
    row = session.execute(_statement(tuple(wanted)), parameters).one()
    state = PlatformState()
    for name, raw in zip(wanted, row):
        if raw is not None:
            setattr(state, name, _READERS[name](raw))
    return state


def job_runs(session: Session) -> list[JobRun]:
    """Every scheduled job's newest run and newest success (for health views)."""
    return platform_state(session, ["jobs"]).jobs
