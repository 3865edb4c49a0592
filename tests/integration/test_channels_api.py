"""/api/channels over real PostgreSQL: CRUD, validation, masking, the test send (real SMTP and HTTP receivers)."""

import json
import logging

import pytest
from sqlalchemy import text

from hydroponics.db.engine import session_scope
from hydroponics.records.clients import create_client
from tests.integration.test_notify_seed import (  # noqa: F401
    SECRET_PASSWORD, SECRET_PATH, app, as_farm, email_config, farm, http, new_channel, notification_rows,
)
from tests.mail_server import free_port, smtp_server

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH")
SLACK_TOKENS = "T0AAAAAAA/B0BBBBBBB/secretsecretsecretsecret"


def fields(reply) -> list[str]:
    body = reply.json()
    assert reply.status_code == 422, body
    return [detail["field"] for detail in body["error"]["details"]]


def test_create_list_get_update_delete_never_show_the_secret(http, farm, caplog):
    caplog.set_level(logging.DEBUG)
    mine = as_farm(farm)
    email = new_channel(http, farm, "ops-email", "email", {
        "to": ["grower@farm.example"], "smtp_host": "smtp.farm.example", "security": "starttls",
        "username": "alerts@farm.example", "password": SECRET_PASSWORD}, hourly_cap=10)
    assert email["target_hint"] == "mailtos://***@smtp.farm.example"
    assert email["config"] == {"to": ["grower@farm.example"], "smtp_host": "smtp.farm.example", "smtp_port": 587,
                               "security": "starttls", "username": "alerts@farm.example",
                               "from": "alerts@farm.example", "has_password": True}
    slack = new_channel(http, farm, "ops-slack", "slack", {"url": f"https://hooks.slack.com/services/{SLACK_TOKENS}"})
    assert slack["target_hint"] == "https://hooks.slack.com/***"
    hook = new_channel(http, farm, "ops-hook", "webhook", {"url": f"https://receiver.example/{SECRET_PATH}"})
    assert hook["target_hint"] == "jsons://receiver.example/***"

    listed = http.get("/api/channels", headers=mine, params={"limit": 2})
    page = listed.json()
    assert [c["name"] for c in page["items"]] == ["ops-email", "ops-hook"] and page["next_cursor"]
    rest = http.get("/api/channels", headers=mine, params={"cursor": page["next_cursor"]}).json()
    assert [c["name"] for c in rest["items"]] == ["ops-slack"] and rest["next_cursor"] is None

    changed = http.patch(f"/api/channels/{email['id']}", headers=mine, json={"hourly_cap": None, "name": "day-email"})
    assert changed.status_code == 200 and (changed.json()["hourly_cap"], changed.json()["name"]) == (None, "day-email")
    replaced = http.patch(f"/api/channels/{hook['id']}", headers=mine,
                          json={"config": {"url": f"http://other.example:8080/{SECRET_PATH}"}})
    assert replaced.json()["target_hint"] == "json://other.example:8080/***"
    got = http.get(f"/api/channels/{hook['id']}", headers=mine)
    assert got.json()["target_hint"] == "json://other.example:8080/***"
    assert http.delete(f"/api/channels/{slack['id']}", headers=mine).status_code == 204
    assert http.get(f"/api/channels/{slack['id']}", headers=mine).status_code == 404

    with session_scope() as session:
        events = session.execute(text("SELECT event_type, details FROM events ORDER BY id")).all()
    assert [e.event_type for e in events] == ["channel.created"] * 3 + ["channel.updated"] * 2 + ["channel.deleted"]
    assert events[4].details["changes"]["config"]["secret_changed"] is True
    shown = json.dumps([email, slack, hook]) + listed.text + changed.text + replaced.text + got.text
    shown += json.dumps([e.details for e in events])
    for secret in (SECRET_PASSWORD, SECRET_PATH, SLACK_TOKENS, "secretsecret"):
        assert secret not in shown and secret not in caplog.text


def test_invalid_configs_are_422_with_the_field_and_never_echo_the_secret(http, farm):
    mine = as_farm(farm)

    def post(kind, config, **extra):
        return http.post("/api/channels", headers=mine, json={"name": "x", "kind": kind, "config": config} | extra)

    assert fields(post("email", {"to": [], "smtp_host": "smtp.example.com"})) == ["config.to"]
    assert fields(post("email", {"to": ["not-an-address"], "smtp_host": "smtp.example.com"})) == ["config.to.0"]
    assert fields(post("email", {"to": ["a@farm.example"]})) == ["config.smtp_host"]
    assert fields(post("sms", {"phone_number": "555-0100"})) == ["config.phone_number"]
    assert fields(post("webhook", {"url": f"ftp://{SECRET_PATH}"})) == ["config.url"]
    reply = post("slack", {"url": f"https://receiver.example/{SECRET_PATH}"})  # a URL, but not Slack's
    assert fields(reply) == ["config.url"] and SECRET_PATH not in reply.text
    assert fields(post("webhook", {"url": "https://ok.example/h", "extra": 1})) == ["config.extra"]
    assert fields(post("pager", {})) == ["kind"]
    assert fields(post("sms", {"phone_number": "+15550100000"}, hourly_cap=0)) == ["hourly_cap"]
    new_channel(http, farm, "taken", "sms", {"phone_number": "+15550100000"})
    duplicate = http.post("/api/channels", headers=mine,
                          json={"name": "taken", "kind": "sms", "config": {"phone_number": "+15550100001"}})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["details"][0]["field"] == "name"
    channel_id = new_channel(http, farm, "other", "sms", {"phone_number": "+15550100002"})["id"]
    assert fields(http.patch(f"/api/channels/{channel_id}", headers=mine, json={})) == ["body"]
    assert fields(http.patch(f"/api/channels/{channel_id}", headers=mine, json={"config": {"phone_number": "1"}})) \
        == ["config.phone_number"]


def test_another_farms_channel_is_not_found(http, farm):
    with session_scope() as session:
        other = create_client(session, "Blue Basin Growers")
    theirs = new_channel(http, other, "ops", "sms", {"phone_number": "+15550100003"})
    mine = as_farm(farm)
    for reply in (http.get(f"/api/channels/{theirs['id']}", headers=mine),
                  http.patch(f"/api/channels/{theirs['id']}", headers=mine, json={"is_enabled": False}),
                  http.post(f"/api/channels/{theirs['id']}/test", headers=mine),
                  http.delete(f"/api/channels/{theirs['id']}", headers=mine)):
        assert reply.status_code == 404
    assert http.get("/api/channels", headers=mine).json()["items"] == []


def test_the_test_endpoint_sends_now_and_records_a_test_row(http, farm, httpserver):
    with smtp_server({"alerts@farm.example": SECRET_PASSWORD}) as mail:
        channel = new_channel(http, farm, "ops-email", "email", email_config(
            mail, username="alerts@farm.example", password=SECRET_PASSWORD))
        reply = http.post(f"/api/channels/{channel['id']}/test", headers=as_farm(farm),
                          json={"subject": "Hello from the farm", "body": "Testing 1 2 3"})
        assert reply.status_code == 200, reply.json()
        assert [m.subject for m in mail.messages] == ["Hello from the farm"]
    row, = notification_rows(id=reply.json()["notification_id"])
    assert (row["kind"], row["status"], row["attempts"], row["alert_id"]) == ("test", "sent", 1, None)

    httpserver.expect_request(f"/{SECRET_PATH}", method="POST").respond_with_data("nope", status=500)
    hook = new_channel(http, farm, "ops-hook", "webhook", {"url": httpserver.url_for(f"/{SECRET_PATH}")})
    failed = http.post(f"/api/channels/{hook['id']}/test", headers=as_farm(farm))
    assert failed.status_code == 502
    error = failed.json()["error"]
    assert error["code"] == "channel_failed" and error["details"][0]["reason"] == "rejected by the server: HTTP 500"
    assert SECRET_PATH not in failed.text
    row, = notification_rows(kind="test", status="failed")
    assert row["last_error"] == error["details"][0]["reason"]

    down = new_channel(http, farm, "down-hook", "webhook", {"url": f"http://127.0.0.1:{free_port()}/{SECRET_PATH}"})
    reply = http.post(f"/api/channels/{down['id']}/test", headers=as_farm(farm))
    assert reply.status_code == 502 and reply.json()["error"]["details"][0]["reason"] == "could not connect"
    with session_scope() as session:
        tested = session.execute(text("SELECT details FROM events WHERE event_type = 'channel.tested'"
                                      " ORDER BY id")).scalars().all()
    assert [d["ok"] for d in tested] == [True, False, False]


def test_the_delivery_log_filters_and_pages(http, farm):
    from tests.integration.test_notify_seed import raise_alert

    mine = as_farm(farm)
    a = new_channel(http, farm, "a", "sms", {"phone_number": "+15550100004"})
    b = new_channel(http, farm, "b", "sms", {"phone_number": "+15550100005"})
    first, _ = raise_alert(farm, ["a", "b"])
    raise_alert(farm, ["a"], message="second")
    everything = http.get("/api/notifications", headers=mine).json()["items"]
    assert len(everything) == 3 and everything[0]["subject"] == "second"
    assert {n["channel_name"] for n in http.get("/api/notifications", headers=mine,
                                                params={"alert_id": str(first)}).json()["items"]} == {"a", "b"}
    assert len(http.get("/api/notifications", headers=mine, params={"channel_id": b["id"]}).json()["items"]) == 1
    assert http.get("/api/notifications", headers=mine, params={"status": "sent"}).json()["items"] == []
    page = http.get("/api/notifications", headers=mine, params={"limit": 2}).json()
    more = http.get("/api/notifications", headers=mine, params={"cursor": page["next_cursor"]}).json()
    assert len(page["items"]) == 2 and len(more["items"]) == 1 and more["next_cursor"] is None
    one = http.get(f"/api/notifications/{everything[0]['id']}", headers=mine).json()
    assert one["channel_id"] == a["id"] and "target_url" not in one
    assert fields(http.get("/api/notifications", headers=mine, params={"status": "lost"})) == ["query.status"]
