"""A reading message that can never be stored (real PostgreSQL, MiniStack queues): straight to the DLQ
with the database's reason, listed in /admin/failed-tasks with it, counted, never spun through retries.
An outage is not a refusal: those messages stay queued with the backoff."""

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hydroponics.api.routes import admin
from hydroponics.db.engine import session_scope
from hydroponics.dead_letters import record_dead_letters
from hydroponics.readings import batch
from hydroponics.readings.batch import store_or_retry_later, store_sqs_batch
from hydroponics.readings.messages import QueuedReading, message_bodies
from hydroponics.records.clients import create_client
from tests.integration.conftest import reset_core_caches
from tests.routes_app import routes_app

T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
ADMIN = {"X-Test-Admin": "1"}


def _body(client_id, i: int = 0, **overrides) -> str:
    fields = {"client_id": client_id, "sensor": "ph@tank-1", "sensor_type": "ph", "location": "tank-1",
              "value": 6.0 + i / 100, "recorded_at": T0 + timedelta(seconds=i), "received_at": T0}
    return QueuedReading(**(fields | overrides)).model_dump_json()


@pytest.fixture
def client_id(platform_db):
    with session_scope() as session:
        return create_client(session, "Greenleaf Farms")


@pytest.fixture
def readings_queues(platform_db, local_aws, monkeypatch) -> Iterator[dict]:
    """The readings queue (from local_aws) and a DLQ the store step sends refusals to."""
    sqs = local_aws["sqs"]
    name = f"it-readings-dlq-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    monkeypatch.setenv("READINGS_DEAD_LETTER_QUEUE_URL", dlq_url)
    monkeypatch.setenv("DEAD_LETTER_SOURCES", json.dumps({name: local_aws["READINGS_QUEUE_URL"]}))
    reset_core_caches()
    yield {"sqs": sqs, "queue_url": local_aws["READINGS_QUEUE_URL"], "dlq_url": dlq_url, "dlq_arn": dlq_arn}
    sqs.delete_queue(QueueUrl=dlq_url)


def _delivered(sqs, queue_url: str, bodies: list[str]) -> list[dict]:
    """Send `bodies` to the queue and receive them back as a Lambda SQS event's records."""
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    return _received(sqs, queue_url, len(bodies))


def _received(sqs, queue_url: str, count: int) -> list[dict]:
    records = []
    for _ in range(10):
        reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    AttributeNames=["All"], MessageAttributeNames=["All"])
        records += [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                     "attributes": m.get("Attributes", {}), "eventSourceARN": "",
                     "messageAttributes": {k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
                                           for k, v in m.get("MessageAttributes", {}).items()}}
                    for m in reply.get("Messages", [])]
        if len(records) >= count:
            break
    return records


def _count(sql: str, **params) -> int:
    with session_scope() as session:
        return session.scalar(text(sql), params)


def test_a_reading_the_database_will_never_take_is_refused_whatever_the_cause(platform_db, client_id):
    """Not only today's causes: a constraint added later refuses a row for a data reason too (23514)."""
    with platform_db.begin() as conn:
        conn.execute(text("ALTER TABLE sensors ADD CONSTRAINT no_quarantine CHECK (location <> 'quarantine')"))
    good = {"messageId": "good", "body": _body(client_id, 0)}
    later_rule = {"messageId": "checked", "body": _body(client_id, 1, sensor="ph@q", location="quarantine")}
    nul = {"messageId": "nul", "body": _body(client_id, 2).replace("tank-1", "tank\\u0000-1")}
    outcome = store_sqs_batch([good, later_rule, nul])
    refused = {r.message_id: (r.code, r.reason) for r in outcome.refused}
    assert refused["checked"][0] == "23514" and "no_quarantine" in refused["checked"][1]
    assert refused["nul"][0] == "unreadable" and "NUL" in refused["nul"][1]
    assert outcome.failed_message_ids == [] and outcome.stored == 1
    assert [mid for mid, _ in outcome.readings] == ["good"]


def test_refused_readings_go_to_the_dlq_at_once_and_are_listed_with_the_reason(readings_queues, client_id):
    sqs, queue_url, dlq_url = readings_queues["sqs"], readings_queues["queue_url"], readings_queues["dlq_url"]
    unknown_client = _body(uuid.uuid4(), 1)
    records = _delivered(sqs, queue_url, [_body(client_id, 0), unknown_client, "{not json"])
    outcome = store_or_retry_later(records)
    assert outcome.as_sqs_response() == {"batchItemFailures": []}  # nothing comes back for retries
    assert outcome.stored == 1 and len(outcome.refused) == 2  # what the rules function counts (ReadingsRefused)

    dead = _received(sqs, dlq_url, 2)
    assert sorted(m["body"] for m in dead) == sorted([unknown_client, "{not json"])
    codes = {m["messageAttributes"]["refused_code"]["stringValue"] for m in dead}
    assert codes == {"23503", "unreadable"}
    assert record_dead_letters(dead, readings_queues["dlq_arn"]) == {"batchItemFailures": []}

    http = TestClient(routes_app(admin))
    tasks = {t["refusal_code"]: t for t in http.get("/admin/failed-tasks", headers=ADMIN).json()["items"]}
    assert tasks.keys() == {"23503", "unreadable"}
    refused_client = tasks["23503"]
    assert refused_client["error"].startswith("refused at once, never storable: insert or update on table")
    assert "foreign key" in refused_client["error"]
    assert refused_client["source_queue"] == queue_url and refused_client["status"] == "failed"
    assert refused_client["message_id"] == next(r["messageId"] for r in records if r["body"] == unknown_client)
    assert _count("SELECT count(*) FROM failed_tasks WHERE refusal_code IS NOT NULL") == 2  # what monitoring counts

    # the rules function crashed before SQS heard of it: the same messages come again, one row each still
    again = store_or_retry_later([r for r in records if r["body"] != records[0]["body"]])
    assert again.as_sqs_response() == {"batchItemFailures": []}
    record_dead_letters(_received(sqs, dlq_url, 2), readings_queues["dlq_arn"])
    assert _count("SELECT count(*) FROM failed_tasks") == 2


def test_a_dlq_that_does_not_take_them_hands_them_back_instead(readings_queues, client_id, monkeypatch):
    monkeypatch.setenv("READINGS_DEAD_LETTER_QUEUE_URL", readings_queues["dlq_url"] + "-gone")
    reset_core_caches()
    records = _delivered(readings_queues["sqs"], readings_queues["queue_url"], [_body(uuid.uuid4()), "[]"])
    outcome = store_or_retry_later(records)
    assert sorted(f["itemIdentifier"] for f in outcome.as_sqs_response()["batchItemFailures"]) == \
        sorted(r["messageId"] for r in records)  # nothing lost: SQS retries them and finally dead-letters them


def test_an_outage_keeps_the_backoff_and_still_dead_letters_what_is_unreadable(readings_queues, client_id,
                                                                               monkeypatch):
    sqs = readings_queues["sqs"]
    records = _delivered(sqs, readings_queues["queue_url"], [_body(client_id, 0), "{not json"])
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://nobody@127.0.0.1:1/none")
    reset_core_caches()
    outcome = store_or_retry_later(records)
    reading = next(r["messageId"] for r in records if r["body"] != "{not json")
    assert outcome.as_sqs_response() == {"batchItemFailures": [{"itemIdentifier": reading}]}
    [dead] = _received(sqs, readings_queues["dlq_url"], 1)
    assert dead["body"] == "{not json"


class _Refusal(Exception):
    def __init__(self, code: str):
        super().__init__({"C": code, "M": f"error {code}", "D": "detail"})


@pytest.mark.parametrize(("code", "outage"), [("57P01", True), ("08006", True), ("53300", True),
                                              ("22P05", False), ("23503", False), ("42501", False)])
def test_what_counts_as_the_database_being_unavailable(code, outage):
    error = DBAPIError("INSERT ...", {}, _Refusal(code))
    assert batch._unavailable(error) is outage
    assert (batch.sqlstate(error), batch.database_reason(error)) == (code, f"error {code}: detail")


def _several(client_id, count: int, **overrides_at: dict) -> str:
    """One message of `count` readings of one request, as the ingest function queues them; overrides by place."""
    readings = [QueuedReading(client_id=client_id, sensor=f"ph-{i}", sensor_type="ph", location="tank-1",
                              value=6.0 + i / 100, recorded_at=T0 + timedelta(seconds=i), received_at=T0)
                for i in range(count)]
    [(_, body)] = message_bodies(readings)
    document = json.loads(body)
    for place, fields in overrides_at.items():
        document["readings"][int(place[1:])] |= fields
    return json.dumps(document)


def test_a_reading_refused_out_of_a_message_goes_alone_and_its_siblings_are_stored(readings_queues, client_id,
                                                                                   platform_db):
    with platform_db.begin() as conn:
        conn.execute(text("ALTER TABLE sensors ADD CONSTRAINT no_quarantine CHECK (location <> 'quarantine')"))
    sqs, queue_url, dlq_url = readings_queues["sqs"], readings_queues["queue_url"], readings_queues["dlq_url"]
    body = _several(client_id, 5, r1={"location": "quarantine"}, r3={"value": "NaN"})
    old_format = _body(client_id, 40, sensor="ph-old")
    records = _delivered(sqs, queue_url, [body, old_format])
    message_id = next(r["messageId"] for r in records if r["body"] == body)
    outcome = store_or_retry_later(records)
    assert outcome.as_sqs_response() == {"batchItemFailures": []}
    assert outcome.stored == 4  # ph-0, ph-2, ph-4 and the one-reading message
    assert sorted(r.sensor for _, r in outcome.readings) == ["ph-0", "ph-2", "ph-4", "ph-old"]
    assert _count("SELECT count(*) FROM readings WHERE client_id = :c", c=client_id) == 4

    dead = _received(sqs, dlq_url, 2)
    letters = {m["messageAttributes"]["original_message_id"]["stringValue"]: m for m in dead}
    assert letters.keys() == {f"{message_id}#1", f"{message_id}#3"}
    checked, unreadable = json.loads(letters[f"{message_id}#1"]["body"]), letters[f"{message_id}#3"]
    assert checked["sensor"] == "ph-1" and "readings" not in checked  # the one-reading format
    assert letters[f"{message_id}#1"]["messageAttributes"]["refused_code"]["stringValue"] == "23514"
    assert unreadable["messageAttributes"]["refused_code"]["stringValue"] == "unreadable"
    assert record_dead_letters(dead, readings_queues["dlq_arn"]) == {"batchItemFailures": []}
    http = TestClient(routes_app(admin))
    tasks = {t["message_id"]: t for t in http.get("/admin/failed-tasks", headers=ADMIN).json()["items"]}
    assert tasks.keys() == letters.keys() and "no_quarantine" in tasks[f"{message_id}#1"]["error"]

    # delivered again: nothing stored twice, the refusals are still one row each
    again = store_or_retry_later(records)
    assert again.stored == 0 and again.as_sqs_response() == {"batchItemFailures": []}
    record_dead_letters(_received(sqs, dlq_url, 2), readings_queues["dlq_arn"])
    assert _count("SELECT count(*) FROM failed_tasks") == 2
    assert _count("SELECT count(*) FROM readings WHERE client_id = :c", c=client_id) == 4

    # the operator lifts the rule and retries the refused reading: it goes back alone and is stored
    with platform_db.begin() as conn:
        conn.execute(text("ALTER TABLE sensors DROP CONSTRAINT no_quarantine"))
    assert http.post(f"/admin/failed-tasks/{tasks[f'{message_id}#1']['id']}/retry", headers=ADMIN).status_code == 200
    [retried] = _received(sqs, queue_url, 1)
    assert store_or_retry_later([retried]).stored == 1
    assert _count("SELECT count(*) FROM readings WHERE client_id = :c", c=client_id) == 5


def test_a_transient_refusal_hands_back_the_whole_message_once(platform_db, client_id, monkeypatch):
    """Not a data reason (here a permission, 42501): the reading's message comes back whole, once; the
    other messages of the batch are stored."""
    real = batch.store_readings

    def refuse_ph_1(session, readings):
        if len(readings) == 1 and readings[0].sensor == "ph-1":
            raise DBAPIError("INSERT ...", {}, _Refusal("42501"))
        if len(readings) > 1:
            raise DBAPIError("INSERT ...", {}, _Refusal("23514"))  # the batch statement: fall back
        return real(session, readings)

    monkeypatch.setattr(batch, "store_readings", refuse_ph_1)
    records = [{"messageId": "several", "body": _several(client_id, 3)},
               {"messageId": "alone", "body": _body(client_id, 9, sensor="ph-9")}]
    outcome = store_sqs_batch(records)
    assert outcome.failed_message_ids == ["several"] and outcome.refused == []
    assert [(mid, r.sensor) for mid, r in outcome.readings] == [("alone", "ph-9")]
