"""How long data stays in PostgreSQL: the platform's horizons, a client's override, and their cutoffs.

A cutoff is a UTC midnight: everything recorded before it has expired. Whole days keep the archive's
edge on every query window's bucket edge (1m to 1d buckets are aligned on the epoch), so an archived
range and a live one never split a bucket.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.settings import get_settings

MIN_DAYS = 7
MAX_DAYS = 36_500
CLIENT_SETTING = "retention_days"  # clients.settings.retention_days overrides the readings horizon


def midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def cutoff(now: datetime, days: int) -> datetime:
    return midnight(now) - timedelta(days=days)


def month_start(moment: datetime | date) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(start: datetime | date) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Horizons:
    """The cutoffs in force at `now`: readings (the platform's default and each client's own) and events."""

    now: datetime
    readings_days: int
    events_days: int
    client_days: dict[UUID, int]

    @property
    def readings_cutoff(self) -> datetime:
        return cutoff(self.now, self.readings_days)

    @property
    def events_cutoff(self) -> datetime:
        return cutoff(self.now, self.events_days)

    def readings_cutoff_of(self, client_id: UUID) -> datetime:
        return cutoff(self.now, self.client_days.get(client_id, self.readings_days))

    @property
    def latest_readings_cutoff(self) -> datetime:
        """The latest cutoff of any client: no reading at or after it has expired."""
        return max([self.readings_cutoff] + [cutoff(self.now, d) for d in self.client_days.values()])

    @property
    def earliest_readings_cutoff(self) -> datetime:
        return min([self.readings_cutoff] + [cutoff(self.now, d) for d in self.client_days.values()])

    def to_dict(self) -> dict:
        return {"now": self.now.isoformat(), "readings_days": self.readings_days,
                "readings_cutoff": self.readings_cutoff.isoformat(), "events_days": self.events_days,
                "events_cutoff": self.events_cutoff.isoformat(),
                "client_readings_days": {str(c): d for c, d in sorted(self.client_days.items(), key=str)}}


def valid_days(value: object) -> int | None:
    """A client's override when it is a whole number of days in range, else None (the default applies)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        days = int(value)
    except ValueError:
        return None
    return days if MIN_DAYS <= days <= MAX_DAYS else None


def current_horizons(session: Session, now: datetime | None = None) -> Horizons:
    settings = get_settings()
    rows = session.execute(text(f"SELECT id, settings ->> '{CLIENT_SETTING}' FROM clients"
                                f" WHERE settings -> '{CLIENT_SETTING}' IS NOT NULL")).all()
    overrides = {row[0]: days for row in rows if (days := valid_days(row[1])) is not None}
    return Horizons(now=now or datetime.now(UTC), readings_days=settings.retention_readings_days,
                    events_days=settings.retention_events_days, client_days=overrides)


def client_readings_cutoff(session: Session, client_id: UUID, now: datetime | None = None) -> datetime:
    days = valid_days(session.execute(text(f"SELECT settings ->> '{CLIENT_SETTING}' FROM clients WHERE id = :c"),
                                      {"c": client_id}).scalar_one_or_none())
    return cutoff(now or datetime.now(UTC), days or get_settings().retention_readings_days)
