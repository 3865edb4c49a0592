"""Readings answered from the S3 archive's month objects with pyarrow, in the live store's order.

Filters are pushed into the Parquet reader, which skips row groups by their time statistics
(objects are sorted by time). Archive objects never change once written (their keys are content
hashes), so a container keeps recently read ones. archived_query.py decides when to read here.
"""

import io
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError
from cachetools import LRUCache

from hydroponics.aws import client
from hydroponics.db.engine import session_scope
from hydroponics.retention import archive
from hydroponics.retention.catalogue import archived_months
from hydroponics.timeseries.base import (
    AggregatePoint,
    RawPoint,
    SeriesPosition,
    SeriesQuery,
    Window,
)

CACHE_BYTES = 64 * 1024 * 1024
_objects: LRUCache[str, bytes] = LRUCache(maxsize=CACHE_BYTES, getsizeof=len)
_COLUMNS = ["sensor", "sensor_type", "location", "recorded_at", "value", "raw_value"]


def _object(key: str) -> bytes:
    body = _objects.get(key)
    if body is None:
        body = client("s3").get_object(Bucket=archive.bucket(), Key=key)["Body"].read()
        if len(body) <= CACHE_BYTES // 4:
            _objects[key] = body
    return body


def _rows(query: SeriesQuery, start: datetime, end: datetime) -> pa.Table:
    """The client's archived readings in [start, end) matching the query's sensor filters."""
    with session_scope() as session:
        months = archived_months(session, "readings", query.client_id, start, end)
    filters = [("recorded_at", ">=", start), ("recorded_at", "<", end)]
    filters += [(name, "==", value) for name, value in (("sensor", query.sensor), ("sensor_type", query.sensor_type),
                                                        ("location", query.location)) if value is not None]
    schema = pa.schema([archive.READINGS.schema.field(name) for name in _COLUMNS])
    parts = []
    for month in months:
        try:
            body = _object(month.object_key)
        except ClientError as exc:  # replaced by a run since the catalogue was read: read it again
            if exc.response.get("Error", {}).get("Code") != "NoSuchKey":
                raise
            return _rows(query, start, end)
        rows = pq.read_table(io.BytesIO(body), columns=_COLUMNS, filters=filters)
        parts.append(rows.select(_COLUMNS).cast(schema))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _moment(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _after(times: pa.ChunkedArray, sensors: pa.ChunkedArray, after: SeriesPosition) -> pa.ChunkedArray:
    at = pa.scalar(after.at, archive.MOMENT)
    return pc.or_(pc.greater(times, at), pc.and_(pc.equal(times, at), pc.greater(sensors, after.sensor)))


def _raw(query: SeriesQuery, rows: pa.Table) -> list[RawPoint]:
    if query.after is not None:
        rows = rows.filter(_after(rows.column("recorded_at"), rows.column("sensor"), query.after))
    rows = rows.sort_by([("recorded_at", "ascending"), ("sensor", "ascending")]).slice(0, query.limit + 1)
    return [RawPoint(r["sensor"], r["sensor_type"], r["location"], _moment(r["recorded_at"]), r["value"],
                     r["raw_value"]) for r in rows.to_pylist()]


def _aggregated(query: SeriesQuery, rows: pa.Table) -> list[AggregatePoint]:
    width = int(query.window.width.total_seconds()) * 1_000_000
    micros = rows.column("recorded_at").cast(pa.int64())
    buckets = pc.multiply(pc.divide(micros, width), width).cast(archive.MOMENT)
    grouped = rows.append_column("bucket_start", buckets).group_by(
        ["sensor", "sensor_type", "location", "bucket_start"], use_threads=False).aggregate(
        [("value", "min"), ("value", "max"), ("value", "mean"), ("value", "count")])
    if query.after is not None:
        grouped = grouped.filter(_after(grouped.column("bucket_start"), grouped.column("sensor"), query.after))
    grouped = grouped.sort_by([("bucket_start", "ascending"), ("sensor", "ascending")]).slice(0, query.limit + 1)
    return [AggregatePoint(r["sensor"], r["sensor_type"], r["location"], _moment(r["bucket_start"]), r["value_min"],
                           r["value_max"], r["value_mean"], r["value_count"]) for r in grouped.to_pylist()]


def query_archive(query: SeriesQuery) -> list[RawPoint] | list[AggregatePoint]:
    """Up to limit + 1 points of the query from the archive alone, in the live store's order."""
    start = query.start if query.after is None else max(query.start, query.after.at)
    rows = _rows(query, start, query.end)
    return _raw(query, rows) if query.window is Window.RAW else _aggregated(query, rows)
