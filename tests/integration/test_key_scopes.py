"""Key scopes, expiry, last use and brute force, through the ingest and api functions' handlers.

A device key posts readings and nothing else (403 on every other route of the api app, enumerated
from it); an operator key does both; only an admin key issues admin keys; an expired key gets a 401
from both functions; every request records the key's last use; failed key attempts from one address
past the limit get a 429 with Retry-After, before any key lookup.
"""

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from hydroponics.auth import brute_force, key_index
from hydroponics.auth.api_keys import create_api_key, rebuild_key_index
from hydroponics.auth.keys import hash_key, issue_key
from hydroponics.db.engine import session_scope
from hydroponics.records.clients import create_client
from tests.integration.test_tenant_isolation import NOT_CLIENT_DATA, app_routes
from tests.lambda_events import http_event, lambda_context, load_handler

api, ingest = load_handler("api"), load_handler("ingest")

READING = {"sensor_type": "ph", "value": 6.1}
COMMAND = {"power": "on", "mode": "cool", "setpoint": 22}
CAPABILITIES = {"modes": ["cool"], "setpoint_min": 16, "setpoint_max": 30, "fan_speeds": ["auto"]}
# Routes that need no key at all (a device may use them like anyone): the AC callback is signed instead.
KEYLESS = set(NOT_CLIENT_DATA) - {"GET /metrics"} | {"POST /api/ac/callback/{command_id}"}


def _call(function, method: str, path: str, headers: dict, body=None, query: str = "",
          ip: str = "127.0.0.1") -> tuple[int, dict, dict]:
    reply = function.handler(http_event(method, path, body, headers, query=query, source_ip=ip), lambda_context())
    return reply["statusCode"], json.loads(reply["body"] or "null"), reply.get("headers") or {}


def _address() -> str:
    """A source address of the test's own, so failed attempts of one test do not count in another."""
    return f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


@pytest.fixture
def farm(platform_db, local_aws):
    brute_force.forget()
    with session_scope() as session:
        client_id = create_client(session, f"Scoped Farm {uuid.uuid4().hex[:6]}")
        _, operator = create_api_key(session, client_id, "farm office")
        _, device = create_api_key(session, client_id, "bay A gateway", scope="device")
        operators = create_client(session, f"Platform Operators {uuid.uuid4().hex[:6]}")
        _, admin = create_api_key(session, operators, "on call", scope="admin")
    yield {"client_id": str(client_id), "operator": {"X-API-Key": operator.secret},
           "device": {"X-API-Key": device.secret, "X-Client-Id": str(client_id)},
           "admin": {"X-API-Key": admin.secret, "X-Client-Id": str(client_id)}}
    brute_force.forget()


def test_a_device_key_posts_readings_but_cannot_read_data_or_send_ac_commands(farm):
    operator, device = farm["operator"], farm["device"]
    unit = _call(api, "POST", "/api/ac/register", operator, {"name": "bay A ac", "location": "bay-a",
                                                             "driver": "simulated", "capabilities": CAPABILITIES})[1]
    assert _call(ingest, "POST", "/api/data", device, READING)[0] == 202
    assert _call(ingest, "POST", "/api/data", device, [READING, READING])[0] == 202
    for method, path, body, query in (("GET", "/api/data/query", None, "sensor_type=ph"),
                                      ("GET", "/api/sensors", None, ""),
                                      ("POST", "/api/ac/control", {"ac_unit_id": unit["id"], "command": COMMAND}, "")):
        status, reply, _ = _call(api, method, path, device, body, query)
        assert (status, reply["error"]["code"]) == (403, "forbidden"), (path, reply)
        assert "device keys may only post readings" in reply["error"]["message"]
        assert _call(api, method, path, operator, body, query)[0] in (200, 202), path  # the operator key works
    assert _call(ingest, "POST", "/api/data", operator, READING)[0] == 202  # as before
    with session_scope() as session:
        commands = session.execute(text("SELECT count(*) FROM ac_commands WHERE ac_unit_id = :u"),
                                   {"u": unit["id"]}).scalar_one()
    assert commands == 1  # the operator's; the device's refused command left nothing


def test_a_device_key_gets_403_on_every_route_but_ingest(farm):
    """Every route of the api app (enumerated, so a route added later is covered), with ids nobody has."""
    problems = []
    for route, (method, path) in sorted(app_routes().items()):
        if route in KEYLESS or route == "POST /api/data":
            continue
        status, reply, _ = _call(api, method, re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path), farm["device"], {})
        if status != 403:
            problems.append(f"{route}: {status} {json.dumps(reply)[:150]}")
    assert problems == []
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM events")).scalar_one() == 0  # nothing was done


def test_an_admin_key_also_ingests_for_the_client_it_names(farm):
    assert _call(ingest, "POST", "/api/data", farm["admin"], READING)[0] == 202
    assert _call(ingest, "POST", "/api/data", {"X-API-Key": farm["admin"]["X-API-Key"]}, READING)[0] == 403


def test_only_an_admin_key_issues_admin_keys_and_scopes_and_expiry_are_validated(farm):
    operator, admin = farm["operator"], farm["admin"]
    status, reply, _ = _call(api, "POST", "/api/keys", operator, {"name": "takeover", "scope": "admin"})
    assert (status, reply["error"]["message"]) == (403, "only an admin key may issue an admin key")
    assert _call(api, "POST", "/api/keys", farm["device"], {"name": "more", "scope": "device"})[0] == 403
    now = datetime.now(UTC)
    for body, field in (({"name": "x", "scope": "root"}, "scope"),
                        ({"name": "x", "expires_at": (now - timedelta(minutes=1)).isoformat()}, "expires_at"),
                        ({"name": "x", "expires_at": (now + timedelta(days=731)).isoformat()}, "expires_at"),
                        ({"name": "x", "expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # no UTC offset
                        ({"name": "x", "expires_at": "soon"}, "expires_at")):
        status, reply, _ = _call(api, "POST", "/api/keys", operator, body)
        assert status == 422 and reply["error"]["details"][0]["field"].endswith(field), (body, reply)
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 3  # none was issued

    status, issued, _ = _call(api, "POST", "/api/keys", admin, {"name": "second on call", "scope": "admin"})
    assert status == 201 and issued["scope"] == "admin" and issued["is_admin"] is True
    assert _call(api, "GET", "/api/clients", {"X-API-Key": issued["key"]})[0] == 200  # a platform route
    status, device, _ = _call(api, "POST", "/api/keys", operator, {"name": "bay B gateway", "scope": "device"})
    assert status == 201 and device["scope"] == "device" and device["expires_at"] is None
    assert _call(ingest, "POST", "/api/data", {"X-API-Key": device["key"]}, READING)[0] == 202
    assert _call(api, "GET", "/api/keys", {"X-API-Key": device["key"]})[0] == 403


def _expire(key_id: str) -> None:
    """What the passing of time does to a key: its expiry is behind us (PostgreSQL, then the index rebuilt from it)."""
    with session_scope() as session:
        session.execute(text("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = :k"), {"k": key_id})
        rebuild_key_index(session)


def test_an_expired_key_gets_401_from_both_functions(farm):
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    status, issued, _ = _call(api, "POST", "/api/keys", farm["operator"], {"name": "contractor", "expires_at": soon})
    assert status == 201 and datetime.fromisoformat(issued["expires_at"]) == datetime.fromisoformat(soon)
    key = {"X-API-Key": issued["key"]}
    assert _call(ingest, "POST", "/api/data", key, READING)[0] == 202
    assert _call(api, "GET", "/api/sensors", key)[0] == 200
    _expire(issued["id"])
    for function, method, path, body in ((ingest, "POST", "/api/data", READING), (api, "GET", "/api/sensors", None),
                                         (api, "GET", "/metrics", None)):  # /metrics looks the key up without counting
        status, reply, _ = _call(function, method, path, key, body)
        assert (status, reply["error"]["message"]) == (401, "API key expired"), path
    listed = {k["id"]: k for k in _call(api, "GET", "/api/keys", farm["operator"])[1]}
    assert datetime.fromisoformat(listed[issued["id"]]["expires_at"]) < datetime.now(UTC)


def test_the_last_use_is_recorded_and_kept_when_the_key_is_revoked(farm):
    operator, device = farm["operator"], farm["device"]
    before = {k["name"]: k for k in _call(api, "GET", "/api/keys", operator)[1]}
    assert before["bay A gateway"]["last_used_at"] is None
    assert all("key" not in k and "key_hash" not in k for k in before.values())
    started = datetime.now(UTC)
    assert _call(ingest, "POST", "/api/data", device, READING)[0] == 202
    listed = {k["name"]: k for k in _call(api, "GET", "/api/keys", operator)[1]}
    used = datetime.fromisoformat(listed["bay A gateway"]["last_used_at"])
    assert started - timedelta(seconds=1) <= used <= datetime.now(UTC)
    assert datetime.fromisoformat(listed["farm office"]["last_used_at"]) >= used  # the listing request itself

    revoked = _call(api, "DELETE", f"/api/keys/{listed['bay A gateway']['id']}", operator)[1]
    assert revoked["revoked_at"] and revoked["last_used_at"] == listed["bay A gateway"]["last_used_at"]
    with session_scope() as session:
        kept = session.execute(text("SELECT last_used_at FROM api_keys WHERE id = :k"), {"k": revoked["id"]}).scalar_one()
    assert kept == used  # PostgreSQL has it now that the index item is gone
    assert _call(ingest, "POST", "/api/data", device, READING)[0] == 401


def _in_one_window() -> None:
    if time.time() % 60 > 50:  # keep the attempts of one test in one minute
        time.sleep(60 - time.time() % 60 + 0.1)


def _index_item(local_aws, secret: str) -> dict:
    return local_aws["dynamodb"].get_item(TableName=local_aws["API_KEYS_TABLE"], Key={"key_hash": {"S": hash_key(secret)}},
                                          ConsistentRead=True)["Item"]


@pytest.mark.parametrize("function, method, path, body", [(ingest, "POST", "/api/data", READING),
                                                          (api, "GET", "/api/sensors", None)],
                         ids=["ingest", "api"])
def test_guessing_keys_from_one_address_gets_429_before_any_lookup(farm, local_aws, function, method, path, body):
    _in_one_window()
    guesser, neighbour = _address(), _address()
    good = farm["operator"]
    assert _call(function, method, path, good, body, ip=guesser)[0] in (200, 202)  # good keys are not counted
    answers = [_call(function, method, path, {"X-API-Key": issue_key().secret}, body, ip=guesser)
               for _ in range(brute_force.FAILURES_PER_MINUTE + 1)]
    assert [status for status, _, _ in answers] == [401] * brute_force.FAILURES_PER_MINUTE + [429]
    status, reply, headers = answers[-1]
    assert reply["error"]["code"] == "rate_limited" and 1 <= int(headers["retry-after"]) <= 60

    used = _index_item(local_aws, good["X-API-Key"])["last_used"]
    status, _, headers = _call(function, method, path, good, body, ip=guesser)  # even a good key: not looked up
    assert status == 429 and int(headers["retry-after"]) >= 1
    assert _index_item(local_aws, good["X-API-Key"])["last_used"] == used  # no UpdateItem on its item
    assert _call(function, method, path, {}, body, ip=guesser)[0] == 401  # no key is no attempt: told to send one
    assert _call(function, method, path, good, body, ip=neighbour)[0] in (200, 202)  # other addresses are not blocked

    brute_force.forget()  # another container: it has not seen the address, the shared count refuses it at once
    assert _call(function, method, path, {"X-API-Key": issue_key().secret}, body, ip=guesser)[0] == 429


def test_expired_keys_count_as_failed_attempts_and_missing_keys_do_not(farm, local_aws):
    _in_one_window()
    guesser = _address()
    with session_scope() as session:
        record, expired = create_api_key(session, uuid.UUID(farm["client_id"]), "old gateway", scope="device")
    _expire(str(record.id))
    for _ in range(brute_force.FAILURES_PER_MINUTE + 5):
        assert _call(ingest, "POST", "/api/data", {}, READING, ip=guesser)[0] == 401  # no key: no guess
    statuses = [_call(ingest, "POST", "/api/data", {"X-API-Key": expired.secret}, READING, ip=guesser)[0]
                for _ in range(brute_force.FAILURES_PER_MINUTE + 1)]
    assert statuses == [401] * brute_force.FAILURES_PER_MINUTE + [429]
    counted = local_aws["dynamodb"].scan(TableName=local_aws["RATE_LIMIT_TABLE"])["Items"]
    assert [(i["pk"]["S"].split("#")[:2], i["hits"]["N"]) for i in counted] == [
        (["key_failures", guesser], str(brute_force.FAILURES_PER_MINUTE + 1))]


def test_a_failed_attempt_still_gets_401_when_the_rate_limit_table_is_down(farm, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_TABLE", "no-such-table")
    from tests.integration.conftest import reset_core_caches
    reset_core_caches()
    status, reply, _ = _call(ingest, "POST", "/api/data", {"X-API-Key": issue_key().secret}, READING, ip=_address())
    assert (status, reply["error"]["message"]) == (401, key_index.UNKNOWN)
