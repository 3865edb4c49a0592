"""The PostgreSQL time-series store: the partitioned `readings` table, and each sensor's newest reading.

Every read is one statement and names the client twice (sensors and readings), so a query can
never reach another client's rows. Sensor names sort bytewise (COLLATE "C"), as in InfluxDB.
An answer travels as one JSON array of row arrays: pg8000 decodes row by row in Python (timestamptz
through strptime), which on a thousand-row answer costs several times the query itself; json.loads
of one text value and datetime.fromisoformat do not.
"""

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Callable, Sequence
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.db.engine import session_scope
from hydroponics.readings.messages import QueuedReading
from hydroponics.readings.sensor_types import SENSOR_TYPES
from hydroponics.readings.store import store_readings
from hydroponics.timeseries.base import (
    AggregatePoint,
    LatestReading,
    RawPoint,
    SeriesPage,
    SeriesPosition,
    SeriesQuery,
    Window,
)
from hydroponics.timeseries.cursor import encode_cursor

SessionScope = Callable[[], AbstractContextManager[Session]]

_GRID = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"  # windows are aligned on the Unix epoch


def _moment(iso: str) -> datetime:
    """A JSON timestamptz (ISO-8601 with the session's offset), as UTC."""
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def _maybe_float(number: float | int | None) -> float | None:
    """JSON writes 6.0 as 6; floats stay floats."""
    return None if number is None else float(number)


def _as_json(select: str, columns: str, order: str) -> str:
    """The rows of `select` as one JSON array of arrays, in `order`."""
    sql = f"SELECT coalesce(json_agg(json_build_array({columns}) ORDER BY {order}), '[]')::text FROM ({select}) page"
    return " ".join(sql.split())  # pg8000 scans the statement text in Python on every execution


# Optional filters: fixed SQL fragments, values always bound.
_SENSOR_FILTERS = {
    "sensor": "s.external_id = :sensor",
    "sensor_type": "s.sensor_type = :sensor_type",
    "location": "s.location = :location",
}

_LATEST = _as_json("""
    SELECT s.external_id AS sensor, s.id, s.sensor_type, s.location, s.unit, s.last_value, s.last_raw_value,
           s.last_recorded_at AS at
    FROM sensors s
    WHERE s.client_id = :client_id AND s.last_recorded_at IS NOT NULL {filters}""",
    "sensor, id, sensor_type, location, unit, last_value, last_raw_value, at", 'sensor COLLATE "C"')

_RAW = _as_json("""
    SELECT s.external_id AS sensor, s.sensor_type, s.location, r.recorded_at, r.value, r.raw_value
    FROM readings r JOIN sensors s ON s.id = r.sensor_id
    WHERE r.client_id = :client_id AND s.client_id = :client_id
      AND r.recorded_at >= :start AND r.recorded_at < :end {filters} {after}
    ORDER BY r.recorded_at, s.external_id COLLATE "C"
    LIMIT :rows""",
    "sensor, sensor_type, location, recorded_at, value, raw_value",
    'recorded_at, sensor COLLATE "C"')
_RAW_AFTER = (' AND r.recorded_at >= :after_at'
              ' AND (r.recorded_at > :after_at OR s.external_id COLLATE "C" > :after_sensor)')

_AGGREGATED = _as_json(f"""
    WITH chosen AS MATERIALIZED (
        SELECT s.id, s.external_id, s.sensor_type, s.location FROM sensors s
        WHERE s.client_id = :client_id {{filters}}
    )
    SELECT c.external_id AS sensor, c.sensor_type, c.location, b.bucket_start, b.min, b.max, b.avg, b.count
    FROM (
        SELECT r.sensor_id, date_bin(CAST(:width AS interval), r.recorded_at, {_GRID}) AS bucket_start,
               min(r.value) AS min, max(r.value) AS max, avg(r.value) AS avg, count(*) AS count
        FROM readings r
        WHERE r.client_id = :client_id AND r.sensor_id IN (SELECT id FROM chosen)
          AND r.recorded_at >= :start AND r.recorded_at < :end {{after_readings}}
        GROUP BY 1, 2
    ) b JOIN chosen c ON c.id = b.sensor_id
    {{after_buckets}}
    ORDER BY b.bucket_start, c.external_id COLLATE "C"
    LIMIT :rows""",
    "sensor, sensor_type, location, bucket_start, min, max, avg, count",
    'bucket_start, sensor COLLATE "C"')
_AGGREGATED_AFTER_READINGS = "AND r.recorded_at >= :after_at"  # every bucket from the cursor's on
_AGGREGATED_AFTER_BUCKETS = (
    'WHERE b.bucket_start > :after_at OR (b.bucket_start = :after_at AND c.external_id COLLATE "C" > :after_sensor)')


def _filters(values: dict[str, str | None]) -> tuple[str, dict[str, str]]:
    present = {name: value for name, value in values.items() if value is not None}
    return "".join(f" AND {_SENSOR_FILTERS[name]}" for name in present), present


def _unit(unit: str | None, sensor_type: str) -> str | None:
    kind = SENSOR_TYPES.get(sensor_type)
    return unit or (kind.unit if kind else None)


class PostgresTimeSeries:
    """TimeSeriesStore on PostgreSQL; each call is its own unit of work and one statement."""

    def __init__(self, session: SessionScope = session_scope) -> None:
        self._session = session

    def _rows(self, sql: str, params: dict[str, Any]) -> list[list[Any]]:
        with self._session() as session:
            return json.loads(session.execute(text(sql), params).scalar_one())

    def write(self, readings: Sequence[QueuedReading]) -> int:
        if not readings:
            return 0
        with self._session() as session:
            return store_readings(session, readings)

    def latest(self, client_id: UUID, sensor_type: str | None = None,
               location: str | None = None) -> list[LatestReading]:
        filters, params = _filters({"sensor_type": sensor_type, "location": location})
        rows = self._rows(_LATEST.format(filters=filters), params | {"client_id": client_id})
        return [LatestReading(r[0], UUID(r[1]), r[2], r[3], _unit(r[4], r[2]), float(r[5]), _maybe_float(r[6]),
                              _moment(r[7])) for r in rows]

    def query(self, query: SeriesQuery) -> SeriesPage:
        filters, params = _filters({"sensor": query.sensor, "sensor_type": query.sensor_type,
                                    "location": query.location})
        params |= {"client_id": query.client_id, "start": query.start, "end": query.end, "rows": query.limit + 1}
        after = query.after is not None
        if after:
            params |= {"after_at": query.after.at, "after_sensor": query.after.sensor}
        if query.window is Window.RAW:
            sql = _RAW.format(filters=filters, after=_RAW_AFTER if after else "")
        else:
            sql = _AGGREGATED.format(filters=filters,
                                     after_readings=_AGGREGATED_AFTER_READINGS if after else "",
                                     after_buckets=_AGGREGATED_AFTER_BUCKETS if after else "")
            params["width"] = f"{int(query.window.width.total_seconds())} seconds"
        return _page(query, self._rows(sql, params))


def _point(window: Window, r: list[Any]) -> RawPoint | AggregatePoint:
    if window is Window.RAW:
        return RawPoint(r[0], r[1], r[2], _moment(r[3]), float(r[4]), _maybe_float(r[5]))
    return AggregatePoint(r[0], r[1], r[2], _moment(r[3]), float(r[4]), float(r[5]), float(r[6]), r[7])


def _page(query: SeriesQuery, rows: list[list[Any]]) -> SeriesPage:
    points = [_point(query.window, r) for r in rows[:query.limit]]
    next_cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]
        next_cursor = encode_cursor(query.window, SeriesPosition(at=_moment(last[3]), sensor=last[0]))
    return SeriesPage(window=query.window, points=points, next_cursor=next_cursor)
