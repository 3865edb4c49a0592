"""The data routes' own parameter parsing: moments, sensor types, and 422s that name the field."""

from datetime import datetime, timezone

import pytest
from fastapi.exceptions import RequestValidationError

from hydroponics.api.routes.data import known_sensor_type, parse_moment

NOON = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("raw", ["2026-11-29T12:00:00Z", "2026-11-29T12:00:00+00:00", "2026-11-29T13:00:00+01:00",
                                 "2026-11-29T12:00:00", "2026-11-29 12:00", str(int(NOON.timestamp())),
                                 f"{NOON.timestamp():.1f}", " 2026-11-29T12:00:00Z "])
def test_moments_are_iso_8601_or_epoch_seconds(raw):
    assert parse_moment(raw, "start") == NOON


@pytest.mark.parametrize("raw", ["yesterday", "", "12:00", "1e99", "99999999999999999999", "2026-13-01"])
def test_other_moments_are_refused_naming_the_field(raw):
    with pytest.raises(RequestValidationError) as refused:
        parse_moment(raw, "end")
    [error] = refused.value.errors()
    assert error["loc"] == ("query", "end") and "ISO-8601" in error["msg"]


def test_sensor_types_are_canonical_and_aliases_accepted():
    assert known_sensor_type(None) is None
    assert known_sensor_type("PH") == "ph"
    assert known_sensor_type("water_temperature") == "temperature"
    with pytest.raises(RequestValidationError) as refused:
        known_sensor_type("nitrogen")
    assert refused.value.errors()[0]["loc"] == ("query", "sensor_type")


def test_the_documented_answers_have_exactly_the_fields_the_store_returns():
    """The routes serialize the store's dataclasses directly; /docs shows these models instead."""
    from dataclasses import fields

    from hydroponics.api.routes import data
    from hydroponics.timeseries.base import AggregatePoint, LatestReading, RawPoint

    for documented, returned in ((data.LatestOut, LatestReading), (data.RawPointOut, RawPoint),
                                 (data.AggregatePointOut, AggregatePoint)):
        assert list(documented.model_fields) == [f.name for f in fields(returned)], documented.__name__
