"""Secrets at rest (MiniStack KMS + PostgreSQL): planted channel targets and an AC controller secret still
deliver and sign, and appear in no `pg_dump`, no log line and no API reply or error; a sealed value copied
to another client's record does not open there; migration 0017 seals plaintext rows and its downgrade
opens them again."""

import base64
import json
import logging
import os
import subprocess
import uuid
from typing import Iterator
from uuid import UUID

import boto3
import pytest
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, text

from hydroponics.api.routes import ac, channels, notifications
from hydroponics.climate.room import Room
from hydroponics.climate.signing import SIGNATURE_HEADER, sign
from hydroponics.climate.simulator import SimulatedUnit, SimulatorServer
from hydroponics.db import migrate
from hydroponics import envelope
from hydroponics.db.engine import session_scope
from hydroponics.envelope import SecretUnreadable
from hydroponics.records.clients import create_client
from hydroponics.sealed_secrets import channel_target, channel_target_context, reseal, unit_secret_context
from hydroponics.settings import get_settings
from tests.integration.conftest import reset_core_caches
from tests.integration.ac_fixtures import CAPABILITIES, SAFETY, Worker, ac_queue, all_final  # noqa: F401
from tests.integration.test_notify_seed import drain, notification_rows, notify, raise_alert  # noqa: F401
from tests.mail_server import free_port
from tests.routes_app import routes_app

MARK = uuid.uuid4().hex[:12]
HOOK_TOKEN = f"hook-token-{MARK}"
HEADER_TOKEN = f"Bearer header-token-{MARK}"
SMTP_PASSWORD = f"smtp-password-{MARK}"
PHONE = "+1555" + str(uuid.uuid4().int)[:7]
UNIT_SECRET = f"unit-secret-{MARK}"
PLANTED = (HOOK_TOKEN, "header-token-" + MARK, SMTP_PASSWORD, PHONE, PHONE[1:], UNIT_SECRET)


def pg_dump(url: str) -> str:
    """The whole database as `pg_dump` writes it (schema and every row)."""
    return subprocess.run(["pg_dump", "--no-owner", url.replace("+pg8000", "")], capture_output=True, text=True,
                          check=True, timeout=120).stdout


def assert_nowhere(text_: str, where: str) -> None:
    for planted in PLANTED:
        assert planted not in text_, f"a planted secret appears in {where}"


@pytest.fixture
def http(platform_db) -> Iterator[TestClient]:
    with TestClient(routes_app(channels, notifications, ac)) as client:
        yield client


@pytest.fixture
def farms(platform_db) -> tuple[UUID, UUID]:
    with session_scope() as session:
        return create_client(session, "Greenleaf Farms"), create_client(session, "Blue Basin Growers")


@pytest.fixture
def receiver() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.expect_request(f"/hooks/{HOOK_TOKEN}").respond_with_data("ok")
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def unit_server() -> Iterator[SimulatorServer]:
    server = SimulatorServer(SimulatedUnit(secret=UNIT_SECRET, room=Room()), port=0).start()
    yield server
    server.stop()


def as_farm(farm: UUID) -> dict[str, str]:
    return {"X-Test-Client": str(farm)}


def create(http: TestClient, farm: UUID, name: str, kind: str, config: dict) -> dict:
    reply = http.post("/api/channels", headers=as_farm(farm), json={"name": name, "kind": kind, "config": config})
    assert reply.status_code == 201, reply.text
    return reply.json()


def register(http: TestClient, farm: UUID, endpoint: str, name: str = "AC bay A") -> dict:
    reply = http.post("/api/ac/register", headers=as_farm(farm), json={
        "name": name, "location": "bay-a", "driver": "http", "endpoint": endpoint, "secret": UNIT_SECRET,
        "capabilities": CAPABILITIES, "safety": SAFETY})
    assert reply.status_code == 201, reply.text
    return reply.json()


def command(http: TestClient, farm: UUID, unit_id: str) -> dict:
    reply = http.post("/api/ac/control", headers=as_farm(farm),
                      json={"ac_unit_id": unit_id, "command": {"power": "on", "mode": "cool", "setpoint": 22}})
    assert reply.status_code == 202, reply.text
    return reply.json()


def data_keys(farm: UUID) -> list[str]:
    """The plain data keys of the farm's sealed channel targets (base64), unwrapped here with KMS."""
    with session_scope() as session:
        rows = session.execute(text("SELECT id, target_sealed FROM notification_channels WHERE client_id = :c"),
                               {"c": farm}).all()
    return [base64.b64encode(boto3_kms().decrypt(
        CiphertextBlob=base64.b64decode(row.target_sealed["wrapped_key"]),
        EncryptionContext=channel_target_context(farm, row.id))["Plaintext"]).decode() for row in rows]


def logs(caplog, capfd) -> str:
    captured = capfd.readouterr()
    return "\n".join(r.getMessage() + " " + json.dumps(r.__dict__, default=str) for r in caplog.records
                     if not r.name.startswith("werkzeug")) + captured.out + captured.err


def test_planted_secrets_deliver_and_sign_but_are_in_no_dump_log_or_reply(
        http, farms, receiver, unit_server, notifications_queue, local_aws, ac_queue, notify, migrated_database_url,
        caplog, capfd):
    caplog.set_level(logging.DEBUG)
    farm = farms[0]
    replies = []
    hook = create(http, farm, "ops-hook", "webhook", {
        "url": f"http://127.0.0.1:{receiver.port}/hooks/{HOOK_TOKEN}", "headers": {"Authorization": HEADER_TOKEN}})
    mail = create(http, farm, "ops-mail", "email", {"to": ["grower@farm.example"], "smtp_host": "127.0.0.1",
                                                    "smtp_port": free_port(), "security": "none",
                                                    "username": "alerts@farm.example", "password": SMTP_PASSWORD})
    sms = create(http, farm, "ops-sms", "sms", {"phone_number": PHONE})
    unit = register(http, farm, unit_server.url)
    replies += [json.dumps([hook, mail, sms, unit])]

    # the secrets still work: a test message and an alert reach the receiver through the sealed URL and
    # header; a command is signed with the sealed unit secret (the simulated controller verifies it)
    tested = http.post(f"/api/channels/{hook['id']}/test", headers=as_farm(farm))
    assert tested.status_code == 200 and tested.json()["status"] == "sent", tested.text
    _, (notification_id,) = raise_alert(farm, ["ops-hook"])
    drain(local_aws["sqs"], notifications_queue["queue_url"], notify)
    assert notification_rows(id=notification_id)[0]["status"] == "sent"
    delivered = [request for request, _ in receiver.log]
    assert len(delivered) == 2 and all(r.headers["Authorization"] == HEADER_TOKEN for r in delivered)
    sent = command(http, farm, unit["id"])
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(all_final([UUID(sent["id"])]))
    assert http.get(f"/api/ac/commands/{sent['id']}", headers=as_farm(farm)).json()["status"] == "acknowledged"
    assert [c["command_id"] for c in unit_server.unit.commands()] == [sent["id"]]

    # errors: a failed delivery, a refused update and a forged callback say why without the secret
    failing = http.post(f"/api/channels/{mail['id']}/test", headers=as_farm(farm))
    assert failing.status_code == 502, failing.text
    assert failing.json()["error"]["details"] == [{"field": "channel", "reason": "could not connect"}]
    refused = http.patch(f"/api/channels/{hook['id']}", headers=as_farm(farm),
                         json={"config": {"url": f"ftp://127.0.0.1/{HOOK_TOKEN}"}})
    assert refused.status_code == 422
    body = json.dumps({"command_id": sent["id"], "status": "acknowledged", "state": {}}).encode()
    forged = http.post(f"/api/ac/callback/{sent['id']}", content=body, headers={SIGNATURE_HEADER: sign("x" * 20, body)})
    assert forged.status_code == 404
    replies += [tested.text, failing.text, refused.text, forged.text]
    for path in ("/api/channels", f"/api/channels/{hook['id']}", "/api/notifications", "/api/ac/units",
                 f"/api/ac/units/{unit['id']}", f"/api/ac/commands/{sent['id']}"):
        reply = http.get(path, headers=as_farm(farm))
        assert reply.status_code == 200, (path, reply.text)
        replies.append(reply.text)
    assert_nowhere("\n".join(replies), "an API reply")

    captured = logs(caplog, capfd)
    assert "notification sent" in captured and "sending AC command" in captured  # the logs were captured
    assert "kms/aws4_request" in captured  # botocore's DEBUG lines of the KMS calls too
    assert_nowhere(captured, "the logs")
    for data_key in data_keys(farm):  # botocore logs response bodies at DEBUG: the plain data keys are withheld
        assert data_key not in captured

    dump = pg_dump(migrated_database_url)
    assert "ops-hook" in dump and "target_sealed" in dump and "secret_sealed" in dump  # the rows are in it
    assert_nowhere(dump, "pg_dump")
    with session_scope() as session:
        stored = session.execute(text("SELECT target_sealed->>'key_id' FROM notification_channels")).scalars().all()
    assert set(stored) == {get_settings().secrets_key_id}  # each sealed under the stage's KMS key


def test_a_sealed_secret_copied_to_another_clients_record_does_not_open(
        http, farms, receiver, unit_server, notifications_queue, local_aws, ac_queue, notify):
    mine, theirs = farms
    my_hook = create(http, mine, "ops-hook", "webhook", {"url": f"http://127.0.0.1:{receiver.port}/hooks/{HOOK_TOKEN}"})
    their_hook = create(http, theirs, "ops-hook", "webhook", {"url": f"http://127.0.0.1:{receiver.port}/theirs"})
    my_unit, their_unit = register(http, mine, unit_server.url), register(http, theirs, unit_server.url)
    with session_scope() as session:  # someone with database access moves the ciphertext across clients
        session.execute(text("UPDATE notification_channels SET target_sealed = (SELECT target_sealed FROM"
                             " notification_channels WHERE id = :mine) WHERE id = :theirs"),
                        {"mine": my_hook["id"], "theirs": their_hook["id"]})
        session.execute(text("UPDATE ac_units SET secret_sealed = (SELECT secret_sealed FROM ac_units"
                             " WHERE id = :mine) WHERE id = :theirs"), {"mine": my_unit["id"], "theirs": their_unit["id"]})
        moved = session.execute(text("SELECT client_id, target_sealed FROM notification_channels WHERE id = :id"),
                                {"id": their_hook["id"]}).one()
    envelope.clear_cache()
    with pytest.raises(SecretUnreadable):  # KMS refuses the other record's context
        channel_target(moved.client_id, their_hook["id"], moved.target_sealed)
    assert channel_target(mine, my_hook["id"], moved.target_sealed).endswith(HOOK_TOKEN)  # still mine

    tested = http.post(f"/api/channels/{their_hook['id']}/test", headers=as_farm(theirs))
    assert tested.status_code == 409 and "save it again" in tested.json()["error"]["message"], tested.text
    _, (notification_id,) = raise_alert(theirs, ["ops-hook"])
    drain(local_aws["sqs"], notifications_queue["queue_url"], notify)
    row = notification_rows(id=notification_id)[0]
    assert row["status"] == "failed" and "does not open" in row["last_error"]
    assert receiver.log == []  # nothing reached my receiver on their behalf

    sent = command(http, theirs, their_unit["id"])
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(all_final([UUID(sent["id"])]))
    followed = http.get(f"/api/ac/commands/{sent['id']}", headers=as_farm(theirs)).json()
    assert followed["status"] == "failed" and "does not open" in followed["reason"]
    assert unit_server.unit.commands() == []  # never signed with my secret for them
    body = json.dumps({"command_id": sent["id"], "status": "acknowledged", "state": {}}).encode()
    signed_with_mine = http.post(f"/api/ac/callback/{sent['id']}", content=body,
                                 headers={SIGNATURE_HEADER: sign(UNIT_SECRET, body)})
    assert signed_with_mine.status_code == 404

    # saving the channel's config again repairs it
    repaired = http.patch(f"/api/channels/{their_hook['id']}", headers=as_farm(theirs),
                          json={"config": {"url": f"http://127.0.0.1:{receiver.port}/hooks/{HOOK_TOKEN}"}})
    assert repaired.status_code == 200, repaired.text
    assert http.post(f"/api/channels/{their_hook['id']}/test", headers=as_farm(theirs)).json()["status"] == "sent"


def test_migration_0017_seals_plaintext_rows_and_the_downgrade_opens_them(empty_database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    reset_core_caches()
    migrate.upgrade(empty_database_url, "0012")
    url = f"http://127.0.0.1:9/hooks/{HOOK_TOKEN}"
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        farm = connection.execute(text("INSERT INTO clients (name) VALUES ('Greenleaf') RETURNING id")).scalar_one()
        channel = connection.execute(text(
            "INSERT INTO notification_channels (client_id, name, kind, target_url) VALUES (:c, 'ops', 'webhook', :u)"
            " RETURNING id"), {"c": farm, "u": f"json{url[4:]}"}).scalar_one()
        unit = connection.execute(text(
            "INSERT INTO ac_units (client_id, name, location, driver, endpoint, secret) VALUES"
            " (:c, 'AC', 'bay-a', 'http', 'http://127.0.0.1:9/', :s) RETURNING id"),
            {"c": farm, "s": UNIT_SECRET}).scalar_one()
        connection.execute(text("INSERT INTO ac_units (client_id, name, location) VALUES (:c, 'Sim', 'bay-b')"),
                           {"c": farm})
    assert HOOK_TOKEN in pg_dump(empty_database_url)  # the dump would show it before

    migrate.upgrade(empty_database_url, "0017")
    dump = pg_dump(empty_database_url)
    assert "target_url" not in dump and "target_sealed" in dump
    assert_nowhere(dump, "pg_dump after 0017")
    with engine.connect() as connection:
        sealed = connection.execute(text("SELECT target_sealed, target_hint FROM notification_channels")).one()
        secrets_ = connection.execute(text("SELECT id, secret_sealed FROM ac_units ORDER BY name")).all()
    assert channel_target(farm, channel, sealed.target_sealed) == f"json{url[4:]}"
    assert sealed.target_hint == "json://127.0.0.1:9/***"
    assert envelope.unseal(secrets_[0].secret_sealed, unit_secret_context(farm, unit)) == UNIT_SECRET
    assert secrets_[1].secret_sealed is None  # a simulated unit has no secret

    migrate.downgrade(empty_database_url, "0012")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT target_url FROM notification_channels")).scalar_one() == f"json{url[4:]}"
        assert connection.execute(text("SELECT secret FROM ac_units WHERE id = :u"), {"u": unit}).scalar_one() \
            == UNIT_SECRET
    engine.dispose()
    reset_core_caches()


def test_reseal_moves_every_secret_to_a_new_key_and_leaves_rows_already_under_it(
        http, farms, unit_server, monkeypatch):
    farm = farms[0]
    hook = create(http, farm, "ops-hook", "webhook", {"url": f"http://127.0.0.1:9/hooks/{HOOK_TOKEN}"})
    unit = register(http, farm, unit_server.url)
    old_key = get_settings().secrets_key_id
    new_key = boto3_kms().create_key(Description="hydroponics tests: the next key")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("SECRETS_KEY_ID", new_key)
    reset_core_caches()
    with session_scope() as session:
        assert reseal(session.connection(), new_key) == {"notification_channels": 1, "ac_units": 1}
    with session_scope() as session:
        assert reseal(session.connection(), new_key) == {"notification_channels": 0, "ac_units": 0}
        channel = session.execute(text("SELECT client_id, target_sealed FROM notification_channels")).one()
        sealed_unit = session.execute(text("SELECT secret_sealed FROM ac_units")).scalar_one()
    assert channel.target_sealed["key_id"] == sealed_unit["key_id"] == new_key != old_key
    envelope.clear_cache()
    assert channel_target(farm, hook["id"], channel.target_sealed).endswith(HOOK_TOKEN)
    assert envelope.unseal(sealed_unit, unit_secret_context(farm, unit["id"])) == UNIT_SECRET


def boto3_kms():
    return boto3.client("kms", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")
