"""Monthly partitions of `readings`, created ahead of time so inserts never fall into the default one."""

from sqlalchemy import text
from sqlalchemy.orm import Session

MONTHS_AHEAD = 3


def ensure_partitions_ahead(session: Session, months_ahead: int = MONTHS_AHEAD) -> int:
    """Create any missing monthly partition from this month to `months_ahead`; returns how many."""
    return session.execute(text("SELECT ensure_readings_partitions(:m)"), {"m": months_ahead}).scalar_one()
