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
from hydroponics.timeseries.cursor import encode_cursor


def _position(window: Window, point: RawPoint | AggregatePoint) -> SeriesPosition:
    return SeriesPosition(at=point.recorded_at if window is Window.RAW else point.bucket_start, sensor=point.sensor)


def query_with_archive(store: TimeSeriesStore, query: SeriesQuery) -> tuple[SeriesPage, datetime | None]:
    """One page of the query, its part before the client's archive boundary read from the archive;
    the boundary is returned when the archive was read (the answer is then marked archived)."""
    if query.start >= cutoff(datetime.now(UTC), MIN_DAYS):
        return store.query(query), None  # no horizon is shorter: nothing this recent is archived
    with session_scope() as session:
        boundary = archive_boundary(session, query.client_id)
    if boundary is None or query.start >= boundary or (query.after is not None and query.after.at >= boundary):
        return store.query(query), None
    from hydroponics.retention.archived_series import query_archive

    points = query_archive(replace(query, end=min(query.end, boundary)))
    if len(points) > query.limit or query.end <= boundary:
        points, more = points[:query.limit], len(points) > query.limit
        cursor = encode_cursor(query.window, _position(query.window, points[-1])) if more else None
        return SeriesPage(query.window, points, cursor), boundary
    live = replace(query, start=boundary, after=None, limit=max(query.limit - len(points), 1))
    rest = store.query(live)
    if len(points) == query.limit:  # the page is full: it goes on if the live store has anything
        cursor = encode_cursor(query.window, _position(query.window, points[-1])) if rest.points else None
        return SeriesPage(query.window, points, cursor), boundary
    return SeriesPage(query.window, points + rest.points, rest.next_cursor), boundary
