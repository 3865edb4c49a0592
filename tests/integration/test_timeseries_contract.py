"""The time-series store contract, run against every backend: PostgreSQL always, InfluxDB where INFLUXDB_URL is set."""

import json
import os
import threading
from datetime import datetime, timedelta, timezone
from uuid import UUID

import pytest
from sqlalchemy import create_engine, text

from hydroponics.records.clients import create_client
from hydroponics.db import migrate
from hydroponics.db.engine import get_engine, session_scope
from hydroponics.readings.messages import QueuedReading
from hydroponics.readings.store import register_and_calibrate
from hydroponics.timeseries.base import AggregatePoint, RawPoint, SeriesQuery, TimeSeriesStore, Window
from hydroponics.timeseries.config import TimeSeriesSettings
from hydroponics.timeseries.cursor import decode_cursor
from hydroponics.timeseries.postgres import PostgresTimeSeries
from tests.integration.conftest import reset_core_caches

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)  # on every window's grid
DAY = timedelta(days=1)
INFLUXDB_SKIP = ("INFLUXDB_URL is not set: the InfluxDB 2.x run of the contract needs a server "
                 "(set INFLUXDB_URL, INFLUXDB_TOKEN, INFLUXDB_ORG and INFLUXDB_BUCKET)")


@pytest.fixture(params=["postgres", "influxdb"])
def store(request, platform_db) -> TimeSeriesStore:
    if request.param == "postgres":
        return PostgresTimeSeries()
    if not os.environ.get("INFLUXDB_URL"):
        pytest.skip(INFLUXDB_SKIP)
    from hydroponics.timeseries.influx import InfluxTimeSeries

    return InfluxTimeSeries.from_settings(TimeSeriesSettings(timeseries_backend="influxdb"))


@pytest.fixture
def farms(platform_db) -> tuple[UUID, UUID]:
    """Two clients; every test gets new ids, so runs never see each other's points (InfluxDB keeps them)."""
    with session_scope() as session:
        return create_client(session, "Greenleaf Farms"), create_client(session, "Blue Basin Growers")


def reading(client_id: UUID, sensor: str, at: datetime, value: float, sensor_type: str = "ph",
            location: str | None = "tank-1") -> QueuedReading:
    return QueuedReading(client_id=client_id, sensor=sensor, sensor_type=sensor_type, location=location,
                         value=value, recorded_at=at, received_at=at)


def every_page(store: TimeSeriesStore, query: SeriesQuery) -> list[list]:
    """Follows next_cursor to the end; returns the pages (a cursor that never ends fails, not hangs)."""
    pages = []
    for _ in range(50):
        page = store.query(query)
        pages.append(page.points)
        if page.next_cursor is None:
            return pages
        query = SeriesQuery(**(vars(query) | {"after": decode_cursor(page.next_cursor, query.window)}))
    pytest.fail(f"still paging after 50 pages: {pages[-2:]}")


def test_a_reading_written_twice_is_stored_once(store, farms):
    client, _ = farms
    batch = [reading(client, "ph-1", T0 + timedelta(seconds=i), 6.0 + i / 10) for i in range(3)]
    assert store.write(batch) == 3
    store.write(batch + [reading(client, "ph-1", T0 + timedelta(seconds=3), 6.3)])
    page = store.query(SeriesQuery(client_id=client, start=T0, end=T0 + DAY))
    assert [(p.recorded_at, p.value) for p in page.points] == [
        (T0 + timedelta(seconds=i), pytest.approx(6.0 + i / 10)) for i in range(4)]
    assert page.next_cursor is None


def test_latest_is_each_sensors_newest_reading_and_the_clients_own(store, farms):
    client, other = farms
    store.write([reading(client, "ph-1", T0 + timedelta(minutes=5), 6.5),
                 reading(client, "ec-1", T0 + timedelta(minutes=2), 1.8, sensor_type="ec"),
                 reading(client, "temp-1", T0, 21.0, sensor_type="temperature", location="tank-2")])
    store.write([reading(client, "ph-1", T0 + timedelta(minutes=1), 5.9),  # older, delivered later
                 reading(client, "ec-1", T0 + timedelta(minutes=1), 1.7, sensor_type="ec"),
                 reading(other, "ph-1", T0 + timedelta(minutes=9), 7.7)])  # same sensor name, other farm
    latest = store.latest(client)
    assert [(r.sensor, r.value, r.recorded_at) for r in latest] == [
        ("ec-1", pytest.approx(1.8), T0 + timedelta(minutes=2)),
        ("ph-1", pytest.approx(6.5), T0 + timedelta(minutes=5)),
        ("temp-1", pytest.approx(21.0), T0)]
    ph = latest[1]
    assert (ph.sensor_type, ph.location, ph.unit, ph.raw_value) == ("ph", "tank-1", "pH", pytest.approx(6.5))
    assert isinstance(ph.sensor_id, UUID)
    assert [r.sensor for r in store.latest(client, sensor_type="ec")] == ["ec-1"]
    assert [r.sensor for r in store.latest(client, location="tank-2")] == ["temp-1"]
    assert store.latest(client, sensor_type="ph", location="tank-2") == []
    assert [(r.sensor, r.value) for r in store.latest(other)] == [("ph-1", pytest.approx(7.7))]


def test_raw_pages_follow_time_then_sensor_and_never_mix_clients(store, farms):
    client, other = farms
    moments = [T0 + timedelta(minutes=i) for i in range(5)]
    store.write([reading(client, sensor, at, 6.0 + i) for i, at in enumerate(moments) for sensor in ("ph-2", "ph-1")])
    store.write([reading(other, "ph-1", at, 100.0 + i) for i, at in enumerate(moments)])
    query = SeriesQuery(client_id=client, start=T0, end=T0 + DAY, limit=3)
    pages = every_page(store, query)
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    points = [p for page in pages for p in page]
    assert all(isinstance(p, RawPoint) for p in points)
    assert [(p.recorded_at, p.sensor) for p in points] == [(at, s) for at in moments for s in ("ph-1", "ph-2")]
    assert max(p.value for p in points) < 100  # none of the other farm's readings
    assert every_page(store, query) == pages  # stable

    window = store.query(SeriesQuery(client_id=client, start=moments[1], end=moments[3], sensor="ph-1"))
    assert [p.recorded_at for p in window.points] == moments[1:3]  # start inclusive, end exclusive


def test_windows_compute_min_max_avg_count(store, farms):
    client, other = farms
    values = [6.0, 6.6, 6.3, 5.1, 5.4, 5.7, 7.0, 7.2, 6.8]  # every 20 s: three readings a minute
    store.write([reading(client, "ph-1", T0 + timedelta(seconds=20 * i), v) for i, v in enumerate(values)])
    store.write([reading(client, "ph-9", T0 + timedelta(hours=2), 4.0, location="tank-9"),
                 reading(other, "ph-1", T0 + timedelta(seconds=10), 1.0)])

    def buckets(window: Window, start: datetime = T0, **filters) -> list[tuple]:
        points = store.query(SeriesQuery(client_id=client, start=start, end=T0 + DAY, window=window,
                                         **filters)).points
        assert all(isinstance(p, AggregatePoint) for p in points)
        return [(p.sensor, p.bucket_start, p.min, p.max, p.avg, p.count) for p in points]

    assert buckets(Window.MINUTE, sensor="ph-1") == [
        ("ph-1", T0, 6.0, 6.6, pytest.approx(6.3), 3),
        ("ph-1", T0 + timedelta(minutes=1), 5.1, 5.7, pytest.approx(5.4), 3),
        ("ph-1", T0 + timedelta(minutes=2), 6.8, 7.2, pytest.approx(7.0), 3)]
    assert buckets(Window.FIVE_MINUTES, sensor="ph-1") == [("ph-1", T0, 5.1, 7.2, pytest.approx(sum(values) / 9), 9)]
    # a start off the grid: the bucket still starts on it, and counts only readings from start on
    assert buckets(Window.MINUTE, start=T0 + timedelta(seconds=30), sensor="ph-1")[0] == (
        "ph-1", T0, 6.3, 6.3, pytest.approx(6.3), 1)
    assert buckets(Window.HOUR) == [("ph-1", T0, 5.1, 7.2, pytest.approx(sum(values) / 9), 9),
                                    ("ph-9", T0 + timedelta(hours=2), 4.0, 4.0, pytest.approx(4.0), 1)]
    assert buckets(Window.DAY, location="tank-9") == [("ph-9", T0 - timedelta(hours=12), 4.0, 4.0, 4.0, 1)]

    pages = every_page(store, SeriesQuery(client_id=client, start=T0, end=T0 + DAY, window=Window.HOUR, limit=1))
    assert [[(p.sensor, p.bucket_start) for p in page] for page in pages] == [
        [("ph-1", T0)], [("ph-9", T0 + timedelta(hours=2))]]


def test_the_calibration_in_force_is_applied_and_the_raw_value_kept(store, farms, platform_db):
    client, _ = farms
    store.write([reading(client, "ph-1", T0, 6.0)])  # registers the sensor
    with platform_db.begin() as conn:
        conn.execute(text('INSERT INTO calibrations (sensor_id, client_id, calibrated_at, method, "offset", slope)'
                          " SELECT id, client_id, :at, 'two-point', 0.5, 1.1 FROM sensors WHERE client_id = :c"),
                     {"at": T0 + timedelta(seconds=5), "c": client})
    store.write([reading(client, "ph-1", T0 + timedelta(seconds=10), 6.0)])
    points = store.query(SeriesQuery(client_id=client, start=T0, end=T0 + DAY)).points
    assert [(p.value, p.raw_value) for p in points] == [
        (pytest.approx(6.0), pytest.approx(6.0)), (pytest.approx(6.0 * 1.1 + 0.5), pytest.approx(6.0))]
    [latest] = store.latest(client)
    assert (latest.value, latest.raw_value) == (pytest.approx(7.1), pytest.approx(6.0))


def test_an_empty_range_answers_no_points(store, farms):
    client, _ = farms
    store.write([reading(client, "ph-1", T0, 6.0)])
    page = store.query(SeriesQuery(client_id=client, start=T0, end=T0))
    assert (page.points, page.next_cursor) == ([], None)


# --- PostgreSQL only: what its write and latest rely on ------------------------------------------------------


def test_postgres_write_keeps_a_reading_whose_sensor_a_concurrent_batch_is_registering(farms, platform_db):
    """The store upserts sensors: a sensor committed by another batch mid-statement is found, not skipped."""
    client, _ = farms
    store = PostgresTimeSeries()
    outcome: list[int] = []
    with platform_db.connect() as other_batch:
        other_batch.execute(text("INSERT INTO sensors (client_id, external_id, sensor_type, location) "
                                 "VALUES (:c, 'ph-new', 'ph', 'tank-1')"), {"c": client})
        writer = threading.Thread(target=lambda: outcome.append(store.write([reading(client, "ph-new", T0, 6.1)])))
        writer.start()
        writer.join(timeout=1.0)
        assert writer.is_alive()  # waiting on the other batch's uncommitted sensor row
        other_batch.commit()
    writer.join(timeout=10)
    assert outcome == [1]
    assert [p.value for p in store.query(SeriesQuery(client_id=client, start=T0, end=T0 + DAY)).points] == [6.1]


def test_postgres_latest_is_filled_by_the_upgrade_for_readings_stored_before_it(empty_database_url, monkeypatch):
    migrate.upgrade(empty_database_url, "0001")
    engine = create_engine(empty_database_url)
    with engine.begin() as conn:
        client = conn.execute(text("INSERT INTO clients (name) VALUES ('Greenleaf Farms') RETURNING id")).scalar_one()
        sensor = conn.execute(text("INSERT INTO sensors (client_id, external_id, sensor_type, location) "
                                   "VALUES (:c, 'ph-1', 'ph', 'tank-1') RETURNING id"), {"c": client}).scalar_one()
        for minutes, value in ((0, 6.0), (9, 6.9), (3, 6.3)):
            conn.execute(text("INSERT INTO readings (sensor_id, client_id, recorded_at, value, raw_value) "
                              "VALUES (:s, :c, :at, :v, :v)"),
                         {"s": sensor, "c": client, "at": T0 + timedelta(minutes=minutes), "v": value})
    engine.dispose()
    migrate.upgrade(empty_database_url, "head")
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    monkeypatch.delenv("DB_SECRET_ARN", raising=False)
    reset_core_caches()
    try:
        [latest] = PostgresTimeSeries().latest(client)
        assert (latest.sensor, latest.value, latest.recorded_at) == ("ph-1", 6.9, T0 + timedelta(minutes=9))
    finally:
        get_engine().dispose()
        reset_core_caches()


def test_other_backends_register_sensors_and_get_calibrated_values_in_order(farms, platform_db):
    client, _ = farms
    PostgresTimeSeries().write([reading(client, "ph-1", T0, 6.0)])
    with platform_db.begin() as conn:
        conn.execute(text('INSERT INTO calibrations (sensor_id, client_id, calibrated_at, "offset", slope) '
                          "SELECT id, client_id, :at, 0.5, 2 FROM sensors WHERE external_id = 'ph-1'"), {"at": T0})
    batch = [reading(client, "ph-2", T0, 7.0, location=None), reading(client, "ph-1", T0 - DAY, 6.0),
             reading(client, "ph-1", T0 + DAY, 6.0)]
    with session_scope() as session:
        registered = register_and_calibrate(session, batch)
    with platform_db.connect() as conn:
        ids = dict(conn.execute(text("SELECT external_id, id FROM sensors WHERE client_id = :c"), {"c": client}).all())
    assert [(r.sensor_id, r.location, r.value) for r in registered] == [
        (ids["ph-2"], "default", 7.0), (ids["ph-1"], "tank-1", 6.0), (ids["ph-1"], "tank-1", 12.5)]
    with platform_db.connect() as conn:  # nothing stored in PostgreSQL's readings
        assert conn.execute(text("SELECT count(*) FROM readings WHERE recorded_at <> :t0"), {"t0": T0}).scalar() == 0


def test_postgres_writes_the_api_answers_json_as_pydantic_would(farms):
    """The bodies PostgreSQL writes are the documented answers, timestamps in pydantic's own form."""
    from hydroponics.api.routes.data import LatestAnswer, SeriesAnswer
    from hydroponics.timeseries import answers

    client, _ = farms
    store = PostgresTimeSeries()
    store.write([reading(client, f"ph-{i}", T0 + timedelta(seconds=i, microseconds=123000 * (i % 2)), 6.0 + i / 10)
                 for i in range(5)])
    latest = store.latest_body(client)
    LatestAnswer.model_validate_json(latest)
    assert json.loads(latest) == json.loads(answers.latest_body(store.latest(client)))
    assert b'"recorded_at":"2026-11-29T12:00:01.123000Z"' in latest and b'"recorded_at":"2026-11-29T12:00:00Z"' in latest
    for window in (Window.RAW, Window.MINUTE):
        query = SeriesQuery(client_id=client, start=T0, end=T0 + DAY, window=window, limit=2)
        body = store.query_body(query)
        SeriesAnswer.model_validate_json(body)
        assert json.loads(body) == json.loads(answers.series_body(store.query(query)))
        page = json.loads(body)
        at = "recorded_at" if window is Window.RAW else "bucket_start"
        position = decode_cursor(page["next_cursor"], window)  # 5 points, pages of 2: the cursor is the 2nd's
        assert (position.sensor, position.at) == (page["points"][1]["sensor"],
                                                  datetime.fromisoformat(page["points"][1][at]))
