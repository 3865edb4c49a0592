"""The ingest contract as a property (hypothesis), end to end against MiniStack and real PostgreSQL.

Readings are generated valid, borderline and hostile (any Unicode in every text field, lone
surrogates and control characters included, extreme numbers, every timestamp format, duplicates
in one batch), posted as raw JSON to the ingest function (an API Gateway event, as devices reach
it), and whatever was queued is run through the rules function's store step. The property:

- a reading the ingest validator accepts is answered 202, queued, and stored: the same rows come
  back (sensor, time, value; no calibration is in force), and the store step refuses none of them
  (a 202 whose reading the database then refuses is the bug this test exists to catch);
- a reading it refuses is answered 422 (or `rejected` inside a partly accepted batch) naming a
  field of that reading, and nothing of it is queued;
- a reading whose text holds what the text rule forbids (NUL, surrogates, control characters,
  line breaks) is refused, whatever else it holds.

The default run tries INGEST_CONTRACT_EXAMPLES (default 40) requests; set it higher for a longer
hunt, e.g. INGEST_CONTRACT_EXAMPLES=2000.
"""

import json
import math
import os
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from hydroponics.auth import key_index
from hydroponics.auth.keys import issue_key
from hydroponics.db.engine import session_scope
from hydroponics.readings.batch import store_or_retry_later
from hydroponics.readings.messages import parse_message
from hydroponics.readings.sensor_types import SENSOR_TYPES
from hydroponics.records.clients import create_client
from tests.lambda_events import http_event, lambda_context, load_handler

ingest = load_handler("ingest")
EXAMPLES = int(os.environ.get("INGEST_CONTRACT_EXAMPLES", "40"))
TEXT_FIELDS = ("sensor_type", "location", "sensor_id", "timestamp")
# How a refusal names the field: the reading's own field names, never pydantic's internals
FIELD = re.compile(r"(readings\[\d+\](\.(sensor_type|value|timestamp|location|sensor_id))?"
                   r"|sensor_type|value|timestamp|location|sensor_id|reading|body)")
# What no text field of a reading may hold once trimmed (independent of hydroponics.text on purpose).
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
                       "\ud800-\udfff]")

# ---------------------------------------------------------------------------------------- strategies
any_character = st.characters(exclude_categories=())  # every code point, lone surrogates included
hostile_character = st.one_of(st.sampled_from("\x00\x07\x1b\t\n\r\x7f\x85\u2028\u200b\u202e\ufeff"),
                              st.characters(categories=["Cs", "Cc", "Cf"]))
plain = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=30)
anything = st.text(any_character, max_size=40)
hostile = st.builds(lambda a, c, b: a + c + b, plain, hostile_character, st.text(any_character, max_size=5))
padded = st.builds(lambda pad, word, end: pad + word + end, st.sampled_from(["", " ", "\t"]), plain,
                   st.sampled_from(["", " ", "\r\n", "\n"]))

known_type = st.sampled_from([*SENSOR_TYPES, "water_temperature", "rh", "PH", " ec ", "Temperature"])
unicode_label = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Cf", "Zl", "Zp"]),
                        min_size=1, max_size=60).filter(str.strip)


def _inside(kind: str) -> st.SearchStrategy:
    spec = SENSOR_TYPES.get(kind.strip().lower())
    if spec is None:  # an alias: any value a pH probe could send is fine for every alias's type too
        spec = SENSOR_TYPES["ph"]
    return st.one_of(st.floats(spec.minimum, spec.maximum, allow_subnormal=True),
                     st.sampled_from([spec.minimum, spec.maximum, 0.0, -0.0, 5e-324]).filter(
                         lambda v: spec.minimum <= v <= spec.maximum),
                     st.integers(int(math.ceil(spec.minimum)), int(spec.maximum)))


NOW = datetime.now(timezone.utc)
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
past = st.datetimes(min_value=datetime(2000, 1, 2), max_value=NOW.replace(tzinfo=None))
around = st.datetimes(min_value=datetime(1999, 6, 1), max_value=(NOW + timedelta(hours=1)).replace(tzinfo=None))
offset = st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)), None])


def _formats(at: datetime, zone) -> list:
    aware = at.replace(tzinfo=timezone.utc).astimezone(zone) if zone else at
    epoch = at.replace(tzinfo=timezone.utc).timestamp()
    return [aware.isoformat(), aware.isoformat(timespec="seconds"), aware.isoformat(sep=" "),
            aware.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if zone is timezone.utc else ""),
            aware.strftime("%Y%m%dT%H%M%S"), aware.date().isoformat(),
            epoch, int(epoch), epoch * 1000, int(epoch * 1000), str(int(epoch)), f"{epoch:.3f}"]


def _timestamps(moments: st.SearchStrategy) -> st.SearchStrategy:
    return st.builds(_formats, moments, offset).flatmap(st.sampled_from)


@st.composite
def valid_reading(draw) -> dict:
    kind = draw(known_type)
    raw = {"sensor_type": kind, "value": draw(_inside(kind))}
    if draw(st.booleans()):
        raw["timestamp"] = draw(_timestamps(past))
    for field in ("location", "sensor_id"):
        if draw(st.booleans()):
            raw[field] = draw(st.one_of(plain, padded, unicode_label))
    if draw(st.integers(0, 9)) == 0:
        raw["firmware"] = draw(anything)  # unknown extras are ignored
    return raw


# one field of an otherwise valid reading made borderline or hostile
SPOILERS = {
    "sensor_type": st.one_of(anything, hostile, st.integers(), st.none()),
    "value": st.one_of(st.sampled_from([1e308, -1e308, 2 ** 63, 10 ** 30, 10 ** 400, 14.000000000000002, -1e-300]),
                       st.none(), st.booleans(), st.text(max_size=5), st.lists(st.integers(), max_size=1)),
    "timestamp": st.one_of(_timestamps(around), anything, hostile,
                           st.sampled_from([0, -1, 1e20, "now", "", "2026-13-01T00:00:00Z", "１７６４４１７６００", True])),
    "location": st.one_of(anything, hostile, st.just(""), st.integers(),
                          st.text(st.sampled_from("ab-"), min_size=190, max_size=202)),
    "sensor_id": st.one_of(anything, hostile, st.just(""), st.text(st.sampled_from("ab-"), min_size=199, max_size=202)),
}


@st.composite
def spoilt_reading(draw) -> dict:
    raw = draw(valid_reading())
    field = draw(st.sampled_from(sorted(SPOILERS)))
    raw[field] = draw(SPOILERS[field])
    return raw


reading = st.one_of(valid_reading(), valid_reading(), spoilt_reading())


@st.composite
def request(draw) -> tuple[object, bool]:
    """(the document, whether it is a batch); batches repeat some readings (duplicates in one batch)."""
    readings = draw(st.lists(reading, min_size=1, max_size=8))
    if draw(st.booleans()):
        readings += draw(st.lists(st.sampled_from(readings), max_size=3))
    shape = draw(st.sampled_from(["single", "list", "object"]))
    if shape == "single":
        return readings[0], False
    return (readings if shape == "list" else {"readings": readings}), True


# ---------------------------------------------------------------------------------------- helpers
def _raw_body(document: object, escape_all: bool) -> str:
    """JSON as a device sends it: non-ASCII as UTF-8, or \\u escapes (the only way to send a lone surrogate)."""
    body = json.dumps(document, ensure_ascii=escape_all)
    try:
        body.encode("utf-8")
        return body
    except UnicodeEncodeError:
        return json.dumps(document)


def _drain(sqs, queue_url: str, client_id: uuid.UUID, expected: int) -> list[dict]:
    """The farm's queued messages as the rules function receives them, until they hold `expected`
    readings (others, left by an example that failed, are taken and dropped)."""
    records: list[dict] = []
    for _ in range(20):
        if sum(len(parse_message(r["body"]).readings) for r in records) >= expected:
            break
        reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0 if records else 1)
        messages = reply.get("Messages", [])
        records += [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                     "attributes": {}, "messageAttributes": {}} for m in messages
                    if json.loads(m["Body"])["client_id"] == str(client_id)]
        if messages:  # taken, as the event source mapping takes them: they would come back in a later example
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    return records


def _stored(client_id: uuid.UUID) -> dict[tuple[str, datetime], tuple[float, float, str, str]]:
    with session_scope() as session:
        rows = session.execute(text(
            "SELECT s.external_id, r.recorded_at, r.value, r.raw_value, s.sensor_type, s.location"
            " FROM readings r JOIN sensors s ON s.id = r.sensor_id WHERE r.client_id = :c"), {"c": client_id})
        return {(row[0], row[1]): tuple(row[2:]) for row in rows}


def _has_forbidden_text(raw: dict) -> bool:
    return any(isinstance(raw.get(field), str) and FORBIDDEN.search(raw[field].strip()) for field in TEXT_FIELDS)


@pytest.fixture
def farm_device(platform_db, local_aws):
    """A factory of fresh clients with a key: each example stores into its own farm."""
    def make() -> tuple[uuid.UUID, dict[str, str]]:
        with session_scope() as session:
            client_id = create_client(session, f"Contract Farm {uuid.uuid4().hex[:8]}")
        key = issue_key()
        key_index.put_key(key.key_hash, key.prefix, client_id)
        return client_id, {"X-API-Key": key.secret, "X-Client-Id": str(client_id)}
    return make


# ---------------------------------------------------------------------------------------- the property
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(request=request(), escape_all=st.booleans())
def test_what_ingest_accepts_is_stored_and_what_it_refuses_is_a_422(farm_device, local_aws, request, escape_all):
    document, is_batch = request
    readings = document if isinstance(document, list) else document.get("readings", [document])
    client_id, headers = farm_device()
    body = _raw_body(document, escape_all)
    reply = ingest.handler(http_event("POST", "/api/data", body, headers), lambda_context("ingest"))
    status, answer = reply["statusCode"], json.loads(reply["body"])
    assert status in (202, 422), (status, answer)

    if status == 422:
        verdicts = ["rejected"] * len(readings)
        fields = [d["field"] for d in answer["error"]["details"]]
        assert fields and all(FIELD.fullmatch(f) for f in fields), answer
        if is_batch:  # every reading is named
            assert {int(f.split("]")[0].removeprefix("readings[")) for f in fields} == set(range(len(readings)))
    elif is_batch:
        verdicts = [result["status"] for result in answer["results"]]
        for result in answer["results"]:
            if result["status"] == "rejected":
                assert all(FIELD.fullmatch(e["field"]) and e["field"].startswith(f"readings[{result['index']}]")
                           for e in result["errors"]), result
    else:
        verdicts = ["accepted"]
    assert "unavailable" not in verdicts  # MiniStack took every message
    event(f"answered {status}, {'batch' if is_batch else 'single'}")  # --hypothesis-show-statistics
    event(f"{verdicts.count('accepted')} of {len(verdicts)} accepted" if is_batch else verdicts[0])
    for raw, verdict in zip(readings, verdicts):
        if _has_forbidden_text(raw):
            event("a reading with forbidden text")
            assert verdict == "rejected", (raw, answer)

    accepted = verdicts.count("accepted")
    records = _drain(local_aws["sqs"], local_aws["READINGS_QUEUE_URL"], client_id, accepted)
    queued = [reading.model_dump(mode="json") for r in records for _, reading in parse_message(r["body"]).readings]
    assert len(queued) == accepted and len(records) == (accepted + 49) // 50  # 50 readings to a message
    outcome = store_or_retry_later(records)
    assert outcome.refused == [] and outcome.failed_message_ids == [], (outcome, body)

    expected: dict[tuple[str, datetime], list[dict]] = {}
    for message in queued:
        key = (message["sensor"], datetime.fromisoformat(message["recorded_at"]))
        expected.setdefault(key, []).append(message)
    stored = _stored(client_id)
    assert stored.keys() == expected.keys()
    for key, (value, raw_value, kind, location) in stored.items():
        sent = expected[key]
        assert raw_value in [m["value"] for m in sent] and value == raw_value  # no calibration in force
    for external_id in {key[0] for key in expected}:
        messages = [m for (sensor, _), ms in expected.items() if sensor == external_id for m in ms]
        kinds = {kind for (sensor, _), (*_, kind, _) in stored.items() if sensor == external_id}
        locations = {loc for (sensor, _), (*_, loc) in stored.items() if sensor == external_id}
        assert kinds <= {m["sensor_type"] for m in messages}
        assert locations <= {m["location"] or "default" for m in messages}
