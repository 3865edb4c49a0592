"""Where a readings query is answered: the part before the client's archive boundary from the archive.

`query_with_archive` splits a query at the boundary (retention_archives: the moment before which
the client's readings left PostgreSQL): the part before it is read from the archive
(archived_series.py, pyarrow, imported only then: the api function's cold start does not pay for
it), the rest from the live store. The pieces keep the live store's order and cursor, so a page can
straddle the boundary and the next page resumes on either side. Boundaries are UTC midnights and
month starts, so no 1m..1d bucket is split between the two. Readings newer than the shortest
horizon allowed are never archived: those queries do not even look the boundary up.
"""

from dataclasses import replace
from datetime import UTC, datetime

from pydantic import TypeAdapter

from hydroponics.db.engine import session_scope
from hydroponics.retention.catalogue import archive_boundary
from hydroponics.retention.horizons import MIN_DAYS, cutoff
from hydroponics.timeseries.base import (
    AggregatePoint,
    RawPoint,
    SeriesPage,
    SeriesPosition,
    SeriesQuery,
    TimeSeriesStore,
    Window,
)
from hydroponics.timeseries.answers import series_body
from hydroponics.timeseries.cursor import encode_cursor


def _position(window: Window, point: RawPoint | AggregatePoint) -> SeriesPosition:
    return SeriesPosition(at=point.recorded_at if window is Window.RAW else point.bucket_start, sensor=point.sensor)


def _boundary_within(query: SeriesQuery) -> datetime | None:
    """The client's archive boundary when part of this page lies before it, else None."""
    if query.start >= cutoff(datetime.now(UTC), MIN_DAYS):
        return None  # no horizon is shorter: nothing this recent is archived
    with session_scope() as session:
        boundary = archive_boundary(session, query.client_id)
    if boundary is None or query.start >= boundary or (query.after is not None and query.after.at >= boundary):
        return None
    return boundary


def _page_across(store: TimeSeriesStore, query: SeriesQuery, boundary: datetime) -> SeriesPage:
    from hydroponics.retention.archived_series import query_archive

    points = query_archive(replace(query, end=min(query.end, boundary)))
    if len(points) > query.limit or query.end <= boundary:
        points, more = points[:query.limit], len(points) > query.limit
        cursor = encode_cursor(query.window, _position(query.window, points[-1])) if more else None
        return SeriesPage(query.window, points, cursor)
    live = replace(query, start=boundary, after=None, limit=max(query.limit - len(points), 1))
    rest = store.query(live)
    if len(points) == query.limit:  # the page is full: it goes on if the live store has anything
        cursor = encode_cursor(query.window, _position(query.window, points[-1])) if rest.points else None
        return SeriesPage(query.window, points, cursor)
    return SeriesPage(query.window, points + rest.points, rest.next_cursor)


def query_with_archive(store: TimeSeriesStore, query: SeriesQuery) -> tuple[SeriesPage, datetime | None]:
    """One page of the query, its part before the client's archive boundary read from the archive;
    the boundary is returned when the archive was read (the answer is then marked archived)."""
    boundary = _boundary_within(query)
    if boundary is None:
        return store.query(query), None
    return _page_across(store, query, boundary), boundary


_moment_json = TypeAdapter(datetime)


def series_answer(store: TimeSeriesStore, query: SeriesQuery) -> bytes:
    """The data API's JSON body for one page, marked with whether part of it came from the archive: the
    live store's own JSON (PostgreSQL writes it) unless part of the page is archived."""
    boundary = _boundary_within(query)
    if boundary is None:
        body, marks = store.query_body(query), b',"archived":false,"archived_until":null}'
    else:
        body = series_body(_page_across(store, query, boundary))
        marks = b',"archived":true,"archived_until":' + _moment_json.dump_json(boundary) + b"}"
    return body[:-1] + marks  # the body is one JSON object: the two fields go before its closing brace
