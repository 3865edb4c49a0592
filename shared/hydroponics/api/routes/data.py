"""Sensor data queries: the latest reading per sensor, and raw or windowed series, scoped to the caller's client."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from hydroponics.api.deps import acting_client, rate_limited
from hydroponics.readings.sensor_types import SENSOR_TYPES, canonical_sensor_type
from hydroponics.retention.archived_query import series_answer
from hydroponics.text import Identifier, identifier, token
from hydroponics.timeseries.base import SeriesQuery, TimeSeriesStore, Window
from hydroponics.timeseries.cache import TtlCache
from hydroponics.timeseries.cursor import InvalidCursor, decode_cursor
from hydroponics.timeseries.factory import get_store

LATEST_MAX_AGE_SECONDS = 10
DEFAULT_SPAN = timedelta(hours=24)
MAX_LIMIT = 10_000

router = APIRouter(prefix="/api/data", tags=["data"])
api_limit = rate_limited("api")
query_limit = rate_limited("query")
latest_cache: TtlCache[bytes] = TtlCache(ttl_seconds=LATEST_MAX_AGE_SECONDS)  # the answer's body


class LatestOut(BaseModel):
    sensor: str
    sensor_id: UUID
    sensor_type: str
    location: str | None
    unit: str | None
    value: float
    raw_value: float | None
    recorded_at: datetime


class LatestAnswer(BaseModel):
    readings: list[LatestOut]


class RawPointOut(BaseModel):
    sensor: str
    sensor_type: str
    location: str | None
    recorded_at: datetime
    value: float
    raw_value: float | None


class AggregatePointOut(BaseModel):
    sensor: str
    sensor_type: str
    location: str | None
    bucket_start: datetime
    min: float
    max: float
    avg: float
    count: int


class SeriesAnswer(BaseModel):
    window: Window
    points: list[RawPointOut] | list[AggregatePointOut]
    next_cursor: str | None
    archived: bool = Field(False, description="whether part of the range was answered from the S3 archive")
    archived_until: datetime | None = Field(None, description="points before this moment come from the archive "
                                            "(readings past the client's retention horizon)")


def json_response(body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type="application/json", headers=headers)


def timeseries_store() -> TimeSeriesStore:
    """The configured store (a dependency, so tests can swap it)."""
    return get_store()


def invalid(field: str, message: str, value: Any) -> RequestValidationError:
    """A 422 naming the query parameter, in FastAPI's own error shape."""
    return RequestValidationError([{"type": "value_error", "loc": ("query", field), "msg": message, "input": value}])


def parse_moment(raw: str, field: str) -> datetime:
    """ISO-8601 (naive means UTC, Z allowed) or epoch seconds."""
    text = raw.strip()
    try:
        if text.lstrip("-").replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), tz=UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        raise invalid(field, "must be ISO-8601 (e.g. 2026-11-29T12:00:00Z) or epoch seconds", raw) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def known_sensor_type(name: str | None) -> str | None:
    if name is None:
        return None
    kind = canonical_sensor_type(name)
    if kind is None:
        raise invalid("sensor_type", f"unknown sensor type; known types: {', '.join(SENSOR_TYPES)}", name)
    return kind.name


SensorType = Annotated[identifier(50) | None, Query(description="e.g. ph, ec, temperature (aliases accepted)")]
Location = Annotated[Identifier | None, Query()]
Moment = identifier(64)


@router.get("/latest", response_model=LatestAnswer, dependencies=[Depends(api_limit)],
            summary="The newest reading of each of the client's sensors (cached up to 10 s)")
def latest_readings(
    client_id: UUID = Depends(acting_client),
    sensor_type: SensorType = None,
    location: Location = None,
    store: TimeSeriesStore = Depends(timeseries_store),
) -> Response:
    sensor_type = known_sensor_type(sensor_type)
    key = (client_id, sensor_type, location)
    cached = latest_cache.get(key)
    if cached is None:
        body, age = store.latest_body(client_id, sensor_type, location), 0.0
        latest_cache.put(key, body)
    else:
        body, age = cached
    # Age counts against max-age, so the in-process and the client's copies together stay <= 10 s old.
    return json_response(body, {"Cache-Control": f"private, max-age={LATEST_MAX_AGE_SECONDS}",
                                "Age": str(int(age)), "Vary": "X-API-Key, X-Client-Id"})


@router.get("/query", response_model=SeriesAnswer, dependencies=[Depends(query_limit)],
            summary="Readings in [start, end): raw, or min/max/avg/count per 1m, 5m, 1h or 1d bucket; past the "
                    "retention horizon, from the archive (marked archived)")
def query_readings(
    client_id: UUID = Depends(acting_client),
    sensor: Annotated[Identifier | None, Query(description="the device's sensor id")] = None,
    sensor_type: SensorType = None,
    location: Location = None,
    start: Annotated[Moment | None, Query(description="ISO-8601 or epoch seconds; default: end - 24 h")] = None,
    end: Annotated[Moment | None, Query(description="ISO-8601 or epoch seconds, exclusive; default: now")] = None,
    window: Window = Window.RAW,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    cursor: Annotated[token(1024) | None, Query(description="next_cursor of the previous page")] = None,
    store: TimeSeriesStore = Depends(timeseries_store),
) -> Response:
    until = parse_moment(end, "end") if end is not None else datetime.now(UTC)
    since = parse_moment(start, "start") if start is not None else until - DEFAULT_SPAN
    if until < since:
        raise invalid("end", "end must not be before start", end)
    try:
        after = decode_cursor(cursor, window) if cursor is not None else None
    except InvalidCursor as exc:
        raise invalid("cursor", str(exc), cursor) from None
    return json_response(series_answer(store, SeriesQuery(
        client_id=client_id, start=since, end=until, window=window, sensor=sensor,
        sensor_type=known_sensor_type(sensor_type), location=location, limit=limit, after=after)))
