"""/api/dashboard/status against real MiniStack queues and PostgreSQL: depths per queue, dead letters,
the last run of each scheduled job (overdue after two periods; not yet run is not overdue), failed tasks for operators only."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hydroponics.api.routes import dashboard
from hydroponics.db.engine import session_scope
from hydroponics.events import record_event
from tests.integration.conftest import reset_core_caches
from tests.routes_app import routes_app

ADMIN = {"X-Test-Admin": "1"}


@pytest.fixture
def queues(platform_db, local_aws, monkeypatch):
    """The readings queue of local_aws with 3 waiting messages, a notifications queue, and a DLQ holding 2."""
    sqs = local_aws["sqs"]
    suffix = uuid.uuid4().hex[:8]
    notifications = sqs.create_queue(QueueName=f"it-notifications-{suffix}")["QueueUrl"]
    dlq_name = f"it-readings-dlq-{suffix}"
    dlq = sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=local_aws["READINGS_QUEUE_URL"], MessageBody=str(n))
    for n in range(2):
        sqs.send_message(QueueUrl=dlq, MessageBody=str(n))
    monkeypatch.setenv("NOTIFICATIONS_QUEUE_URL", notifications)
    monkeypatch.setenv("AC_COMMANDS_QUEUE_URL", notifications.rsplit("/", 1)[0] + "/it-no-such-queue")
    monkeypatch.setenv("DEAD_LETTER_SOURCES", json.dumps({dlq_name: local_aws["READINGS_QUEUE_URL"]}))
    reset_core_caches()
    yield {"readings": local_aws["READINGS_QUEUE_URL"].rsplit("/", 1)[-1], "notifications": notifications, "dlq": dlq_name}
    for url in (notifications, dlq):
        sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def http(queues):
    with TestClient(routes_app(dashboard)) as client:
        yield client


def test_the_strip_counts_each_queue_and_says_which_cannot_be_read(http, queues):
    body = http.get("/api/dashboard/status", headers={"X-Test-Client": str(uuid.uuid4())}).json()
    by_name = {q["queue"]: q for q in body["queues"]}
    assert (by_name[queues["readings"]]["visible"], by_name[queues["readings"]]["dead_letter"]) == (3, False)
    assert by_name[queues["notifications"].rsplit("/", 1)[-1]]["visible"] == 0
    assert (by_name[queues["dlq"]]["visible"], by_name[queues["dlq"]]["dead_letter"]) == (2, True)
    assert by_name["it-no-such-queue"] == {"queue": "it-no-such-queue", "dead_letter": False, "visible": None,
                                           "in_flight": None, "delayed": None, "reachable": False}
    assert body["failed_tasks"] is None  # the failed-tasks table is the platform's, not a client's


def test_jobs_show_their_last_run_and_an_overdue_one_is_flagged(http):
    now = datetime.now(UTC)
    with session_scope() as session:
        for job, ago in (("escalation", timedelta(seconds=30)), ("advance_stages", timedelta(hours=3)),
                         ("escalation", timedelta(minutes=10)), ("retention", timedelta(hours=20))):
            record_event(session, "job.ran", client_id=None, actor="scheduler", subject_type="job", subject_id=job)
            session.execute(text("UPDATE events SET occurred_at = :at WHERE id = (SELECT max(id) FROM events)"),
                            {"at": now - ago})
        session.execute(text("INSERT INTO failed_tasks (source_queue, body) VALUES ('q', 'a'), ('q', 'b')"))
        session.execute(text("INSERT INTO failed_tasks (source_queue, body, status) VALUES ('q', 'c', 'discarded')"))
    body = http.get("/api/dashboard/status", headers=ADMIN).json()
    jobs = {job["job"]: job for job in body["jobs"]}
    assert list(jobs) == ["escalation", "advance_stages", "calibration_due", "drift", "retention"]
    ran = datetime.fromisoformat(jobs["escalation"]["last_run"])
    assert abs((ran - (now - timedelta(seconds=30))).total_seconds()) < 1  # the newest run
    assert [(name, job["overdue"]) for name, job in jobs.items()] == [
        ("escalation", False), ("advance_stages", True), ("calibration_due", False), ("drift", False), ("retention", False)]
    assert jobs["drift"]["last_run"] is None and jobs["advance_stages"]["every_seconds"] == 3600
    assert body["failed_tasks"] == 2
