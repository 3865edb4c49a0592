"""Restore: archived readings of one client and range put back into PostgreSQL, idempotently.

Rows are keyed by (sensor, recorded_at): a row already present is left as it is, so restoring twice
(or a range that was never deleted) adds nothing. The month's partition is created again if it was
dropped. What was put back is held (retention_holds) for `keep_days`, so the next nightly run does
not archive it straight away again; after that it expires as before (its archive is still there).
"""

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import text

from hydroponics.db.bulk import copy_in
from hydroponics.db.engine import session_scope
from hydroponics.db.sql import MOMENT, statement
from hydroponics.events import record_event
from hydroponics.readings.partitions import ensure_month_partition
from hydroponics.retention import archive
from hydroponics.retention.horizons import month_start, next_month
from hydroponics.retention.job import retention_lock

DEFAULT_KEEP_DAYS = 30
_COLUMNS = ["sensor_id", "client_id", "recorded_at", "value", "raw_value", "received_at"]

_STAGE = text("CREATE TEMP TABLE restored_readings (sensor_id uuid, client_id uuid, recorded_at timestamptz,"
              " value float8, raw_value float8, received_at timestamptz) ON COMMIT DROP")
# Only rows of the client's own sensors go back (a sensor deleted since has taken its readings with it).
_PUT_BACK = text("INSERT INTO readings (sensor_id, client_id, recorded_at, value, raw_value, received_at)"
                 " SELECT t.sensor_id, t.client_id, t.recorded_at, t.value, t.raw_value, t.received_at"
                 " FROM restored_readings t JOIN sensors s ON s.id = t.sensor_id AND s.client_id = t.client_id"
                 " ORDER BY t.sensor_id, t.recorded_at ON CONFLICT (sensor_id, recorded_at) DO NOTHING")
_KNOWN = text("SELECT count(*) FROM restored_readings t JOIN sensors s ON s.id = t.sensor_id AND s.client_id = t.client_id")
_HOLD = statement("INSERT INTO retention_holds (client_id, starts_at, ends_at, hold_until, reason, created_by)"
                  " VALUES (:c, :start, :end, :until, 'restored from the archive', :by)",
                  start=MOMENT, end=MOMENT, until=MOMENT)


@dataclass
class RestoreReport:
    client_id: UUID
    start: datetime
    end: datetime
    months: list[str] = field(default_factory=list)
    archived_rows: int = 0  # rows of the range found in the archive
    restored: int = 0  # put back
    already_present: int = 0  # in PostgreSQL already (never deleted, or restored before)
    unknown_sensor: int = 0  # their sensor no longer exists: not put back
    partitions_created: int = 0
    hold_until: datetime | None = None

    def to_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, UUID) else v)
                for k, v in asdict(self).items()}


def _months(start: datetime, end: datetime) -> list[date]:
    months, cursor = [], month_start(start)
    while cursor < end:
        months.append(cursor.date())
        cursor = next_month(cursor)
    return months


def _in_range(rows: pa.Table, client_id: UUID, start: datetime, end: datetime) -> pa.Table:
    at = rows.column("recorded_at")
    keep = pc.and_(pc.and_(pc.greater_equal(at, pa.scalar(start, archive.MOMENT)),
                           pc.less(at, pa.scalar(end, archive.MOMENT))),
                   pc.equal(rows.column("client_id"), str(client_id)))
    return rows.filter(keep)


def restore_readings(client_id: UUID, start: datetime, end: datetime, *, keep_days: int = DEFAULT_KEEP_DAYS,
                     actor: str = "cli") -> RestoreReport:
    """Put the client's archived readings in [start, end) back; one transaction per month."""
    if end <= start:
        raise ValueError("the end of the range must be after its start")
    report = RestoreReport(client_id, start, end)
    with retention_lock():
        for month in _months(start, end):
            manifest = archive.read_manifest("readings", client_id, month)
            if manifest is None:
                continue
            rows = _in_range(archive.read_verified(manifest), client_id, start, end)
            report.months.append(manifest.month)
            report.archived_rows += rows.num_rows
            if rows.num_rows == 0:
                continue
            with session_scope() as session:
                report.partitions_created += ensure_month_partition(session, month)
                session.execute(_STAGE)
                copy_in(session, "restored_readings", rows.select(_COLUMNS))
                known = session.execute(_KNOWN).scalar_one()
                restored = session.execute(_PUT_BACK).rowcount
            report.restored += restored
            report.already_present += known - restored
            report.unknown_sensor += rows.num_rows - known
        with session_scope() as session:
            if keep_days > 0 and report.archived_rows:
                report.hold_until = datetime.now(UTC) + timedelta(days=keep_days)
                session.execute(_HOLD, {"c": client_id, "start": start, "end": end, "until": report.hold_until,
                                        "by": actor})
            record_event(session, "retention.restored", client_id=client_id, actor=actor, subject_type="readings",
                         subject_id=client_id, details=report.to_dict())
    return report
