"""The notify function over real SQS (MiniStack) and a real SMTP server: one alert, one email, never two."""

import json
import time

import pytest

from hydroponics.db.engine import session_scope
from hydroponics.notifications import delivery
from tests.integration.test_notify_seed import (  # noqa: F401
    SECRET_PASSWORD, app, as_farm, drain, email_config, farm, fast_backoff, http, lambda_records, new_channel,
    notification_rows, notify, poll_once, queue_arn, raise_alert,
)
from tests.lambda_events import lambda_context
from tests.mail_server import silent_smtp_server, smtp_server

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH")


def test_an_alert_sends_one_email_and_a_redelivered_message_sends_nothing_more(
        http, farm, notify, notifications_queue, local_aws, fast_backoff):
    sqs, queue_url = local_aws["sqs"], notifications_queue["queue_url"]
    with smtp_server({"alerts@farm.example": SECRET_PASSWORD}) as mail:
        new_channel(http, farm, "ops-email", "email", email_config(
            mail, username="alerts@farm.example", password=SECRET_PASSWORD))
        alert_id, (notification_id,) = raise_alert(farm, ["ops-email"])

        # the outbox queued it after the commit; the notify function delivers it
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2, AttributeNames=["All"])["Messages"]
        assert [json.loads(m["Body"]) for m in messages] == [{"notification_id": str(notification_id)}]
        records = lambda_records(messages, notifications_queue.get("queue_arn") or queue_arn(sqs, queue_url))
        assert notify.handler({"Records": records}, lambda_context()) == {"batchItemFailures": []}
        assert len(mail.messages) == 1 and mail.logins == ["alerts@farm.example"]
        received = mail.messages[0]
        assert received.recipients == ["grower@farm.example"] and received.sender == "alerts@farm.example"
        assert received.subject == "pH 7.4 above 6.5 at bay-a" and "Opened just now." in received.text

        # SQS delivers the same message again (at-least-once): acknowledged, nothing sent
        assert notify.handler({"Records": records}, lambda_context()) == {"batchItemFailures": []}
        # and the same alert+channel+kind queued again makes no second row
        with session_scope() as session:
            from hydroponics.db.models import Alert
            from hydroponics.notifications.outbox import queue_notifications
            alert = session.get(Alert, alert_id)
            assert queue_notifications(session, alert, kind="alert", channel_names=["ops-email"], subject="again",
                                       body="again") == []
        assert len(mail.messages) == 1
    row, = notification_rows(alert_id=alert_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 1, None) and row["sent_at"]


def test_a_hanging_mail_server_is_bounded_by_the_timeout_and_retried(
        http, farm, notify, notifications_queue, local_aws, fast_backoff, monkeypatch):
    monkeypatch.setattr(delivery, "EMAIL_TIMEOUT_SECONDS", 2.0)
    sqs, queue_url = local_aws["sqs"], notifications_queue["queue_url"]
    with silent_smtp_server() as (host, port):
        with smtp_server() as placeholder:  # only to build a valid config; then point it at the silent one
            config = email_config(placeholder)
        new_channel(http, farm, "ops-email", "email", config | {"smtp_port": port, "smtp_host": host})
        _, (notification_id,) = raise_alert(farm, ["ops-email"])
        started = time.monotonic()
        records = poll_once(sqs, queue_url, notify, wait=2)
        elapsed = time.monotonic() - started
    assert len(records) == 1 and elapsed < 8, elapsed
    row, = notification_rows(id=notification_id)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert row["last_error"] == "timed out", row["last_error"]
    # handed back with the first backoff (1 s here): it is retried, not lost
    time.sleep(1.5)
    again = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=3, AttributeNames=["All"])["Messages"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_disabled_channel_records_the_message_suppressed(http, farm, notify, notifications_queue, local_aws):
    with smtp_server() as mail:
        channel = new_channel(http, farm, "ops-email", "email", email_config(mail))
        _, (notification_id,) = raise_alert(farm, ["ops-email"])
        reply = http.patch(f"/api/channels/{channel['id']}", headers=as_farm(farm), json={"is_enabled": False})
        assert reply.status_code == 200 and reply.json()["is_enabled"] is False
        drain(local_aws["sqs"], notifications_queue["queue_url"], notify, seconds=5)
        assert mail.messages == []
    row, = notification_rows(id=notification_id)
    assert (row["status"], row["last_error"]) == ("suppressed", "channel disabled")


def test_the_database_down_hands_every_message_back(farm, notify, notifications_queue, local_aws, monkeypatch):
    from tests.integration.conftest import reset_core_caches

    notification_id = "00000000-0000-0000-0000-000000000001"
    sqs, queue_url = local_aws["sqs"], notifications_queue["queue_url"]
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"notification_id": notification_id}))
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://nobody@127.0.0.1:1/none")
    reset_core_caches()
    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2, AttributeNames=["All"])["Messages"]
    records = lambda_records(messages, queue_arn(sqs, queue_url))
    reply = notify.handler({"Records": records}, lambda_context())
    assert reply == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
