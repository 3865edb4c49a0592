"""The queued readings: what must never reach the time series is refused, and both message formats read back."""

import json
from datetime import datetime, timezone
from uuid import uuid4

import pytest
from pydantic import ValidationError

from hydroponics.readings.messages import QueuedReading, legacy_sensor_id, message_bodies, parse_message


def _message(**overrides) -> dict:
    now = datetime.now(timezone.utc).isoformat()
    return {"client_id": str(uuid4()), "sensor": "ph@tank-1", "sensor_type": "ph", "location": "tank-1",
            "value": 6.1, "recorded_at": now, "received_at": now} | overrides


def test_round_trip_through_json():
    reading = QueuedReading.model_validate(_message())
    assert QueuedReading.model_validate_json(reading.model_dump_json()) == reading


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_non_finite_values_are_refused(value):
    with pytest.raises(ValidationError):
        QueuedReading.model_validate_json(json.dumps(_message()).replace("6.1", value))


def test_legacy_sensor_id_is_type_at_location():
    assert legacy_sensor_id("ph", "tank-1") == "ph@tank-1"
    assert legacy_sensor_id("ec", None) == "ec@default"


def _request(n: int, **overrides) -> list[QueuedReading]:
    now = datetime.now(timezone.utc)
    client_id = uuid4()
    return [QueuedReading.model_validate(_message(client_id=str(client_id), sensor=f"ph-{i}", recorded_at=now.isoformat(),
                                                  received_at=now.isoformat()) | overrides) for i in range(n)]


def test_several_readings_of_a_request_share_a_message_and_read_back_the_same():
    readings = _request(120)
    bodies = list(message_bodies(readings))
    assert [indexes for indexes, _ in bodies] == [list(range(50)), list(range(50, 100)), list(range(100, 120))]
    read = [r for _, body in bodies for _, r in parse_message(body).readings]
    assert read == readings
    assert json.loads(bodies[0][1]).keys() == {"client_id", "received_at", "readings"}  # shared fields once


def test_the_first_format_one_reading_a_message_is_still_read():
    [reading] = _request(1)
    message = parse_message(reading.model_dump_json())
    assert message.readings == [(None, reading)] and message.unreadable == []


def test_readings_of_two_clients_never_share_a_message():
    readings = _request(3) + _request(2)
    assert [indexes for indexes, _ in message_bodies(readings)] == [[0, 1, 2], [3, 4]]


def test_a_message_is_cut_by_size_as_well_as_by_count():
    readings = _request(50, location="x" * 200)
    bodies = list(message_bodies(readings, max_bytes=5000))
    assert len(bodies) > 1 and all(len(body.encode()) <= 5000 for _, body in bodies)
    assert [i for indexes, _ in bodies for i in indexes] == list(range(50))


def test_an_unreadable_reading_is_set_apart_from_its_siblings():
    readings = _request(3)
    [(_, body)] = message_bodies(readings)
    document = json.loads(body)
    document["readings"][1]["value"] = "NaN"
    message = parse_message(json.dumps(document))
    assert [(i, r) for i, r in message.readings] == [(0, readings[0]), (2, readings[2])]
    [unreadable] = message.unreadable
    assert unreadable.index == 1 and "readings[1]" in unreadable.reason
    alone = json.loads(unreadable.body)  # the one-reading format, as the DLQ lists it
    assert alone["sensor"] == "ph-1" and alone["client_id"] == str(readings[0].client_id)


@pytest.mark.parametrize("body", ["[]", "{not json", '{"readings": []}', '{"client_id": "x", "readings": [{}]}'])
def test_a_message_that_is_no_reading_at_all_is_refused_whole(body):
    with pytest.raises(ValueError):
        parse_message(body)


def test_a_one_reading_body_that_mentions_readings_is_still_one_reading():
    [reading] = _request(1, location="readings", sensor="readings")
    assert parse_message(reading.model_dump_json()).readings == [(None, reading)]
