"""The deployed stack seals secrets with its own KMS key: the api function (in MiniStack's Lambda) seals a
planted channel target and AC secret under the stage's key and opens them to deliver; pg_dump shows neither."""

import json
import subprocess
import uuid

from pytest_httpserver import HTTPServer
from sqlalchemy import text

from tests.mail_server import free_port

TOKEN = f"e2e-hook-token-{uuid.uuid4().hex[:12]}"
UNIT_SECRET = f"e2e-unit-secret-{uuid.uuid4().hex[:12]}"


def test_the_deployed_functions_seal_under_the_stage_key_and_still_deliver(api, make_client, stack, stack_db):
    farm = make_client("Sealed Farm")
    headers = {"X-API-Key": farm["key"]}
    receiver = HTTPServer(host="127.0.0.1", port=free_port())
    receiver.expect_request(f"/hooks/{TOKEN}", method="POST").respond_with_json({"ok": True})
    receiver.start()
    try:
        channel = api.post("/api/channels", headers=headers, json={
            "name": "ops-hook", "kind": "webhook", "config": {"url": f"http://127.0.0.1:{receiver.port}/hooks/{TOKEN}"}})
        assert channel.status_code == 201, channel.text
        tested = api.post(f"/api/channels/{channel.json()['id']}/test", headers=headers)
    finally:
        receiver.stop()
    assert tested.status_code == 200, tested.text
    assert len(receiver.log) == 1  # opened by the deployed api function to deliver
    unit = api.post("/api/ac/register", headers=headers, json={
        "name": "AC sealed", "location": "bay-a", "driver": "http", "endpoint": "http://127.0.0.1:9/",
        "secret": UNIT_SECRET, "capabilities": {"modes": ["cool"], "setpoint_min": 16, "setpoint_max": 30,
                                                "fan_speeds": ["auto"]}})
    assert unit.status_code == 201, unit.text
    assert TOKEN not in channel.text + tested.text and UNIT_SECRET not in unit.text

    with stack_db.connect() as connection:
        keys = connection.execute(text(
            "SELECT target_sealed->>'key_id' FROM notification_channels WHERE id = :c UNION ALL"
            " SELECT secret_sealed->>'key_id' FROM ac_units WHERE id = :u"),
            {"c": channel.json()["id"], "u": unit.json()["id"]}).scalars().all()
    assert keys == [stack["SECRETS_KEY_ARN"]] * 2
    dump = subprocess.run(["pg_dump", "--no-owner", stack["DATABASE_URL"].replace("+pg8000", "")],
                          capture_output=True, text=True, check=True, timeout=120).stdout
    assert "AC sealed" in dump and json.dumps("ops-hook")[1:-1] in dump
    assert TOKEN not in dump and UNIT_SECRET not in dump
