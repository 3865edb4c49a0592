"""The time-series store interface: what every backend writes, answers and promises.

Order is part of the contract: raw points come by (recorded_at, sensor), aggregated points by
(bucket_start, sensor), and a page's `next_cursor` resumes right after its last point.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol, Sequence, runtime_checkable
from uuid import UUID

from hydroponics.readings.messages import QueuedReading


class Window(str, Enum):
    """How readings are grouped: raw points, or fixed UTC buckets aligned on the Unix epoch."""

    RAW = "raw"
    MINUTE = "1m"
    FIVE_MINUTES = "5m"
    HOUR = "1h"
    DAY = "1d"

    @property
    def width(self) -> timedelta | None:
        return _WIDTHS[self]


_WIDTHS = {Window.RAW: None, Window.MINUTE: timedelta(minutes=1), Window.FIVE_MINUTES: timedelta(minutes=5),
           Window.HOUR: timedelta(hours=1), Window.DAY: timedelta(days=1)}


@dataclass(frozen=True)
class LatestReading:
    """The newest reading of one sensor."""

    sensor: str  # the device's sensor id (sensors.external_id)
    sensor_id: UUID
    sensor_type: str
    location: str | None
    unit: str | None
    value: float  # calibrated
    raw_value: float | None  # as the device sent it
    recorded_at: datetime


@dataclass(frozen=True)
class RawPoint:
    sensor: str
    sensor_type: str
    location: str | None
    recorded_at: datetime
    value: float
    raw_value: float | None


@dataclass(frozen=True)
class AggregatePoint:
    """The readings of one sensor in one window bucket [bucket_start, bucket_start + width)."""

    sensor: str
    sensor_type: str
    location: str | None
    bucket_start: datetime
    min: float
    max: float
    avg: float
    count: int


@dataclass(frozen=True)
class SeriesPosition:
    """Where a page ended: the last point's time (recorded_at or bucket_start) and sensor."""

    at: datetime
    sensor: str


@dataclass(frozen=True)
class SeriesQuery:
    """A range query, always scoped to one client; start is inclusive, end exclusive."""

    client_id: UUID
    start: datetime
    end: datetime
    window: Window = Window.RAW
    sensor: str | None = None
    sensor_type: str | None = None
    location: str | None = None
    limit: int = 1000
    after: SeriesPosition | None = None  # resume after this point (decoded from a cursor)

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        if self.limit < 1:
            raise ValueError("limit must be at least 1")


@dataclass(frozen=True)
class SeriesPage:
    window: Window
    points: list[RawPoint] | list[AggregatePoint]
    next_cursor: str | None  # opaque; None on the last page


class StoreUnavailable(Exception):
    """The time-series store cannot take writes now (down, unreachable, throttling): try again later."""


class PointsRefused(Exception):
    """The time-series store refused these points for what they are (trying again will not help)."""


@runtime_checkable
class TimeSeriesStore(Protocol):
    """Where readings are kept and read back; every read is scoped to one client."""

    def write(self, readings: Sequence[QueuedReading]) -> int:
        """Store readings idempotently (keyed by sensor and time); returns how many were written."""
        ...

    def latest(self, client_id: UUID, sensor_type: str | None = None,
               location: str | None = None) -> list[LatestReading]:
        """The newest reading of each of the client's sensors, ordered by sensor."""
        ...

    def query(self, query: SeriesQuery) -> SeriesPage:
        """One page of the client's readings in [start, end), raw or aggregated by window."""
        ...

    def latest_body(self, client_id: UUID, sensor_type: str | None = None, location: str | None = None) -> bytes:
        """`latest` as the data API's JSON body: {"readings": [...]}."""
        ...

    def query_body(self, query: SeriesQuery) -> bytes:
        """`query` as the data API's JSON body: {"window", "points", "next_cursor"}."""
        ...
