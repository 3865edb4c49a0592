"""The deployed stack answers through MiniStack's API Gateway, consumes its queue and runs its schedules."""

import json
import uuid
from datetime import datetime, timezone

from sqlalchemy import text

from tests.e2e.conftest import wait_for


def test_health_through_api_gateway(api):
    reply = api.get("/health")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["checks"] == {"database": True, "readings_queue": True}
    assert body["version"]


def test_docs_list_the_api(api):
    assert api.get("/docs").status_code == 200
    spec = api.get("/openapi.json").json()
    assert "/health" in spec["paths"]


def test_unknown_path_answers_in_the_error_shape(api):
    reply = api.get("/no/such/thing")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"


def test_reading_on_the_queue_reaches_the_rules_function_and_is_stored(stack, aws, stack_db):
    sensor = f"e2e-{uuid.uuid4().hex[:8]}"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    message = {"client_id": stack["CLIENT_ID"], "sensor": sensor, "sensor_type": "ph", "location": "e2e-tank",
               "value": 6.2, "recorded_at": now.isoformat(), "received_at": now.isoformat()}
    aws("sqs").send_message(QueueUrl=stack["READINGS_QUEUE_URL"], MessageBody=json.dumps(message))

    def stored():
        with stack_db.connect() as conn:
            return conn.execute(text(
                "SELECT r.value FROM readings r JOIN sensors s ON s.id = r.sensor_id"
                " WHERE s.external_id = :sensor AND s.client_id = :client"), {"sensor": sensor, "client": stack["CLIENT_ID"]}
            ).scalar_one_or_none()

    assert wait_for(stored, timeout=30) == 6.2


def test_schedule_targets_its_function_and_a_trigger_runs_it(stack, aws, stack_db):
    schedule = aws("scheduler").get_schedule(Name="hydroponics-local-advance-stages")
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    target = schedule["Target"]
    assert target["Arn"].endswith(":function:" + stack["STAGES_FUNCTION"])
    with stack_db.connect() as conn:
        before = conn.execute(text("SELECT coalesce(max(id), 0) FROM events")).scalar_one()

    reply = aws("lambda").invoke(FunctionName=target["Arn"], Payload=target["Input"].encode())
    assert "FunctionError" not in reply, reply["Payload"].read()

    def ran():
        with stack_db.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM events WHERE id > :before AND event_type = 'job.ran'"
                                     " AND subject_id = 'advance_stages'"), {"before": before}).scalar_one()
    assert wait_for(ran, timeout=10) >= 1


def test_every_minute_schedule_fires_on_its_own(stack_db):
    def escalation_runs():
        with stack_db.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM events WHERE event_type = 'job.ran'"
                                     " AND subject_id = 'escalation' AND occurred_at > now() - interval '3 minutes'"
                                     )).scalar_one()
    assert wait_for(escalation_runs, timeout=75, interval=2) >= 1


def test_retention_keeps_readings_partitions_ahead(stack, aws, stack_db):
    reply = aws("lambda").invoke(FunctionName=stack["RETENTION_FUNCTION"], Payload=b"{}")
    assert "FunctionError" not in reply, reply["Payload"].read()
    with stack_db.connect() as conn:
        partitions = conn.execute(text(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'readings'::regclass"
            " AND inhrelid::regclass::text = 'readings_' || to_char(now() + interval '3 months', 'YYYYMM')")).scalar_one()
    assert partitions == 1
