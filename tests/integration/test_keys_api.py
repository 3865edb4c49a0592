"""API keys through the api function: issued once, listed by prefix only, revoked at once."""

import json

import pytest

from hydroponics.auth.api_keys import create_api_key
from hydroponics.records.clients import create_client
from hydroponics.db.engine import session_scope
from tests.lambda_events import http_event, lambda_context, load_handler

api, ingest = load_handler("api"), load_handler("ingest")


def _call(function, method: str, path: str, headers: dict, body=None) -> tuple[int, dict | list]:
    reply = function.handler(http_event(method, path, body, headers), lambda_context())
    return reply["statusCode"], json.loads(reply["body"])


@pytest.fixture
def farm(platform_db, local_aws):
    with session_scope() as session:
        client_id = create_client(session, "Keyed Farm")
        _, key = create_api_key(session, client_id, "first key")
    return {"client_id": str(client_id), "headers": {"X-API-Key": key.secret, "X-Client-Id": str(client_id)}}


def test_issue_list_and_revoke(farm):
    status, issued = _call(api, "POST", "/api/keys", farm["headers"], {"name": "bay B gateway"})
    assert status == 201 and issued["key"].startswith(issued["prefix"])
    new_device = {"X-API-Key": issued["key"], "X-Client-Id": farm["client_id"]}
    assert _call(ingest, "POST", "/api/data", new_device, {"sensor_type": "ph", "value": 6.0})[0] == 202

    status, listed = _call(api, "GET", "/api/keys", farm["headers"])
    assert status == 200 and [k["name"] for k in listed] == ["first key", "bay B gateway"]
    assert all("key" not in k and len(k["prefix"]) == 11 for k in listed)

    status, revoked = _call(api, "DELETE", f"/api/keys/{issued['id']}", farm["headers"])
    assert status == 200 and revoked["revoked_at"]
    assert _call(ingest, "POST", "/api/data", new_device, {"sensor_type": "ph", "value": 6.0})[0] == 401
    with session_scope() as session:
        from sqlalchemy import text
        types = session.execute(text("SELECT event_type FROM events ORDER BY id")).scalars().all()
    assert types == ["api_key.created", "api_key.revoked"]


def test_another_clients_key_is_not_found_and_names_are_validated(farm):
    with session_scope() as session:
        other = create_client(session, "Other Farm")
        other_key, _ = create_api_key(session, other, "theirs")
    assert _call(api, "DELETE", f"/api/keys/{other_key.id}", farm["headers"])[0] == 404
    status, body = _call(api, "POST", "/api/keys", farm["headers"], {"name": ""})
    assert status == 422 and body["error"]["details"][0]["field"] == "name"
