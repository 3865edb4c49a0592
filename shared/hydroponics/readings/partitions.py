"""Monthly partitions of `readings`: created ahead of time so inserts never fall into the default one,
created for a past month before old rows are loaded into it (a restore, a legacy import), and
detached and dropped once retention has archived them."""

import re
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.db.sql import MOMENT, statement

MONTHS_AHEAD = 3
_MONTHLY = re.compile(r"^readings_\d{6}$")
_SAME_LOCK = "SELECT pg_advisory_xact_lock(hashtext('ensure_readings_partitions'))"  # as ensure_readings_partitions()
_DEFAULT_HOLDS = statement("SELECT 1 FROM readings_default WHERE recorded_at >= :start AND recorded_at < :end LIMIT 1",
                           start=MOMENT, end=MOMENT)


def ensure_partitions_ahead(session: Session, months_ahead: int = MONTHS_AHEAD) -> int:
    """Create any missing monthly partition from this month to `months_ahead`; returns how many."""
    return session.execute(text("SELECT ensure_readings_partitions(:m)"), {"m": months_ahead}).scalar_one()


def partition_name(month: date) -> str:
    return f"readings_{month.year:04d}{month.month:02d}"


def ensure_month_partition(session: Session, month: date) -> bool:
    """Create the partition of a (past) month if it is missing; True if created. PostgreSQL refuses a
    partition whose rows already sit in readings_default: then the month stays there (False)."""
    name = partition_name(month)
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    session.execute(text(_SAME_LOCK))
    if session.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar() is not None:
        return False
    if session.execute(_DEFAULT_HOLDS, {"start": start, "end": end}).first() is not None:
        return False
    session.execute(text(f"CREATE TABLE {name} PARTITION OF readings FOR VALUES FROM ('{start.isoformat()}')"
                         f" TO ('{end.isoformat()}')"))
    return True


def drop_partition(session: Session, name: str) -> None:
    """Detach and drop a monthly partition (in the caller's transaction, once its rows are archived)."""
    if not _MONTHLY.match(name):
        raise ValueError(f"not a monthly readings partition: {name!r}")
    session.execute(text(f"ALTER TABLE readings DETACH PARTITION {name}"))
    session.execute(text(f"DROP TABLE {name}"))
