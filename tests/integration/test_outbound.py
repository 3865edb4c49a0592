"""The outbound policy over real receivers (HTTP, SMTP, MQTT on 127.0.0.1/127.0.0.2), PostgreSQL and MiniStack:
refused targets are 422 when saved, a rebinding name is refused at the connection, redirects are not
followed, the allowlist lets the local receivers through, replies are bounded, /test is rate-limited."""

import time
from collections.abc import Iterator
from uuid import UUID

import pytest
import requests
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Response

from hydroponics import outbound
from hydroponics.api.routes import ac, channels, notifications
from hydroponics.db.engine import session_scope
from hydroponics.db.models import AcCommand, Alert, Event
from hydroponics.settings import get_settings
from tests.integration.ac_fixtures import SECRET, CAPABILITIES, SAFETY, Worker, ac_queue, simulators  # noqa: F401
from tests.integration.test_ac_mqtt import broker  # noqa: F401
from tests.integration.test_notify_seed import (  # noqa: F401
    as_farm, farm, notification_rows, notify, poll_once, queue_depth, raise_alert,
)
from tests.mail_server import free_port, smtp_server
from tests.routes_app import routes_app

PUBLIC = "93.184.216.34"  # what a rebinding name answers first, when the channel or unit is saved
LOOPBACK_REFUSED = "refused by the outbound policy: the target resolves to a loopback address"
# (a webhook URL, what the refusal calls its address): every spelling and range, as a client would send it
REFUSED_URLS = [
    ("http://127.0.0.1:8080/hook", "loopback"), ("http://2130706433/hook", "loopback"),
    ("http://0x7f000001/hook", "loopback"), ("http://0177.0.0.1/hook", "loopback"), ("http://127.1/hook", "loopback"),
    ("http://[::1]/hook", "loopback"), ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"), ("http://[fe80::1]/hook", "link-local"),
    ("https://10.0.4.20/hook", "private"), ("http://172.16.0.1/hook", "private"), ("http://192.168.1.1/", "private"),
    ("http://[fd12:3456::1]/hook", "unique-local"), ("http://100.64.0.1/hook", "carrier-grade NAT"),
    ("http://0.0.0.0:8080/hook", "unspecified"), ("http://[::]/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"), ("http://[ff02::1]/hook", "multicast"), ("http://240.0.0.1/", "reserved"),
    ("http://[64:ff9b::a00:1]/hook", "private"), ("http://192.0.2.1/hook", "documentation"),
]


@pytest.fixture
def allow(monkeypatch) -> Iterator:
    """Set OUTBOUND_ALLOW for the test (the settings are read again on next use)."""
    def set_allowlist(entries: str) -> None:
        monkeypatch.setenv("OUTBOUND_ALLOW", entries)
        get_settings.cache_clear()

    yield set_allowlist
    get_settings.cache_clear()


@pytest.fixture
def app(platform_db) -> FastAPI:
    return routes_app(channels, notifications, ac)


@pytest.fixture
def api(app) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def second_loopback() -> Iterator[HTTPServer]:
    """A receiver on 127.0.0.2: loopback, and outside the tests' allowlist (127.0.0.1 only)."""
    server = HTTPServer(host="127.0.0.2", port=free_port())
    server.expect_request("/internal").respond_with_json({"secret": "internal data"})
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def refusal(reply) -> dict:
    body = reply.json()
    assert reply.status_code == 422, body
    detail, = body["error"]["details"]
    return detail


def create(api: TestClient, farm: UUID, name: str, kind: str, config: dict):
    return api.post("/api/channels", headers=as_farm(farm), json={"name": name, "kind": kind, "config": config})


def test_channels_aimed_at_refused_addresses_are_422_naming_the_field(api, farm, allow):
    allow("")
    for url, kind in REFUSED_URLS:
        detail = refusal(create(api, farm, "hook", "webhook", {"url": url}))
        assert detail["field"] == "config.url" and detail["reason"].startswith("refused by the outbound policy: "
                                                                               "the target resolves to "), url
        assert kind in detail["reason"], (url, detail)
    teams = "https://169.254.169.254:443/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=x"
    assert refusal(create(api, farm, "teams", "teams", {"url": teams}))["field"] == "config.url"
    email = {"to": ["grower@farm.example"], "smtp_host": "10.0.0.25", "security": "none", "from": "a@farm.example"}
    assert refusal(create(api, farm, "mail", "email", email)) == {
        "field": "config.smtp_host", "reason": "refused by the outbound policy: the target resolves to a private address"}
    assert api.get("/api/channels", headers=as_farm(farm)).json()["items"] == []

    # a change is judged the same way, and changes nothing
    hook = create(api, farm, "hook", "webhook", {"url": f"http://{PUBLIC}/hook"}).json()
    changed = api.patch(f"/api/channels/{hook['id']}", headers=as_farm(farm),
                        json={"config": {"url": "http://[::ffff:169.254.169.254]/latest"}})
    assert refusal(changed)["field"] == "config.url"
    assert api.get(f"/api/channels/{hook['id']}", headers=as_farm(farm)).json()["target_hint"] == \
        f"json://{PUBLIC}/***"


def test_a_name_that_resolves_to_a_private_address_is_422(api, farm, allow, name_server):
    allow("")
    name_server.answer("hooks.internal.example", "10.1.2.3")
    name_server.answer("mail.internal.example", "fd00::25")
    detail = refusal(create(api, farm, "hook", "webhook", {"url": "https://hooks.internal.example/h"}))
    assert detail == {"field": "config.url",
                      "reason": "refused by the outbound policy: the target resolves to a private address"}
    email = {"to": ["grower@farm.example"], "smtp_host": "mail.internal.example", "from": "a@farm.example"}
    assert refusal(create(api, farm, "mail", "email", email))["reason"].endswith("a unique-local address")


def register(api: TestClient, farm: UUID, endpoint: str, driver: str = "http", name: str = "AC bay A"):
    return api.post("/api/ac/register", headers=as_farm(farm), json={
        "name": name, "location": "bay-a", "driver": driver, "endpoint": endpoint, "secret": SECRET,
        "capabilities": CAPABILITIES, "safety": SAFETY, "alert_channels": []})


def test_ac_units_aimed_at_refused_addresses_are_422_naming_the_endpoint(api, farm, allow):
    allow("")
    for endpoint, driver in (("http://169.254.169.254/latest/meta-data/", "http"), ("https://0x0a000001/ac", "http"),
                             ("http://[::ffff:192.168.0.10]/ac", "http"), ("mqtt://10.0.0.5:1883", "mqtt"),
                             ("mqtts://user:pw@[fd00::1]:8883", "mqtt")):
        detail = refusal(register(api, farm, endpoint, driver))
        assert detail["field"] == "endpoint" and detail["reason"].startswith("refused by the outbound policy"), endpoint
    assert api.get("/api/ac/units", headers=as_farm(farm)).json() == []


def test_a_rebinding_webhook_is_refused_at_send_recorded_and_not_retried(
        api, farm, allow, name_server, notify, notifications_queue, local_aws, httpserver):
    allow("")
    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    name_server.answer("hooks.rebind.example", PUBLIC, "127.0.0.1")  # public when saved, loopback ever after
    hook = create(api, farm, "ops-hook", "webhook", {"url": f"http://hooks.rebind.example:{httpserver.port}/hook"})
    assert hook.status_code == 201, hook.json()

    tested = api.post(f"/api/channels/{hook.json()['id']}/test", headers=as_farm(farm))
    assert tested.status_code == 502
    assert tested.json()["error"]["details"] == [{"field": "channel", "reason": LOOPBACK_REFUSED}]
    row, = notification_rows(kind="test")
    assert (row["status"], row["last_error"]) == ("failed", LOOPBACK_REFUSED)

    _, (notification_id,) = raise_alert(farm, ["ops-hook"])
    sqs, queue_url = local_aws["sqs"], notifications_queue["queue_url"]
    assert len(poll_once(sqs, queue_url, notify, wait=2)) == 1
    row, = notification_rows(id=notification_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 1, LOOPBACK_REFUSED)
    # acknowledged, not handed back for a retry, and not dead-lettered: the failure is final and recorded
    assert queue_depth(sqs, queue_url) == 0 and queue_depth(sqs, notifications_queue["dlq_url"]) == 0
    with session_scope() as session:
        failed = session.scalars(select(Event).where(Event.event_type == "notification.failed")).all()
    assert [(e.details["attempts"], e.details["error"]) for e in failed] == [(1, LOOPBACK_REFUSED)]
    assert httpserver.log == [] and name_server.asked == ["hooks.rebind.example"] * 3


def test_a_rebinding_mail_server_is_refused_at_send(api, farm, allow, name_server):
    allow("")
    with smtp_server() as mail:
        name_server.answer("mail.rebind.example", PUBLIC, mail.host)
        channel = create(api, farm, "ops-email", "email", {
            "to": ["grower@farm.example"], "smtp_host": "mail.rebind.example", "smtp_port": mail.port,
            "security": "none", "from": "alerts@farm.example"})
        assert channel.status_code == 201, channel.json()
        tested = api.post(f"/api/channels/{channel.json()['id']}/test", headers=as_farm(farm))
        assert tested.status_code == 502 and tested.json()["error"]["details"][0]["reason"] == LOOPBACK_REFUSED
        assert mail.messages == []


def test_the_allowlist_lets_named_hosts_and_networks_through(api, farm, allow, name_server, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    allow("receiver.farm.internal")  # by name only: the loopback address itself stays refused
    name_server.answer("receiver.farm.internal", "127.0.0.1")
    by_name = create(api, farm, "by-name", "webhook", {"url": f"http://receiver.farm.internal:{httpserver.port}/hook"})
    assert by_name.status_code == 201, by_name.json()
    assert api.post(f"/api/channels/{by_name.json()['id']}/test", headers=as_farm(farm)).status_code == 200
    assert refusal(create(api, farm, "by-address", "webhook", {"url": httpserver.url_for("/hook")}))["reason"] == \
        LOOPBACK_REFUSED

    allow("127.0.0.0/30")  # by network: what scripts/deploy and the tests allow is 127.0.0.1 alone
    by_address = create(api, farm, "by-address", "webhook", {"url": httpserver.url_for("/hook")})
    assert by_address.status_code == 201, by_address.json()
    assert api.post(f"/api/channels/{by_address.json()['id']}/test", headers=as_farm(farm)).status_code == 200
    assert len(httpserver.log) == 2


def test_a_redirect_to_a_refused_address_is_not_followed(api, farm, httpserver, second_loopback):
    inside = second_loopback.url_for("/internal")
    httpserver.expect_request("/hook").respond_with_data("", status=307, headers={"Location": inside})
    hook = create(api, farm, "ops-hook", "webhook", {"url": httpserver.url_for("/hook") + "?redirect=yes"})
    assert hook.status_code == 201, hook.json()
    tested = api.post(f"/api/channels/{hook.json()['id']}/test", headers=as_farm(farm))
    assert tested.status_code == 502
    assert tested.json()["error"]["details"][0]["reason"] == "rejected by the server: HTTP 307"

    # any HTTP call under the policy follows no redirect, even when asked to, and cannot reach 127.0.0.2
    with outbound.guarded() as guard:
        assert requests.get(httpserver.url_for("/hook"), allow_redirects=True, timeout=5).status_code == 307
        with pytest.raises(requests.ConnectionError):
            requests.get(inside, timeout=5)
    assert guard.refusal == LOOPBACK_REFUSED
    assert second_loopback.log == [] and len(httpserver.log) == 2
    assert requests.get(inside, timeout=5).json() == {"secret": "internal data"}  # it was there all along


class _RefuseRecipients:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook
        return "550 5.1.1 no such mailbox here"


def test_failures_are_told_in_the_platforms_words(api, farm, httpserver):
    port = free_port()
    controller = Controller(_RefuseRecipients(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail = create(api, farm, "ops-email", "email", {"to": ["nobody@farm.example"], "smtp_host": "127.0.0.1",
                                                         "smtp_port": port, "security": "none",
                                                         "from": "alerts@farm.example"}).json()
        reply = api.post(f"/api/channels/{mail['id']}/test", headers=as_farm(farm))
    finally:
        controller.stop()
    assert reply.json()["error"]["details"][0]["reason"] == "rejected by the server: 550"

    closed = create(api, farm, "closed", "email", {"to": ["grower@farm.example"], "smtp_host": "127.0.0.1",
                                                    "smtp_port": free_port(), "security": "none",
                                                    "from": "alerts@farm.example"}).json()
    reply = api.post(f"/api/channels/{closed['id']}/test", headers=as_farm(farm))
    assert reply.json()["error"]["details"][0]["reason"] == "could not connect"
    httpserver.expect_request("/hook").respond_with_data("no", status=404)
    hook = create(api, farm, "hook", "webhook", {"url": httpserver.url_for("/hook")}).json()
    reply = api.post(f"/api/channels/{hook['id']}/test", headers=as_farm(farm))
    assert reply.json()["error"]["details"][0]["reason"] == "rejected by the server: HTTP 404"


def _endless(chunk: bytes = b"x" * 65536):
    while True:
        yield chunk


def test_a_reply_is_read_only_up_to_its_limit(api, farm, httpserver, ac_queue):
    httpserver.expect_request("/hook", method="POST").respond_with_response(Response(_endless(), status=200))
    hook = create(api, farm, "hook", "webhook", {"url": httpserver.url_for("/hook")}).json()
    assert api.post(f"/api/channels/{hook['id']}/test", headers=as_farm(farm)).status_code == 200

    httpserver.expect_request("/ac", method="POST").respond_with_response(Response(_endless(), status=200))
    unit = register(api, farm, httpserver.url_for("/ac")).json()
    command = api.post("/api/ac/control", headers=as_farm(farm),
                       json={"ac_unit_id": unit["id"], "command": {"power": "off"}}).json()
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(lambda: _command(command["id"]).status == "failed")
    assert _command(command["id"]).reason == (f"refused by the unit: the controller's reply is larger than "
                                              f"{outbound.MAX_RESPONSE_BYTES} bytes")


def _command(command_id: str) -> AcCommand:
    with session_scope() as session:
        return session.get_one(AcCommand, UUID(command_id))


def _unit_alerts(unit_id: str) -> list[Alert]:
    with session_scope() as session:
        return list(session.scalars(select(Alert).where(Alert.ac_unit_id == UUID(unit_id))))


def test_a_rebinding_ac_controller_fails_its_command_at_once_with_an_alert(
        api, farm, allow, name_server, ac_queue, simulators):
    allow("")
    sim = simulators()
    name_server.answer("controller.rebind.example", PUBLIC, "127.0.0.1")
    unit = register(api, farm, f"http://controller.rebind.example:{sim.server_address[1]}/")
    assert unit.status_code == 201, unit.json()
    command = api.post("/api/ac/control", headers=as_farm(farm),
                       json={"ac_unit_id": unit.json()["id"], "command": {"power": "on", "mode": "cool"}}).json()
    sqs = ac_queue["sqs"]
    Worker(sqs, ac_queue["queue_url"]).drain(lambda: _command(command["id"]).status == "failed")
    failed = _command(command["id"])
    assert (failed.attempts, failed.reason) == (1, LOOPBACK_REFUSED)
    assert sim.unit.commands() == []
    alert, = _unit_alerts(unit.json()["id"])
    assert alert.severity == "critical" and LOOPBACK_REFUSED in alert.message
    time.sleep(1.5)  # past the 1 s backoff: a retried message would be visible again by now
    assert queue_depth(sqs, ac_queue["queue_url"]) == 0 and queue_depth(sqs, ac_queue["dlq_url"]) == 0


def test_a_rebinding_mqtt_broker_is_refused_at_send(api, farm, allow, name_server, ac_queue, broker):
    allow("")
    port = broker.rsplit(":", 1)[1]
    name_server.answer("broker.rebind.example", PUBLIC, "127.0.0.1")
    unit = register(api, farm, f"mqtt://broker.rebind.example:{port}", driver="mqtt")
    assert unit.status_code == 201, unit.json()
    command = api.post("/api/ac/control", headers=as_farm(farm),
                       json={"ac_unit_id": unit.json()["id"], "command": {"power": "off"}}).json()
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(lambda: _command(command["id"]).status == "failed")
    assert (_command(command["id"]).attempts, _command(command["id"]).reason) == (1, LOOPBACK_REFUSED)


def test_the_test_endpoint_is_rate_limited_per_client(platform_db, farm, local_aws, httpserver):
    from hydroponics.records.clients import create_client

    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    app = routes_app(channels)
    del app.dependency_overrides[channels.test_limit]  # the real limit, counted in MiniStack's DynamoDB
    with session_scope() as session:
        other = create_client(session, "Blue Basin Growers")
    with TestClient(app) as api:
        mine = create(api, farm, "hook", "webhook", {"url": httpserver.url_for("/hook")}).json()
        theirs = create(api, other, "hook", "webhook", {"url": httpserver.url_for("/hook")}).json()
        replies = [api.post(f"/api/channels/{mine['id']}/test", headers=as_farm(farm)) for _ in range(11)]
        assert [r.status_code for r in replies] == [200] * 10 + [429]
        assert int(replies[-1].headers["Retry-After"]) >= 1
        assert api.post(f"/api/channels/{theirs['id']}/test", headers=as_farm(other)).status_code == 200
    assert len(httpserver.log) == 11 and len(notification_rows(kind="test")) == 11
