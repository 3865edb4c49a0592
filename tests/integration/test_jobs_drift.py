"""The daily drift job: sensors disagreeing with their peers or with spot checks, found in one statement."""

import json
from datetime import timedelta
from uuid import UUID

import pytest
from sqlalchemy import text

from hydroponics.db.engine import session_scope
from hydroponics.jobs.drift import detect_drift
from hydroponics.jobs.tolerances import DriftSettings
from tests.integration.test_crops_seed import NOW, farms, sensor_id, write_readings  # noqa: F401
from tests.sql_counter import recorded_statements

START = NOW - timedelta(hours=2)


def reporting(farm: UUID, sensor: str, sensor_type: str, value: float, peer_group: str | None = None,
              location: str = "bay-a", minutes: int = 120, wobble: float = 0.0) -> UUID:
    """A sensor that reported `value` (+/- wobble) once a minute for the last `minutes` minutes."""
    write_readings(farm, sensor, sensor_type, location,
                   [(START + timedelta(minutes=n), value + (wobble if n % 2 else -wobble)) for n in range(minutes)])
    found = sensor_id(farm, sensor)
    with session_scope() as session:
        session.execute(text("UPDATE sensors SET peer_group = :g WHERE id = :s"), {"g": peer_group, "s": found})
    return found


def spot_check(farm: UUID, sensor: UUID, minutes_ago: int, value: float) -> None:
    with session_scope() as session:
        session.execute(text("INSERT INTO spot_checks (client_id, sensor_id, measured_at, value)"
                             " VALUES (:c, :s, :at, :v)"),
                        {"c": farm, "s": sensor, "at": NOW - timedelta(minutes=minutes_ago), "v": value})


def run(settings: DriftSettings | None = None) -> dict:
    with session_scope() as session:
        return detect_drift(session, NOW, settings or DriftSettings())


def drifts() -> dict[tuple[str, str], float]:
    with session_scope() as session:
        rows = session.execute(text("SELECT s.external_id, d.source, d.median_difference FROM sensor_drifts d"
                                    " JOIN sensors s ON s.id = d.sensor_id"))
        return {(name, source): round(diff, 3) for name, source, diff in rows}


@pytest.fixture
def bay(farms):
    """Greenleaf's bay A: a trio of pH probes (one off), an ec pair that disagrees, a temperature pair that agrees,
    a lone probe; Blue Basin has a probe with the same location and peer group names, far off."""
    greenleaf, blue_basin = farms
    reporting(greenleaf, "ph-1", "ph", 6.0, "tank-1", wobble=0.02)
    reporting(greenleaf, "ph-2", "ph", 6.02, "tank-1", wobble=0.02)
    reporting(greenleaf, "ph-3", "ph", 6.5, "tank-1", wobble=0.02)
    reporting(greenleaf, "ec-1", "ec", 1.0, "tank-1")
    reporting(greenleaf, "ec-2", "ec", 1.6, "tank-1")
    reporting(greenleaf, "temp-1", "temperature", 20.0, "tank-1")
    reporting(greenleaf, "temp-2", "temperature", 20.5, "tank-1")
    reporting(greenleaf, "ph-lone", "ph", 7.5, "tank-2")
    reporting(greenleaf, "ph-elsewhere", "ph", 4.0, "tank-1", location="bay-b")
    reporting(blue_basin, "ph-1", "ph", 9.0, "tank-1")
    return greenleaf, blue_basin


def test_the_odd_peer_out_drifts_and_a_disagreeing_pair_both_do(bay):
    assert run() == {"drifts_raised": 3, "drifting_sensors": 3}
    assert drifts() == {("ph-3", "peers"): 0.48, ("ec-1", "peers"): -0.3, ("ec-2", "peers"): 0.3}
    with session_scope() as session:
        events = session.execute(text("SELECT e.client_id, s.client_id, e.details FROM events e"
                                      " JOIN sensors s ON s.id::text = e.subject_id"
                                      " WHERE e.event_type = 'sensor.drift'")).all()
        assert len(events) == 3 and all(raised == owner for raised, owner, _ in events)
        assert {e.details["source"] for e in events} == {"peers"}
        assert {e.details["tolerance"] for e in events} == {0.2}
        assert {e.details["samples"] for e in events} <= {24, 25}  # 2 hours of 5-minute buckets, maybe unaligned


def test_a_second_run_the_same_day_records_nothing_new(bay):
    run()
    assert run() == {"drifts_raised": 0, "drifting_sensors": 3}
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM sensor_drifts")).scalar_one() == 3
        assert session.execute(text("SELECT count(*) FROM events WHERE event_type = 'sensor.drift'")).scalar_one() == 3
        assert session.execute(text("SELECT count(*) FROM events WHERE event_type = 'job.ran'"
                                    " AND subject_id = 'drift'")).scalar_one() == 2


def test_tolerances_come_from_the_environment(bay, monkeypatch):
    monkeypatch.setenv("DRIFT_TOLERANCES", json.dumps({"water_temperature": 0.1, "ec": 1.0}))
    settings = DriftSettings()
    assert settings.tolerance_by_type()["temperature"] == 0.1 and settings.tolerance_by_type()["ph"] == 0.2
    run(settings)
    assert set(drifts()) == {("ph-3", "peers"), ("temp-1", "peers"), ("temp-2", "peers")}
    monkeypatch.setenv("DRIFT_TOLERANCES", json.dumps({"nitrogen": 1}))
    with pytest.raises(ValueError, match="nitrogen"):
        DriftSettings()


def test_too_few_aligned_readings_are_not_enough(farms):
    greenleaf, _ = farms
    reporting(greenleaf, "ph-1", "ph", 6.0, "tank-1")
    reporting(greenleaf, "ph-2", "ph", 7.0, "tank-1", minutes=4)  # one or two 5-minute buckets
    assert run(DriftSettings(min_aligned=3)) == {"drifts_raised": 0, "drifting_sensors": 0}
    assert run(DriftSettings(min_aligned=1))["drifting_sensors"] == 2


def test_spot_checks_beyond_tolerance_are_drift(farms):
    greenleaf, _ = farms
    off = reporting(greenleaf, "ph-1", "ph", 6.8)
    fine = reporting(greenleaf, "ec-1", "ec", 1.4)
    spot_check(greenleaf, off, 30, 6.2)
    spot_check(greenleaf, off, 90, 6.3)
    spot_check(greenleaf, fine, 30, 1.35)
    spot_check(greenleaf, fine, 60 * 30, 0.5)  # outside the window
    assert run()["drifts_raised"] == 1
    assert drifts() == {("ph-1", "spot_check"): 0.55}


def test_one_statement_whatever_the_number_of_sensors(farms, platform_db):
    greenleaf, _ = farms
    counts = []
    for groups in (1, 15):
        with session_scope() as session:
            session.execute(text("DELETE FROM sensors"))
        for group in range(groups):
            for probe, value in enumerate((6.0, 6.0, 6.6)):
                reporting(greenleaf, f"ph-{group}-{probe}", "ph", value, f"tank-{group}", minutes=30)
        with recorded_statements(platform_db) as statements:
            assert run()["drifting_sensors"] == groups
        counts.append(len(statements))
    assert counts == [1, 1]
