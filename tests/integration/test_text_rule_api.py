"""Per route family: a NUL or an unpaired surrogate in any text field is a 422 naming the field, and
changes nothing (real PostgreSQL; raw JSON bodies with \\u0000 / \\ud800 escapes, as clients send them).

Every string in each family's body (at any depth, dict keys included) is poisoned in turn, then
every string query parameter of the lists and queries, and the page cursors; the database's whole
content is fingerprinted before and after.
"""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hydroponics.api.routes import (
    ac, admin, alerts, calibrations, channels, clients, crops, data, escalation_policies, events, keys, notifications,
    rules, sensors, silences, spot_checks, varieties,
)
from hydroponics.auth import key_index
from hydroponics.auth.keys import issue_key
from hydroponics.db.engine import session_scope
from tests.integration.test_rules_api import Farm
from tests.lambda_events import http_event, lambda_context, load_handler
from tests.routes_app import routes_app

POISON = {"NUL": "\x00", "unpaired surrogate": "\ud800"}
SOON = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
ID = str(uuid.uuid4())  # path ids: the body is refused before any lookup
COMMAND = {"mode": "cool", "fan": "auto"}

# (method, path, a body valid for its model with every text field filled, caller)
BODIES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/api/keys", {"name": "bay A gateway"}, "farm"),
    ("POST", "/api/clients", {"name": "Greenleaf", "contact_email": "ops@greenleaf.example",
                              "rate_limits": {"api": 100}}, "admin"),
    ("PATCH", f"/api/clients/{ID}", {"name": "Greenleaf", "contact_email": "ops@greenleaf.example",
                                     "rate_limits": {"api": 100}}, "admin"),
    ("POST", "/api/sensors", {"external_id": "ph-9", "sensor_type": "ph", "location": "bay-a", "unit": "pH",
                              "peer_group": "tank-1"}, "farm"),
    ("PATCH", f"/api/sensors/{ID}", {"location": "bay-b", "unit": "pH", "peer_group": "tank-1"}, "farm"),
    ("POST", f"/api/sensors/{ID}/calibrations", {"method": "two-point", "technician": "Ana", "notes": "buffer\nok",
                                                 "reference_solutions": [{"name": "pH 7.00", "value": 7, "unit": "pH"}]},
     "farm"),
    ("POST", f"/api/sensors/{ID}/spot-checks", {"measured_at": datetime.now(UTC).isoformat(), "value": 6.1,
                                                "technician": "Ana", "notes": "handheld meter"}, "farm"),
    ("POST", "/api/varieties", {"name": "Butterhead", "description": "soft leaves",
                                "stages": [{"name": "seedling", "duration_days": 10,
                                            "targets": {"ph": {"min": 5.5, "max": 6.5}}}]}, "farm"),
    ("PATCH", f"/api/varieties/{ID}", {"name": "Butterhead", "description": "soft leaves"}, "farm"),
    ("POST", "/api/crops", {"variety_id": ID, "location": "bay-a", "batch_code": "B-7",
                            "planted_at": datetime.now(UTC).isoformat()}, "farm"),
    ("POST", f"/api/crops/{ID}/harvest", {"yield_amount": 12.5, "yield_unit": "kg", "quality_grade": "A",
                                          "notes": "good"}, "farm"),
    ("POST", "/api/rules", {"name": "pH high", "sensor_type": "ph", "location": "bay-a",
                            "condition": {"kind": "above", "threshold": 6.5}, "channels": ["ops-email"],
                            "action": {"ac_unit_id": ID, "command": COMMAND, "when": "above"}}, "farm"),
    ("PATCH", f"/api/rules/{ID}", {"name": "pH high", "sensor_type": "ph", "location": "bay-a",
                                   "condition": {"kind": "below", "threshold": 5.5}, "channels": ["ops-email"]},
     "farm"),
    ("POST", f"/api/alerts/{ID}/acknowledge", {"note": "on it"}, "farm"),
    ("POST", f"/api/alerts/{ID}/resolve", {"note": "probe cleaned"}, "farm"),
    ("POST", "/api/silences", {"location": "bay-a", "ends_at": SOON, "reason": "reservoir flush"}, "farm"),
    ("PATCH", f"/api/silences/{ID}", {"reason": "longer flush"}, "farm"),
    ("POST", "/api/escalation-policies", {"name": "on-call", "levels": [{"after_seconds": 300,
                                                                         "channels": ["oncall-sms"]}]}, "farm"),
    ("PATCH", f"/api/escalation-policies/{ID}", {"name": "on-call", "levels": [{"after_seconds": 300,
                                                                                "channels": ["oncall-sms"]}]}, "farm"),
    ("POST", "/api/channels", {"name": "ops-hook", "kind": "webhook",
                               "config": {"url": "https://receiver.example/hook", "headers": {"X-Farm": "green"}}},
     "farm"),
    ("PATCH", f"/api/channels/{ID}", {"name": "ops-hook", "config": {"url": "https://receiver.example/hook"}}, "farm"),
    ("POST", f"/api/channels/{ID}/test", {"subject": "Test", "body": "hello\nfarm"}, "farm"),
    ("POST", "/api/ac/register", {"name": "Bay A split", "location": "bay-a", "driver": "http",
                                  "endpoint": "https://10.0.4.20/ac", "secret": "0123456789abcdef0123",
                                  "capabilities": {"modes": ["cool"], "setpoint_min": 16, "setpoint_max": 30,
                                                   "fan_speeds": ["auto"]},
                                  "alert_channels": ["ops-email"]}, "farm"),
    ("POST", "/api/ac/control", {"ac_unit_id": ID, "command": COMMAND}, "farm"),
]

# (path, string query parameters with valid values)
QUERIES: list[tuple[str, dict[str, str]]] = [
    ("/api/data/latest", {"sensor_type": "ph", "location": "bay-a"}),
    ("/api/data/query", {"sensor": "ph-1", "sensor_type": "ph", "location": "bay-a",
                         "start": "2026-11-29T00:00:00Z", "end": "2026-11-30T00:00:00Z"}),
    ("/api/sensors", {"sensor_type": "ph", "location": "bay-a", "peer_group": "tank-1"}),
    ("/api/silences", {"location": "bay-a"}),
    ("/api/crops", {"location": "bay-a"}),
    ("/api/ac/units", {"location": "bay-a"}),
    ("/api/events", {"event_type": "sensor.registered", "subject_type": "sensor", "subject_id": ID}),
    ("/admin/failed-tasks", {"source_queue": "http://127.0.0.1:4566/000/readings"}),
]
# lists paged by a text column: a cursor carrying a NUL must not reach the comparison
TEXT_KEYED_LISTS = {"/api/sensors": "sensors", "/api/channels": "channels", "/api/varieties": "varieties",
                    "/api/clients": "clients"}


# fields that are dicts (not models): their keys are text the caller chooses
# typed fields that arrive as JSON strings (times, ids, choices): refused by their own type, in their own words
TYPED_FIELDS = {"measured_at", "planted_at", "ends_at", "variety_id", "ac_unit_id", "kind", "driver"}
DICT_FIELDS = {"rate_limits", "stages.0.targets", "config", "config.headers", "condition", "action", "action.command"}


def _leaves(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, bool]]:
    """(path, is_key) of every string in a JSON document: values, and the keys of dict fields."""
    if isinstance(value, str):
        yield path, False
    elif isinstance(value, dict):
        for key, item in value.items():
            if ".".join(str(part) for part in path) in DICT_FIELDS:
                yield path + (key,), True
            yield from _leaves(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, path + (index,))


def _poisoned(document: Any, path: tuple, is_key: bool, poison: str) -> Any:
    """A copy with the string at `path` (or the key at its end) holding `poison` in the middle."""
    copy = json.loads(json.dumps(document))
    *inner, last = path
    container = copy
    for part in inner:
        container = container[part]
    if is_key:
        container[f"x{poison}y{last}"] = container.pop(last)
    else:
        container[last] = container[last][:1] + poison + container[last][1:]
    return copy


def fingerprint() -> dict[str, str]:
    """A digest of every table's rows."""
    with session_scope() as session:
        tables = session.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).all()
        return {table: session.scalar(text(f'SELECT md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\'))'
                                           f' FROM "{table}" t')) for table in tables}


@pytest.fixture
def farm(platform_db) -> Farm:
    with session_scope() as session:
        return Farm(session, "Greenleaf Farms")


@pytest.fixture
def http(platform_db) -> Iterator[TestClient]:
    app = routes_app(keys, data, clients, sensors, calibrations, events, varieties, crops, spot_checks, rules,
                     alerts, silences, escalation_policies, channels, notifications, admin, ac)
    app.dependency_overrides[data.query_limit] = lambda: None
    app.dependency_overrides[clients.signup_limit] = lambda: None
    with TestClient(app) as client:
        yield client


def _refusal(reply) -> tuple[str, str]:
    body = reply.json()
    assert reply.status_code == 422, body
    assert body["error"]["code"] == "validation_error"
    [detail] = body["error"]["details"]  # only the poisoned field: the rest of the body is valid
    return detail["field"], detail["reason"]


def _names(field: str, path: tuple) -> bool:
    """The 422 names the poisoned field, or the JSON-object field holding it."""
    dotted = ".".join(str(part) for part in path)
    return field == dotted or dotted.startswith(field + ".") or field.startswith(dotted + ".")


def test_a_nul_or_surrogate_in_any_text_field_is_a_422_that_changes_nothing(http, farm, subtests):
    before = fingerprint()
    for method, path, body, caller in BODIES:
        with subtests.test(route=f"{method} {path.replace(ID, '{id}')}"):
            headers = {"X-Test-Admin": "1"} if caller == "admin" else farm.headers
            for leaf, is_key in _leaves(body):
                for what, poison in POISON.items():
                    raw = json.dumps(_poisoned(body, leaf, is_key, poison))  # \u0000 / \ud800 escapes, as sent
                    reply = http.request(method, path, content=raw,
                                         headers=headers | {"Content-Type": "application/json"})
                    field, reason = _refusal(reply)
                    assert _names(field, leaf[:-1] if is_key else leaf), (leaf, field)
                    if ".".join(str(part) for part in leaf) not in TYPED_FIELDS:
                        assert what in reason, (leaf, reason)
            assert fingerprint() == before


def test_a_nul_or_control_character_in_a_query_parameter_is_a_422(http, farm, subtests):
    before = fingerprint()
    for path, params in QUERIES:
        with subtests.test(route=f"GET {path}"):
            headers = {"X-Test-Admin": "1"} if path.startswith("/admin") else farm.headers
            assert http.get(path, params=params, headers=headers).status_code == 200  # the valid values are valid
            # (a query string cannot carry a lone surrogate: its bytes are not UTF-8 and decode to U+FFFD)
            for name in params:
                for escape, reason in (("%00", "must not contain a NUL character (U+0000)"),
                                       ("%1B", "must not contain the control character U+001B")):
                    query = "&".join(f"{k}={'x' + escape if k == name else v}" for k, v in params.items())
                    assert _refusal(http.get(f"{path}?{query}", headers=headers)) == (f"query.{name}", reason)
    assert fingerprint() == before


def test_a_cursor_carrying_a_nul_is_a_422_naming_the_cursor(http, farm):
    for path, list_name in TEXT_KEYED_LISTS.items():
        forged = base64.urlsafe_b64encode(json.dumps({"v": 1, "l": list_name, "k": ["a\x00"] + (
            [ID] if list_name in ("clients", "varieties") else [])}).encode()).decode().rstrip("=")
        headers = {"X-Test-Admin": "1"} if path == "/api/clients" else farm.headers
        reply = http.get(path, params={"cursor": forged}, headers=headers)
        assert reply.status_code == 422 and reply.json()["error"]["details"][0]["field"] == "query.cursor", reply.text


ingest = load_handler("ingest")


def test_a_nul_or_surrogate_in_any_field_of_a_reading_is_a_422_and_nothing_is_queued(local_aws):
    client_id, key = uuid.uuid4(), issue_key()
    key_index.put_key(key.key_hash, key.prefix, client_id)
    headers = {"X-API-Key": key.secret, "X-Client-Id": str(client_id)}
    reading = {"sensor_type": "ph", "value": 6.3, "location": "bay-a", "sensor_id": "ph-1",
               "timestamp": "2026-11-29T12:00:00Z"}
    for leaf, is_key in _leaves(reading):
        if is_key:
            continue  # unknown keys are ignored (old firmware sends extras)
        for what, poison in POISON.items():
            for document, field in ((_poisoned(reading, leaf, False, poison), leaf[0]),
                                    ([_poisoned(reading, leaf, False, poison)], f"readings[0].{leaf[0]}")):
                event = http_event("POST", "/api/data", json.dumps(document), headers)
                reply = ingest.handler(event, lambda_context("ingest"))
                body = json.loads(reply["body"])
                assert reply["statusCode"] == 422, body
                assert [(d["field"], what in d["reason"]) for d in body["error"]["details"]] == [(field, True)]
    queued = local_aws["sqs"].receive_message(QueueUrl=local_aws["READINGS_QUEUE_URL"], WaitTimeSeconds=1)
    assert queued.get("Messages", []) == []


def test_the_two_requests_of_the_issue(http, farm, local_aws):
    """POST /api/data with a NUL in location was a 202 the store then refused; POST /api/silences with a
    NUL in reason and an escalation policy with one in a channel name were 500s."""
    key = issue_key()
    key_index.put_key(key.key_hash, key.prefix, farm.id)
    reply = ingest.handler(http_event("POST", "/api/data", '{"sensor_type":"ph","value":6.3,"location":"bay\\u0000nul"}',
                                      {"X-API-Key": key.secret, "X-Client-Id": str(farm.id)}), lambda_context("ingest"))
    assert (reply["statusCode"], json.loads(reply["body"])["error"]["details"]) == (
        422, [{"field": "location", "reason": "must not contain a NUL character (U+0000)"}])
    silence = http.post("/api/silences", headers=farm.headers | {"Content-Type": "application/json"},
                        content=f'{{"location":"bay-a","ends_at":"{SOON}","reason":"flush\\u0000"}}')
    assert (silence.status_code, silence.json()["error"]["details"][0]["field"]) == (422, "reason")
    policy = http.post("/api/escalation-policies", headers=farm.headers | {"Content-Type": "application/json"},
                       content='{"name":"p","levels":[{"after_seconds":60,"channels":["ops\\u0000email"]}]}')
    assert (policy.status_code, policy.json()["error"]["details"][0]["field"]) == (422, "levels.0.channels.0")
