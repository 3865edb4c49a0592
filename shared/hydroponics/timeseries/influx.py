"""The InfluxDB 2.x time-series store: measurement `readings`, synchronous writes, Flux reads.

PostgreSQL still owns sensors and calibrations: a write registers the batch's sensors and takes
each reading's calibrated value there (one statement), then writes the points synchronously (the
batching writer would lose points when a Lambda container freezes). One point per (sensor, time)
keyed by its tags and timestamp, so a re-delivered reading overwrites itself: stored once.
Points: tags client_id, sensor, sensor_id, sensor_type, location; fields value, raw_value.
`influxdb_client` is imported only here, and only when this backend is used.
"""

from datetime import UTC, datetime
from typing import Any, Iterable, Sequence
from uuid import UUID

from hydroponics.db.engine import session_scope
from hydroponics.readings.messages import QueuedReading
from hydroponics.readings.sensor_types import SENSOR_TYPES
from hydroponics.readings.store import register_and_calibrate
from hydroponics.timeseries.answers import latest_body, series_body
from hydroponics.timeseries.base import (
    AggregatePoint,
    LatestReading,
    PointsRefused,
    RawPoint,
    SeriesPage,
    SeriesPosition,
    SeriesQuery,
    StoreUnavailable,
    Window,
)
from hydroponics.timeseries.config import TimeSeriesSettings
from hydroponics.timeseries.cursor import encode_cursor
from hydroponics.timeseries.postgres import SessionScope

MEASUREMENT = "readings"
_BEGINNING, _END = "1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z"  # devices may run minutes ahead of now()
_FLUX_DURATIONS = {Window.MINUTE: "1m", Window.FIVE_MINUTES: "5m", Window.HOUR: "1h", Window.DAY: "1d"}
_STATISTICS = (("min", "min"), ("max", "max"), ("avg", "mean"), ("count", "count"))
_SERIES_KEY = '"_time", "sensor", "sensor_type", "location"'


def flux_string(value: str) -> str:
    """A Flux string literal: backslashes, quotes and ${ interpolation escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def flux_time(moment: datetime) -> str:
    """A Flux RFC 3339 time literal in UTC, to the microsecond."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _selection(client_id: UUID, start: str, stop: str, filters: dict[str, str | None], fields: Iterable[str]) -> str:
    """from |> range |> the client's points of `fields`, narrowed by the tag filters given."""
    field_test = " or ".join(f"r._field == {flux_string(name)}" for name in fields)
    tests = [f"r._measurement == {flux_string(MEASUREMENT)}", f"r.client_id == {flux_string(str(client_id))}",
             f"({field_test})"]
    tests += [f"r.{tag} == {flux_string(value)}" for tag, value in filters.items() if value is not None]
    return f"range(start: {start}, stop: {stop})\n  |> filter(fn: (r) => {' and '.join(tests)})"


def _after(position: SeriesPosition | None) -> str:
    if position is None:
        return ""
    at = flux_time(position.at)
    return (f"\n  |> filter(fn: (r) => r._time > {at} or (r._time == {at} and r.sensor > "
            f"{flux_string(position.sensor)}))")


def latest_flux(bucket: str, client_id: UUID, sensor_type: str | None, location: str | None) -> str:
    selection = _selection(client_id, _BEGINNING, _END, {"sensor_type": sensor_type, "location": location},
                           ("value", "raw_value"))
    return (f"from(bucket: {flux_string(bucket)})\n  |> {selection}\n  |> last()\n"
            f'  |> group()\n  |> pivot(rowKey: [{_SERIES_KEY}, "sensor_id"], columnKey: ["_field"], '
            'valueColumn: "_value")\n  |> sort(columns: ["sensor"])')


def series_flux(bucket: str, query: SeriesQuery) -> str:
    """The Flux of one page: raw points by (_time, sensor), or per-window min/max/avg/count buckets."""
    start = max(query.start, query.after.at) if query.after else query.start
    filters = {"sensor": query.sensor, "sensor_type": query.sensor_type, "location": query.location}
    source = f"from(bucket: {flux_string(bucket)})"
    page = f'{_after(query.after)}\n  |> sort(columns: ["_time", "sensor"])\n  |> limit(n: {query.limit + 1})'
    if query.window is Window.RAW:
        selection = _selection(query.client_id, flux_time(start), flux_time(query.end), filters, ("value", "raw_value"))
        return (f"{source}\n  |> {selection}\n  |> group()\n"
                f'  |> pivot(rowKey: [{_SERIES_KEY}], columnKey: ["_field"], valueColumn: "_value"){page}')
    every = _FLUX_DURATIONS[query.window]
    selection = _selection(query.client_id, flux_time(start), flux_time(query.end), filters, ("value",))
    statistics = ",\n".join(
        f"    data |> aggregateWindow(every: {every}, fn: {fn}, createEmpty: false, timeSrc: \"_start\")"
        f"{' |> toFloat()' if fn == 'count' else ''} |> set(key: \"stat\", value: \"{name}\")"
        for name, fn in _STATISTICS)
    # Windows are cut at the range's start; truncating puts every bucket on the epoch grid again.
    return (f'import "date"\n\ndata = {source}\n  |> {selection}\n\nunion(tables: [\n{statistics}\n])\n'
            f"  |> map(fn: (r) => ({{r with _time: date.truncate(t: r._time, unit: {every})}}))\n  |> group()\n"
            f'  |> pivot(rowKey: [{_SERIES_KEY}], columnKey: ["stat"], valueColumn: "_value"){page}')


def _write_failure(exc: Exception) -> Exception:
    """A 4xx but 429 is about the points (PointsRefused); anything else (5xx, 429, no answer) is the
    server's state (StoreUnavailable), as the store step tells a bad message from an outage."""
    from influxdb_client.rest import ApiException

    if isinstance(exc, ApiException) and exc.status and 400 <= exc.status < 500 and exc.status != 429:
        return PointsRefused(f"InfluxDB refused the points: {exc.status} {exc.body or exc.reason}")
    return StoreUnavailable(f"InfluxDB cannot be written to: {exc}")


def _records(tables: Any) -> list[dict[str, Any]]:
    return [record.values for table in tables for record in table.records]


def _unit(sensor_type: str) -> str | None:
    kind = SENSOR_TYPES.get(sensor_type)
    return kind.unit if kind else None


def _raw_point(v: dict[str, Any]) -> RawPoint:
    return RawPoint(sensor=v["sensor"], sensor_type=v["sensor_type"], location=v.get("location"),
                    recorded_at=v["_time"], value=v["value"], raw_value=v.get("raw_value"))


def _aggregate_point(v: dict[str, Any]) -> AggregatePoint:
    return AggregatePoint(sensor=v["sensor"], sensor_type=v["sensor_type"], location=v.get("location"),
                          bucket_start=v["_time"], min=v["min"], max=v["max"], avg=v["avg"], count=round(v["count"]))


class InfluxTimeSeries:
    """TimeSeriesStore on InfluxDB 2.x (client: influxdb-client, synchronous write API)."""

    def __init__(self, client: Any, bucket: str, org: str, session: SessionScope = session_scope) -> None:
        from influxdb_client.client.write_api import SYNCHRONOUS

        self._bucket, self._org, self._session = bucket, org, session
        self._write_api = client.write_api(write_options=SYNCHRONOUS)
        self._query_api = client.query_api()

    @classmethod
    def from_settings(cls, settings: TimeSeriesSettings) -> "InfluxTimeSeries":
        from influxdb_client import InfluxDBClient

        assert settings.influxdb_url and settings.influxdb_token and settings.influxdb_org and settings.influxdb_bucket
        client = InfluxDBClient(url=settings.influxdb_url, token=settings.influxdb_token.get_secret_value(),
                                org=settings.influxdb_org, timeout=settings.influxdb_timeout_ms)
        return cls(client, settings.influxdb_bucket, settings.influxdb_org)

    def write(self, readings: Sequence[QueuedReading]) -> int:
        """Writes every reading (InfluxDB cannot tell new from re-delivered: returns the points sent)."""
        if not readings:
            return 0
        from influxdb_client import Point, WritePrecision

        with self._session() as session:
            registered = register_and_calibrate(session, readings)
        points = [
            Point(MEASUREMENT)
            .tag("client_id", str(reading.client_id)).tag("sensor", reading.sensor)
            .tag("sensor_id", str(sensor.sensor_id)).tag("sensor_type", sensor.sensor_type)
            .tag("location", sensor.location)
            .field("value", float(sensor.value)).field("raw_value", float(reading.value))
            .time(reading.recorded_at, WritePrecision.US)
            for reading, sensor in zip(readings, registered, strict=True)
        ]
        try:
            self._write_api.write(bucket=self._bucket, org=self._org, record=points,
                                  write_precision=WritePrecision.US)
        except Exception as exc:  # noqa: BLE001 - sorted into the two outcomes the store step handles
            raise _write_failure(exc) from exc
        return len(points)

    def latest(self, client_id: UUID, sensor_type: str | None = None,
               location: str | None = None) -> list[LatestReading]:
        flux = latest_flux(self._bucket, client_id, sensor_type, location)
        newest: dict[str, dict[str, Any]] = {}  # a sensor whose tags were edited has one series per tag set
        for v in _records(self._query_api.query(flux, org=self._org)):
            if v["sensor"] not in newest or v["_time"] > newest[v["sensor"]]["_time"]:
                newest[v["sensor"]] = v
        return [LatestReading(sensor=v["sensor"], sensor_id=UUID(v["sensor_id"]), sensor_type=v["sensor_type"],
                              location=v.get("location"), unit=_unit(v["sensor_type"]), value=v["value"],
                              raw_value=v.get("raw_value"), recorded_at=v["_time"])
                for _, v in sorted(newest.items())]

    def query(self, query: SeriesQuery) -> SeriesPage:
        if query.start >= query.end:  # Flux refuses an empty range
            return SeriesPage(window=query.window, points=[], next_cursor=None)
        rows = _records(self._query_api.query(series_flux(self._bucket, query), org=self._org))
        build = _raw_point if query.window is Window.RAW else _aggregate_point
        points = [build(v) for v in rows[:query.limit]]
        next_cursor = None
        if len(rows) > query.limit:
            last = rows[query.limit - 1]
            next_cursor = encode_cursor(query.window, SeriesPosition(at=last["_time"], sensor=last["sensor"]))
        return SeriesPage(window=query.window, points=points, next_cursor=next_cursor)

    def latest_body(self, client_id: UUID, sensor_type: str | None = None, location: str | None = None) -> bytes:
        return latest_body(self.latest(client_id, sensor_type, location))

    def query_body(self, query: SeriesQuery) -> bytes:
        return series_body(self.query(query))
