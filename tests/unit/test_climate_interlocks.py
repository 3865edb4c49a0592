"""The AC interlocks: each refuses what it should, with its reason, and lets the rest through."""

from datetime import UTC, datetime, timedelta

import pytest

from hydroponics.climate import interlocks
from hydroponics.climate.interlocks import UnitFacts

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SAFETY = {"min_off_seconds": 180, "setpoint_min": 18.0, "setpoint_max": 28.0, "max_commands_per_hour": 3,
          "state_stale_seconds": 600}
OFF = {"power": "off", "mode": "cool", "setpoint": 24.0, "fan": "auto"}


def facts(**changes) -> UnitFacts:
    base = {"safety": SAFETY, "state": OFF, "state_updated_at": NOW - timedelta(seconds=30),
            "registered_at": NOW - timedelta(days=1), "last_off_at": NOW - timedelta(seconds=60), "sent_last_hour": 0}
    return UnitFacts(**(base | changes))


@pytest.mark.parametrize("command", [{"power": "on"}, {"power": "on", "mode": "cool"}])
def test_minimum_off_time_holds_back_a_compressor_restart(command) -> None:
    reason = interlocks.minimum_off_time(facts(), command, NOW)
    assert reason and reason.startswith("minimum_off_time") and "120 s" in reason
    assert interlocks.refusal(facts(), command, NOW) == reason


def test_minimum_off_time_counts_a_switch_from_fan_to_cooling_as_a_start() -> None:
    fan = OFF | {"power": "on", "mode": "fan"}
    assert interlocks.minimum_off_time(facts(state=fan), {"mode": "cool"}, NOW)
    assert interlocks.minimum_off_time(facts(state=fan), {"fan": "high"}, NOW) is None


@pytest.mark.parametrize(("state", "last_off", "command"), [
    (OFF, NOW - timedelta(seconds=180), {"power": "on"}),          # off long enough
    (OFF, None, {"power": "on"}),                                   # never stopped
    (OFF, NOW - timedelta(seconds=10), {"power": "on", "mode": "fan"}),  # fan only: no compressor
    (OFF | {"power": "on"}, NOW - timedelta(seconds=10), {"setpoint": 22}),  # already running
    (OFF, NOW - timedelta(seconds=10), {"power": "off"}),
])
def test_minimum_off_time_lets_other_commands_through(state, last_off, command) -> None:
    assert interlocks.minimum_off_time(facts(state=state, last_off_at=last_off), command, NOW) is None


def test_minimum_off_time_assumes_a_compressor_when_the_mode_is_unknown() -> None:
    assert interlocks.minimum_off_time(facts(state={"power": "off"}), {"power": "on"}, NOW)


@pytest.mark.parametrize(("setpoint", "refused"), [(17.9, True), (18.0, False), (28.0, False), (28.5, True)])
def test_setpoint_bounds(setpoint, refused) -> None:
    reason = interlocks.setpoint_bounds(facts(), {"setpoint": setpoint}, NOW)
    assert bool(reason) is refused
    if refused:
        assert reason.startswith("setpoint_bounds") and "18.0..28.0" in reason


def test_command_rate_refuses_at_the_hourly_limit() -> None:
    assert interlocks.command_rate(facts(sent_last_hour=2), {"fan": "low"}, NOW) is None
    reason = interlocks.command_rate(facts(sent_last_hour=3), {"fan": "low"}, NOW)
    assert reason and reason.startswith("command_rate") and "limit 3" in reason


def test_state_freshness() -> None:
    assert interlocks.state_freshness(facts(), {"fan": "low"}, NOW) is None
    stale = facts(state_updated_at=NOW - timedelta(seconds=601))
    assert interlocks.state_freshness(stale, {"fan": "low"}, NOW).startswith("state_stale")
    # never reported: the registration starts the clock
    fresh_unit = facts(state_updated_at=None, registered_at=NOW - timedelta(seconds=10))
    assert interlocks.state_freshness(fresh_unit, {"fan": "low"}, NOW) is None
    old_unit = facts(state_updated_at=None, registered_at=NOW - timedelta(hours=1))
    assert "unknown since registration" in interlocks.state_freshness(old_unit, {"fan": "low"}, NOW)


def test_refusal_is_none_when_every_interlock_passes() -> None:
    assert interlocks.refusal(facts(last_off_at=NOW - timedelta(hours=1)), {"power": "on", "setpoint": 22}, NOW) is None
