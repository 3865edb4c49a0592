"""/api/dashboard/overview over real PostgreSQL: every bay's latest readings judged against the
current stage's band, stale sensors, open alerts per bay, scoped to the caller, in three statements."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from hydroponics.api.routes import crops, dashboard, varieties
from hydroponics.db.engine import get_engine, session_scope
from tests.integration.test_crops_seed import NOW, as_farm, farms, new_variety, plant, write_readings  # noqa: F401
from tests.routes_app import routes_app
from tests.sql_counter import recorded_statements

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def http(platform_db):
    with TestClient(routes_app(varieties, crops, dashboard)) as client:
        yield client


def overview(http, farm) -> dict:
    reply = http.get("/api/dashboard/overview", headers=as_farm(farm))
    assert reply.status_code == 200, reply.text
    return reply.json()


def by_type(location: dict) -> dict[str, dict]:
    return {sensor["sensor_type"]: sensor for sensor in location["sensors"]}


def test_each_bay_shows_its_latest_readings_against_the_current_stage_band(http, farms):
    greenleaf, blue_basin = farms
    variety = new_variety(http, greenleaf)
    plant(http, greenleaf, variety["id"], planted_at=NOW - timedelta(days=10), location="bay-a")  # seedling
    now = datetime.now(UTC)  # not NOW: that is the moment of collection, minutes ago in a long run
    recent = now - timedelta(seconds=20)
    write_readings(greenleaf, "ph@bay-a", "ph", "bay-a", [(recent - timedelta(minutes=1), 7.4), (recent, 6.0)])
    write_readings(greenleaf, "ec@bay-a", "ec", "bay-a", [(recent, 1.19)])           # band 0.8-1.2: near the top
    write_readings(greenleaf, "humidity@bay-a", "humidity", "bay-a", [(recent, 80)])  # no humidity target yet
    write_readings(greenleaf, "temp@bay-a", "temperature", "bay-a", [(now - timedelta(minutes=10), 21.0)])
    write_readings(greenleaf, "ph@bay-b", "ph", "bay-b", [(recent, 8.1)])              # no crop in bay-b
    write_readings(blue_basin, "ph@bay-a", "ph", "bay-a", [(recent, 3.0)])             # another farm's bay-a
    with session_scope() as session:
        session.execute(text("INSERT INTO alerts (client_id, sensor_id, severity, message) "
                             "SELECT client_id, id, 'critical', 'test' FROM sensors WHERE external_id = 'ec@bay-a'"))

    body = overview(http, greenleaf)
    assert [loc["location"] for loc in body["locations"]] == ["bay-a", "bay-b"]
    bay_a, bay_b = body["locations"]
    assert (bay_a["crop"]["variety"], bay_a["crop"]["stage"], bay_a["open_alerts"], bay_a["critical_alerts"]) == \
        ("Butterhead", "seedling", 1, 1)
    assert [s["name"] for s in bay_a["crop"]["stages"]] == ["germination", "seedling"]
    assert bay_a["crop"]["stages"][1]["targets"]["ec"] == {"min": 0.8, "max": 1.2}
    sensors = by_type(bay_a)
    assert (sensors["ph"]["value"], sensors["ph"]["status"], sensors["ph"]["band"]) == \
        (6.0, "in_band", {"min": 5.5, "max": 6.5})
    assert (sensors["ec"]["status"], sensors["humidity"]["status"], sensors["humidity"]["band"]) == \
        ("near_edge", "no_band", None)
    assert sensors["ph"]["stale"] is False and 0 <= sensors["ph"]["age_seconds"] < 120
    assert (sensors["temperature"]["stale"], sensors["temperature"]["unit"]) == (True, "°C")  # 10 min > 3 x 60 s
    assert (bay_b["crop"], bay_b["open_alerts"], by_type(bay_b)["ph"]["status"]) == (None, 0, "no_band")
    theirs = overview(http, blue_basin)["locations"]
    assert [(loc["location"], loc["crop"], by_type(loc)["ph"]["value"]) for loc in theirs] == [("bay-a", None, 3.0)]


def test_a_reading_outside_the_band_is_out_and_a_crop_without_sensors_still_has_its_tile(http, farms):
    greenleaf, _ = farms
    variety = new_variety(http, greenleaf)
    plant(http, greenleaf, variety["id"], planted_at=NOW - timedelta(days=10), location="bay-a")
    plant(http, greenleaf, variety["id"], location="bay-c", batch_code="B-2")
    write_readings(greenleaf, "ph@bay-a", "ph", "bay-a", [(NOW, 6.9)])
    bay_a, bay_c = overview(http, greenleaf)["locations"]
    assert by_type(bay_a)["ph"]["status"] == "out_of_band"
    assert (bay_c["location"], bay_c["crop"]["stage"], bay_c["sensors"]) == ("bay-c", "germination", [])


def test_the_overview_costs_three_statements_whatever_the_farm_size(http, farms):
    greenleaf, _ = farms
    variety = new_variety(http, greenleaf)
    for n in range(8):
        plant(http, greenleaf, variety["id"], location=f"bay-{n}", batch_code=f"B-{n}")
        for kind in ("ph", "ec", "humidity"):
            write_readings(greenleaf, f"{kind}@bay-{n}", kind, f"bay-{n}", [(NOW, 6.0)])
    with recorded_statements(get_engine()) as statements:
        assert len(overview(http, greenleaf)["locations"]) == 8
    queries = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(queries) == 3, queries


def test_the_caller_endpoint_says_whether_the_key_is_an_operators(http, farms):
    greenleaf, _ = farms
    assert http.get("/api/dashboard/caller", headers=as_farm(greenleaf)).json() == \
        {"scope": "operator", "is_admin": False, "client_id": str(greenleaf), "key_prefix": "hk_test"}
    assert http.get("/api/dashboard/caller", headers={"X-Test-Admin": "1"}).json()["is_admin"] is True
    reply = http.get("/api/dashboard/overview", headers={"X-Test-Admin": "1"})
    assert reply.status_code == 403  # an operator names the client with X-Client-Id
