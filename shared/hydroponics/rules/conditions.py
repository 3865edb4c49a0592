"""Rule conditions: their JSON shape, and the pure verdicts (breaching? cleared?) and state steps.

A condition compares one measure with a band: the reading's value (above, below, outside the
stage's range) or its absolute change over a window (rate_of_change). A measure outside the band is
breaching; a firing rule clears only once the measure is back inside the band by `hysteresis`, so
a value hovering at the limit does not open and resolve alerts in turn. `for_seconds` is the
pending period: the breach must last that long (in reading time) before the rule fires.

    {"kind": "above", "threshold": 6.5}            {"kind": "below", "threshold": 5.5}
    {"kind": "outside_stage_range"}                 {"kind": "no_data", "after_seconds": 300}
    {"kind": "rate_of_change", "max_change": 0.5, "window_seconds": 600}
    every kind also takes "for_seconds": 0 and "hysteresis": 0.0
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

DAY = 86_400


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    for_seconds: int = Field(0, ge=0, le=7 * DAY, description="How long the breach must last before firing.")
    hysteresis: float = Field(0.0, ge=0, allow_inf_nan=False,
                              description="How far back inside the limit the measure must come to clear.")


class Above(_Condition):
    kind: Literal["above"]
    threshold: float = Field(allow_inf_nan=False)


class Below(_Condition):
    kind: Literal["below"]
    threshold: float = Field(allow_inf_nan=False)


class OutsideStageRange(_Condition):
    """The band is the current growth stage's target for the sensor's type (the active crop at its location)."""

    kind: Literal["outside_stage_range"]


class RateOfChange(_Condition):
    kind: Literal["rate_of_change"]
    max_change: float = Field(gt=0, allow_inf_nan=False, description="Largest absolute change allowed over the window.")
    window_seconds: int = Field(gt=0, le=DAY)


class NoData(_Condition):
    """Checked by the minute job, not on readings: silent for after_seconds (+ for_seconds) opens an alert."""

    kind: Literal["no_data"]
    after_seconds: int | None = Field(None, gt=0, le=7 * DAY,
                                      description="Default: 3x the sensor's expected interval.")


Condition = Annotated[Union[Above, Below, OutsideStageRange, RateOfChange, NoData], Field(discriminator="kind")]
KINDS = ("above", "below", "outside_stage_range", "rate_of_change", "no_data")
_CONDITION = TypeAdapter(Condition)


def parse_condition(raw: dict[str, Any]) -> Condition:
    """The condition a rule's JSON describes; raises pydantic ValidationError naming the bad field."""
    if not isinstance(raw, dict):
        raise ValueError("a condition is a JSON object with a 'kind'")
    if raw.get("kind") not in KINDS:
        raise ValueError(f"unknown condition kind {raw.get('kind')!r}; known kinds: {', '.join(KINDS)}")
    condition = _CONDITION.validate_python(raw)
    if condition.kind == "rate_of_change" and condition.hysteresis >= condition.max_change:
        raise ValueError(f"hysteresis ({condition.hysteresis:g}) must be below max_change ({condition.max_change:g})")
    return condition


@dataclass(frozen=True)
class Band:
    """Where the measure should stay: low <= measure <= high (a missing side is unbounded)."""

    low: float | None = None
    high: float | None = None

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g} to {self.high:g}"
        return f"at most {self.high:g}" if self.high is not None else f"at least {self.low:g}"


def band_of(condition: Condition, stage_target: dict[str, float] | None = None) -> Band | None:
    """The band the condition holds its measure to; None when there is none (no stage target)."""
    match condition.kind:
        case "above":
            return Band(high=condition.threshold)
        case "below":
            return Band(low=condition.threshold)
        case "rate_of_change":
            return Band(high=condition.max_change)
        case "outside_stage_range":
            if not stage_target or (stage_target.get("min") is None and stage_target.get("max") is None):
                return None
            return Band(low=stage_target.get("min"), high=stage_target.get("max"))
    return None


def is_breaching(measure: float, band: Band) -> bool:
    """Outside the band (strictly: a value exactly at the limit is inside)."""
    return (band.low is not None and measure < band.low) or (band.high is not None and measure > band.high)


def has_cleared(measure: float, band: Band, hysteresis: float) -> bool:
    """Back inside the band by at least `hysteresis` on every bounded side."""
    return ((band.low is None or measure >= band.low + hysteresis)
            and (band.high is None or measure <= band.high - hysteresis))


@dataclass(frozen=True)
class Verdict:
    """What one reading says about a rule: breaching, cleared (with hysteresis), or neither (inside the margin)."""

    breaching: bool
    cleared: bool


CLEAR = Verdict(breaching=False, cleared=True)


def verdict(measure: float | None, band: Band | None, hysteresis: float) -> Verdict | None:
    """The verdict on a measure; no band means nothing to hold it to (cleared); no measure, no verdict."""
    if band is None:
        return CLEAR
    if measure is None:
        return None
    return Verdict(is_breaching(measure, band), has_cleared(measure, band, hysteresis))


@dataclass(frozen=True)
class Step:
    """The rule's state after one reading, and what happened: fire, repeat, resolve or nothing."""

    state: str  # ok | pending | firing
    pending_since: datetime | None
    happened: str | None = None  # fire | repeat | resolve


def step(state: str, pending_since: datetime | None, seen: Verdict, at: datetime, for_seconds: int) -> Step:
    """One reading through the state machine ok -> pending -> firing -> ok.

    A breach starts the pending period (or fires at once when for_seconds is 0); a pending rule fires
    once the breach has lasted for_seconds, and drops back to ok on the first reading that is not
    breaching. A firing rule counts further breaches as repeats and resolves only when cleared.
    """
    if state == "firing":
        if seen.breaching:
            return Step("firing", pending_since, "repeat")
        if seen.cleared:
            return Step("ok", None, "resolve")
        return Step("firing", pending_since)
    if not seen.breaching:
        return Step("ok", None)
    since = pending_since if state == "pending" and pending_since is not None else at
    if (at - since).total_seconds() >= for_seconds:
        return Step("firing", since, "fire")
    return Step("pending", since)
