"""The publisher counts a reading as queued only when SQS confirmed its entry (botocore Stubber, no network)."""

from datetime import datetime, timezone
from uuid import uuid4

import boto3
import pytest
from botocore.stub import ANY, Stubber

from hydroponics.readings import publisher
from hydroponics.readings.batch import backoff_seconds
from hydroponics.readings.messages import QueuedReading

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
