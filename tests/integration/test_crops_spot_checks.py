"""POST/GET /api/sensors/{sensor_id}/spot-checks: stored, compared with the nearest reading, scoped."""

from datetime import timedelta

from sqlalchemy import text

from hydroponics.db.engine import session_scope
from tests.integration.test_crops_seed import (  # noqa: F401
    NOW, app, as_farm, farms, fields, http, sensor_id, write_readings,
)
from tests.sql_counter import recorded_statements


def test_a_spot_check_is_compared_with_the_readings_nearest_in_time(http, farms):
    greenleaf, _ = farms
    write_readings(greenleaf, "ph-1", "ph", "bay-a", [(NOW - timedelta(minutes=10), 6.0),
                                                      (NOW - timedelta(minutes=3), 6.4),
                                                      (NOW + timedelta(minutes=2), 6.5)])
    sensor = sensor_id(greenleaf, "ph-1")
    reply = http.post(f"/api/sensors/{sensor}/spot-checks", headers=as_farm(greenleaf), json={
        "measured_at": NOW.isoformat(), "value": 6.1, "technician": "Ana", "notes": "handheld meter"})
    assert reply.status_code == 201, reply.json()
    check = reply.json()
    assert (check["sensor_id"], check["value"], check["technician"]) == (str(sensor), 6.1, "Ana")
    assert check["reading_value"] == 6.5 and round(check["difference"], 3) == 0.4
    with session_scope() as session:
        event = session.execute(text("SELECT subject_id, details FROM events"
                                     " WHERE event_type = 'spot_check.recorded'")).one()
    assert event.subject_id == str(sensor) and event.details["spot_check_id"] == check["id"]

    lonely = http.post(f"/api/sensors/{sensor}/spot-checks", headers=as_farm(greenleaf),
                       json={"measured_at": (NOW - timedelta(days=2)).isoformat(), "value": 6.0}).json()
    assert (lonely["reading_value"], lonely["difference"], lonely["reading_recorded_at"]) == (None, None, None)


def test_another_farms_sensor_is_not_found_and_bad_input_names_the_field(http, farms):
    greenleaf, blue_basin = farms
    write_readings(blue_basin, "ph-1", "ph", "bay-a", [(NOW, 6.0)])
    theirs = sensor_id(blue_basin, "ph-1")
    body = {"measured_at": NOW.isoformat(), "value": 6.0}
    assert http.post(f"/api/sensors/{theirs}/spot-checks", headers=as_farm(greenleaf), json=body).status_code == 404
    assert http.get(f"/api/sensors/{theirs}/spot-checks", headers=as_farm(greenleaf)).status_code == 404
    url = f"/api/sensors/{theirs}/spot-checks"
    assert fields(http.post(url, headers=as_farm(blue_basin), json=body | {"value": "high"})) == ["value"]
    assert fields(http.post(url, headers=as_farm(blue_basin),
                            json=body | {"measured_at": (NOW + timedelta(hours=1)).isoformat()})) == ["measured_at"]
    assert fields(http.post(url, headers=as_farm(blue_basin), json={"value": 6})) == ["measured_at"]
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM spot_checks")).scalar_one() == 0


def test_the_list_pages_newest_first_in_one_statement_a_page(http, farms, platform_db):
    greenleaf, _ = farms
    write_readings(greenleaf, "ec-1", "ec", "bay-a", [(NOW - timedelta(hours=h), 1.4) for h in range(8)])
    sensor = sensor_id(greenleaf, "ec-1")
    for h in range(7):
        http.post(f"/api/sensors/{sensor}/spot-checks", headers=as_farm(greenleaf),
                  json={"measured_at": (NOW - timedelta(hours=h)).isoformat(), "value": 1.3})
    seen, cursor, pages = [], None, 0
    with recorded_statements(platform_db) as statements:
        while True:
            body = http.get(f"/api/sensors/{sensor}/spot-checks", headers=as_farm(greenleaf),
                            params={"limit": 3} | ({"cursor": cursor} if cursor else {})).json()
            seen += body["items"]
            pages += 1
            if not (cursor := body["next_cursor"]):
                break
    assert [c["measured_at"] for c in seen] == sorted((c["measured_at"] for c in seen), reverse=True)
    assert len(seen) == 7 and pages == 3 and len(statements) == 3
    assert all(round(c["difference"], 3) == 0.1 for c in seen)
