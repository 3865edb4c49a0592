"""The daily calibration check: overdue and soon-due calibrations become events, once a day, in one query."""

from datetime import timedelta
from uuid import UUID

from sqlalchemy import text

from hydroponics.db.engine import session_scope
from hydroponics.jobs.calibration_due import raise_calibrations_due
from tests.integration.test_crops_seed import NOW, farms  # noqa: F401
from tests.sql_counter import recorded_statements

DAY = timedelta(days=1)
NOON = NOW.replace(hour=12, minute=0, second=0)  # the same-day rerun below stays on the same UTC day


def sensor(session, farm: UUID, name: str, active: bool = True) -> UUID:
    return session.execute(text("INSERT INTO sensors (client_id, external_id, sensor_type, location, is_active)"
                                " VALUES (:c, :n, 'ph', 'bay-a', :a) RETURNING id"),
                           {"c": farm, "n": name, "a": active}).scalar_one()


def calibrate(session, farm: UUID, sensor_id: UUID, calibrated_at, next_due_at) -> None:
    session.execute(text("INSERT INTO calibrations (sensor_id, client_id, calibrated_at, next_due_at)"
                         " VALUES (:s, :c, :at, :due)"),
                    {"s": sensor_id, "c": farm, "at": calibrated_at, "due": next_due_at})


def check(now=NOON) -> dict:
    with session_scope() as session:
        return raise_calibrations_due(session, now)


def due_events(session) -> list[tuple]:
    return sorted(session.execute(text(
        "SELECT e.event_type, s.external_id, e.client_id = s.client_id FROM events e"
        " JOIN sensors s ON s.id::text = e.subject_id WHERE e.event_type LIKE 'calibration.%'")).all())


def test_overdue_and_soon_due_calibrations_become_events_once_a_day(farms):
    greenleaf, blue_basin = farms
    with session_scope() as session:
        overdue, soon, renewed, undated = (sensor(session, greenleaf, name) for name in ("ph-1", "ph-2", "ph-3", "ph-4"))
        calibrate(session, greenleaf, overdue, NOON - 60 * DAY, NOON - 2 * DAY)
        calibrate(session, greenleaf, soon, NOON - 27 * DAY, NOON + 3 * DAY)
        calibrate(session, greenleaf, renewed, NOON - 60 * DAY, NOON - 30 * DAY)  # superseded by the next one
        calibrate(session, greenleaf, renewed, NOON - DAY, NOON + 60 * DAY)
        calibrate(session, greenleaf, undated, NOON - 400 * DAY, None)
        calibrate(session, blue_basin, sensor(session, blue_basin, "theirs"), NOON - 30 * DAY, NOON - timedelta(hours=1))
        calibrate(session, greenleaf, sensor(session, greenleaf, "retired", active=False), NOON - 90 * DAY, NOON - DAY)

    assert check() == {"overdue": 2, "due_soon": 1}
    assert check(NOON + timedelta(minutes=1)) == {"overdue": 0, "due_soon": 0}  # same day: nothing new
    with session_scope() as session:
        assert due_events(session) == [("calibration.due", "ph-2", True), ("calibration.overdue", "ph-1", True),
                                       ("calibration.overdue", "theirs", True)]
        details = session.execute(text("SELECT details FROM events WHERE event_type = 'calibration.due'")).scalar_one()
        assert details["sensor"] == "ph-2" and details["days_left"] == 3
        runs = session.execute(text("SELECT details FROM events WHERE event_type = 'job.ran'"
                                    " AND subject_id = 'calibration_due' ORDER BY id")).scalars().all()
        assert [(r["overdue"], r["due_soon"]) for r in runs] == [(2, 1), (0, 0)]

    tomorrow = (NOON + DAY).replace(hour=0, minute=30)
    assert check(tomorrow) == {"overdue": 2, "due_soon": 1}  # a reminder a day while it lasts


def test_one_query_finds_them_whatever_the_number_of_sensors(farms, platform_db):
    greenleaf, _ = farms
    counts = []
    for sensors in (3, 300):
        with session_scope() as session:
            session.execute(text("DELETE FROM sensors"))
            session.execute(text("DELETE FROM events"))
            session.execute(text("""
                WITH s AS (
                    INSERT INTO sensors (client_id, external_id, sensor_type, location)
                    SELECT :c, 'ph-' || n, 'ph', 'bay-a' FROM generate_series(1, :n) n RETURNING id
                )
                INSERT INTO calibrations (sensor_id, client_id, calibrated_at, next_due_at)
                SELECT id, :c, CAST(:now AS timestamptz) - interval '30 days', CAST(:now AS timestamptz)
                FROM s"""), {"c": greenleaf, "n": sensors, "now": NOON})  # due at the moment check() runs
        with recorded_statements(platform_db) as statements:
            assert check()["overdue"] == sensors
        counts.append(len(statements))
    assert counts == [2, 2]  # the advisory lock, then the one statement that finds and records them
