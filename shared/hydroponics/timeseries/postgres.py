"""The PostgreSQL time-series store: the partitioned `readings` table, and each sensor's newest reading.

Every read is one statement and names the client twice (sensors and readings), so a query can
never reach another client's rows. Sensor names sort bytewise (COLLATE "C"), as in InfluxDB.
PostgreSQL writes the answer's JSON itself, in the API's shape (`latest_body`, `query_body`), so
the route sends it on as the HTTP body: pg8000 decodes rows in Python (timestamptz through
strptime), and parsing a thousand-row answer and building its points cost several times the query.
Reads take one round trip: outside a transaction (db/engine.py `read_one`).
"""

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Callable, Sequence
from uuid import UUID

from sqlalchemy.orm import Session

from hydroponics.db.engine import read_one, session_scope
from hydroponics.db.sql import statement
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
_UNITS = json.dumps({name: kind.unit for name, kind in SENSOR_TYPES.items()})


def _moment(iso: str) -> datetime:
    """A timestamp of an answer (ISO-8601, Z), as UTC."""
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def _maybe_float(number: float | int | None) -> float | None:
    """JSON writes 6.0 as 6; floats stay floats."""
    return None if number is None else float(number)


def _iso(column: str) -> str:
    """A timestamptz as the API writes it (pydantic's form): UTC, `Z`, microseconds only when not zero."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (f"""to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS') || CASE WHEN mod(date_part('microseconds', {utc})::bigint,"""
            f" 1000000) = 0 THEN '' ELSE to_char({utc}, '.US') END || 'Z'")


def _fields(fields: dict[str, str]) -> str:
    """A LATERAL row of just the answer's fields, named as the API names them: json_agg of it writes
    compact objects, and costs half what json_build_object does per row."""
    return "LATERAL (SELECT " + ", ".join(f"{value} AS {name}" for name, value in fields.items()) + ") p"


def _as_json(select: str, fields: dict[str, str], order: str) -> str:
    """The rows of `select` as one JSON array of objects with `fields`, in `order`."""
    return f"SELECT coalesce(json_agg(p ORDER BY {order}), '[]')::text FROM ({select}) page, {_fields(fields)}"


def _as_json_page(select: str, fields: dict[str, str], order: str) -> str:
    """The first :page_size rows of `select` (which returns up to :rows = :page_size + 1, in `order`) as
    one JSON array of objects with `fields`; whether there were more; and the last point's position."""
    return (f"SELECT coalesce(json_agg(p ORDER BY n) FILTER (WHERE n <= :page_size), '[]')::text,"
            f" count(*) > :page_size, min(at_text) FILTER (WHERE n = :page_size),"
            f" min(numbered.sensor) FILTER (WHERE n = :page_size)"
            f" FROM (SELECT page.*, {_iso('page.at')} AS at_text, row_number() OVER (ORDER BY {order}) AS n"
            f" FROM ({select}) page) numbered, {_fields(fields)}")


_SENSOR_FILTERS = {
    "sensor": "s.external_id = :sensor",
    "sensor_type": "s.sensor_type = :sensor_type",
    "location": "s.location = :location",
}

_LATEST = _as_json("""
    SELECT s.external_id AS sensor, s.id, s.sensor_type, s.location,
           coalesce(s.unit, CAST(:units AS json) ->> s.sensor_type) AS unit, s.last_value, s.last_raw_value,
           s.last_recorded_at AS at
    FROM sensors s
    WHERE s.client_id = :client_id AND s.last_recorded_at IS NOT NULL {filters}""",
    {"sensor": "sensor", "sensor_id": "id", "sensor_type": "sensor_type", "location": "location", "unit": "unit",
     "value": "last_value", "raw_value": "last_raw_value", "recorded_at": _iso("at")}, 'page.sensor COLLATE "C"')

_RAW = _as_json_page("""
    SELECT s.external_id AS sensor, s.sensor_type, s.location, r.recorded_at AS at, r.value, r.raw_value
    FROM readings r JOIN sensors s ON s.id = r.sensor_id
    WHERE r.client_id = :client_id AND s.client_id = :client_id
      AND r.recorded_at >= :start AND r.recorded_at < :end {filters} {after}
    ORDER BY r.recorded_at, s.external_id COLLATE "C"
    LIMIT :rows""",
    {"sensor": "sensor", "sensor_type": "sensor_type", "location": "location", "recorded_at": "at_text",
     "value": "value", "raw_value": "raw_value"},
    'at, sensor COLLATE "C"')
_RAW_AFTER = (' AND r.recorded_at >= :after_at'
              ' AND (r.recorded_at > :after_at OR s.external_id COLLATE "C" > :after_sensor)')

_AGGREGATED = _as_json_page(f"""
    WITH chosen AS MATERIALIZED (
        SELECT s.id, s.external_id, s.sensor_type, s.location FROM sensors s
        WHERE s.client_id = :client_id {{filters}}
    )
    SELECT c.external_id AS sensor, c.sensor_type, c.location, b.bucket_start AS at, b.min, b.max, b.avg, b.count
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
    {"sensor": "sensor", "sensor_type": "sensor_type", "location": "location", "bucket_start": "at_text",
     "min": "min", "max": "max", "avg": "avg", "count": "count"},
    'at, sensor COLLATE "C"')
_AGGREGATED_AFTER_READINGS = "AND r.recorded_at >= :after_at"  # every bucket from the cursor's on
_AGGREGATED_AFTER_BUCKETS = (
    'WHERE b.bucket_start > :after_at OR (b.bucket_start = :after_at AND c.external_id COLLATE "C" > :after_sensor)')


def _filters(values: dict[str, str | None]) -> tuple[str, dict[str, str]]:
    present = {name: value for name, value in values.items() if value is not None}
    return "".join(f" AND {_SENSOR_FILTERS[name]}" for name in present), present


class PostgresTimeSeries:
    """TimeSeriesStore on PostgreSQL; each read is one statement in one round trip, each write its own unit of work."""

    def __init__(self, session: SessionScope = session_scope) -> None:
        self._session = session

    def write(self, readings: Sequence[QueuedReading]) -> int:
        if not readings:
            return 0
        with self._session() as session:
            return store_readings(session, readings)

    def latest_body(self, client_id: UUID, sensor_type: str | None = None, location: str | None = None) -> bytes:
        filters, params = _filters({"sensor_type": sensor_type, "location": location})
        readings = read_one(statement(_LATEST.format(filters=filters)),
                            params | {"client_id": client_id, "units": _UNITS})[0]
        return b'{"readings":' + readings.encode() + b"}"

    def latest(self, client_id: UUID, sensor_type: str | None = None,
               location: str | None = None) -> list[LatestReading]:
        rows = json.loads(self.latest_body(client_id, sensor_type, location))["readings"]
        return [LatestReading(r["sensor"], UUID(r["sensor_id"]), r["sensor_type"], r["location"], r["unit"],
                              float(r["value"]), _maybe_float(r["raw_value"]), _moment(r["recorded_at"]))
                for r in rows]

    def _page(self, query: SeriesQuery) -> tuple[str, str | None]:
        """(the page's points as JSON text, its next_cursor)."""
        filters, params = _filters({"sensor": query.sensor, "sensor_type": query.sensor_type,
                                    "location": query.location})
        params |= {"client_id": query.client_id, "start": query.start, "end": query.end, "rows": query.limit + 1,
                   "page_size": query.limit}
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
        points, more, last_at, last_sensor = read_one(statement(sql), params)
        cursor = encode_cursor(query.window, SeriesPosition(_moment(last_at), last_sensor)) if more else None
        return points, cursor

    def query_body(self, query: SeriesQuery) -> bytes:
        points, cursor = self._page(query)
        return (b'{"window":' + json.dumps(query.window.value).encode() + b',"points":' + points.encode()
                + b',"next_cursor":' + json.dumps(cursor).encode() + b"}")

    def query(self, query: SeriesQuery) -> SeriesPage:
        points, cursor = self._page(query)
        return SeriesPage(window=query.window, points=[_point(query.window, p) for p in json.loads(points)],
                          next_cursor=cursor)


def _point(window: Window, p: dict[str, Any]) -> RawPoint | AggregatePoint:
    if window is Window.RAW:
        return RawPoint(p["sensor"], p["sensor_type"], p["location"], _moment(p["recorded_at"]), float(p["value"]),
                        _maybe_float(p["raw_value"]))
    return AggregatePoint(p["sensor"], p["sensor_type"], p["location"], _moment(p["bucket_start"]), float(p["min"]),
                          float(p["max"]), float(p["avg"]), p["count"])
