"""GET /api/data/latest and /api/data/query over real PostgreSQL: scoping, windows, pages, 422s, statement counts."""

from datetime import datetime, timedelta, timezone
from uuid import UUID

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from hydroponics.api.deps import acting_client
from hydroponics.api.errors import install_error_handlers
from hydroponics.api.routes import data
from hydroponics.records.clients import create_client
from hydroponics.db.engine import session_scope
from hydroponics.readings.messages import QueuedReading
from hydroponics.timeseries.cache import TtlCache
from hydroponics.timeseries.postgres import PostgresTimeSeries
from tests.sql_counter import recorded_statements

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
RANGE = {"start": "2026-11-29T00:00:00Z", "end": "2026-11-30T00:00:00Z"}


def _as_test_client(request: Request) -> UUID:
    """Stands in for acting_client: the client is whatever the test names in X-Test-Client."""
    return UUID(request.headers["x-test-client"])


@pytest.fixture
def limits_hit() -> list[str]:
    return []


@pytest.fixture
def app(platform_db, limits_hit) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(data.router)
    app.dependency_overrides[acting_client] = _as_test_client
    app.dependency_overrides[data.api_limit] = lambda: limits_hit.append("api")
    app.dependency_overrides[data.query_limit] = lambda: limits_hit.append("query")
    app.dependency_overrides[data.timeseries_store] = PostgresTimeSeries
    data.latest_cache.clear()
    yield app
    data.latest_cache.clear()


@pytest.fixture
def http(app) -> TestClient:
    return TestClient(app)


@pytest.fixture
def farms(platform_db) -> tuple[UUID, UUID]:
    with session_scope() as session:
        return create_client(session, "Greenleaf Farms"), create_client(session, "Blue Basin Growers")


def write(client_id: UUID, sensor: str, at: datetime, value: float, sensor_type: str = "ph",
          location: str = "tank-1") -> None:
    PostgresTimeSeries().write([QueuedReading(client_id=client_id, sensor=sensor, sensor_type=sensor_type,
                                              location=location, value=value, recorded_at=at, received_at=at)])


def get(http: TestClient, path: str, client_id: UUID, **params) -> tuple[int, dict, dict]:
    reply = http.get(f"/api/data/{path}", params=params, headers={"X-Test-Client": str(client_id)})
    return reply.status_code, reply.json(), reply.headers


def problem(body: dict) -> list[str]:
    """The fields a 422 names."""
    assert body["error"]["code"] == "validation_error"
    return [detail["field"] for detail in body["error"]["details"]]


@pytest.fixture
def two_farms_one_sensor_name(farms) -> tuple[UUID, UUID]:
    """Both farms have a sensor called "ph@tank-1"; the other farm's readings are newer and far off."""
    greenleaf, blue_basin = farms
    for minute in range(3):
        write(greenleaf, "ph@tank-1", T0 + timedelta(minutes=minute), 6.0 + minute / 10)
        write(blue_basin, "ph@tank-1", T0 + timedelta(minutes=minute, seconds=30), 9.0 + minute / 10)
    write(greenleaf, "ec@tank-1", T0, 1.5, sensor_type="ec")
    return greenleaf, blue_basin


# --- latest -------------------------------------------------------------------------------------------------


def test_latest_answers_each_sensors_newest_reading_of_the_callers_farm_only(http, two_farms_one_sensor_name):
    greenleaf, blue_basin = two_farms_one_sensor_name
    status, body, headers = get(http, "latest", greenleaf)
    assert status == 200
    assert body["readings"] == [
        {"sensor": "ec@tank-1", "sensor_id": body["readings"][0]["sensor_id"], "sensor_type": "ec",
         "location": "tank-1", "unit": "mS/cm", "value": 1.5, "raw_value": 1.5, "recorded_at": "2026-11-29T12:00:00Z"},
        {"sensor": "ph@tank-1", "sensor_id": body["readings"][1]["sensor_id"], "sensor_type": "ph",
         "location": "tank-1", "unit": "pH", "value": 6.2, "raw_value": 6.2, "recorded_at": "2026-11-29T12:02:00Z"},
    ]
    _, theirs, _ = get(http, "latest", blue_basin)
    assert [(r["sensor"], r["value"]) for r in theirs["readings"]] == [("ph@tank-1", 9.2)]
    assert theirs["readings"][0]["sensor_id"] != body["readings"][1]["sensor_id"]


def test_latest_filters_by_type_and_location(http, two_farms_one_sensor_name):
    greenleaf, _ = two_farms_one_sensor_name
    write(greenleaf, "temp-7", T0, 20.5, sensor_type="temperature", location="tank-7")
    assert [r["sensor"] for r in get(http, "latest", greenleaf, sensor_type="ec")[1]["readings"]] == ["ec@tank-1"]
    assert [r["sensor"] for r in get(http, "latest", greenleaf, sensor_type="temp")[1]["readings"]] == ["temp-7"]
    assert [r["sensor"] for r in get(http, "latest", greenleaf, location="tank-7")[1]["readings"]] == ["temp-7"]
    assert get(http, "latest", greenleaf, sensor_type="ph", location="tank-7")[1]["readings"] == []
    status, body, _ = get(http, "latest", greenleaf, sensor_type="nitrogen")
    assert status == 422 and problem(body) == ["query.sensor_type"]


def test_latest_is_cached_for_at_most_ten_seconds_per_farm_and_filter(http, platform_db, monkeypatch, farms):
    greenleaf, blue_basin = farms
    now = [1000.0]
    monkeypatch.setattr(data, "latest_cache", TtlCache(ttl_seconds=10, clock=lambda: now[0]))
    write(greenleaf, "ph-1", T0, 6.0)
    write(blue_basin, "ph-1", T0, 8.0)
    status, first, headers = get(http, "latest", greenleaf)
    assert status == 200 and headers["cache-control"] == "private, max-age=10" and headers["age"] == "0"

    write(greenleaf, "ph-1", T0 + timedelta(minutes=1), 6.4)
    now[0] += 9.5
    with recorded_statements(platform_db) as statements:
        _, again, headers = get(http, "latest", greenleaf)
    assert (again, statements, headers["age"]) == (first, [], "9")  # from the cache: no SQL
    assert get(http, "latest", blue_basin)[1]["readings"][0]["value"] == 8.0  # never another farm's entry
    assert get(http, "latest", greenleaf, sensor_type="ph")[1]["readings"][0]["value"] == 6.4  # other filters

    now[0] += 0.5  # ten seconds old: expired
    assert get(http, "latest", greenleaf)[1]["readings"][0]["value"] == 6.4


# --- query --------------------------------------------------------------------------------------------------


def test_raw_query_answers_the_callers_sensor_only_when_names_clash(http, two_farms_one_sensor_name):
    greenleaf, blue_basin = two_farms_one_sensor_name
    status, body, _ = get(http, "query", greenleaf, sensor="ph@tank-1", **RANGE)
    assert status == 200 and body["window"] == "raw" and body["next_cursor"] is None
    assert body["points"] == [
        {"sensor": "ph@tank-1", "sensor_type": "ph", "location": "tank-1",
         "recorded_at": f"2026-11-29T12:0{minute}:00Z", "value": 6.0 + minute / 10, "raw_value": 6.0 + minute / 10}
        for minute in range(3)]
    _, theirs, _ = get(http, "query", blue_basin, **RANGE)
    assert [p["value"] for p in theirs["points"]] == [9.0, 9.1, 9.2]
    assert get(http, "query", greenleaf, sensor="nobody", **RANGE)[1]["points"] == []


def test_windows_answer_min_max_avg_count_per_bucket(http, farms):
    greenleaf, blue_basin = farms
    for second, value in ((0, 6.0), (20, 6.6), (40, 6.3), (60, 5.0)):
        write(greenleaf, "ph-1", T0 + timedelta(seconds=second), value)
    write(blue_basin, "ph-1", T0 + timedelta(seconds=10), 0.5)
    status, body, _ = get(http, "query", greenleaf, window="1m", **RANGE)
    assert status == 200 and body["window"] == "1m"
    assert body["points"] == [
        {"sensor": "ph-1", "sensor_type": "ph", "location": "tank-1", "bucket_start": "2026-11-29T12:00:00Z",
         "min": 6.0, "max": 6.6, "avg": pytest.approx(6.3), "count": 3},
        {"sensor": "ph-1", "sensor_type": "ph", "location": "tank-1", "bucket_start": "2026-11-29T12:01:00Z",
         "min": 5.0, "max": 5.0, "avg": 5.0, "count": 1}]
    for window, count in (("5m", 4), ("1h", 4), ("1d", 4)):
        [bucket] = get(http, "query", greenleaf, window=window, **RANGE)[1]["points"]
        assert (bucket["count"], bucket["min"], bucket["max"]) == (count, 5.0, 6.6), window


def test_pages_follow_the_cursor_to_the_end_in_a_stable_order(http, farms):
    greenleaf, _ = farms
    for minute in range(4):
        for sensor in ("ph-b", "ph-a"):
            write(greenleaf, sensor, T0 + timedelta(minutes=minute), 6.0 + minute)
    _, whole, _ = get(http, "query", greenleaf, limit=100, **RANGE)
    collected, params = [], {"limit": 3, **RANGE}
    for _ in range(10):  # 8 points, 3 a page: a cursor that never ends fails, not hangs
        status, page, _ = get(http, "query", greenleaf, **params)
        assert status == 200 and len(page["points"]) <= 3
        collected += page["points"]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert collected == whole["points"]
    assert [(p["recorded_at"][11:16], p["sensor"]) for p in collected] == [
        (f"12:0{minute}", sensor) for minute in range(4) for sensor in ("ph-a", "ph-b")]


def test_start_and_end_take_epoch_seconds_and_default_to_the_last_day(http, farms):
    greenleaf, _ = farms
    now = datetime.now(timezone.utc).replace(microsecond=0)
    write(greenleaf, "ph-1", now - timedelta(hours=1), 6.1)
    write(greenleaf, "ph-1", now - timedelta(hours=25), 6.2)
    assert [p["value"] for p in get(http, "query", greenleaf)[1]["points"]] == [6.1]
    since = int((now - timedelta(hours=26)).timestamp())
    _, body, _ = get(http, "query", greenleaf, start=str(since), end=str(int(now.timestamp())))
    assert [p["value"] for p in body["points"]] == [6.2, 6.1]


@pytest.mark.parametrize(("params", "field"), [
    ({"start": "2026-11-29T12:00:00Z", "end": "2026-11-29T11:00:00Z"}, "query.end"),
    ({"window": "2m"}, "query.window"),
    ({"cursor": "not-a-cursor"}, "query.cursor"),
    ({"start": "yesterday"}, "query.start"),
    ({"limit": "0"}, "query.limit"),
    ({"limit": "10001"}, "query.limit"),
    ({"sensor_type": "nitrogen"}, "query.sensor_type"),
])
def test_invalid_queries_are_422_naming_the_field(http, farms, params, field):
    status, body, _ = get(http, "query", farms[0], **params)
    assert status == 422 and problem(body) == [field]


def test_a_cursor_of_another_window_is_refused(http, farms):
    greenleaf, _ = farms
    for minute in range(3):
        write(greenleaf, "ph-1", T0 + timedelta(minutes=minute), 6.0)
    cursor = get(http, "query", greenleaf, limit=1, **RANGE)[1]["next_cursor"]
    assert cursor is not None
    status, body, _ = get(http, "query", greenleaf, window="1m", cursor=cursor, **RANGE)
    assert status == 422 and problem(body) == ["query.cursor"]


def test_each_endpoint_answers_behind_its_own_rate_limit(http, farms, limits_hit):
    get(http, "latest", farms[0])
    get(http, "query", farms[0])
    assert limits_hit == ["api", "query"]


def test_without_overrides_an_anonymous_caller_is_refused(platform_db, farms):
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(data.router)
    for path in ("latest", "query"):
        reply = TestClient(app).get(f"/api/data/{path}")
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "unauthorized"


# --- statements ---------------------------------------------------------------------------------------------


def _statements(platform_db, http, client_id: UUID, path: str, **params) -> int:
    data.latest_cache.clear()
    with recorded_statements(platform_db) as statements:
        status, _, _ = get(http, path, client_id, **params)
    assert status == 200
    # past the shortest retention horizon the query also asks where the client's archive ends
    return len([s for s in statements if "retention_archives" not in s])


@pytest.mark.parametrize(("path", "params"), [
    ("latest", {}),
    ("query", RANGE),
    ("query", {**RANGE, "window": "5m"}),
    ("query", {**RANGE, "sensor_type": "ph", "limit": "2"}),
])
def test_each_endpoint_runs_one_statement_however_many_rows(http, platform_db, farms, path, params):
    greenleaf, _ = farms
    write(greenleaf, "ph-0", T0, 6.0)
    few = _statements(platform_db, http, greenleaf, path, **params)
    PostgresTimeSeries().write([
        QueuedReading(client_id=greenleaf, sensor=f"ph-{i % 40}", sensor_type="ph", location=f"tank-{i % 7}",
                      value=6.0, recorded_at=T0 + timedelta(seconds=i), received_at=T0) for i in range(400)])
    many = _statements(platform_db, http, greenleaf, path, **params)
    assert few == many == 1
