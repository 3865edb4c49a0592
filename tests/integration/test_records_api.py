"""The farm records API (clients, sensors, calibrations, events) over real PostgreSQL and MiniStack key index."""

import time
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from hydroponics import ratelimit
from hydroponics.api.deps import add_rate_limit_headers
from hydroponics.api.errors import install_error_handlers
from hydroponics.api.routes import calibrations, clients, events, keys, sensors
from hydroponics.auth import key_index
from hydroponics.auth.api_keys import create_api_key
from hydroponics.db.engine import session_scope
from hydroponics.readings.messages import QueuedReading
from hydroponics.readings.store import store_readings

NOW = datetime.now(UTC).replace(microsecond=0)


class Api:
    """The records API as one key holder sees it (admins act for a client by naming it)."""

    def __init__(self, http: TestClient, key: str, acting_for: UUID | str | None = None):
        self.http, self.headers = http, {"X-API-Key": key}
        if acting_for is not None:
            self.headers["X-Client-Id"] = str(acting_for)

    def acting_for(self, client_id: UUID | str) -> "Api":
        return Api(self.http, self.headers["X-API-Key"], client_id)

    def call(self, method: str, path: str, body: dict | None = None, **params) -> tuple[int, dict]:
        reply = self.http.request(method, path, json=body, params=params or None, headers=self.headers)
        return reply.status_code, reply.json()

    def get(self, path: str, **params) -> tuple[int, dict]:
        return self.call("GET", path, **params)

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        return self.call("POST", path, body)

    def patch(self, path: str, body: dict) -> tuple[int, dict]:
        return self.call("PATCH", path, body)

    def delete(self, path: str) -> tuple[int, dict]:
        return self.call("DELETE", path)

    def ok(self, method: str, path: str, body: dict | None = None, **params) -> dict:
        status, reply = self.call(method, path, body, **params)
        assert status in (200, 201), (status, reply)
        return reply

    def everything(self, path: str, limit: int = 500, **params) -> list[dict]:
        """Every item of a list, following the cursor (a cursor that never ends fails, not hangs)."""
        items, params = [], {"limit": limit, **params}
        for _ in range(1000):
            page = self.ok("GET", path, **params)
            items += page["items"]
            if page["next_cursor"] is None:
                return items
            params["cursor"] = page["next_cursor"]
        raise AssertionError("the cursor never ended")


def invalid_fields(status: int, body: dict) -> list[str]:
    """The fields a 422 names."""
    assert status == 422, body
    assert body["error"]["code"] == "validation_error"
    return [detail["field"] for detail in body["error"]["details"]]


def records_app() -> FastAPI:
    """The api function's error shape and rate-limit headers, with the records routers (and keys)."""
    app = FastAPI()
    install_error_handlers(app)
    add_rate_limit_headers(app)
    for module in (clients, sensors, calibrations, events, keys):
        app.include_router(module.router)
    return app


@pytest.fixture
def http(platform_db, local_aws) -> TestClient:
    return TestClient(records_app())


@pytest.fixture
def admin(http) -> Api:
    """A platform operator's key (no client), in PostgreSQL and the key index."""
    with session_scope() as session:
        _, key = create_api_key(session, None, "operations", scope="admin")
    return Api(http, key.secret)


def register_farm(admin: Api, name: str, **fields) -> tuple[dict, Api]:
    """A client registered through the API, and the API as its first key sees it."""
    client = admin.ok("POST", "/api/clients", {"name": name, **fields})
    return client, Api(admin.http, client["api_key"]["key"])


@pytest.fixture
def farms(admin) -> tuple[tuple[dict, Api], tuple[dict, Api]]:
    return register_farm(admin, "Greenleaf Farms"), register_farm(admin, "Blue Basin Growers")


def store(client_id: str, sensor: str, value: float, at: datetime, sensor_type: str = "ph") -> None:
    """A reading through the store step, as the rules function stores it."""
    with session_scope() as session:
        store_readings(session, [QueuedReading(client_id=UUID(client_id), sensor=sensor, sensor_type=sensor_type,
                                               location="bay-a", value=value, recorded_at=at, received_at=at)])


def event_types(api: Api, **params) -> list[str]:
    return [event["event_type"] for event in api.everything("/api/events", **params)]


# --- clients ------------------------------------------------------------------------------------------------


def test_admin_registers_a_client_and_its_first_key_is_shown_once(admin):
    client, farm = register_farm(admin, "Greenleaf Farms", contact_email="ops@greenleaf.example",
                                 rate_limits={"ingest": 240})
    assert client["name"] == "Greenleaf Farms" and client["is_active"] is True
    assert (client["rate_limits"], client["sensor_count"], client["active_crop_count"]) == ({"ingest": 240}, 0, 0)
    key = client["api_key"]
    assert key["key"].startswith(key["prefix"]) and key["revoked_at"] is None
    assert key_index.lookup(key["key"]).rate_limits == {"ingest": 240}  # the key carries the client's limits
    assert farm.ok("GET", f"/api/clients/{client['id']}")["contact_email"] == "ops@greenleaf.example"
    [listed] = farm.ok("GET", "/api/keys")
    assert listed["prefix"] == key["prefix"] and "key" not in listed
    assert event_types(farm) == ["api_key.created", "client.created"]  # one transaction: same time, by id
    [created] = farm.everything("/api/events", event_type="client.created")
    assert created["actor"].startswith("api-key:hk_") and created["subject_id"] == client["id"]


def test_only_admins_register_and_list_clients(farms):
    (_, greenleaf), _ = farms
    status, body = greenleaf.post("/api/clients", {"name": "Sneaky Sprouts"})
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert greenleaf.get("/api/clients")[0] == 403


def test_client_names_are_unique_whatever_the_case(admin, farms):
    status, body = admin.post("/api/clients", {"name": "  greenleaf FARMS "})
    assert status == 409 and body["error"]["details"] == [{"field": "name", "reason": "already taken"}]
    (_, _), (blue, _) = farms
    assert admin.patch(f"/api/clients/{blue['id']}", {"name": "GREENLEAF farms"})[0] == 409


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"),
    ({}, "name"),
    ({"name": "Farm", "contact_email": "not-an-address"}, "contact_email"),
    ({"name": "Farm", "rate_limits": {"telepathy": 5}}, "rate_limits.telepathy"),
    ({"name": "Farm", "rate_limits": {"api": 0}}, "rate_limits.api"),
    ({"name": "Farm", "rate_limits": {"api": "lots"}}, "rate_limits.api"),
    ({"name": "Farm", "owner": "me"}, "owner"),
])
def test_bad_client_input_is_422_naming_the_field(admin, body, field):
    assert invalid_fields(*admin.post("/api/clients", body)) == [field]


def test_registering_clients_is_rate_limited_per_ip(admin, monkeypatch):
    monkeypatch.setitem(ratelimit.DEFAULT_LIMITS, "create_client", 2)
    if time.time() % 60 > 55:  # keep the three requests in one window
        time.sleep(60 - time.time() % 60 + 0.1)
    replies = [admin.post("/api/clients", {"name": f"Farm {n}"}) for n in range(3)]
    assert [status for status, _ in replies] == [201, 201, 429]
    assert replies[2][1]["error"]["code"] == "rate_limited"


def test_client_list_has_sensor_and_active_crop_counts(admin, farms):
    (greenleaf, farm), (blue, _) = farms
    for n in range(3):
        farm.ok("POST", "/api/sensors", {"external_id": f"ph-{n}", "sensor_type": "ph"})
    farm.ok("DELETE", f"/api/sensors/{farm.everything('/api/sensors')[0]['id']}")  # inactive: not counted
    with session_scope() as session:
        variety = session.execute(text("INSERT INTO varieties (client_id, name) VALUES (:c, 'Butterhead')"
                                       " RETURNING id"), {"c": greenleaf["id"]}).scalar_one()
        for status in ("active", "active", "harvested"):
            session.execute(text("INSERT INTO crops (client_id, variety_id, location, batch_code, planted_at, status)"
                                 " VALUES (:c, :v, 'bay-a', 'B1', now(), :s)"),
                            {"c": greenleaf["id"], "v": variety, "s": status})
    listed = {c["name"]: c for c in admin.everything("/api/clients")}
    assert (listed["Greenleaf Farms"]["sensor_count"], listed["Greenleaf Farms"]["active_crop_count"]) == (2, 2)
    assert (listed["Blue Basin Growers"]["sensor_count"], listed["Blue Basin Growers"]["active_crop_count"]) == (0, 0)
    assert list(listed) == sorted(listed)  # by name
    one = admin.ok("GET", f"/api/clients/{greenleaf['id']}")
    assert (one["sensor_count"], one["active_crop_count"]) == (2, 2)


def test_clients_list_pages_through_every_client_once(admin):
    names = [f"Farm {n:02d}" for n in range(7)]
    for name in reversed(names):
        register_farm(admin, name)
    pages = [admin.ok("GET", "/api/clients", limit=3)]
    while pages[-1]["next_cursor"]:
        pages.append(admin.ok("GET", "/api/clients", limit=3, cursor=pages[-1]["next_cursor"]))
    assert [len(page["items"]) for page in pages] == [3, 3, 1]
    assert [c["name"] for page in pages for c in page["items"]] == names


def test_a_client_sees_itself_and_never_another(farms):
    (greenleaf, farm), (blue, _) = farms
    assert farm.ok("GET", f"/api/clients/{greenleaf['id']}")["name"] == "Greenleaf Farms"
    for call in (lambda: farm.get(f"/api/clients/{blue['id']}"),
                 lambda: farm.patch(f"/api/clients/{blue['id']}", {"contact_email": "x@y.example"}),
                 lambda: farm.get(f"/api/clients/{uuid4()}")):
        status, body = call()
        assert status == 404 and "Blue Basin" not in str(body)
    assert farm.delete(f"/api/clients/{greenleaf['id']}")[0] == 403  # deactivating is the operators' call


def test_changing_rate_limits_reaches_the_key_index_at_once(admin, farms):
    (greenleaf, farm), _ = farms
    secret = farm.headers["X-API-Key"]
    extra = farm.ok("POST", "/api/keys", {"name": "bay A gateway"})["key"]
    changed = admin.ok("PATCH", f"/api/clients/{greenleaf['id']}", {"rate_limits": {"ingest": 30, "api": 1000}})
    assert changed["rate_limits"] == {"ingest": 30, "api": 1000}
    assert key_index.lookup(secret).rate_limits == key_index.lookup(extra).rate_limits == {"ingest": 30, "api": 1000}
    admin.ok("PATCH", f"/api/clients/{greenleaf['id']}", {"rate_limits": {"api": None}})  # null drops an override
    assert key_index.lookup(secret).rate_limits == {"ingest": 30}
    status, body = farm.patch(f"/api/clients/{greenleaf['id']}", {"rate_limits": {"api": 10_000}})
    assert status == 403 and key_index.lookup(secret).rate_limits == {"ingest": 30}
    [last, first] = farm.everything("/api/events", event_type="client.updated")
    assert first["details"]["changes"] == {"rate_limits": {"from": {}, "to": {"ingest": 30, "api": 1000}}}
    assert last["details"]["changes"]["rate_limits"]["to"] == {"ingest": 30}


def test_a_client_updates_its_own_name_and_email_and_the_change_is_audited(farms):
    (greenleaf, farm), _ = farms
    changed = farm.ok("PATCH", f"/api/clients/{greenleaf['id']}", {"name": "Greenleaf Farms Ltd",
                                                                   "contact_email": "grow@greenleaf.example"})
    assert (changed["name"], changed["contact_email"]) == ("Greenleaf Farms Ltd", "grow@greenleaf.example")
    assert changed["updated_at"] > greenleaf["updated_at"]
    [event] = farm.everything("/api/events", event_type="client.updated")
    assert event["details"]["changes"] == {"name": {"from": "Greenleaf Farms", "to": "Greenleaf Farms Ltd"},
                                           "contact_email": {"from": None, "to": "grow@greenleaf.example"}}
    assert invalid_fields(*farm.patch(f"/api/clients/{greenleaf['id']}", {})) == ["body"]
    assert invalid_fields(*farm.patch(f"/api/clients/{greenleaf['id']}", {"name": None})) == ["name"]


def test_deactivating_a_client_revokes_every_key_at_once(admin, platform_db, farms):
    (greenleaf, farm), (blue, blue_farm) = farms
    second = farm.ok("POST", "/api/keys", {"name": "bay A gateway"})["key"]
    gone = admin.ok("DELETE", f"/api/clients/{greenleaf['id']}")
    assert gone["is_active"] is False
    for secret in (farm.headers["X-API-Key"], second):
        with pytest.raises(key_index.KeyRefused):
            key_index.lookup(secret)
        assert Api(farm.http, secret).get(f"/api/clients/{greenleaf['id']}")[0] == 401
    with session_scope() as session:
        revoked = session.execute(text("SELECT count(*) FILTER (WHERE revoked_at IS NOT NULL), count(*)"
                                       " FROM api_keys WHERE client_id = :c"), {"c": greenleaf["id"]}).one()
    assert tuple(revoked) == (2, 2)
    assert blue_farm.ok("GET", f"/api/clients/{blue['id']}")["is_active"] is True  # others untouched
    [event] = admin.acting_for(greenleaf["id"]).everything("/api/events", event_type="client.deactivated")
    assert len(event["details"]["revoked_key_prefixes"]) == 2
    assert [c["name"] for c in admin.everything("/api/clients", is_active="false")] == ["Greenleaf Farms"]


# --- sensors ------------------------------------------------------------------------------------------------


def test_registering_a_sensor_fills_unit_and_canonical_type(farms):
    (_, farm), _ = farms
    sensor = farm.ok("POST", "/api/sensors", {"external_id": "wt-1", "sensor_type": "water_temperature",
                                              "location": "bay-a", "expected_interval_seconds": 300,
                                              "peer_group": "bay-a-water"})
    assert {k: sensor[k] for k in ("external_id", "sensor_type", "unit", "location", "expected_interval_seconds",
                                   "peer_group", "is_active", "last_recorded_at")} == {
        "external_id": "wt-1", "sensor_type": "temperature", "unit": "°C", "location": "bay-a",
        "expected_interval_seconds": 300, "peer_group": "bay-a-water", "is_active": True, "last_recorded_at": None}
    assert sensor["calibration"] == {"status": "never", "last_calibrated_at": None, "next_due_at": None}
    assert farm.ok("GET", f"/api/sensors/{sensor['id']}") == sensor
    [event] = farm.everything("/api/events", event_type="sensor.registered")
    assert event["subject_id"] == sensor["id"] and event["details"]["external_id"] == "wt-1"


def test_a_duplicate_sensor_id_is_409_also_when_a_reading_registered_it(farms):
    (greenleaf, farm), (_, blue) = farms
    farm.ok("POST", "/api/sensors", {"external_id": "ph-1", "sensor_type": "ph"})
    status, body = farm.post("/api/sensors", {"external_id": "ph-1", "sensor_type": "ec"})
    assert status == 409 and body["error"]["details"][0]["field"] == "external_id"
    store(greenleaf["id"], "ec-7", 1.6, NOW)
    assert farm.post("/api/sensors", {"external_id": "ec-7", "sensor_type": "ec"})[0] == 409
    assert blue.post("/api/sensors", {"external_id": "ph-1", "sensor_type": "ph"})[0] == 201  # another farm's id


@pytest.mark.parametrize("body, field", [
    ({"external_id": "x-1", "sensor_type": "smell"}, "sensor_type"),
    ({"sensor_type": "ph"}, "external_id"),
    ({"external_id": " ", "sensor_type": "ph"}, "external_id"),
    ({"external_id": "x-1", "sensor_type": "ph", "expected_interval_seconds": 0}, "expected_interval_seconds"),
    ({"external_id": "x-1", "sensor_type": "ph", "min_threshold": 7, "max_threshold": 5}, "max_threshold"),
    ({"external_id": "x-1", "sensor_type": "ph", "min_threshold": "low"}, "min_threshold"),
    ({"external_id": "x-1", "sensor_type": "ph", "colour": "blue"}, "colour"),
])
def test_bad_sensor_input_is_422_naming_the_field(farms, body, field):
    (_, farm), _ = farms
    assert invalid_fields(*farm.post("/api/sensors", body)) == [field]


def test_sensor_list_filters_and_shows_latest_reading_and_calibration_status(farms):
    (greenleaf, farm), _ = farms
    made = {}
    for external_id, sensor_type, location, group in (
            ("ph-1", "ph", "bay-a", "bay-a-ph"), ("ph-2", "ph", "bay-a", "bay-a-ph"),
            ("ec-1", "ec", "bay-a", None), ("ph-9", "ph", "bay-b", None)):
        made[external_id] = farm.ok("POST", "/api/sensors", {"external_id": external_id, "sensor_type": sensor_type,
                                                             "location": location, "peer_group": group})
    store(greenleaf["id"], "ph-1", 6.1, NOW - timedelta(minutes=5))
    store(greenleaf["id"], "ph-1", 6.3, NOW - timedelta(minutes=1))
    calibrate = lambda sensor, due: farm.ok("POST", f"/api/sensors/{made[sensor]['id']}/calibrations",  # noqa: E731
                                            {"calibrated_at": (NOW - timedelta(days=30)).isoformat(),
                                             "next_due_at": due and (NOW + due).isoformat()})
    calibrate("ph-1", timedelta(days=60))
    calibrate("ph-2", timedelta(days=3))
    calibrate("ec-1", -timedelta(days=1))
    listed = {s["external_id"]: s for s in farm.everything("/api/sensors")}
    assert list(listed) == ["ec-1", "ph-1", "ph-2", "ph-9"]
    assert {k: s["calibration"]["status"] for k, s in listed.items()} == {
        "ec-1": "overdue", "ph-1": "ok", "ph-2": "due_soon", "ph-9": "never"}
    assert listed["ph-1"]["last_value"] == 6.3
    assert listed["ph-1"]["last_recorded_at"] == (NOW - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert listed["ph-1"]["calibration"]["last_calibrated_at"].startswith((NOW - timedelta(days=30)).date().isoformat())
    pick = lambda **params: [s["external_id"] for s in farm.everything("/api/sensors", **params)]  # noqa: E731
    assert pick(sensor_type="PH", location="bay-a") == ["ph-1", "ph-2"]
    assert pick(peer_group="bay-a-ph") == ["ph-1", "ph-2"]
    assert pick(location="bay-b") == ["ph-9"]
    assert invalid_fields(*farm.get("/api/sensors", sensor_type="smell")) == ["query.sensor_type"]


def test_updating_and_deactivating_a_sensor(farms):
    (_, farm), _ = farms
    sensor = farm.ok("POST", "/api/sensors", {"external_id": "ph-1", "sensor_type": "ph", "min_threshold": 5.5})
    path = f"/api/sensors/{sensor['id']}"
    changed = farm.ok("PATCH", path, {"location": "bay-c", "max_threshold": 6.5, "peer_group": "bay-c-ph"})
    assert (changed["location"], changed["min_threshold"], changed["max_threshold"]) == ("bay-c", 5.5, 6.5)
    assert invalid_fields(*farm.patch(path, {"max_threshold": 5.0})) == ["max_threshold"]  # below the stored min
    assert invalid_fields(*farm.patch(path, {"location": None})) == ["location"]
    assert invalid_fields(*farm.patch(path, {"sensor_type": "ec"})) == ["sensor_type"]  # not editable
    assert farm.ok("PATCH", path, {"peer_group": None})["peer_group"] is None
    assert farm.ok("DELETE", path)["is_active"] is False
    assert farm.everything("/api/sensors") == []
    assert [s["external_id"] for s in farm.everything("/api/sensors", include_inactive="true")] == ["ph-1"]
    assert farm.ok("DELETE", path)["is_active"] is False  # again: same answer, no second event
    assert farm.ok("PATCH", path, {"is_active": True})["is_active"] is True
    assert event_types(farm, subject_id=sensor["id"]) == [
        "sensor.updated", "sensor.deactivated", "sensor.updated", "sensor.updated", "sensor.registered"]
    first_update = farm.everything("/api/events", event_type="sensor.updated")[-1]
    assert first_update["details"]["changes"] == {"location": {"from": "default", "to": "bay-c"},
                                                  "max_threshold": {"from": None, "to": 6.5},
                                                  "peer_group": {"from": None, "to": "bay-c-ph"}}


def test_an_admin_works_on_a_clients_sensors_by_naming_it(admin, farms):
    (greenleaf, farm), (blue, _) = farms
    farm.ok("POST", "/api/sensors", {"external_id": "ph-1", "sensor_type": "ph"})
    assert [s["external_id"] for s in admin.acting_for(greenleaf["id"]).everything("/api/sensors")] == ["ph-1"]
    assert admin.acting_for(blue["id"]).everything("/api/sensors") == []
    assert admin.get("/api/sensors")[0] == 403  # which client's?


# --- calibrations -------------------------------------------------------------------------------------------


def test_a_calibration_corrects_the_readings_stored_after_it(farms):
    (greenleaf, farm), _ = farms
    sensor = farm.ok("POST", "/api/sensors", {"external_id": "ph-1", "sensor_type": "ph"})
    store(greenleaf["id"], "ph-1", 6.0, NOW - timedelta(hours=2))
    calibration = farm.ok("POST", f"/api/sensors/{sensor['id']}/calibrations", {
        "calibrated_at": (NOW - timedelta(hours=1)).isoformat(), "method": "two-point",
        "reference_solutions": [{"name": "pH 4.01 buffer", "value": 4.01}, {"name": "pH 7.00 buffer", "value": 7.0}],
        "offset": -0.2, "slope": 1.1, "technician": "Ana", "next_due_at": (NOW + timedelta(days=30)).isoformat(),
        "notes": "probe cleaned first"})
    assert calibration["reference_solutions"] == [{"name": "pH 4.01 buffer", "value": 4.01},
                                                  {"name": "pH 7.00 buffer", "value": 7.0}]
    assert (calibration["offset"], calibration["slope"], calibration["technician"]) == (-0.2, 1.1, "Ana")
    store(greenleaf["id"], "ph-1", 6.0, NOW)
    assert farm.ok("GET", f"/api/sensors/{sensor['id']}")["last_value"] == pytest.approx(6.0 * 1.1 - 0.2)
    [event] = farm.everything("/api/events", event_type="calibration.recorded")
    assert (event["subject_type"], event["subject_id"]) == ("sensor", sensor["id"])
    assert event["details"]["calibration_id"] == calibration["id"]


def test_a_sensors_calibrations_are_listed_newest_first_a_page_at_a_time(farms):
    (_, farm), _ = farms
    sensor = farm.ok("POST", "/api/sensors", {"external_id": "ec-1", "sensor_type": "ec"})
    path = f"/api/sensors/{sensor['id']}/calibrations"
    for days_ago in (40, 10, 25, 5, 70):
        farm.ok("POST", path, {"calibrated_at": (NOW - timedelta(days=days_ago)).isoformat(), "offset": days_ago})
    first = farm.ok("GET", path, limit=2)
    assert [c["offset"] for c in first["items"]] == [5, 10] and first["next_cursor"]
    assert [c["offset"] for c in farm.everything(path, limit=2)] == [5, 10, 25, 40, 70]


@pytest.mark.parametrize("body, fields", [
    ({"next_due_at": "2020-01-01T00:00:00Z", "calibrated_at": "2021-01-01T00:00:00Z"}, ["next_due_at"]),
    ({"calibrated_at": "2999-01-01T00:00:00Z"}, ["calibrated_at"]),
    ({"slope": 0}, ["slope"]),
    ({"slope": "steep"}, ["slope"]),
    ({"reference_solutions": [{"name": "pH 7 buffer"}]}, ["reference_solutions.0.value"]),
    ({"calibrated_at": "last tuesday"}, ["calibrated_at"]),
])
def test_bad_calibration_input_is_422_naming_the_field(farms, body, fields):
    (_, farm), _ = farms
    sensor = farm.ok("POST", "/api/sensors", {"external_id": "ph-1", "sensor_type": "ph"})
    assert invalid_fields(*farm.post(f"/api/sensors/{sensor['id']}/calibrations", body)) == fields


def test_calibrations_due_are_the_calibrations_in_force_soonest_first(farms):
    (_, farm), _ = farms
    due = {}
    for external_id, days in (("ph-1", 2), ("ph-2", -3), ("ec-1", 20), ("ec-2", None), ("ph-3", 1)):
        sensor = farm.ok("POST", "/api/sensors", {"external_id": external_id, "sensor_type": external_id[:2]})
        farm.ok("POST", f"/api/sensors/{sensor['id']}/calibrations", {
            "calibrated_at": (NOW - timedelta(days=100)).isoformat(),
            "next_due_at": (NOW - timedelta(days=50)).isoformat()})  # superseded below: never due
        if days is not None:
            due[external_id] = farm.ok("POST", f"/api/sensors/{sensor['id']}/calibrations", {
                "calibrated_at": (NOW - timedelta(days=10)).isoformat(),
                "next_due_at": (NOW + timedelta(days=days)).isoformat()})
        else:
            farm.ok("POST", f"/api/sensors/{sensor['id']}/calibrations", {"calibrated_at": NOW.isoformat()})
        if external_id == "ph-3":
            farm.ok("DELETE", f"/api/sensors/{sensor['id']}")  # inactive: nothing due
    listed = farm.everything("/api/calibrations", limit=1)
    assert [(c["external_id"], c["status"]) for c in listed] == [("ph-2", "overdue"), ("ph-1", "due_soon")]
    assert listed[0]["id"] == due["ph-2"]["id"] and listed[0]["sensor_type"] == "ph"
    later = farm.everything("/api/calibrations", due_before=(NOW + timedelta(days=30)).isoformat())
    assert [(c["external_id"], c["status"]) for c in later] == [
        ("ph-2", "overdue"), ("ph-1", "due_soon"), ("ec-1", "ok")]
    assert invalid_fields(*farm.get("/api/calibrations", due_before="soon")) == ["query.due_before"]


# --- events -------------------------------------------------------------------------------------------------


def test_events_filter_by_type_subject_and_time_newest_first(farms):
    (greenleaf, farm), _ = farms
    ids = [farm.ok("POST", "/api/sensors", {"external_id": f"ph-{n}", "sensor_type": "ph"})["id"] for n in range(3)]
    farm.ok("PATCH", f"/api/sensors/{ids[0]}", {"location": "bay-b"})
    farm.ok("DELETE", f"/api/sensors/{ids[1]}")
    everything = farm.everything("/api/events")
    assert [e["event_type"] for e in everything] == [
        "sensor.deactivated", "sensor.updated", "sensor.registered", "sensor.registered", "sensor.registered",
        "api_key.created", "client.created"]
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    assert [e["subject_id"] for e in farm.everything("/api/events", event_type="sensor.registered")] == ids[::-1]
    assert event_types(farm, subject_type="sensor", subject_id=ids[0]) == ["sensor.updated", "sensor.registered"]
    moment = datetime.fromisoformat(everything[1]["occurred_at"])
    assert everything[1] in farm.everything("/api/events", since=moment.isoformat())
    assert everything[1] not in farm.everything("/api/events", until=moment.isoformat())
    assert farm.everything("/api/events", since=(NOW + timedelta(days=1)).isoformat()) == []
    assert invalid_fields(*farm.get("/api/events", since=NOW.isoformat(),
                                    until=(NOW - timedelta(days=1)).isoformat())) == ["query.until"]


def test_events_page_a_few_at_a_time_across_types_without_gaps_or_repeats(farms):
    (_, farm), _ = farms
    for n in range(9):
        sensor = farm.ok("POST", "/api/sensors", {"external_id": f"s-{n}", "sensor_type": "ph"})
        if n % 3 == 0:
            farm.ok("PATCH", f"/api/sensors/{sensor['id']}", {"location": "bay-b"})
    whole = farm.everything("/api/events")
    assert len(whole) == 9 + 3 + 2
    assert farm.everything("/api/events", limit=4) == whole
    assert farm.everything("/api/events", limit=1, event_type="sensor.updated") == [
        e for e in whole if e["event_type"] == "sensor.updated"]


def test_page_parameters_are_checked(farms):
    (_, farm), _ = farms
    sensors_cursor = None
    for n in range(3):
        farm.ok("POST", "/api/sensors", {"external_id": f"s-{n}", "sensor_type": "ph"})
    sensors_cursor = farm.ok("GET", "/api/sensors", limit=1)["next_cursor"]
    assert invalid_fields(*farm.get("/api/events", cursor=sensors_cursor)) == ["query.cursor"]
    assert invalid_fields(*farm.get("/api/sensors", cursor="bm90IGEgY3Vyc29y")) == ["query.cursor"]
    assert invalid_fields(*farm.get("/api/sensors", limit=501)) == ["query.limit"]
    assert invalid_fields(*farm.get("/api/events", limit=0)) == ["query.limit"]
    assert len(farm.ok("GET", "/api/sensors")["items"]) == 3  # default limit 50


# --- isolation ----------------------------------------------------------------------------------------------


def test_another_clients_ids_are_404_and_its_rows_never_listed(farms):
    (greenleaf, farm), (blue, intruder) = farms
    sensor = farm.ok("POST", "/api/sensors", {"external_id": "ph-1", "sensor_type": "ph", "location": "bay-a"})
    farm.ok("POST", f"/api/sensors/{sensor['id']}/calibrations", {"next_due_at": (NOW + timedelta(days=1)).isoformat()})
    path = f"/api/sensors/{sensor['id']}"
    for status, body in (intruder.get(path), intruder.patch(path, {"location": "mine"}), intruder.delete(path),
                         intruder.get(f"{path}/calibrations"), intruder.post(f"{path}/calibrations", {"offset": 1})):
        assert status == 404 and "ph-1" not in str(body) and body["error"]["code"] == "not_found"
    assert intruder.everything("/api/sensors", include_inactive="true") == []
    assert intruder.everything("/api/calibrations", due_before=(NOW + timedelta(days=365)).isoformat()) == []
    assert all(e["subject_id"] != sensor["id"] for e in intruder.everything("/api/events"))
    assert {e["event_type"] for e in intruder.everything("/api/events")} == {"client.created", "api_key.created"}
    untouched = farm.ok("GET", path)
    assert (untouched["location"], untouched["is_active"]) == ("bay-a", True)
    assert len(farm.everything(f"{path}/calibrations")) == 1
