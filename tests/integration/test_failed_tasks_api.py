"""/admin/failed-tasks: admin only, listing, idempotent recording, redrive (FIFO too, on MiniStack) and discard."""

import json
import uuid

from sqlalchemy import text

from hydroponics.db.engine import session_scope
from hydroponics.dead_letters import record_dead_letters
from tests.integration.conftest import reset_core_caches
from tests.integration.test_notify_seed import ADMIN, app, as_farm, farm, http  # noqa: F401


def dlq_record(message_id: str, body: str, arn: str, **attributes: str) -> dict:
    return {"messageId": message_id, "receiptHandle": "rh", "body": body, "eventSourceARN": arn,
            "attributes": {"ApproximateReceiveCount": "4"} | attributes, "messageAttributes": {}}


def test_only_admins_see_and_act_on_failed_tasks(http, farm):
    for reply in (http.get("/admin/failed-tasks", headers=as_farm(farm)),
                  http.post(f"/admin/failed-tasks/{uuid.uuid4()}/retry", headers=as_farm(farm)),
                  http.post(f"/admin/failed-tasks/{uuid.uuid4()}/discard", headers=as_farm(farm))):
        assert reply.status_code == 403
    assert http.post(f"/admin/failed-tasks/{uuid.uuid4()}/retry", headers=ADMIN).status_code == 404


def test_recording_is_idempotent_and_the_list_pages(http, platform_db, monkeypatch):
    monkeypatch.setenv("DEAD_LETTER_SOURCES", json.dumps({"readings-dlq": "http://127.0.0.1:4566/000/readings"}))
    reset_core_caches()
    arn = "arn:aws:sqs:us-east-1:000000000000:readings-dlq"
    records = [dlq_record(f"m-{n}", f'{{"reading": {n}}}', arn) for n in range(3)]
    assert record_dead_letters(records) == {"batchItemFailures": []}
    assert record_dead_letters(records[:2]) == {"batchItemFailures": []}  # redelivered: no second row
    with session_scope() as session:
        assert session.scalar(text("SELECT count(*) FROM failed_tasks")) == 3
    page = http.get("/admin/failed-tasks", headers=ADMIN, params={"limit": 2}).json()
    more = http.get("/admin/failed-tasks", headers=ADMIN, params={"cursor": page["next_cursor"]}).json()
    tasks = page["items"] + more["items"]
    assert sorted(t["message_id"] for t in tasks) == ["m-0", "m-1", "m-2"] and more["next_cursor"] is None
    assert {t["source_queue"] for t in tasks} == {"http://127.0.0.1:4566/000/readings"}
    assert tasks[0]["error"] == "moved to the dead-letter queue readings-dlq after 4 receives"
    one = http.get(f"/admin/failed-tasks/{tasks[0]['id']}", headers=ADMIN).json()
    assert one == tasks[0]
    filtered = http.get("/admin/failed-tasks", headers=ADMIN,
                        params={"source_queue": "http://elsewhere", "status": "failed"}).json()
    assert filtered["items"] == []


def test_an_unknown_dead_letter_queue_is_recorded_but_cannot_be_redriven(http, platform_db):
    record_dead_letters([dlq_record("m-x", "{}", "arn:aws:sqs:us-east-1:000000000000:mystery-dlq")])
    task, = http.get("/admin/failed-tasks", headers=ADMIN).json()["items"]
    assert task["source_queue"] == "arn:aws:sqs:us-east-1:000000000000:mystery-dlq"
    reply = http.post(f"/admin/failed-tasks/{task['id']}/retry", headers=ADMIN)
    assert reply.status_code == 409 and reply.json()["error"]["details"][0]["field"] == "source_queue"


def test_a_fifo_message_is_redriven_with_its_group_and_a_deduplication_id(http, platform_db, local_aws, monkeypatch):
    sqs = local_aws["sqs"]
    name = f"it-ac-commands-{uuid.uuid4().hex[:8]}.fifo"
    fifo = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    try:
        monkeypatch.setenv("DEAD_LETTER_SOURCES", json.dumps({"ac-dlq.fifo": fifo}))
        reset_core_caches()
        arn = "arn:aws:sqs:us-east-1:000000000000:ac-dlq.fifo"
        record_dead_letters([dlq_record("m-fifo", '{"command": "off"}', arn, MessageGroupId="unit-7")])
        task, = http.get("/admin/failed-tasks", headers=ADMIN).json()["items"]
        assert task["attributes"]["MessageGroupId"] == "unit-7"
        reply = http.post(f"/admin/failed-tasks/{task['id']}/retry", headers=ADMIN)
        assert reply.status_code == 200 and reply.json()["status"] == "redriven"
        message, = sqs.receive_message(QueueUrl=fifo, WaitTimeSeconds=2, AttributeNames=["All"])["Messages"]
        assert message["Body"] == '{"command": "off"}' and message["Attributes"]["MessageGroupId"] == "unit-7"
        assert message["Attributes"]["MessageDeduplicationId"] == f"redrive-{task['id']}"
        with session_scope() as session:
            events = session.execute(text("SELECT event_type, actor FROM events ORDER BY id")).all()
        assert [(e.event_type, e.actor) for e in events] == [("failed_task.recorded", "dead-letters"),
                                                             ("failed_task.redriven", "api-key:hk_admin")]
    finally:
        sqs.delete_queue(QueueUrl=fifo)
