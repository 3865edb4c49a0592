"""The publisher groups a request's readings into messages and counts a reading as queued only when SQS
confirmed its message (botocore Stubber, no network)."""

import json
from datetime import datetime, timezone
from uuid import uuid4

import boto3
import pytest
from botocore.stub import ANY, Stubber

from hydroponics.readings import publisher
from hydroponics.readings.batch import backoff_seconds
from hydroponics.readings.messages import MESSAGE_BYTES, QueuedReading

QUEUE = "https://sqs.us-east-1.amazonaws.com/000000000000/readings"


@pytest.fixture
def sqs(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1/unused")
    monkeypatch.setenv("READINGS_QUEUE_URL", QUEUE)
    publisher.get_settings.cache_clear()
    client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(publisher, "client", lambda service: client)
    with Stubber(client) as stubber:
        yield stubber
    publisher.get_settings.cache_clear()


def _readings(n: int) -> list[QueuedReading]:
    now = datetime.now(timezone.utc)
    return [QueuedReading(client_id=uuid4(), sensor=f"ph-{i}", sensor_type="ph", value=6.0, recorded_at=now,
                          received_at=now) for i in range(n)]


def _reply(ok: list[int], failed: list[int]) -> dict:
    return {"Successful": [{"Id": str(i), "MessageId": f"m{i}", "MD5OfMessageBody": "x"} for i in ok],
            "Failed": [{"Id": str(i), "SenderFault": False, "Code": "InternalError"} for i in failed]}


def test_refused_entries_are_sent_again_and_then_count_as_queued(sqs):
    sqs.add_response("send_message_batch", _reply([0, 2], [1]), {"QueueUrl": QUEUE, "Entries": ANY})
    sqs.add_response("send_message_batch", _reply([1], []), {"QueueUrl": QUEUE, "Entries": ANY})
    result = publisher.publish_readings(_readings(3))
    assert result.queued == {0, 1, 2} and not result.failed
    sqs.assert_no_pending_responses()


def test_an_entry_refused_every_time_is_reported_failed(sqs):
    for _ in range(publisher._ATTEMPTS):
        sqs.add_response("send_message_batch", _reply([], [0]) if _ else _reply([1], [0]),
                         {"QueueUrl": QUEUE, "Entries": ANY})
    result = publisher.publish_readings(_readings(2))
    assert result.queued == {1} and result.failed == {0}


def test_queue_errors_mean_nothing_is_queued(sqs):
    for _ in range(publisher._ATTEMPTS):
        sqs.add_client_error("send_message_batch", "AWS.SimpleQueueService.NonExistentQueue")
    result = publisher.publish_readings(_readings(1))
    assert result.queued == frozenset() and result.failed == {0}


def test_database_outage_backoff_doubles_up_to_five_minutes():
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 5, 6, 10)] == [15, 30, 60, 120, 240, 300, 300]


def _request(n: int, location: str = "tank-1") -> list[QueuedReading]:
    """`n` readings of one request: one client, one receive time."""
    client_id, now = uuid4(), datetime.now(timezone.utc)
    return [QueuedReading(client_id=client_id, sensor=f"ph-{i}", sensor_type="ph", location=location, value=6.0,
                          recorded_at=now, received_at=now) for i in range(n)]


def test_a_500_reading_request_is_one_call_of_ten_messages_of_fifty(sqs, monkeypatch):
    sent = []
    real = publisher.client("sqs")
    monkeypatch.setattr(real, "send_message_batch", lambda **call: sent.append(call) or _reply(
        [int(e["Id"]) for e in call["Entries"]], []))
    result = publisher.publish_readings(_request(500))
    assert len(sent) == 1 and len(sent[0]["Entries"]) == 10
    bodies = [json.loads(e["MessageBody"]) for e in sent[0]["Entries"]]
    assert [len(b["readings"]) for b in bodies] == [50] * 10
    assert [r["sensor"] for b in bodies for r in b["readings"]] == [f"ph-{i}" for i in range(500)]
    assert result.queued == set(range(500)) and not result.failed


def test_large_readings_are_chunked_by_size_under_sqs_limits(sqs, monkeypatch):
    sent = []
    real = publisher.client("sqs")
    monkeypatch.setattr(real, "send_message_batch", lambda **call: sent.append(call) or _reply(
        [int(e["Id"]) for e in call["Entries"]], []))
    readings = _request(500, location="\U0001F331" * 200)  # 800 bytes of UTF-8 a reading, ~0.5 MB in all
    result = publisher.publish_readings(readings, correlation_id="c" * 128)
    assert result.queued == set(range(500))
    for call in sent:
        sizes = [len(e["MessageBody"].encode()) for e in call["Entries"]]
        assert len(sizes) <= 10 and sum(sizes) + 200 * len(sizes) < 256 * 1024 and max(sizes) <= MESSAGE_BYTES
    assert len(sent) > 1
    queued = [r["sensor"] for call in sent for e in call["Entries"] for r in json.loads(e["MessageBody"])["readings"]]
    assert sorted(queued) == sorted(r.sensor for r in readings)


def test_a_message_sqs_keeps_refusing_fails_all_its_readings(sqs):
    for _ in range(publisher._ATTEMPTS):
        sqs.add_response("send_message_batch", _reply([], [1]) if _ else _reply([0, 2], [1]),
                         {"QueueUrl": QUEUE, "Entries": ANY})
    result = publisher.publish_readings(_request(120))  # messages of 50, 50 and 20 readings
    assert result.failed == set(range(50, 100)) and result.queued == set(range(50)) | set(range(100, 120))
