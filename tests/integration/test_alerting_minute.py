"""The escalation function's minute over real PostgreSQL and MiniStack: every step runs, in its own
transaction, a failing step does not stop the others, lost notification messages are queued again."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from hydroponics.db.engine import session_scope
from hydroponics.jobs import alerting
from tests.integration.test_rules_api import farms, open_alert, new_rule, app, http  # noqa: F401
from tests.lambda_events import lambda_context, load_handler


def _heartbeats() -> list[dict]:
    with session_scope() as session:
        rows = session.execute(text("SELECT details FROM events WHERE event_type = 'job.ran'"
                                    " AND subject_id = 'escalation' ORDER BY id"))
        return [row.details for row in rows]


def _received(sqs, queue_url: str) -> list[dict]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_the_minute_runs_every_step_and_records_its_heartbeat(platform_db, notifications_queue):
    handler = load_handler("escalation")
    outcome = handler.handler({"job": "escalate_alerts"}, lambda_context())
    assert set(outcome) == {"job", *alerting.STEPS}
    assert outcome["escalate"] == {"escalated": 0, "notifications": 0}
    beat = _heartbeats()
    assert len(beat) == 1 and beat[0]["failed"] == [] and set(beat[0]["steps"]) == set(alerting.STEPS)


def test_a_failing_step_does_not_stop_the_others_and_the_run_fails(platform_db, notifications_queue, monkeypatch):
    ran = []

    def broken(session, now):
        raise RuntimeError("boom")

    def fine(session, now):
        ran.append(now)
        session.execute(text("SELECT 1"))
        return {"ok": True}

    monkeypatch.setattr(alerting, "STEPS", {"first": broken, "second": fine})
    with pytest.raises(alerting.AlertingStepsFailed, match="first"):
        alerting.run_alerting_minute()
    assert len(ran) == 1
    beat = _heartbeats()[-1]
    assert 0 <= beat.pop("duration_seconds") < 30  # how long the minute took (/metrics reports it)
    assert beat == {"steps": {"second": {"ok": True}}, "failed": ["first"]}


def test_a_notification_whose_message_was_lost_is_queued_again(http, farms, notifications_queue, local_aws):
    greenleaf, _ = farms
    rule = new_rule(http, greenleaf)
    alert_id = open_alert(greenleaf, rule["id"])
    with session_scope() as session:  # a pending row whose queue message never left (the publish failed)
        channel_id = session.scalar(text("SELECT id FROM notification_channels WHERE client_id = :c LIMIT 1"),
                                    {"c": greenleaf.id})
        lost = session.scalar(text(
            "INSERT INTO notifications (client_id, alert_id, channel_id, idempotency_key, created_at)"
            " VALUES (:c, :a, :ch, 'lost-1', now() - interval '10 minutes') RETURNING id"),
            {"c": greenleaf.id, "a": alert_id, "ch": channel_id})
        fresh = session.scalar(text(
            "INSERT INTO notifications (client_id, alert_id, channel_id, idempotency_key)"
            " VALUES (:c, :a, :ch, 'fresh-1') RETURNING id"), {"c": greenleaf.id, "a": alert_id, "ch": channel_id})
    outcome = alerting.run_alerting_minute(datetime.now(UTC) + timedelta(seconds=1))
    assert outcome["requeue"] == {"requeued": 1}
    bodies = _received(local_aws["sqs"], notifications_queue["queue_url"])
    assert {"notification_id": str(lost)} in bodies
    assert {"notification_id": str(fresh)} not in bodies  # young pending rows still have their message
