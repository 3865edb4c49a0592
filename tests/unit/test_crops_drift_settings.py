"""The drift job's settings: per-type defaults, DRIFT_TOLERANCES overrides by canonical name."""

import pytest
from pydantic import ValidationError

from hydroponics.jobs.tolerances import DEFAULT_TOLERANCES, DriftSettings


def test_defaults_cover_the_redundantly_measured_types(monkeypatch):
    monkeypatch.delenv("DRIFT_TOLERANCES", raising=False)
    settings = DriftSettings()
    assert settings.tolerance_by_type() == DEFAULT_TOLERANCES
    assert (DEFAULT_TOLERANCES["ph"], DEFAULT_TOLERANCES["ec"], DEFAULT_TOLERANCES["temperature"]) == (0.2, 0.2, 1.0)
    assert (settings.window_hours, settings.bucket_minutes) == (24.0, 5)


def test_overrides_merge_by_canonical_name(monkeypatch):
    monkeypatch.setenv("DRIFT_TOLERANCES", '{"PH": 0.1, "light": 2000}')
    monkeypatch.setenv("DRIFT_WINDOW_HOURS", "12")
    settings = DriftSettings()
    assert settings.tolerance_by_type()["ph"] == 0.1 and settings.tolerance_by_type()["light"] == 2000
    assert settings.tolerance_by_type()["ec"] == 0.2 and settings.window_hours == 12


@pytest.mark.parametrize("overrides", ['{"ph": 0}', '{"nitrogen": 1}', "not json"])
def test_bad_overrides_are_refused(monkeypatch, overrides):
    monkeypatch.setenv("DRIFT_TOLERANCES", overrides)
    with pytest.raises((ValidationError, ValueError)):
        DriftSettings()
