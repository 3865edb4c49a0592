"""The queued reading refuses what must never reach the time series."""

import json
from datetime import datetime, timezone
from uuid import uuid4

import pytest
from pydantic import ValidationError

from hydroponics.readings.messages import QueuedReading, legacy_sensor_id


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
