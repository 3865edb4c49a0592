"""Tenant isolation: client A's key, and an admin key acting for A, on every route, aimed at client B's records.

Two farms get a record of every kind (sensors, readings, calibrations, spot checks, varieties, crops,
harvests, rules, alerts, silences, escalation policies, channels, notifications, AC units and
commands, keys, events) plus platform records (failed tasks, retention runs). Then every route of
the api app is tried with A's credentials on B's ids, in the path, the query and the body (a rule
naming B's sensor, crop, policy or AC unit; a policy or unit naming B's channel), and the same
request is sent again with an id (or name) nobody has. Each pair must get the same answer (a 404,
never a 403, for an id), no reply may carry any of B's values A did not send itself, and a digest
of every table is the same before and after.

The routes are enumerated from the app: a route added without a case here fails
`test_every_route_has_an_isolation_case`.
"""

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Callable
from urllib.parse import urlencode

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import text

from hydroponics.api.app import create_app
from hydroponics.auth.api_keys import create_api_key
from hydroponics.climate.signing import SIGNATURE_HEADER, sign
from hydroponics.db.engine import session_scope
from hydroponics.readings.messages import parse_message
from hydroponics.records.clients import create_client
from tests.lambda_events import http_event, lambda_context, load_handler

api = load_handler("api")

NOW = datetime.now(UTC)
NO_LIMITS = {name: 1_000_000 for name in ("api", "query", "ac_control", "channel_test", "ingest")}
CAPABILITIES = {"modes": ["cool", "heat", "fan"], "setpoint_min": 16, "setpoint_max": 30, "fan_speeds": ["auto"]}
COMMAND = {"power": "on", "mode": "cool", "setpoint": 22}


@dataclass
class Refs:
    """What one farm's records are called: its ids and the names other records reference it by."""

    client: str
    prefix: str  # names of this farm's records start with it
    sensor: str = ""
    sensor_external: str = ""
    location: str = ""
    calibration: str = ""
    spot_check: str = ""
    variety: str = ""
    crop: str = ""
    harvested_crop: str = ""
    channel: str = ""
    channel_name: str = ""
    policy: str = ""
    rule: str = ""
    alert: str = ""
    silence: str = ""
    notification: str = ""
    ac_unit: str = ""
    ac_command: str = ""
    key: str = ""
    failed_task: str = ""
    retention_run: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def values(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("headers", "prefix")}


def ghost() -> Refs:
    """References to nothing: what a farm with no such records would be answered."""
    ids = {f.name: str(uuid.uuid4()) for f in fields(Refs) if f.name not in ("headers", "prefix")}
    names = {"sensor_external": "ghost-ph", "location": "ghost-bay", "channel_name": "ghost-pager"}
    return Refs(prefix="ghost", **(ids | names))


def call(method: str, path: str, headers: dict[str, str], body: Any = None,
         params: dict[str, str] | None = None, raw: str | None = None) -> tuple[int, Any, str]:
    event = http_event(method, path, raw if raw is not None else body, headers, query=urlencode(params or {}))
    reply = api.handler(event, lambda_context())
    text_body = reply.get("body") or ""
    try:
        parsed = json.loads(text_body) if text_body else None
    except ValueError:
        parsed = text_body
    return reply["statusCode"], parsed, text_body


def made(method: str, path: str, headers: dict[str, str], body: Any = None) -> dict[str, Any]:
    status, reply, _ = call(method, path, headers, body)
    assert status in (200, 201, 202), (method, path, status, reply)
    return reply


def seed_farm(prefix: str) -> Refs:
    """A farm with one record of every kind, made through the API with its own key (alerts,
    notifications and readings as the rules engine and the notify function write them)."""
    with session_scope() as session:
        client_id = create_client(session, f"{prefix} farm {uuid.uuid4().hex[:6]}", settings={"rate_limits": NO_LIMITS})
        _, key = create_api_key(session, client_id, f"{prefix} key")
    farm = Refs(client=str(client_id), prefix=prefix, location=f"{prefix}-bay", sensor_external=f"{prefix}-ph-1",
                channel_name=f"{prefix}-pager", headers={"X-API-Key": key.secret})
    h = farm.headers
    farm.sensor = made("POST", "/api/sensors", h, {"external_id": farm.sensor_external, "sensor_type": "ph",
                                                   "location": farm.location})["id"]
    farm.calibration = made("POST", f"/api/sensors/{farm.sensor}/calibrations", h, {"offset": 0.1})["id"]
    farm.spot_check = made("POST", f"/api/sensors/{farm.sensor}/spot-checks", h, {
        "measured_at": (NOW - timedelta(minutes=5)).isoformat(), "value": 6.1})["id"]
    farm.variety = made("POST", "/api/varieties", h, {"name": f"{prefix} lettuce", "stages": [
        {"name": "seedling", "duration_days": 10, "targets": {"ph": {"min": 5.5, "max": 6.5}}}]})["id"]
    planting = {"variety_id": farm.variety, "location": farm.location, "planted_at": (NOW - timedelta(days=1)).isoformat()}
    farm.crop = made("POST", "/api/crops", h, planting | {"batch_code": f"{prefix}-1"})["id"]
    farm.harvested_crop = made("POST", "/api/crops", h, planting | {"batch_code": f"{prefix}-0"})["id"]
    made("POST", f"/api/crops/{farm.harvested_crop}/harvest", h, {"yield_amount": "3.5", "yield_unit": "kg"})
    farm.channel = made("POST", "/api/channels", h, {"name": farm.channel_name, "kind": "webhook",
                                                     "config": {"url": "http://127.0.0.1:9/hook"}})["id"]
    farm.policy = made("POST", "/api/escalation-policies", h, {"name": f"{prefix} on-call", "levels": [
        {"after_seconds": 300, "channels": [farm.channel_name]}]})["id"]
    farm.ac_unit = made("POST", "/api/ac/register", h, {
        "name": f"{prefix} ac", "location": farm.location, "driver": "simulated", "secret": f"{prefix}-secret-0123456789",
        "capabilities": CAPABILITIES, "alert_channels": [farm.channel_name]})["id"]
    farm.rule = made("POST", "/api/rules", h, {
        "name": f"{prefix} pH high", "sensor_id": farm.sensor, "condition": {"kind": "above", "threshold": 6.5},
        "channels": [farm.channel_name], "escalation_policy_id": farm.policy,
        "action": {"ac_unit_id": farm.ac_unit, "command": COMMAND, "when": "above"}})["id"]
    farm.silence = made("POST", "/api/silences", h, {"sensor_id": farm.sensor, "reason": "reservoir flush",
                                                     "ends_at": (NOW + timedelta(hours=2)).isoformat()})["id"]
    farm.ac_command = made("POST", "/api/ac/control", h, {"ac_unit_id": farm.ac_unit, "command": COMMAND})["id"]
    farm.key = made("POST", "/api/keys", h, {"name": f"{prefix} gateway"})["id"]
    with session_scope() as session:
        params = {"c": farm.client, "s": farm.sensor, "r": farm.rule, "ch": farm.channel}
        session.execute(text("INSERT INTO readings (sensor_id, recorded_at, client_id, value)"
                             " VALUES (:s, now() - interval '1 minute', :c, 7.2)"), params)
        farm.alert = str(session.execute(text(
            "INSERT INTO alerts (client_id, rule_id, sensor_id, severity, status, message, value)"
            " VALUES (:c, :r, :s, 'critical', 'open', 'pH 7.2 above 6.5', 7.2) RETURNING id"), params).scalar_one())
        farm.notification = str(session.execute(text(
            "INSERT INTO notifications (client_id, alert_id, channel_id, idempotency_key, status, subject)"
            " VALUES (:c, :a, :ch, :k, 'sent', 'pH high') RETURNING id"),
            params | {"a": farm.alert, "k": f"isolation:{uuid.uuid4()}"}).scalar_one())
        farm.failed_task = str(session.execute(text(
            "INSERT INTO failed_tasks (source_queue, body, attributes) VALUES ('readings', :b, '{}') RETURNING id"),
            {"b": json.dumps({"client_id": farm.client})}).scalar_one())
        farm.retention_run = str(session.execute(text(
            "INSERT INTO retention_runs (status, requested_by) VALUES ('succeeded', 'cli') RETURNING id")).scalar_one())
    return farm


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    params: dict[str, str] | None = None
    body: Any = None
    expect: int = 404
    signed_with: str | None = None  # an AC unit's secret the body is signed with (the callback)


# Routes with no id, name or filter that could point at another client's records: creating one of
# the caller's own records, or the caller's identity. What they can still leak, another client
# named in X-Client-Id, is what `test_a_key_cannot_act_for_another_client` tries on every route.
NO_REFERENCE = {
    "POST /api/keys": "creates one of the caller's keys",
    "POST /api/sensors": "creates one of the caller's sensors",
    "POST /api/varieties": "creates one of the caller's varieties",
    "POST /api/channels": "creates one of the caller's channels (the outbound policy judges the target)",
}
# Routes that serve no client's data at all.
NOT_CLIENT_DATA = {
    "GET /health": "database and queue reachability",
    "GET /openapi.json": "the API's description", "GET /docs": "the API's description",
    "GET /docs/oauth2-redirect": "FastAPI's docs helper", "GET /redoc": "the API's description",
    "GET /dashboard": "the dashboard's page", "GET /dashboard/": "redirect to the page",
    "GET /dashboard/static": "the dashboard's static files",
    "GET /metrics": "the platform's figures, for its metrics token or an admin key (a client's key gets 403)",
}


def route_cases(own: Refs, other: Refs) -> dict[str, list[Req]]:
    """Per route, the requests by `own`'s caller that aim at `other`'s records."""
    o = other
    rule = {"name": "mine", "condition": {"kind": "above", "threshold": 6.5}}
    unit = {"name": "mine", "location": own.location, "driver": "simulated", "capabilities": CAPABILITIES}
    later = (NOW + timedelta(hours=1)).isoformat()
    return {
        "POST /api/data": [Req("POST", "/api/data", body={"sensor_type": "ph", "value": 6.1, "sensor_id": o.sensor_external,
                                                          "location": o.location}, expect=202)],
        "GET /api/keys": [Req("GET", "/api/keys", expect=200)],
        "DELETE /api/keys/{key_id}": [Req("DELETE", f"/api/keys/{o.key}")],
        "GET /api/data/latest": [Req("GET", "/api/data/latest", expect=200),
                                 Req("GET", "/api/data/latest", {"location": o.location}, expect=200)],
        "GET /api/data/query": [Req("GET", "/api/data/query", {"sensor": o.sensor_external}, expect=200),
                                Req("GET", "/api/data/query", {"location": o.location}, expect=200)],
        "POST /api/clients": [Req("POST", "/api/clients", body={"name": "mine"}, expect=403)],
        "GET /api/clients": [Req("GET", "/api/clients", expect=403)],
        "GET /api/clients/{client_id}": [Req("GET", f"/api/clients/{o.client}")],
        "PATCH /api/clients/{client_id}": [Req("PATCH", f"/api/clients/{o.client}", body={"name": "taken over"})],
        "DELETE /api/clients/{client_id}": [Req("DELETE", f"/api/clients/{o.client}", expect=403)],
        "GET /api/sensors": [Req("GET", "/api/sensors", expect=200),
                             Req("GET", "/api/sensors", {"location": o.location}, expect=200)],
        "GET /api/sensors/{sensor_id}": [Req("GET", f"/api/sensors/{o.sensor}")],
        "PATCH /api/sensors/{sensor_id}": [Req("PATCH", f"/api/sensors/{o.sensor}", body={"location": "moved"})],
        "DELETE /api/sensors/{sensor_id}": [Req("DELETE", f"/api/sensors/{o.sensor}")],
        "POST /api/sensors/{sensor_id}/calibrations": [Req("POST", f"/api/sensors/{o.sensor}/calibrations",
                                                           body={"offset": 9.9})],
        "GET /api/sensors/{sensor_id}/calibrations": [Req("GET", f"/api/sensors/{o.sensor}/calibrations")],
        "GET /api/calibrations": [Req("GET", "/api/calibrations", {"due_before": later}, expect=200)],
        "GET /api/events": [Req("GET", "/api/events", expect=200),
                            Req("GET", "/api/events", {"subject_id": o.sensor}, expect=200)],
        "GET /api/varieties": [Req("GET", "/api/varieties", expect=200)],
        "GET /api/varieties/{variety_id}": [Req("GET", f"/api/varieties/{o.variety}")],
        "PATCH /api/varieties/{variety_id}": [Req("PATCH", f"/api/varieties/{o.variety}", body={"name": "renamed"})],
        "POST /api/crops": [Req("POST", "/api/crops", body={"variety_id": o.variety, "location": own.location,
                                                            "batch_code": "x", "planted_at": NOW.isoformat()})],
        "GET /api/crops": [Req("GET", "/api/crops", expect=200),
                           Req("GET", "/api/crops", {"variety_id": o.variety}, expect=200),
                           Req("GET", "/api/crops", {"location": o.location}, expect=200)],
        "GET /api/crops/{crop_id}": [Req("GET", f"/api/crops/{o.crop}"), Req("GET", f"/api/crops/{o.harvested_crop}")],
        "POST /api/crops/{crop_id}/harvest": [Req("POST", f"/api/crops/{o.crop}/harvest", body={})],
        "GET /api/crops/{crop_id}/report": [Req("GET", f"/api/crops/{o.harvested_crop}/report")],
        "POST /api/sensors/{sensor_id}/spot-checks": [Req("POST", f"/api/sensors/{o.sensor}/spot-checks", body={
            "measured_at": NOW.isoformat(), "value": 1.0})],
        "GET /api/sensors/{sensor_id}/spot-checks": [Req("GET", f"/api/sensors/{o.sensor}/spot-checks")],
        "POST /api/rules": [
            Req("POST", "/api/rules", body=rule | {"sensor_id": o.sensor}),
            Req("POST", "/api/rules", body=rule | {"crop_id": o.crop, "sensor_type": "ph"}),
            Req("POST", "/api/rules", body=rule | {"sensor_id": own.sensor, "escalation_policy_id": o.policy}),
            Req("POST", "/api/rules", body=rule | {"sensor_id": own.sensor, "action": {
                "ac_unit_id": o.ac_unit, "command": COMMAND, "when": "above"}}),
            # channels are named, and names are the client's own: B's is answered as a name nobody has
            Req("POST", "/api/rules", body=rule | {"sensor_id": own.sensor, "channels": [o.channel_name]}, expect=422),
        ],
        "GET /api/rules": [Req("GET", "/api/rules", expect=200),
                           Req("GET", "/api/rules", {"sensor_id": o.sensor}, expect=200),
                           Req("GET", "/api/rules", {"crop_id": o.crop}, expect=200),
                           Req("GET", "/api/rules", {"escalation_policy_id": o.policy}, expect=200)],
        "GET /api/rules/{rule_id}": [Req("GET", f"/api/rules/{o.rule}")],
        "PATCH /api/rules/{rule_id}": [
            Req("PATCH", f"/api/rules/{o.rule}", body={"is_enabled": False}),
            Req("PATCH", f"/api/rules/{own.rule}", body={"sensor_id": o.sensor}),
            Req("PATCH", f"/api/rules/{own.rule}", body={"escalation_policy_id": o.policy}),
            Req("PATCH", f"/api/rules/{own.rule}", body={"action": {"ac_unit_id": o.ac_unit, "command": COMMAND}}),
            Req("PATCH", f"/api/rules/{own.rule}", body={"channels": [o.channel_name]}, expect=422),
        ],
        "DELETE /api/rules/{rule_id}": [Req("DELETE", f"/api/rules/{o.rule}")],
        "GET /api/alerts": [Req("GET", "/api/alerts", expect=200),
                            Req("GET", "/api/alerts", {"sensor_id": o.sensor}, expect=200),
                            Req("GET", "/api/alerts", {"rule_id": o.rule}, expect=200)],
        "GET /api/alerts/{alert_id}": [Req("GET", f"/api/alerts/{o.alert}")],
        "POST /api/alerts/{alert_id}/acknowledge": [Req("POST", f"/api/alerts/{o.alert}/acknowledge")],
        "POST /api/alerts/{alert_id}/resolve": [Req("POST", f"/api/alerts/{o.alert}/resolve")],
        "POST /api/silences": [
            Req("POST", "/api/silences", body={"sensor_id": o.sensor, "ends_at": later, "reason": "x"}),
            Req("POST", "/api/silences", body={"rule_id": o.rule, "ends_at": later, "reason": "x"})],
        "GET /api/silences": [Req("GET", "/api/silences", expect=200),
                              Req("GET", "/api/silences", {"sensor_id": o.sensor}, expect=200),
                              Req("GET", "/api/silences", {"rule_id": o.rule}, expect=200),
                              Req("GET", "/api/silences", {"location": o.location}, expect=200)],
        "GET /api/silences/{silence_id}": [Req("GET", f"/api/silences/{o.silence}")],
        "PATCH /api/silences/{silence_id}": [Req("PATCH", f"/api/silences/{o.silence}", body={"reason": "mine now"})],
        "DELETE /api/silences/{silence_id}": [Req("DELETE", f"/api/silences/{o.silence}")],
        "POST /api/escalation-policies": [Req("POST", "/api/escalation-policies", body={
            "name": "mine", "levels": [{"after_seconds": 60, "channels": [o.channel_name]}]}, expect=422)],
        "GET /api/escalation-policies": [Req("GET", "/api/escalation-policies", expect=200)],
        "GET /api/escalation-policies/{policy_id}": [Req("GET", f"/api/escalation-policies/{o.policy}")],
        "PATCH /api/escalation-policies/{policy_id}": [
            Req("PATCH", f"/api/escalation-policies/{o.policy}", body={"name": "renamed"}),
            Req("PATCH", f"/api/escalation-policies/{own.policy}", body={
                "levels": [{"after_seconds": 60, "channels": [o.channel_name]}]}, expect=422)],
        "DELETE /api/escalation-policies/{policy_id}": [Req("DELETE", f"/api/escalation-policies/{o.policy}")],
        "GET /api/channels": [Req("GET", "/api/channels", expect=200)],
        "GET /api/channels/{channel_id}": [Req("GET", f"/api/channels/{o.channel}")],
        "PATCH /api/channels/{channel_id}": [Req("PATCH", f"/api/channels/{o.channel}", body={"is_enabled": False})],
        "DELETE /api/channels/{channel_id}": [Req("DELETE", f"/api/channels/{o.channel}")],
        "POST /api/channels/{channel_id}/test": [Req("POST", f"/api/channels/{o.channel}/test")],
        "GET /api/notifications": [Req("GET", "/api/notifications", expect=200),
                                   Req("GET", "/api/notifications", {"channel_id": o.channel}, expect=200),
                                   Req("GET", "/api/notifications", {"alert_id": o.alert}, expect=200)],
        "GET /api/notifications/{notification_id}": [Req("GET", f"/api/notifications/{o.notification}")],
        "GET /admin/failed-tasks": [Req("GET", "/admin/failed-tasks", expect=403)],
        "GET /admin/failed-tasks/{task_id}": [Req("GET", f"/admin/failed-tasks/{o.failed_task}", expect=403)],
        "POST /admin/failed-tasks/{task_id}/retry": [Req("POST", f"/admin/failed-tasks/{o.failed_task}/retry",
                                                         expect=403)],
        "POST /admin/failed-tasks/{task_id}/discard": [Req("POST", f"/admin/failed-tasks/{o.failed_task}/discard",
                                                           expect=403)],
        "POST /admin/retention/run": [Req("POST", "/admin/retention/run", {"dry_run": "true"}, expect=403)],
        "GET /admin/retention/runs": [Req("GET", "/admin/retention/runs", expect=403)],
        "GET /admin/retention/runs/{run_id}": [Req("GET", f"/admin/retention/runs/{o.retention_run}", expect=403)],
        "GET /admin/retention/archives": [Req("GET", "/admin/retention/archives", {"client_id": o.client},
                                              expect=403)],
        "POST /api/ac/register": [Req("POST", "/api/ac/register", body=unit | {"alert_channels": [o.channel_name]},
                                      expect=422)],
        "GET /api/ac/units": [Req("GET", "/api/ac/units", expect=200),
                              Req("GET", "/api/ac/units", {"location": o.location}, expect=200)],
        "GET /api/ac/units/{unit_id}": [Req("GET", f"/api/ac/units/{o.ac_unit}")],
        "GET /api/ac/units/{unit_id}/commands": [Req("GET", f"/api/ac/units/{o.ac_unit}/commands")],
        "POST /api/ac/control": [Req("POST", "/api/ac/control", body={"ac_unit_id": o.ac_unit, "command": COMMAND})],
        "GET /api/ac/commands/{command_id}": [Req("GET", f"/api/ac/commands/{o.ac_command}")],
        # unauthenticated: signed with the unit's secret; A signs with its own unit's, or not at all
        "POST /api/ac/callback/{command_id}": [
            Req("POST", f"/api/ac/callback/{o.ac_command}", body={"command_id": o.ac_command, "status": "acknowledged",
                                                                  "state": COMMAND},
                signed_with=f"{own.prefix}-secret-0123456789"),
            Req("POST", f"/api/ac/callback/{o.ac_command}", body={"command_id": o.ac_command, "status": "acknowledged",
                                                                  "state": COMMAND}, expect=401)],
        "GET /api/dashboard/caller": [Req("GET", "/api/dashboard/caller", expect=200)],
        "GET /api/dashboard/overview": [Req("GET", "/api/dashboard/overview", expect=200)],
        "GET /api/dashboard/status": [Req("GET", "/api/dashboard/status", expect=200)],
    }


# Platform routes: an admin key may use them for any client by design, so they are tried with A's
# own key only (the admin acting for A is the platform).
PLATFORM = {"POST /api/clients", "GET /api/clients", "GET /api/clients/{client_id}", "PATCH /api/clients/{client_id}",
            "DELETE /api/clients/{client_id}", "GET /admin/failed-tasks", "GET /admin/failed-tasks/{task_id}",
            "POST /admin/failed-tasks/{task_id}/retry", "POST /admin/failed-tasks/{task_id}/discard",
            "POST /admin/retention/run", "GET /admin/retention/runs", "GET /admin/retention/runs/{run_id}",
            "GET /admin/retention/archives"}


def app_routes() -> dict[str, tuple[str, str]]:
    """"METHOD path" -> (method, path) for every route of the api app (the ingest function's included)."""
    found = {}
    for route in iter_route_contexts(create_app().routes):
        methods = getattr(route, "methods", None) or {"GET"}
        for method in sorted(set(methods) - {"HEAD"}):
            found[f"{method} {route.path}"] = (method, route.path)
    return found


def test_every_route_has_an_isolation_case():
    placeholder = ghost()
    covered = set(route_cases(placeholder, placeholder)) | set(NO_REFERENCE) | set(NOT_CLIENT_DATA)
    routes = set(app_routes())
    assert sorted(routes - covered) == [], "add an isolation case for each new route"
    assert sorted(covered - routes) == [], "cases for routes that no longer exist"


def table_digest() -> dict[str, str]:
    """An md5 of every table's rows (partitioned tables through their parent)."""
    with session_scope() as session:
        tables = session.execute(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1")).scalars()
        return {table: session.execute(text(
            f'SELECT md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) FROM "{table}" t')).scalar_one()
            for table in tables}


@pytest.fixture
def farms(platform_db, local_aws):
    a, b = seed_farm("a"), seed_farm("b")
    with session_scope() as session:
        operators = create_client(session, "Platform Operators", settings={"rate_limits": NO_LIMITS})
        _, admin = create_api_key(session, operators, "operator", scope="admin")
    return a, b, {"X-API-Key": admin.secret}


def send(req: Req, headers: dict[str, str]) -> tuple[int, Any, str]:
    raw = json.dumps(req.body) if req.body is not None else None
    if req.signed_with is not None:
        headers = headers | {SIGNATURE_HEADER: sign(req.signed_with, raw.encode())}
    return call(req.method, req.path, headers, params=req.params, raw=raw)


def _masked(reply: str, refs: Refs) -> str:
    for value in sorted(refs.values().values(), key=len, reverse=True):
        reply = reply.replace(value, "<ref>")
    return reply


def _leaks(reply: str, request: Req, other: Refs) -> list[str]:
    """B's values in a reply that A did not send itself (an echo of A's own request is no leak)."""
    sent = json.dumps([request.path, request.params, request.body])
    return [name for name, value in other.values().items() if value in reply and value not in sent]


_VOLATILE = re.compile(r'"(generated_at|age_seconds|reset|last_run|requested_at|last_used_at)":\s*("[^"]*"|[0-9.]+|null)')


def test_another_clients_records_are_not_found_and_nothing_changes(farms):
    a, b, admin = farms
    before = table_digest()
    nobody = ghost()
    callers = {"A's key": a.headers, "an admin key acting for A": admin | {"X-Client-Id": a.client}}
    problems, tried = [], 0
    for caller, headers in callers.items():
        aimed_at_b, aimed_at_nobody = route_cases(a, b), route_cases(a, nobody)
        for route, requests in aimed_at_b.items():
            if route in PLATFORM and caller != "A's key":
                continue
            for at_b, at_nobody in zip(requests, aimed_at_nobody[route]):
                status, _, body = send(at_b, headers)
                ghost_status, _, ghost_body = send(at_nobody, headers)
                tried += 2
                where = f"{caller}: {at_b.method} {at_b.path} {at_b.params or ''} {json.dumps(at_b.body)[:80]}"
                if status != at_b.expect:
                    problems.append(f"{where}: {status}, expected {at_b.expect}: {body[:200]}")
                if (status, _VOLATILE.sub("", _masked(body, b))) != (ghost_status,
                                                                     _VOLATILE.sub("", _masked(ghost_body, nobody))):
                    problems.append(f"{where}: answered differently for B's record than for none: "
                                    f"{status} {body[:200]} / {ghost_status} {ghost_body[:200]}")
                if leaked := _leaks(body, at_b, b):
                    problems.append(f"{where}: the reply carries B's {', '.join(leaked)}")
    assert problems == [], "\n".join(problems)
    assert tried > 150
    after = table_digest()
    assert {t: d for t, d in after.items() if before[t] != d} == {}, "A's attempts changed the database"


def test_a_key_cannot_act_for_another_client(farms):
    """On every route, X-Client-Id naming B with A's key is answered as naming a client nobody has."""
    a, b, _ = farms
    before = table_digest()
    problems = []
    for route, (method, path) in sorted(app_routes().items()):
        path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        at_b = call(method, path, a.headers | {"X-Client-Id": b.client}, body={})
        at_nobody = call(method, path, a.headers | {"X-Client-Id": str(uuid.uuid4())}, body={})
        if at_b[0] != at_nobody[0] or _VOLATILE.sub("", at_b[2]) != _VOLATILE.sub("", at_nobody[2]):
            problems.append(f"{route}: {at_b[0]} {at_b[2][:150]} / {at_nobody[0]} {at_nobody[2][:150]}")
        if route not in NOT_CLIENT_DATA and route != "POST /api/ac/callback/{command_id}" and at_b[0] != 403:
            problems.append(f"{route}: {at_b[0]}, expected 403 for another client's X-Client-Id")
        if b.client in at_b[2]:
            problems.append(f"{route}: the reply names B")
    assert problems == [], "\n".join(problems)
    assert table_digest() == before


def test_readings_naming_bs_sensor_are_as_client_a(farms, local_aws):
    """A reading that names B's sensor id is queued as A's (a sensor id means something only within a client)."""
    a, b, _ = farms
    status, _, _ = call("POST", "/api/data", a.headers, {"sensor_type": "ph", "value": 6.1,
                                                         "sensor_id": b.sensor_external, "location": b.location})
    assert status == 202
    sqs = local_aws["sqs"]
    messages = sqs.receive_message(QueueUrl=local_aws["READINGS_QUEUE_URL"], MaxNumberOfMessages=10,
                                   WaitTimeSeconds=1).get("Messages", [])
    queued = [reading for m in messages for _, reading in parse_message(m["Body"]).readings]
    assert queued and all(str(r.client_id) == a.client for r in queued), queued


def test_the_digest_sees_a_change(platform_db):
    """The digest the tests above compare is sensitive: one changed value shows."""
    with session_scope() as session:
        client_id = create_client(session, "Digest Farm")
    before = table_digest()
    with session_scope() as session:
        session.execute(text("UPDATE clients SET contact_email = 'x@farm.example' WHERE id = :c"), {"c": client_id})
    after = table_digest()
    assert [t for t in after if after[t] != before[t]] == ["clients"]
