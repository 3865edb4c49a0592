"""Safety interlocks checked before a command is sent; each returns why it refuses, or None."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hydroponics.climate.room import compressor_running


@dataclass(frozen=True)
class UnitFacts:
    """What the interlocks know about a unit when a command is about to be sent."""

    safety: dict[str, Any]
    state: dict[str, Any]
    state_updated_at: datetime | None
    registered_at: datetime
    last_off_at: datetime | None
    sent_last_hour: int  # commands sent to the unit in the past hour (this one excluded)


def minimum_off_time(facts: UnitFacts, command: dict[str, Any], now: datetime) -> str | None:
    """A command that starts the compressor (power on, or a switch from fan to a cooling mode) waits
    min_off_seconds after it last stopped."""
    after = facts.state | {key: value for key, value in command.items() if value is not None}
    if compressor_running(facts.state) or not compressor_running(after) or facts.last_off_at is None:
        return None
    off_for = (now - facts.last_off_at).total_seconds()
    needed = facts.safety.get("min_off_seconds", 0)
    if off_for >= needed:
        return None
    return (f"minimum_off_time: the compressor stopped {off_for:.0f} s ago; it must stay off {needed} s "
            f"(another {needed - off_for:.0f} s)")


def setpoint_bounds(facts: UnitFacts, command: dict[str, Any], now: datetime) -> str | None:
    """The setpoint stays within the unit's safety bounds."""
    setpoint = command.get("setpoint")
    low, high = facts.safety.get("setpoint_min"), facts.safety.get("setpoint_max")
    if setpoint is None or ((low is None or setpoint >= low) and (high is None or setpoint <= high)):
        return None
    return f"setpoint_bounds: {setpoint} is outside the safety bounds {low}..{high}"


def command_rate(facts: UnitFacts, command: dict[str, Any], now: datetime) -> str | None:
    """At most max_commands_per_hour commands sent to the unit in any hour."""
    limit = facts.safety.get("max_commands_per_hour")
    if limit is None or facts.sent_last_hour < limit:
        return None
    return f"command_rate: {facts.sent_last_hour} commands sent in the past hour (limit {limit})"


def state_freshness(facts: UnitFacts, command: dict[str, Any], now: datetime) -> str | None:
    """No commands to a unit whose state has been unknown longer than state_stale_seconds."""
    limit = facts.safety.get("state_stale_seconds")
    known_since = facts.state_updated_at or facts.registered_at
    age = (now - known_since).total_seconds()
    if limit is None or age <= limit:
        return None
    what = "last reported" if facts.state_updated_at else "unknown since registration"
    return f"state_stale: the unit's state was {what} {age:.0f} s ago (limit {limit} s)"


INTERLOCKS = (state_freshness, setpoint_bounds, command_rate, minimum_off_time)


def refusal(facts: UnitFacts, command: dict[str, Any], now: datetime) -> str | None:
    """The first interlock's reason to refuse the command, or None when it may be sent."""
    for interlock in INTERLOCKS:
        reason = interlock(facts, command, now)
        if reason:
            return reason
    return None
