"""The records' domain rules that need no database: calibration status, rate-limit overrides, audit changes."""

from datetime import UTC, datetime, timedelta

import pytest

from hydroponics.errors import InvalidInput
from hydroponics.records.calibrations import DUE_SOON, _check, calibration_status
from hydroponics.records.clients import check_rate_limits
from hydroponics.records.events import changes
from hydroponics.records.sensors import known_sensor_type

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CALIBRATED = NOW - timedelta(days=30)


@pytest.mark.parametrize("last, due, status", [
    (None, None, "never"),
    (CALIBRATED, None, "ok"),
    (CALIBRATED, NOW + DUE_SOON + timedelta(seconds=1), "ok"),
    (CALIBRATED, NOW + DUE_SOON, "due_soon"),
    (CALIBRATED, NOW + timedelta(hours=1), "due_soon"),
    (CALIBRATED, NOW, "overdue"),
    (CALIBRATED, NOW - timedelta(days=3), "overdue"),
])
def test_calibration_status(last, due, status):
    assert calibration_status(last, due, NOW) == status


def fields_refused(check, *args, **kwargs) -> list[str]:
    with pytest.raises(InvalidInput) as exc:
        check(*args, **kwargs)
    return [detail["field"] for detail in exc.value.details]


def test_calibration_rules_name_every_broken_field():
    assert fields_refused(_check, {"calibrated_at": NOW + timedelta(hours=1), "next_due_at": NOW,
                                   "slope": -1.0, "offset": float("inf")}, NOW) == [
        "calibrated_at", "next_due_at", "slope", "offset"]
    assert fields_refused(_check, {"next_due_at": NOW - timedelta(days=1)}, NOW) == ["next_due_at"]  # vs now
    _check({"calibrated_at": NOW + timedelta(minutes=4), "next_due_at": NOW + timedelta(days=90)}, NOW)  # clock skew


def test_rate_limit_overrides_must_name_known_limits_with_sane_values():
    check_rate_limits({"ingest": 240, "api": 1})
    check_rate_limits({"api": None}, removable=True)
    assert fields_refused(check_rate_limits, {"ingest": 0, "teleport": 3, "api": None}) == [
        "rate_limits.ingest", "rate_limits.teleport", "rate_limits.api"]


def test_changes_lists_only_what_moved():
    before = {"location": "bay-a", "peer_group": None, "unit": "pH"}
    after = {"location": "bay-b", "peer_group": None, "unit": "pH"}
    assert changes(before, after) == {"location": {"from": "bay-a", "to": "bay-b"}}
    assert changes({}, {"rate_limits": {"api": 5}}) == {"rate_limits": {"from": None, "to": {"api": 5}}}


def test_sensor_types_are_canonical_and_unknown_ones_named():
    assert known_sensor_type("Water_Temperature") == "temperature"
    assert fields_refused(known_sensor_type, "smell", field="query.sensor_type") == ["query.sensor_type"]
