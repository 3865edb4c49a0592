"""Rule conditions without a database: parsing, breach and clearance with hysteresis, the state machine."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from hydroponics.rules.conditions import (
    CLEAR, Band, Verdict, band_of, has_cleared, is_breaching, parse_condition, step, verdict,
)

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw", [
    {"kind": "above", "threshold": 6.5},
    {"kind": "below", "threshold": 5.5, "for_seconds": 120, "hysteresis": 0.1},
    {"kind": "outside_stage_range", "hysteresis": 0.05},
    {"kind": "rate_of_change", "max_change": 0.5, "window_seconds": 600},
    {"kind": "no_data"},
    {"kind": "no_data", "after_seconds": 300},
])
def test_every_kind_parses(raw):
    condition = parse_condition(raw)
    assert condition.kind == raw["kind"] and condition.for_seconds == raw.get("for_seconds", 0)


@pytest.mark.parametrize("raw, reason", [
    ({"kind": "sideways"}, "unknown condition kind"),
    ({"threshold": 6.5}, "unknown condition kind"),
    ({"kind": "above"}, "threshold"),
    ({"kind": "above", "threshold": "high"}, "threshold"),
    ({"kind": "above", "threshold": 6.5, "for_seconds": -1}, "for_seconds"),
    ({"kind": "above", "threshold": 6.5, "hysteresis": -0.1}, "hysteresis"),
    ({"kind": "above", "threshold": 6.5, "colour": "red"}, "colour"),
    ({"kind": "rate_of_change", "max_change": 0, "window_seconds": 600}, "max_change"),
    ({"kind": "rate_of_change", "max_change": 0.5}, "window_seconds"),
    ({"kind": "rate_of_change", "max_change": 0.5, "window_seconds": 60, "hysteresis": 0.5}, "hysteresis"),
    ({"kind": "no_data", "after_seconds": 0}, "after_seconds"),
])
def test_invalid_conditions_name_the_reason(raw, reason):
    with pytest.raises((ValidationError, ValueError)) as failure:
        parse_condition(raw)
    assert reason in str(failure.value)


def test_not_an_object_is_refused():
    with pytest.raises(ValueError):
        parse_condition(["above", 6.5])  # type: ignore[arg-type]


def test_bands_of_each_kind():
    assert band_of(parse_condition({"kind": "above", "threshold": 6.5})) == Band(high=6.5)
    assert band_of(parse_condition({"kind": "below", "threshold": 5.5})) == Band(low=5.5)
    rate = parse_condition({"kind": "rate_of_change", "max_change": 0.5, "window_seconds": 60})
    assert band_of(rate) == Band(high=0.5)
    stage = parse_condition({"kind": "outside_stage_range"})
    assert band_of(stage, {"min": 5.5, "max": 6.5}) == Band(5.5, 6.5)
    assert band_of(stage, {"max": 70}) == Band(high=70)
    assert band_of(stage, None) is None and band_of(stage, {}) is None


def test_the_limit_itself_is_not_a_breach():
    band = Band(5.5, 6.5)
    assert not is_breaching(6.5, band) and not is_breaching(5.5, band)
    assert is_breaching(6.51, band) and is_breaching(5.49, band)


def test_clearing_needs_the_hysteresis_margin_on_every_bounded_side():
    band = Band(5.5, 6.5)
    assert not has_cleared(6.45, band, 0.1) and has_cleared(6.4, band, 0.1)
    assert not has_cleared(5.55, band, 0.1) and has_cleared(5.6, band, 0.1)
    assert has_cleared(100, Band(low=5.5), 0.1) and has_cleared(6.5, band, 0.0)


def test_verdicts():
    assert verdict(7.0, Band(high=6.5), 0.1) == Verdict(breaching=True, cleared=False)
    assert verdict(6.45, Band(high=6.5), 0.1) == Verdict(breaching=False, cleared=False)
    assert verdict(6.0, None, 0.1) == CLEAR  # nothing to hold it to
    assert verdict(None, Band(high=0.5), 0.0) is None  # no earlier reading to compare with


def _walk(values, band=Band(high=6.5), hysteresis=0.0, for_seconds=0, every=60):
    state, since, happened = "ok", None, []
    for i, value in enumerate(values):
        moved = step(state, since, verdict(value, band, hysteresis), T0 + timedelta(seconds=every * i), for_seconds)
        state, since = moved.state, moved.pending_since
        happened.append(moved.happened)
    return state, happened


def test_fires_at_once_then_repeats_then_resolves():
    state, happened = _walk([6.0, 7.0, 7.1, 6.0])
    assert happened == [None, "fire", "repeat", "resolve"] and state == "ok"


def test_hovering_at_the_limit_does_not_flap():
    state, happened = _walk([6.6, 6.5, 6.55, 6.45, 6.52, 6.48, 6.3], hysteresis=0.1)
    assert happened == ["fire", None, "repeat", None, "repeat", None, "resolve"] and state == "ok"


def test_pending_period_must_be_outlasted():
    state, happened = _walk([7.0, 7.0, 7.0, 7.0], for_seconds=180)
    assert happened == [None, None, None, "fire"] and state == "firing"


def test_a_short_breach_drops_back_from_pending():
    state, happened = _walk([7.0, 7.0, 6.0, 7.0, 7.0], for_seconds=120)
    assert happened == [None, None, None, None, None] and state == "pending"
