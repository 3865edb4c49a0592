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
    """The readings queue of local_aws with 3 waiting messages and its DLQ holding 2; a notifications
    queue; an AC-commands queue that does not exist."""
    sqs = local_aws["sqs"]
    suffix = uuid.uuid4().hex[:8]
    notifications = sqs.create_queue(QueueName=f"it-notifications-{suffix}")["QueueUrl"]
    dlq = sqs.create_queue(QueueName=f"it-readings-dlq-{suffix}")["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=local_aws["READINGS_QUEUE_URL"], MessageBody=str(n))
    for n in range(2):
        sqs.send_message(QueueUrl=dlq, MessageBody=str(n))
    monkeypatch.setenv("MONITORED_QUEUES", json.dumps({
        "readings": {"queue": local_aws["READINGS_QUEUE_URL"], "dead_letter": dlq},
        "notifications": {"queue": notifications},
        "ac-commands": {"queue": notifications.rsplit("/", 1)[0] + "/it-no-such-queue"}}))
    reset_core_caches()
    yield
    for url in (notifications, dlq):
        sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def http(queues):
    with TestClient(routes_app(dashboard)) as client:
        yield client


def test_the_strip_counts_each_queue_and_says_which_cannot_be_read(http, queues):
    body = http.get("/api/dashboard/status", headers={"X-Test-Client": str(uuid.uuid4())}).json()
    by_role = {(q["queue"], q["dead_letter"]): q for q in body["queues"]}
    assert by_role["readings", False]["visible"] == 3
    assert by_role["readings", True]["visible"] == 2
    assert by_role["notifications", False]["visible"] == 0
    assert by_role["ac-commands", False] == {"queue": "ac-commands", "dead_letter": False, "visible": None,
                                             "in_flight": None, "delayed": None, "reachable": False}
    assert body["failed_tasks"] is None  # the failed-tasks table is the platform's, not a client's


def test_jobs_show_their_last_run_and_an_overdue_one_is_flagged(http):
    now = datetime.now(UTC)
    with session_scope() as session:
        for job, ago in (("escalation", timedelta(seconds=30)), ("advance_stages", timedelta(hours=3)),
                         ("escalation", timedelta(minutes=10))):
            record_event(session, "job.ran", client_id=None, actor="scheduler", subject_type="job", subject_id=job)
            session.execute(text("UPDATE events SET occurred_at = :at WHERE id = (SELECT max(id) FROM events)"),
                            {"at": now - ago})
        # retention records its runs in retention_runs, not as job.ran events
        session.execute(text("INSERT INTO retention_runs (status, requested_by, requested_at, started_at, finished_at)"
                             " VALUES ('succeeded', 'schedule', :at, :at, :at)"), {"at": now - timedelta(hours=20)})
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
    assert abs((datetime.fromisoformat(jobs["retention"]["last_run"]) - (now - timedelta(hours=20))).total_seconds()) < 1
    assert body["failed_tasks"] == 2
