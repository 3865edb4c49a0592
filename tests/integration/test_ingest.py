"""The ingest function in-process, with API Gateway v2 events, against MiniStack SQS and DynamoDB."""

import json
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import botocore.client
import pytest
from sqlalchemy import text

from hydroponics.auth import key_index
from hydroponics.auth.keys import issue_key
from hydroponics.db.engine import session_scope
from hydroponics.readings.batch import store_or_retry_later
from hydroponics.readings.messages import parse_message
from hydroponics.records.clients import create_client
from tests.lambda_events import http_event, lambda_context, load_handler

ingest = load_handler("ingest")


@pytest.fixture
def device(local_aws):
    """A client with an active key, as a legacy device would hold them."""
    client_id, key = uuid.uuid4(), issue_key()
    key_index.put_key(key.key_hash, key.prefix, client_id)
    return {"client_id": str(client_id), "key": key, "headers": {"X-API-Key": key.secret, "X-Client-Id": str(client_id)}}


def _post(body, headers, raw: bool = False, content_type: str = "application/json") -> tuple[int, dict, dict]:
    event = http_event("POST", "/api/data", body if raw else json.dumps(body), headers | {"content-type": content_type})
    reply = ingest.handler(event, lambda_context("ingest"))
    return reply["statusCode"], json.loads(reply["body"]), reply.get("headers", {})


def _queued_messages(local_aws) -> list[dict]:
    """Take every message off the readings queue, as the rules function receives them."""
    messages = []
    while True:
        got = local_aws["sqs"].receive_message(QueueUrl=local_aws["READINGS_QUEUE_URL"], MaxNumberOfMessages=10,
                                               WaitTimeSeconds=0, AttributeNames=["All"],
                                               MessageAttributeNames=["All"]).get("Messages", [])
        if not got:
            return messages
        messages += got


def _queued(local_aws) -> list[dict]:
    """The readings queued, whatever message each travels in."""
    return [reading.model_dump(mode="json") for m in _queued_messages(local_aws)
            for _, reading in parse_message(m["Body"]).readings]


def test_legacy_reading_is_queued_before_the_202(local_aws, device):
    status, body, _ = _post({"sensor_type": "ph", "value": 6.1, "location": "bay-a"}, device["headers"])
    assert status == 202
    assert body == {"status": "accepted", "message": "Reading accepted"}
    [message] = _queued(local_aws)
    assert message["client_id"] == device["client_id"]
    assert message["sensor"] == "ph@bay-a" and message["value"] == 6.1


def test_batch_answers_per_reading_and_queues_only_the_valid(local_aws, device):
    readings = [{"sensor_type": "ec", "value": 1.8, "timestamp": 1764417600, "sensor_id": "ec-1"},
                {"sensor_type": "ph", "value": 15},
                {"sensor_type": "humidity", "value": 55.5, "timestamp": "2026-11-28T10:00:00Z"},
                {"sensor_type": "radiation", "value": 1}]
    status, body, _ = _post({"readings": readings}, device["headers"])
    assert status == 202 and body["status"] == "partial"
    assert (body["accepted"], body["rejected"]) == (2, 2)
    assert body["results"][1]["errors"] == [{"field": "readings[1].value",
                                             "reason": "value 15 is outside the physical range of ph (0 to 14 pH)"}]
    assert body["results"][3]["errors"][0]["field"] == "readings[3].sensor_type"
    queued = sorted(_queued(local_aws), key=lambda m: m["sensor"])
    assert [m["sensor"] for m in queued] == ["ec-1", "humidity@default"]
    assert queued[0]["recorded_at"].startswith("2025-11-29T12:00:00")


def test_a_json_array_of_500_is_accepted(local_aws, device):
    base = datetime.now(timezone.utc) - timedelta(hours=1)
    readings = [{"sensor_type": "temperature", "value": 20 + i / 100, "timestamp": (base + timedelta(seconds=i)).isoformat()}
                for i in range(500)]
    status, body, _ = _post(readings, device["headers"])
    assert status == 202 and body["accepted"] == 500
    messages = _queued_messages(local_aws)
    assert len(messages) == 10  # readings of one request share messages, 50 to a message
    assert len([r for m in messages for r in parse_message(m["Body"]).readings]) == 500


@pytest.mark.parametrize("reading, field, reason", [
    ({"sensor_type": "ph", "value": "6.1"}, "value", "valid number"),
    ({"sensor_type": "ph", "value": None}, "value", "valid number"),
    ({"sensor_type": "ph"}, "value", "Field required"),
    ({"sensor_type": "ph", "value": -1}, "value", "outside the physical range"),
    ({"sensor_type": "smell", "value": 1}, "sensor_type", "unknown sensor type"),
    ({"sensor_type": "ph", "value": 6, "timestamp": "2099-01-01T00:00:00Z"}, "timestamp", "in the future"),
    ({"sensor_type": "ph", "value": 6, "timestamp": "yesterday"}, "timestamp", "ISO-8601"),
])
def test_invalid_reading_is_refused_with_the_field_and_reason(local_aws, device, reading, field, reason):
    status, body, _ = _post(reading, device["headers"])
    assert status == 422
    [detail] = body["error"]["details"]
    assert detail["field"] == field and reason in detail["reason"]
    assert _queued(local_aws) == []


@pytest.mark.parametrize("raw", ['{"sensor_type": "ph", "value": NaN}', '{"sensor_type": "ph", "value": Infinity}',
                                 "not json", "42", "[]"])
def test_malformed_bodies_store_nothing(local_aws, device, raw):
    status, body, _ = _post(raw, device["headers"], raw=True)
    assert status == 422, body
    assert _queued(local_aws) == []


def test_oversized_batch_and_body_are_413(local_aws, device):
    too_many = [{"sensor_type": "ph", "value": 6}] * 501
    assert _post(too_many, device["headers"])[0] == 413
    huge = json.dumps({"sensor_type": "ph", "value": 6, "location": "x" * (1024 * 1024)})
    assert _post(huge, device["headers"], raw=True)[0] == 413
    assert _queued(local_aws) == []


def test_wrong_content_type_is_415(local_aws, device):
    status, body, _ = _post({"sensor_type": "ph", "value": 6}, device["headers"], content_type="text/csv")
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"


def test_missing_wrong_and_mismatched_keys(local_aws, device):
    reading = {"sensor_type": "ph", "value": 6.0}
    assert _post(reading, {"X-Client-Id": device["client_id"]})[0] == 401
    assert _post(reading, {"X-API-Key": "hk_not-a-key", "X-Client-Id": device["client_id"]})[0] == 401
    status, body, _ = _post(reading, device["headers"] | {"X-Client-Id": str(uuid.uuid4())})
    assert status == 403 and "X-Client-Id" in body["error"]["message"]
    assert _queued(local_aws) == []


def test_removed_key_stops_working_at_once(local_aws, device):
    assert _post({"sensor_type": "ph", "value": 6.0}, device["headers"])[0] == 202
    key_index.remove_key(device["key"].key_hash)
    assert _post({"sensor_type": "ph", "value": 6.0}, device["headers"])[0] == 401


def test_a_reading_costs_one_dynamodb_call_and_one_sqs_call(local_aws, device, monkeypatch):
    calls = Counter()
    make_api_call = botocore.client.BaseClient._make_api_call

    def counted(self, operation, params):
        calls[(self.meta.service_model.service_name, operation)] += 1
        return make_api_call(self, operation, params)

    monkeypatch.setattr(key_index, "time", SimpleNamespace(time=lambda: 1_764_417_601.0))  # one window throughout
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    assert _post({"sensor_type": "ph", "value": 6.0}, device["headers"])[0] == 202  # the window's first: 2 calls
    calls.clear()
    for _ in range(3):
        assert _post({"sensor_type": "ph", "value": 6.0}, device["headers"])[0] == 202
    assert calls == {("dynamodb", "UpdateItem"): 3, ("sqs", "SendMessageBatch"): 3}


def test_key_index_unavailable_is_503_and_nothing_queued(local_aws, device, monkeypatch):
    monkeypatch.setenv("API_KEYS_TABLE", "no-such-table")
    from tests.integration.conftest import reset_core_caches
    reset_core_caches()
    status, body, headers = _post({"sensor_type": "ph", "value": 6.0}, device["headers"])
    assert status == 503 and headers["retry-after"] == "5" and body["error"]["code"] == "service_unavailable"
    assert _queued(local_aws) == []


def test_queue_unavailable_is_503_with_retry_after_and_nothing_accepted(local_aws, device, monkeypatch):
    monkeypatch.setenv("READINGS_QUEUE_URL", local_aws["READINGS_QUEUE_URL"] + "-gone")
    from tests.integration.conftest import reset_core_caches
    reset_core_caches()
    status, body, headers = _post({"sensor_type": "ph", "value": 6.0}, device["headers"])
    assert status == 503 and headers["retry-after"] == "5"
    assert body["error"]["code"] == "service_unavailable"


def test_rate_limit_per_key_with_headers_and_client_override(local_aws):
    client_id, key = uuid.uuid4(), issue_key()
    key_index.put_key(key.key_hash, key.prefix, client_id, rate_limits={"ingest": 3})
    headers = {"X-API-Key": key.secret, "X-Client-Id": str(client_id)}
    replies = [_post({"sensor_type": "ph", "value": 6.0}, headers) for _ in range(4)]
    assert [status for status, _, _ in replies] == [202, 202, 202, 429]
    assert replies[0][2]["x-ratelimit-limit"] == "3" and replies[0][2]["x-ratelimit-remaining"] == "2"
    status, body, limited = replies[3]
    assert body["error"]["code"] == "rate_limited"
    assert 1 <= int(limited["retry-after"]) <= 60 and limited["x-ratelimit-remaining"] == "0"
    assert int(limited["x-ratelimit-reset"]) > datetime.now(timezone.utc).timestamp()


def _as_records(messages: list[dict]) -> list[dict]:
    """Queue messages as a Lambda SQS event's records."""
    return [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": m.get("Attributes", {}),
             "messageAttributes": {k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
                                   for k, v in m.get("MessageAttributes", {}).items()}} for m in messages]


def test_a_500_reading_request_is_one_sqs_call_and_every_reading_is_stored_once(platform_db, local_aws, monkeypatch):
    with session_scope() as session:
        client_id = create_client(session, "Greenleaf Farms")
    key = issue_key()
    key_index.put_key(key.key_hash, key.prefix, client_id)
    headers = {"X-API-Key": key.secret, "X-Client-Id": str(client_id)}
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    readings = [{"sensor_id": f"ec-{i % 20}", "sensor_type": "ec", "value": 1 + i / 1000,
                 "timestamp": (base + timedelta(seconds=i)).isoformat()} for i in range(500)]
    calls = Counter()
    make_api_call = botocore.client.BaseClient._make_api_call

    def counted(self, operation, params):
        calls[(self.meta.service_model.service_name, operation)] += 1
        return make_api_call(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    status, body, _ = _post({"readings": readings}, headers)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    assert status == 202 and body["accepted"] == 500
    assert calls[("sqs", "SendMessageBatch")] == 1

    records = _as_records(_queued_messages(local_aws))
    assert len(records) == 10 and all(r["messageAttributes"]["correlation_id"]["stringValue"] for r in records)
    outcome = store_or_retry_later(records)
    assert (outcome.stored, outcome.failed_message_ids, outcome.refused) == (500, [], [])
    assert len(outcome.readings) == 500 and len({mid for mid, _ in outcome.readings}) == 10
    again = store_or_retry_later(records[3:5] + records[3:4])  # delivered again, one twice in one batch
    assert (again.stored, again.failed_message_ids, again.refused) == (0, [], [])
    with session_scope() as session:
        stored = session.execute(text("SELECT r.value, s.external_id, r.recorded_at FROM readings r"
                                      " JOIN sensors s ON s.id = r.sensor_id WHERE r.client_id = :c"),
                                 {"c": client_id}).all()
    assert sorted((row.external_id, row.recorded_at, row.value) for row in stored) == sorted(
        (r["sensor_id"], datetime.fromisoformat(r["timestamp"]), r["value"]) for r in readings)
