"""The data API's answers as JSON bodies, for a backend whose points are built in Python (InfluxDB).

PostgreSQL writes the same JSON itself (timeseries/postgres.py); the route sends either on as is.
Serialized straight from the dataclasses (pydantic-core, no per-point validation).
"""

from typing import Sequence, TypedDict

from pydantic import TypeAdapter

from hydroponics.timeseries.base import AggregatePoint, LatestReading, RawPoint, SeriesPage, Window


class _LatestBody(TypedDict):
    readings: Sequence[LatestReading]


class _SeriesBody(TypedDict):
    window: Window
    points: list[RawPoint] | list[AggregatePoint]
    next_cursor: str | None


_latest_json = TypeAdapter(_LatestBody)
_series_json = TypeAdapter(_SeriesBody)


def latest_body(readings: Sequence[LatestReading]) -> bytes:
    return _latest_json.dump_json({"readings": readings})


def series_body(page: SeriesPage) -> bytes:
    return _series_json.dump_json({"window": page.window, "points": page.points, "next_cursor": page.next_cursor})
