"""The /metrics sources against real parts: request counters and queue backlogs in a MiniStack DynamoDB
table built as the template builds it, queue depths in MiniStack SQS, and the platform state read from
a migrated PostgreSQL in one statement; and the /metrics route's token."""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hydroponics.db.engine import session_scope
from hydroponics.jobs import run_job
from hydroponics.monitoring import backlog
from hydroponics.monitoring.queues import queue_depths
from hydroponics.monitoring.requests import RequestRecorder, request_counters
from hydroponics.monitoring.state import platform_state
from hydroponics.readings.messages import QueuedReading
from hydroponics.readings.store import store_readings
from hydroponics.records.clients import create_client
from tests.infra.conftest import load_template
from tests.integration.conftest import reset_core_caches
from hydroponics.db.engine import get_engine
from tests.sealed import channel_columns
from tests.sql_counter import recorded_statements


@pytest.fixture
def monitoring_table(local_aws, monkeypatch) -> str:
    """The template's MonitoringTable (keys, the `oldest` local index, TTL) created in MiniStack."""
    properties = load_template()["Resources"]["MonitoringTable"]["Properties"]
    name = f"it-monitoring-{uuid.uuid4().hex[:8]}"
    dynamodb = local_aws["dynamodb"]
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=properties["AttributeDefinitions"], KeySchema=properties["KeySchema"],
                          LocalSecondaryIndexes=properties["LocalSecondaryIndexes"])
    monkeypatch.setenv("MONITORING_TABLE", name)
    reset_core_caches()
    yield name
    dynamodb.delete_table(TableName=name)


def test_two_containers_counts_add_up_in_the_table(monitoring_table):
    first, second = RequestRecorder(), RequestRecorder()
    for _ in range(3):
        first.record("ingest", "POST", "/api/data", 202, 0.004)
    second.record("ingest", "POST", "/api/data", 202, 0.2)
    second.record("ingest", "POST", "/api/data", 503, 0.03)
    assert first.flush() == 1 and second.flush() == 2
    first.record("ingest", "POST", "/api/data", 202, 12.0)
    first.flush()
    counters = {(c.function, c.method, c.route, c.status): c for c in request_counters()}
    ok = counters[("ingest", "POST", "/api/data", 202)]
    assert ok.count == 5 and ok.seconds == pytest.approx(0.012 + 0.2 + 12.0)
    assert ok.buckets[0] == 3 and ok.buckets[-1] == 1 and sum(ok.buckets) == 5
    assert counters[("ingest", "POST", "/api/data", 503)].count == 1


def _sqs_record(message_id: str, sent: float, receives: int) -> dict:
    return {"messageId": message_id, "body": "{}", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:readings",
            "attributes": {"SentTimestamp": str(int(sent * 1000)), "ApproximateReceiveCount": str(receives)}}


def test_handed_back_messages_age_their_queue_until_done_or_dead_lettered(monitoring_table, monkeypatch):
    readings_url = "http://127.0.0.1/000000000000/readings"
    monkeypatch.setenv("MONITORED_QUEUES", json.dumps({"readings": {"queue": readings_url}}))
    monkeypatch.setenv("DEAD_LETTER_SOURCES", json.dumps({"readings-dlq": readings_url}))
    reset_core_caches()
    now = time.time()
    old, newer, fine = (_sqs_record("m-old", now - 400, 1), _sqs_record("m-newer", now - 100, 1),
                        _sqs_record("m-fine", now - 1, 1))

    @backlog.tracked("readings")
    def consumer(event, context):
        return {"batchItemFailures": [{"itemIdentifier": "m-old"}, {"itemIdentifier": "m-newer"}]}

    consumer({"Records": [old, newer, fine]}, None)
    assert backlog.backlog_ages(["readings"], now=now)["readings"] == pytest.approx(400, abs=1)

    @backlog.tracked("readings")
    def recovered(event, context):
        return {"batchItemFailures": []}

    recovered({"Records": [_sqs_record("m-old", now - 400, 2)]}, None)
    assert backlog.backlog_ages(["readings"], now=now)["readings"] == pytest.approx(100, abs=1)
    backlog.forget_dead_letters([_sqs_record("m-newer", now - 100, 1)
                                 | {"eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:readings-dlq"}])
    assert backlog.backlog_ages(["readings"], now=now) == {"readings": 0.0}


def test_a_consumer_that_crashes_hands_back_its_whole_batch(monitoring_table):
    now = time.time()

    @backlog.tracked("notifications")
    def crashing(event, context):
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        crashing({"Records": [_sqs_record("n-1", now - 30, 1), _sqs_record("n-2", now - 60, 3)]}, None)
    assert backlog.backlog_ages(["notifications"], now=now)["notifications"] == pytest.approx(60, abs=1)


def test_queue_depths_count_visible_and_in_flight_messages(local_aws, monkeypatch):
    sqs = local_aws["sqs"]
    dlq = sqs.create_queue(QueueName=f"it-depth-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        for n in range(3):
            sqs.send_message(QueueUrl=local_aws["READINGS_QUEUE_URL"], MessageBody=str(n))
        sqs.send_message(QueueUrl=dlq, MessageBody="dead")
        sqs.receive_message(QueueUrl=local_aws["READINGS_QUEUE_URL"], MaxNumberOfMessages=1, VisibilityTimeout=60)
        monkeypatch.setenv("MONITORED_QUEUES", json.dumps(
            {"readings": {"queue": local_aws["READINGS_QUEUE_URL"], "dead_letter": dlq}}))
        reset_core_caches()
        depths = {(d.queue, d.role): (d.visible, d.in_flight) for d in queue_depths()}
        assert depths == {("readings", "work"): (2, 1), ("readings", "dead_letter"): (1, 0)}
    finally:
        sqs.delete_queue(QueueUrl=dlq)


def _reading(client_id, sensor: str, sensor_type: str, at: datetime) -> QueuedReading:
    return QueuedReading(client_id=client_id, sensor=sensor, sensor_type=sensor_type, location="bay-1",
                         value=6.0, recorded_at=at, received_at=at)


def test_the_platform_state_is_one_statement_over_real_records(platform_db):
    now = datetime.now(UTC)
    with session_scope() as session:
        farm = create_client(session, "Monitored Farm")
        batch = [_reading(farm, "ph-1", "ph", now - timedelta(seconds=30 + i)) for i in range(5)]
        batch += [_reading(farm, "ec-1", "ec", now - timedelta(seconds=90))]
        assert store_readings(session, batch) == 6
    with session_scope() as session:  # redelivered: stored once, counted once
        assert store_readings(session, batch[:3]) == 0
        channel = session.execute(text(
            "INSERT INTO notification_channels (id, client_id, name, kind, target_sealed, target_hint)"
            " VALUES (:id, :c, 'ops-hook', 'webhook', CAST(:target_sealed AS jsonb), :target_hint) RETURNING id"),
            {"c": farm} | channel_columns(farm, "webhook", "json://127.0.0.1/hook")).scalar_one()
        for n, (status, attempts) in enumerate([("sent", 1), ("failed", 2), ("failed", 4), ("suppressed", 0)]):
            session.execute(text(
                "INSERT INTO notifications (client_id, channel_id, idempotency_key, status, attempts)"
                " VALUES (:c, :ch, :k, :s, :a)"), {"c": farm, "ch": channel, "k": f"k{n}", "s": status, "a": attempts})
        unit = session.execute(text("INSERT INTO ac_units (client_id, name, location) VALUES (:c, 'ac-1', 'room')"
                                    " RETURNING id"), {"c": farm}).scalar_one()
        for reason in ("minimum_off_time: the compressor stopped 12 s ago", "minimum_off_time: 40 s ago",
                       "command_rate: 13 commands"):
            session.execute(text("INSERT INTO ac_commands (client_id, ac_unit_id, source, command, status, reason)"
                                 " VALUES (:c, :u, 'operator', '{}', 'rejected', :r)"), {"c": farm, "u": unit, "r": reason})
        session.execute(text("INSERT INTO failed_tasks (source_queue, body, failed_at) VALUES ('q-url', '{}', now() - interval '2 minutes')"))
        session.execute(text(  # retention records its runs in retention_runs: a success yesterday, a failure today
            "INSERT INTO retention_runs (status, requested_by, requested_at, started_at, finished_at, duration_seconds)"
            " VALUES ('succeeded', 'scheduler', now() - interval '1 day', now() - interval '1 day',"
            " now() - interval '1 day' + interval '42 seconds', 42.0),"
            " ('failed', 'scheduler', now() - interval '1 minute', now() - interval '1 minute', now(), 3.0)"))
    run_job("advance_stages")
    with recorded_statements(get_engine()) as statements, session_scope() as session:
        state = platform_state(session)
    assert len(statements) == 1
    assert {(r.client_id, r.sensor_type): r.stored for r in state.readings} == {(farm, "ph"): 5, (farm, "ec"): 1}
    [lag] = [lag for lag in state.ingest_lag if lag.client_id == farm]
    assert 29 <= lag.seconds < 120
    assert state.clients[farm] == "Monitored Farm"
    counts = {n.state: n.count for n in state.notifications if n.channel_id == channel}
    assert counts == {"sent": 1, "retrying": 1, "failed": 1, "suppressed": 1, "pending": 0, "sending": 0, "held": 0,
                      "digested": 0}  # every state, zeros too
    assert state.ac_commands == {"rejected": 3}
    assert state.refusals == {"minimum_off_time": 2, "command_rate": 1}
    [task] = state.failed_tasks
    assert (task.source_queue, task.status, task.count) == ("q-url", "failed", 1) and task.oldest_age_seconds >= 119
    stages = {job.job: job for job in state.jobs}["advance_stages"]
    assert stages.last_run_ok and stages.last_success_at == pytest.approx(time.time(), abs=60)
    assert stages.last_duration_seconds is not None and 0 <= stages.last_duration_seconds < 30
    assert {job.job: job.last_run_at for job in state.jobs}["drift"] is None
    retention = {job.job: job for job in state.jobs}["retention"]
    assert retention.last_duration_seconds == 42.0 and retention.last_run_ok is False
    assert retention.last_success_at == pytest.approx(time.time() - 86400 + 42, abs=60)
    assert state.connections.in_use >= 1 and state.connections.limit > 0
    assert any(name.startswith("readings_") for name in state.partitions)


def test_sections_can_be_read_alone(platform_db):
    run_job("advance_stages")
    with session_scope() as session:
        state = platform_state(session, ["jobs"])
    assert {job.job for job in state.jobs} >= {"advance_stages", "escalation"} and state.connections is None
    with pytest.raises(ValueError):
        with session_scope() as session:
            platform_state(session, ["nope"])


def test_metrics_answer_the_token_and_refuse_everything_else(platform_db, monkeypatch):
    from hydroponics.api.app import create_app
    from hydroponics.monitoring.scrape import cached

    monkeypatch.setenv("METRICS_TOKEN", "t" * 40)
    reset_core_caches()
    cached.clear()
    api = TestClient(create_app())
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    reply = api.get("/metrics", headers={"Authorization": "Bearer " + "t" * 40})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    assert 'hydroponics_scrape_source_up{source="postgres"} 1.0' in reply.text
    assert "hydroponics_db_connections_limit" in reply.text
