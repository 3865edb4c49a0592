"""The webhook receiver is down: the deployed notify function retries, the message lands on the DLQ,
the dead-letters function records it, an admin retries it once the receiver is back, and it is
delivered exactly once. Needs the short backoff scripts/test deploys with (NOTIFY_BACKOFF_SECONDS)."""

from datetime import UTC, datetime

from sqlalchemy import text
from werkzeug import Response

from tests.e2e.conftest import wait_for


def test_receiver_down_then_dead_letter_then_redrive_delivers_exactly_once(
        api, stack, stack_db, make_client, receiver, short_backoff):
    farm = make_client("Webhook Farm", rate_limits={"api": 5000})
    headers = {"X-API-Key": farm["key"]}
    admin = {"X-API-Key": stack["ADMIN_KEY"]}
    received = []

    def down(request):
        received.append(("down", request.get_json()))
        return Response("receiver down", status=503)

    def up(request):
        received.append(("up", request.get_json()))
        return Response("ok", status=200)

    receiver.expect_request("/hooks/farm", method="POST").respond_with_handler(down)
    channel = api.post("/api/channels", headers=headers, json={
        "name": "ops-hook", "kind": "webhook", "config": {"url": f"http://127.0.0.1:{receiver.port}/hooks/farm"}})
    assert channel.status_code == 201, channel.text
    rule = api.post("/api/rules", headers=headers, json={
        "name": "pH above 7", "location": "bay-hook", "sensor_type": "ph", "severity": "critical",
        "condition": {"kind": "above", "threshold": 7.0}, "channels": ["ops-hook"]})
    assert rule.status_code == 201, rule.text
    reading = {"sensor_type": "ph", "value": 7.9, "location": "bay-hook", "timestamp": datetime.now(UTC).isoformat()}
    assert api.post("/api/data", json=reading, headers=farm["headers"]).status_code == 202

    def notification():
        with stack_db.connect() as conn:
            return conn.execute(text(
                "SELECT id, status, attempts FROM notifications WHERE client_id = :c"), {"c": farm["client_id"]}).first()

    def failed_task():
        row = notification()
        if row is None:
            return None
        with stack_db.connect() as conn:
            return conn.execute(text("SELECT id, status, source_queue FROM failed_tasks WHERE body LIKE :b"),
                                {"b": f"%{row.id}%"}).first()

    task = wait_for(failed_task, timeout=60 + 4 * short_backoff, interval=1)
    assert task is not None, notification()
    assert (task.status, task.source_queue) == ("failed", stack["NOTIFICATIONS_QUEUE_URL"])
    assert (notification().status, notification().attempts) == ("failed", 4)
    assert [state for state, _ in received] == ["down"] * 4

    receiver.clear()
    receiver.expect_request("/hooks/farm", method="POST").respond_with_handler(up)
    listed = api.get("/admin/failed-tasks", headers=admin, params={"limit": 200}).json()["items"]
    assert str(task.id) in [item["id"] for item in listed]
    retried = api.post(f"/admin/failed-tasks/{task.id}/retry", headers=admin)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "redriven"
    assert wait_for(lambda: notification().status == "sent", timeout=30), notification()
    wait_for(lambda: False, timeout=3)  # nothing more arrives
    assert [state for state, _ in received] == ["down"] * 4 + ["up"]
    assert api.post(f"/admin/failed-tasks/{task.id}/retry", headers=admin).status_code == 409
