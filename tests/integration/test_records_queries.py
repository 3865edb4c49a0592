"""Quality bars of the records lists: a fixed number of statements whatever the rows, and index plans on big tables."""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Callable, Iterator
from uuid import UUID

import pytest
from sqlalchemy import Engine, event, text

from hydroponics.db.engine import get_engine, session_scope
from hydroponics.records import calibrations, clients, events, sensors
from hydroponics.records.pagination import PageRequest
from tests.integration.test_records_api import Api, admin, farms, http  # noqa: F401 (fixtures)
from tests.sql_counter import recorded_statements

NOW = datetime.now(UTC)
LARGE_TABLES = {"events", "calibrations", "sensors", "crops", "readings"}

# --- seeding, in bulk: rows for the farm `client_id`, numbered from `start` -----------------------------------


def seed_sensors(session, client_id: UUID, start: int, count: int) -> None:
    """Sensors, each with a reading kept on its row and two calibrations (the newer due in 1..n days)."""
    session.execute(text(
        "INSERT INTO sensors (client_id, external_id, sensor_type, location, last_value, last_recorded_at)"
        " SELECT :c, 'bulk-' || lpad(g::text, 6, '0'), (ARRAY['ph', 'ec', 'temperature'])[1 + mod(g, 3)],"
        " 'bay-' || mod(g, 7), 6.0, now() - make_interval(mins => g)"
        " FROM generate_series(CAST(:a AS int), CAST(:b AS int)) g"),
        {"c": client_id, "a": start, "b": start + count - 1})
    session.execute(text(
        'INSERT INTO calibrations (sensor_id, client_id, calibrated_at, "offset", next_due_at)'
        " SELECT s.id, s.client_id, now() - make_interval(days => 200 - k * 100), 0.1 * k,"
        " now() + make_interval(days => (hashtext(s.external_id) & 63) - 20)"
        " FROM sensors s CROSS JOIN generate_series(0, 1) k"
        " WHERE s.client_id = :c AND s.external_id BETWEEN :first AND :last"),
        {"c": client_id, "first": f"bulk-{start:06d}", "last": f"bulk-{start + count - 1:06d}"})


def seed_calibrations(session, sensor_id: UUID, start: int, count: int) -> None:
    session.execute(text(
        'INSERT INTO calibrations (sensor_id, client_id, calibrated_at, "offset")'
        " SELECT s.id, s.client_id, now() - make_interval(hours => g), g"
        " FROM sensors s, generate_series(CAST(:a AS int), CAST(:b AS int)) g"
        " WHERE s.id = :s"), {"s": sensor_id, "a": start, "b": start + count - 1})


def seed_events(session, client_id: UUID, start: int, count: int, types: int = 6) -> None:
    session.execute(text(
        "INSERT INTO events (client_id, event_type, actor, subject_type, subject_id, details, occurred_at)"
        " SELECT :c, 'bulk.type_' || mod(g, CAST(:types AS int)), 'seed', 'sensor', 'sensor-' || mod(g, 50),"
        " '{}'::jsonb,"
        " now() - make_interval(secs => g) FROM generate_series(CAST(:a AS int), CAST(:b AS int)) g"),
        {"c": client_id, "a": start, "b": start + count - 1, "types": types})


def seed_clients(session, start: int, count: int, crops: int = 3) -> None:
    """Clients, each with three sensors and a variety with `crops` crops (two in three active)."""
    ids = session.execute(text("INSERT INTO clients (name) SELECT 'Bulk farm ' || lpad(g::text, 5, '0')"
                               " FROM generate_series(CAST(:a AS int), CAST(:b AS int)) g RETURNING id"),
                          {"a": start, "b": start + count - 1}).scalars().all()
    for client_id in ids:
        seed_sensors(session, client_id, 0, 3)
        variety = session.execute(text("INSERT INTO varieties (client_id, name) VALUES (:c, 'Butterhead')"
                                       " RETURNING id"), {"c": client_id}).scalar_one()
        session.execute(text("INSERT INTO crops (client_id, variety_id, location, batch_code, planted_at, status)"
                             " SELECT :c, :v, 'bay-a', 'B' || g, now(),"
                             " (ARRAY['active', 'active', 'failed'])[1 + mod(g, 3)]"
                             " FROM generate_series(1, CAST(:n AS int)) g"), {"c": client_id, "v": variety, "n": crops})


# --- statement counts -----------------------------------------------------------------------------------------


LISTS = ["clients", "sensors", "sensor calibrations", "calibrations due", "events", "events of a type"]


@pytest.mark.parametrize("name", LISTS)
def test_every_list_runs_a_fixed_number_of_statements_whatever_the_rows(admin, farms, name):  # noqa: F811
    (greenleaf, farm), _ = farms
    client_id = UUID(greenleaf["id"])
    sensor_id = farm.ok("POST", "/api/sensors", {"external_id": "probe", "sensor_type": "ph"})["id"]
    far = (NOW + timedelta(days=365)).isoformat()
    cases: dict[str, tuple[Api, str, dict, Callable[[Any, int, int], None]]] = {
        "clients": (admin, "/api/clients", {}, seed_clients),
        "sensors": (farm, "/api/sensors", {}, lambda s, a, n: seed_sensors(s, client_id, a, n)),
        "sensor calibrations": (farm, f"/api/sensors/{sensor_id}/calibrations", {},
                                lambda s, a, n: seed_calibrations(s, UUID(sensor_id), a, n)),
        "calibrations due": (farm, "/api/calibrations", {"due_before": far},
                             lambda s, a, n: seed_sensors(s, client_id, a, n)),
        "events": (farm, "/api/events", {}, lambda s, a, n: seed_events(s, client_id, a, n)),
        "events of a type": (farm, "/api/events", {"event_type": "bulk.type_1"},
                             lambda s, a, n: seed_events(s, client_id, a, n)),
    }
    api, path, params, seed = cases[name]
    engine = get_engine()

    def statements_for(start: int, count: int) -> tuple[int, int]:
        with session_scope() as session:
            seed(session, start, count)
        with recorded_statements(engine) as statements:
            listed = api.ok("GET", path, limit=500, **params)["items"]
        return len(statements), len(listed)

    few, few_items = statements_for(1, 3)
    many, many_items = statements_for(4, 60)
    assert many_items >= few_items + 10  # the seed reached the list
    assert few == many == (2 if name == "sensor calibrations" else 1), (few, many)


# --- plans ------------------------------------------------------------------------------------------------------


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements (with their parameters) an engine runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plan_of(engine: Engine, statement: str, parameters: Any, analyze: bool = False) -> dict:
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"EXPLAIN ({options}) {statement}", parameters).scalar_one()[0]["Plan"]


def nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


@pytest.fixture
def big_farm(platform_db) -> dict[str, Any]:
    """30 farms' worth of sensors, calibrations, crops and events; the one to query is in the middle."""
    with session_scope() as session:
        seed_clients(session, 1, 30, crops=300)
        farm_ids = session.execute(text("SELECT id FROM clients ORDER BY name")).scalars().all()
        for client_id in farm_ids:
            seed_sensors(session, client_id, 100, 200)
            seed_events(session, client_id, 1, 3000, types=10)
        farm = farm_ids[15]
        sensor = session.execute(text("SELECT id FROM sensors WHERE client_id = :c ORDER BY external_id LIMIT 1"),
                                 {"c": farm}).scalar_one()
        seed_calibrations(session, sensor, 1, 300)
    with platform_db.begin() as conn:
        conn.execute(text("ANALYZE"))
    return {"client_id": farm, "sensor_id": sensor}


def _second_page(run: Callable[[PageRequest], Any]) -> list:
    """Run a list for its first page, then for the page after it (so the cursor's condition is planned too)."""
    first = run(PageRequest(limit=20))
    assert first.next_cursor, "the seed is too small for two pages"
    return run(PageRequest(limit=20, cursor=first.next_cursor)).items


HOT_QUERIES: dict[str, Callable[[Any, dict], Any]] = {
    "events of a type": lambda s, f: _second_page(lambda p: events.list_events(
        s, f["client_id"], events.EventFilter(event_type="bulk.type_3"), p)),
    "events of a type since": lambda s, f: events.list_events(
        s, f["client_id"], events.EventFilter(event_type="bulk.type_3", since=NOW - timedelta(minutes=5)),
        PageRequest()),
    "events of every type": lambda s, f: _second_page(lambda p: events.list_events(
        s, f["client_id"], events.EventFilter(), p)),
    "events of a subject": lambda s, f: events.list_events(
        s, f["client_id"], events.EventFilter(subject_type="sensor", subject_id="sensor-7"), PageRequest()),
    "a sensor's calibrations": lambda s, f: _second_page(lambda p: calibrations.list_calibrations(
        s, f["client_id"], f["sensor_id"], p)),
    "calibrations due": lambda s, f: calibrations.calibrations_due(
        s, f["client_id"], NOW + timedelta(days=7), PageRequest()),
    "sensors": lambda s, f: _second_page(lambda p: sensors.list_sensors(
        s, f["client_id"], sensors.SensorFilter(), p)),
    "sensors of a type at a location": lambda s, f: sensors.list_sensors(
        s, f["client_id"], sensors.SensorFilter(sensor_type="ph", location="bay-3"), PageRequest()),
    "clients with counts": lambda s, f: _second_page(lambda p: clients.list_clients(s, p)),
}


EVENTS_INDEX = "ix_events_client_id_event_type_occurred_at"
CALIBRATIONS_INDEX = "ix_calibrations_sensor_id_calibrated_at"
SENSORS_INDEXES = {"uq_sensors_client_id_external_id", "ix_sensors_client_id_sensor_type_location"}
# The index each hot list is built on (any one of the set must appear in its plans).
INTENDED_INDEXES = {
    "events of a type": {EVENTS_INDEX}, "events of a type since": {EVENTS_INDEX},
    "events of every type": {EVENTS_INDEX}, "events of a subject": {EVENTS_INDEX},
    "a sensor's calibrations": {CALIBRATIONS_INDEX}, "calibrations due": {CALIBRATIONS_INDEX},
    "sensors": SENSORS_INDEXES, "sensors of a type at a location": SENSORS_INDEXES,
    "clients with counts": SENSORS_INDEXES,
}


@pytest.mark.parametrize("name", list(HOT_QUERIES))
def test_hot_lists_use_their_index_and_never_scan_a_large_table_sequentially(platform_db, big_farm, name):
    with session_scope() as session, captured(platform_db) as statements:
        HOT_QUERIES[name](session, big_farm)
    assert statements
    used: set[str] = set()
    for statement, parameters in statements:
        plan = plan_of(platform_db, statement, parameters)
        scans = [n["Relation Name"] for n in nodes(plan) if n["Node Type"] == "Seq Scan"]
        assert not LARGE_TABLES & set(scans), f"{name}: sequential scan of {scans} in\n{statement}"
        used |= {n["Index Name"] for n in nodes(plan) if "Index Name" in n}
    assert used & INTENDED_INDEXES[name], f"{name}: used {used}"


def test_a_page_of_every_event_type_reads_a_page_per_type_not_the_whole_log(platform_db, big_farm):
    """3,000 events of 10 types: a page of 50 reads at most 51 index rows per type plus one probe per type."""
    with session_scope() as session, captured(platform_db) as statements:
        page = events.list_events(session, big_farm["client_id"], events.EventFilter(), PageRequest(limit=50))
    assert len(page.items) == 50 and page.next_cursor
    [(statement, parameters)] = statements
    plan = plan_of(platform_db, statement, parameters, analyze=True)
    read = sum(n["Actual Rows"] * n["Actual Loops"] for n in nodes(plan)
               if n.get("Relation Name") == "events" and "Scan" in n["Node Type"])
    assert read <= 10 * 51 + 2 * 11, read

