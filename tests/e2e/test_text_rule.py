"""Through the deployed stack: the issue's requests are 422s now, and a reading the database can never
store goes from the rules function straight to the DLQ, into /admin/failed-tasks with its reason."""

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.e2e.conftest import wait_for


def test_a_reading_with_a_nul_is_a_422_and_is_never_stored(api, demo_device, stack, stack_db):
    location = f"bay\u0000nul-{uuid.uuid4().hex[:6]}"
    body = json.dumps({"sensor_type": "ph", "value": 6.3, "location": location})  # "\u0000" on the wire
    reply = api.post("/api/data", content=body, headers=demo_device | {"Content-Type": "application/json"})
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["details"] == [{"field": "location",
                                                 "reason": "must not contain a NUL character (U+0000)"}]
    surrogate = body.replace("\\u0000", "\\ud800")
    reply = api.post("/api/data", content=surrogate, headers=demo_device | {"Content-Type": "application/json"})
    assert reply.status_code == 422 and "unpaired surrogate" in reply.json()["error"]["details"][0]["reason"]
    with stack_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sensors WHERE external_id LIKE 'ph@bay%nul-%'")).scalar_one() == 0


def test_a_silence_with_a_nul_in_its_reason_is_a_422(api, demo_device):
    ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    reply = api.post("/api/silences", headers={"X-API-Key": demo_device["X-API-Key"], "Content-Type": "application/json"},
                     content=json.dumps({"location": "bay-e2e", "ends_at": ends, "reason": "flush\u0000"}))
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["details"][0]["field"] == "reason"


def test_a_never_storable_reading_is_dead_lettered_at_once_with_the_reason(api, stack, aws):
    """A message for a client that does not exist (as one queued before its client was removed would be):
    the rules function sends it to the DLQ on its first receive, the dead-letters function records it."""
    unknown_client = str(uuid.uuid4())
    now = datetime.now(UTC)
    body = json.dumps({"client_id": unknown_client, "sensor": "ph@e2e-refused", "sensor_type": "ph",
                       "location": "e2e-refused", "value": 6.2, "recorded_at": now.isoformat(),
                       "received_at": now.isoformat()})
    message_id = aws("sqs").send_message(QueueUrl=stack["READINGS_QUEUE_URL"], MessageBody=body)["MessageId"]
    admin = {"X-API-Key": stack["ADMIN_KEY"]}

    def task():
        items = api.get("/admin/failed-tasks", headers=admin,
                        params={"source_queue": stack["READINGS_QUEUE_URL"], "limit": 100}).json()["items"]
        return next((t for t in items if t["message_id"] == message_id), None)

    found = wait_for(task, timeout=60, interval=1)
    assert found is not None, "the refused reading never reached /admin/failed-tasks"
    assert found["refusal_code"] == "23503" and found["status"] == "failed"
    assert "foreign key" in found["error"] and found["body"] == body
    # refused on its first receive: no spinning through the queue's ten receives
    assert found["attributes"]["message_attributes"]["refused_on_receive"]["stringValue"] == "1"
