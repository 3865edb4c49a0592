"""Schemathesis against the deployed local stack's /openapi.json: every operation, with a client's key,
an admin key and no key; no answer may be a 5xx or break the documented schema (status codes,
content types, bodies).

Generated cases (valid and, with a client's key, invalid ones) aim at ids nobody has and, for a
share of them, at the fuzzing client's own records, so PATCH and POST bodies reach the core. The
default run is bounded (a few examples per operation and key, about a minute); `scripts/test --load`
runs the long hunt. What the fuzzer found is kept below as plain regression requests.
"""

import os
import uuid
from datetime import UTC, datetime, timedelta
from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.e2e

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
NO_LIMITS = {name: 1_000_000 for name in ("api", "query", "ac_control", "channel_test", "ingest")}
# examples per operation: (positive, negative) for each key; the long run multiplies them
DEFAULT_BUDGET = {"client": (3, 1), "admin": (1, 0), "none": (1, 0)}
LOAD_FACTOR = 30
CAPABILITIES = {"modes": ["cool", "fan"], "setpoint_min": 16, "setpoint_max": 30, "fan_speeds": ["auto"]}
# MiniStack's gateway answers a path holding a control character (a raw line feed) itself, with this body
GATEWAY_NOT_FOUND = b'{"message":"Not Found"}'
GATEWAY = ("gateway", 404)
# a real run would start retention on the stack other tests use; its dry run is fuzzed instead
FORCED_QUERY = {"POST /admin/retention/run": {"dry_run": "true"}}


@pytest.fixture(scope="module")
def schema(stack) -> Any:
    return schemathesis.openapi.from_url(stack["API_URL"] + "/openapi.json")


@pytest.fixture(scope="module")
def fuzz_farm(api, make_client) -> dict[str, Any]:
    """A client of its own (limits raised) with a few records whose ids the fuzzer may use."""
    farm = make_client("Fuzz Farm", rate_limits=NO_LIMITS)
    headers = {"X-API-Key": farm["key"]}

    def made(path: str, body: dict) -> str:
        reply = api.post(path, headers=headers, json=body)
        assert reply.status_code in (201, 202), (path, reply.text)
        return reply.json()["id"]

    sensor = made("/api/sensors", {"external_id": "fz-ph", "sensor_type": "ph", "location": "fz-bay"})
    variety = made("/api/varieties", {"name": "Fuzz basil", "stages": [{"name": "veg", "duration_days": 30}]})
    channel = made("/api/channels", {"name": "fz-hook", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/x"}})
    unit = made("/api/ac/register", {"name": "fz ac", "location": "fz-bay", "driver": "simulated",
                                     "capabilities": CAPABILITIES})
    ids = {"sensor_id": sensor, "variety_id": variety, "channel_id": channel, "unit_id": unit,
           "client_id": farm["client_id"],
           "crop_id": made("/api/crops", {"variety_id": variety, "location": "fz-bay", "batch_code": "fz-1",
                                          "planted_at": "2026-01-01T00:00:00Z"}),
           "policy_id": made("/api/escalation-policies", {"name": "fz", "levels": [
               {"after_seconds": 60, "channels": ["fz-hook"]}]}),
           "rule_id": made("/api/rules", {"name": "fz", "sensor_id": sensor,
                                          "condition": {"kind": "above", "threshold": 7}}),
           "silence_id": made("/api/silences", {"sensor_id": sensor, "reason": "fuzz",
                                                "ends_at": (datetime.now(UTC) + timedelta(days=20)).isoformat()}),
           "command_id": made("/api/ac/control", {"ac_unit_id": unit, "command": {"power": "off"}}),
           "key_id": made("/api/keys", {"name": "fz spare"})}
    return farm | {"ids": ids}


def fuzz(schema: Any, base_url: str, headers: dict[str, str], examples: tuple[int, int],
         own_ids: dict[str, str] | None = None) -> tuple[list[str], Counter]:
    """Run every operation; the failures (one line each, with a curl to reproduce) and the statuses seen."""
    failures: list[str] = []
    statuses: Counter = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, count in zip((GenerationMode.POSITIVE, GenerationMode.NEGATIVE), examples):
            if count == 0:
                continue
            query = FORCED_QUERY.get(operation.label)
            strategy = operation.as_strategy(generation_mode=mode, query=query)
            params = {name: value for name, value in (own_ids or {}).items() if f"{{{name}}}" in operation.path}
            if params and mode == GenerationMode.POSITIVE:
                strategy = st.one_of(strategy, operation.as_strategy(generation_mode=mode, path_parameters=params,
                                                                     query=query))

            @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def run(case: Any) -> None:
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                statuses[(operation.label, response.status_code)] += 1
                if response.status_code == 404 and response.content == GATEWAY_NOT_FOUND:
                    statuses[GATEWAY] += 1  # the gateway's own answer: the request never reached a function
                    return
                try:
                    case.validate_response(response, checks=CHECKS, headers=headers)
                except FailureGroup as problem:  # every failure is collected, then reported together
                    failures.append(f"{operation.label} ({mode.value}): {str(problem).strip()[:1500]}")

            try:
                run()
            except Unsatisfiable:
                pass  # nothing invalid to send (an operation without parameters, in negative mode)
    return failures, statuses


def budget(key: str) -> tuple[int, int]:
    positive, negative = DEFAULT_BUDGET[key]
    factor = LOAD_FACTOR if os.environ.get("RUN_LOAD") == "1" else 1
    return positive * factor, negative * factor


@pytest.mark.parametrize("key", ["client", "admin", "none"])
def test_fuzzed_requests_get_documented_answers_and_no_5xx(key, schema, stack, fuzz_farm):
    headers = {"client": {"X-API-Key": fuzz_farm["key"]},
               "admin": {"X-API-Key": stack["ADMIN_KEY"], "X-Client-Id": fuzz_farm["client_id"]},
               "none": {}}[key]
    failures, statuses = fuzz(schema, stack["API_URL"], headers, budget(key),
                              fuzz_farm["ids"] if key == "client" else None)
    assert failures == [], "\n\n".join(failures)
    assert not any(status >= 500 for _, status in statuses)
    assert statuses[GATEWAY] < sum(statuses.values()) / 10, "most requests never reached the functions"
    # the run reached past authentication: with a key some answers succeed, without one only /health does
    succeeded = {label for label, status in statuses if 200 <= status < 300 and label != "gateway"}
    if key == "none":
        assert succeeded == {"GET /health"}, statuses
    else:
        assert len(succeeded) > 10, statuses


@pytest.mark.load
def test_long_fuzz_hunt(schema, stack, fuzz_farm):
    """The long hunt (scripts/test --load): 30x the default examples, with the client's key."""
    failures, _ = fuzz(schema, stack["API_URL"], {"X-API-Key": fuzz_farm["key"]}, budget("client"), fuzz_farm["ids"])
    assert failures == [], "\n\n".join(failures)


# What the fuzzer found, kept as plain requests (schemathesis 4.32, negative mode).
def test_found_a_body_that_is_not_json_is_a_422_naming_the_body(api, fuzz_farm):
    """Found: bytes that are not UTF-8 JSON got FastAPI's bare 400 on every api route with a body."""
    headers = {"X-API-Key": fuzz_farm["key"], "Content-Type": "application/json"}
    for method, path in (("PATCH", f"/api/sensors/{fuzz_farm['ids']['sensor_id']}"), ("POST", "/api/rules"),
                         ("POST", f"/api/alerts/{uuid.uuid4()}/acknowledge"), ("POST", "/api/keys")):
        reply = api.request(method, path, headers=headers, content=b"\xff\x04\x8f")
        assert reply.status_code == 422, (path, reply.text)
        assert reply.json()["error"]["details"] == [{"field": "body", "reason": "is not valid JSON (or not UTF-8)"}]
    ingest = api.post("/api/data", headers=headers, content=b"\xff\x04\x8f")
    assert ingest.status_code == 422 and ingest.json()["error"]["details"][0]["field"] == "body"


def test_fuzzing_can_fail(schema, stack, fuzz_farm):
    """The checks are live: an answer outside the documented schema is reported."""
    operation = next(op.ok() for op in schema.get_all_operations() if op.ok().label == "GET /api/keys")
    case = operation.Case()
    response = case.call(base_url=stack["API_URL"], headers={"X-API-Key": fuzz_farm["key"]})
    forged = httpx.Response(200, json=[{"id": "not-a-uuid"}], request=httpx.Request("GET", response.request.url))
    forged.elapsed = timedelta(0)
    with pytest.raises(FailureGroup, match="(?i)schema"):
        case.validate_response(forged, checks=[response_schema_conformance])
