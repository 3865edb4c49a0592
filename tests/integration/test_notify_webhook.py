"""Webhook receiver down -> retries with backoff -> DLQ -> failed task -> receiver back -> redrive -> one delivery."""

import json
import logging
import time

from pytest_httpserver import HTTPServer
from sqlalchemy import text

from hydroponics.db.engine import session_scope
from tests.integration.test_notify_seed import (  # noqa: F401
    ADMIN, SECRET_PATH, app, dead_letters_fn, drain, farm, fast_backoff, http, lambda_records, new_channel,
    notification_rows, notify, poll_once, queue_depth, raise_alert,
)
from tests.lambda_events import lambda_context
from tests.mail_server import free_port

HEADER_SECRET = "Bearer tok-Very-Secret-987"


def _our_logs(caplog, capsys) -> str:
    """Everything the platform logged (not the test receiver's own request log)."""
    records = [r.getMessage() + " " + json.dumps(r.__dict__, default=str) for r in caplog.records
               if not r.name.startswith("werkzeug")]
    captured = capsys.readouterr()
    return "\n".join(records) + captured.out + captured.err


def test_receiver_down_retries_then_dead_letters_then_a_redrive_delivers_exactly_once(
        http, farm, notify, dead_letters_fn, notifications_queue, local_aws, fast_backoff, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    sqs, queue_url, dlq_url = local_aws["sqs"], notifications_queue["queue_url"], notifications_queue["dlq_url"]
    receiver = HTTPServer(host="127.0.0.1", port=free_port())  # not started: the receiver is down
    url = f"http://127.0.0.1:{receiver.port}/hooks/{SECRET_PATH}"
    channel = new_channel(http, farm, "ops-hook", "webhook", {"url": url, "headers": {"Authorization": HEADER_SECRET}})
    assert channel["target_hint"] == f"json://127.0.0.1:{receiver.port}/***"
    assert channel["config"] == {"header_names": ["Authorization"]}
    alert_id, (notification_id,) = raise_alert(farm, ["ops-hook"])

    # four attempts, each failed and handed back with a visibility change (1 s here; 1/5/15 min deployed)
    receive_counts, deadline = [], time.monotonic() + 40
    while queue_depth(sqs, dlq_url) == 0 and time.monotonic() < deadline:
        records = poll_once(sqs, queue_url, notify)
        if records:
            receive_counts.append(int(records[0]["attributes"]["ApproximateReceiveCount"]))
            if len(receive_counts) < 4:  # not visible again at once: the backoff, not the 30 s queue default
                assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages") is None
    assert receive_counts == [1, 2, 3, 4]
    row, = notification_rows(id=notification_id)
    assert (row["status"], row["attempts"]) == ("failed", 4)
    assert row["last_error"] == "could not connect"

    # the DLQ consumer records it once, however often the DLQ message is delivered
    dead = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=5, AttributeNames=["All"])["Messages"]
    records = lambda_records(dead, notifications_queue["dlq_arn"])
    for _ in range(2):
        assert dead_letters_fn.handler({"Records": records}, lambda_context()) == {"batchItemFailures": []}
    listed = http.get("/admin/failed-tasks", headers=ADMIN).json()
    task, = listed["items"]
    assert (task["source_queue"], task["message_id"], task["status"]) == (queue_url, dead[0]["MessageId"], "failed")
    assert json.loads(task["body"]) == {"notification_id": str(notification_id)}
    assert task["error"] == row["last_error"]
    assert task["attributes"]["dead_letter_queue"] == notifications_queue["dlq_arn"]
    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=dead[0]["ReceiptHandle"])

    # the receiver is back; an operator redrives the message: delivered once
    receiver.expect_request(f"/hooks/{SECRET_PATH}", method="POST").respond_with_json({"ok": True})
    receiver.start()
    try:
        reply = http.post(f"/admin/failed-tasks/{task['id']}/retry", headers=ADMIN)
        assert reply.status_code == 200 and reply.json()["status"] == "redriven" and reply.json()["resolved_at"]
        assert http.post(f"/admin/failed-tasks/{task['id']}/retry", headers=ADMIN).status_code == 409
        assert http.post(f"/admin/failed-tasks/{task['id']}/discard", headers=ADMIN).status_code == 409
        drain(sqs, queue_url, notify, seconds=10)
        # a stray copy of the original message (at-least-once delivery) sends nothing more
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"notification_id": str(notification_id)}))
        drain(sqs, queue_url, notify, seconds=10)
        assert len(receiver.log) == 1
        request, _ = receiver.log[0]
        assert request.headers["Authorization"] == HEADER_SECRET
        assert request.get_json()["title"] == "pH 7.4 above 6.5 at bay-a"
    finally:
        receiver.clear()
        receiver.stop()
    row, = notification_rows(id=notification_id)
    assert (row["status"], row["attempts"]) == ("sent", 5) and row["sent_at"]

    with session_scope() as session:
        events = session.execute(text("SELECT event_type FROM events WHERE event_type LIKE 'notification.%'"
                                      " OR event_type LIKE 'failed_task.%' ORDER BY id")).scalars().all()
    assert events == ["notification.failed", "failed_task.recorded", "failed_task.redriven", "notification.sent"]

    # the delivery log shows the attempts and the result; no response and no log line holds the secret
    log = http.get("/api/notifications", headers={"X-Test-Client": str(farm)}, params={"alert_id": str(alert_id)})
    entry, = log.json()["items"]
    assert (entry["status"], entry["attempts"], entry["channel_name"]) == ("sent", 5, "ops-hook")
    everything = log.text + listed.__repr__() + json.dumps(listed) + json.dumps(channel)
    everything += http.get("/api/channels", headers={"X-Test-Client": str(farm)}).text
    logged = _our_logs(caplog, capsys)
    for secret in (SECRET_PATH, HEADER_SECRET, "tok-Very-Secret-987"):
        assert secret not in everything and secret not in logged


def test_a_discarded_task_is_not_redriven(http, farm, dead_letters_fn, notifications_queue):
    body = json.dumps({"notification_id": "00000000-0000-0000-0000-000000000009"})
    records = [{"messageId": "m-1", "receiptHandle": "rh", "body": body, "attributes": {"ApproximateReceiveCount": "4"},
                "messageAttributes": {}, "eventSourceARN": notifications_queue["dlq_arn"]}]
    assert dead_letters_fn.handler({"Records": records}, lambda_context()) == {"batchItemFailures": []}
    task, = http.get("/admin/failed-tasks", headers=ADMIN).json()["items"]
    assert task["error"] == "notification row not found"
    reply = http.post(f"/admin/failed-tasks/{task['id']}/discard", headers=ADMIN)
    assert reply.status_code == 200 and reply.json()["status"] == "discarded"
    assert http.post(f"/admin/failed-tasks/{task['id']}/retry", headers=ADMIN).status_code == 409
    assert http.get("/admin/failed-tasks", headers=ADMIN, params={"status": "failed"}).json()["items"] == []
