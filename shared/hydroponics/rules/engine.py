"""Evaluates a stored batch of readings against the clients' rules: rule states, alerts, notifications.

The work is set-based, so a batch costs a bounded number of statements however many readings it
holds: the clients' rules come from the cache; one statement resolves the batch's sensors with their
stored (calibrated) values and the active crop's current stage at their location; one locks the
(rule, sensor) states; one fetches the earlier readings rate-of-change rules compare with; then, in
memory, each sensor's readings run through each matching rule in recorded_at order. Writes: one
statement for the states, one for repeats on alerts already open, and a few per alert opened or
resolved (the upsert, its event, its notifications). A reading at or before the state's
last_recorded_at was evaluated already (a redelivered batch) and is skipped, so nothing is counted
twice. The locked states also serialise two batches of the same sensor evaluated concurrently.

A rule that fires (opens an alert) with an `action` requests its AC command through rules.actions, in
this transaction, once per alert opened; the commands are published after the commit. Rules without
an action cost no statement for it.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hydroponics.correlation import correlated

from hydroponics.alerts.lifecycle import (
    AlertChange, Notice, Repeats, count_repeats, open_or_repeat, resolve_automatically,
)
from hydroponics.alerts.silencing import active_silences
from hydroponics.db.sql import statement
from hydroponics.observability import logger
from hydroponics.readings.messages import QueuedReading
from hydroponics.readings.sensor_types import SENSOR_TYPES, canonical_sensor_type
from hydroponics.rules.actions import ActionRequest, request_actions
from hydroponics.rules.cache import ActiveRule, rules_for_clients
from hydroponics.rules.conditions import Band, OutsideStageRange, band_of, step, verdict

# The batch's sensors (active ones, of clients with rules), each with its stored readings of this
# batch in time order (calibrated values, as stored) and the active crops at its location, newest
# planted first, with their current stage's targets.
_SENSORS_AND_READINGS = statement("""
WITH incoming AS (
    SELECT DISTINCT client_id, external_id, recorded_at
    FROM json_to_recordset(CAST(:batch AS json)) AS t(client_id uuid, external_id text, recorded_at timestamptz)
), batch_sensors AS (
    SELECT s.id, s.client_id, s.external_id, s.sensor_type, s.location FROM sensors s
    WHERE (s.client_id, s.external_id) IN (SELECT client_id, external_id FROM incoming) AND s.is_active
)
SELECT b.id, b.client_id, b.external_id, b.sensor_type, b.location,
       array_agg(r.recorded_at ORDER BY r.recorded_at) AS recorded_at,
       array_agg(r.value ORDER BY r.recorded_at) AS value,
       (SELECT coalesce(json_agg(json_build_object('crop_id', c.id, 'stage', g.stage_name, 'targets', vs.targets)
                                 ORDER BY c.planted_at DESC), '[]'::json)
        FROM crops c
        LEFT JOIN growth_stages g ON g.crop_id = c.id AND g.completed_at IS NULL
        LEFT JOIN variety_stages vs ON vs.id = g.variety_stage_id
        WHERE c.client_id = b.client_id AND c.location = b.location AND c.status = 'active') AS crops
FROM batch_sensors b
JOIN incoming i ON i.client_id = b.client_id AND i.external_id = b.external_id
JOIN readings r ON r.sensor_id = b.id AND r.recorded_at = i.recorded_at
GROUP BY b.id, b.client_id, b.external_id, b.sensor_type, b.location
""")

# Each (rule, sensor) state, created when missing and locked (in key order, so concurrent batches
# cannot deadlock) until the commit. Rules deleted or disabled since they were cached drop out here.
_LOCK_STATES = statement("""
INSERT INTO rule_states AS st (rule_id, sensor_id)
SELECT t.rule_id, t.sensor_id FROM json_to_recordset(CAST(:pairs AS json)) AS t(rule_id uuid, sensor_id uuid)
JOIN rules r ON r.id = t.rule_id AND r.is_enabled
ORDER BY t.rule_id, t.sensor_id
ON CONFLICT (rule_id, sensor_id) DO UPDATE SET state = st.state
RETURNING st.rule_id, st.sensor_id, st.state, st.pending_since, st.last_recorded_at
""")

# For rate-of-change: the newest reading at or before `at` (window_seconds before a reading), and
# not older than `since` (twice the window), for every probe at once.
_EARLIER_READINGS = statement("""
SELECT t.n, e.value
FROM json_to_recordset(CAST(:probes AS json)) AS t(n integer, sensor_id uuid, at timestamptz, since timestamptz)
CROSS JOIN LATERAL (
    SELECT r.value FROM readings r
    WHERE r.sensor_id = t.sensor_id AND r.recorded_at <= t.at AND r.recorded_at >= t.since
    ORDER BY r.recorded_at DESC LIMIT 1
) e
""")

_WRITE_STATES = statement("""
UPDATE rule_states st SET state = t.state, pending_since = t.pending_since, last_recorded_at = t.last_recorded_at,
                          last_value = t.last_value, updated_at = now()
FROM json_to_recordset(CAST(:states AS json)) AS t(rule_id uuid, sensor_id uuid, state text,
                                                  pending_since timestamptz, last_recorded_at timestamptz,
                                                  last_value float8)
WHERE st.rule_id = t.rule_id AND st.sensor_id = t.sensor_id
""")


@dataclass(frozen=True)
class CropStage:
    """An active crop at a sensor's location, its current stage and that stage's targets."""

    crop_id: uuid.UUID
    stage: str | None
    targets: dict[str, dict[str, float]]


@dataclass(frozen=True)
class WatchedSensor:
    """A sensor of the batch, its readings of the batch in time order, and the crops at its location."""

    id: uuid.UUID
    client_id: uuid.UUID
    external_id: str
    sensor_type: str
    location: str
    points: tuple[tuple[datetime, float], ...]
    crops: tuple[CropStage, ...]

    def crop_stage(self, crop_id: uuid.UUID | None) -> CropStage | None:
        """The rule's crop, or (no crop named) the newest planted active crop here."""
        if crop_id is None:
            return self.crops[0] if self.crops else None
        return next((crop for crop in self.crops if crop.crop_id == crop_id), None)


@dataclass(frozen=True)
class FiredRule:
    """A rule that fired for a sensor (an alert opened), with its action and the stage's band at the sensor."""

    rule_id: uuid.UUID
    sensor_id: uuid.UUID
    alert_id: uuid.UUID
    action: dict[str, Any] | None
    client_id: uuid.UUID | None = None
    stage_target: Band | None = None  # the current stage's target for the sensor's type (an action's "stage_target")
    value: float | None = None  # the breaching value
    limit: Band | None = None  # the band the rule holds the value to (which side it breached)


@dataclass
class EvaluationOutcome:
    readings_evaluated: int = 0  # (rule, reading) pairs run through a rule
    readings_skipped: int = 0  # already evaluated (redelivered)
    alerts_opened: list[uuid.UUID] = field(default_factory=list)
    alerts_resolved: list[uuid.UUID] = field(default_factory=list)
    repeats: int = 0  # breaching readings counted on alerts already open
    notifications_queued: int = 0
    fired: list[FiredRule] = field(default_factory=list)
    commands_requested: list[uuid.UUID] = field(default_factory=list)  # AC commands the actions queued
    correlation_ids: dict[uuid.UUID, str] = field(default_factory=dict)  # alert -> the request whose reading changed it

    @property
    def actions(self) -> list[FiredRule]:
        """The fired rules that request an action (an AC command)."""
        return [fired for fired in self.fired if fired.action]


@dataclass
class _Fire:
    at: datetime
    value: float
    message: Notice
    repeats: int = 0
    last_seen_at: datetime | None = None
    last_value: float | None = None


@dataclass
class _Clear:
    at: datetime
    value: float
    message: Notice


@dataclass
class _Pair:
    """One rule on one sensor in this batch: its state as locked, and what its readings did."""

    rule: ActiveRule
    sensor: WatchedSensor
    state: str = "ok"
    pending_since: datetime | None = None
    last_recorded_at: datetime | None = None
    last_value: float | None = None
    repeats: Repeats | None = None  # on the alert open before this batch
    changes: list[_Fire | _Clear] = field(default_factory=list)


def _in_scope(rule: ActiveRule, sensor: WatchedSensor) -> bool:
    return ((rule.sensor_id is None or rule.sensor_id == sensor.id)
            and (rule.sensor_type is None or rule.sensor_type == sensor.sensor_type)
            and (rule.location is None or rule.location == sensor.location)
            and (rule.crop_id is None or sensor.crop_stage(rule.crop_id) is not None))


def _stage_target(rule: ActiveRule, sensor: WatchedSensor) -> Band | None:
    """The current stage's target band for the sensor's type (what an action's "stage_target" aims at)."""
    crop = sensor.crop_stage(rule.crop_id)
    if crop is None:
        return None
    return band_of(OutsideStageRange(kind="outside_stage_range"), crop.targets.get(sensor.sensor_type))


def _limit(rule: ActiveRule, sensor: WatchedSensor) -> Band | None:
    """The band the rule holds the sensor's value to (its threshold, or the stage's target)."""
    crop = sensor.crop_stage(rule.crop_id)
    return band_of(rule.condition, crop.targets.get(sensor.sensor_type) if crop else None)


def _still_firing(pairs: list[_Pair], outcome: EvaluationOutcome) -> list[ActionRequest]:
    """Rules with an action that kept firing in this batch (no alert opened now): their command is
    asked for again, which rules.actions throttles and skips while the unit is set as asked."""
    opened = {(f.rule_id, f.sensor_id) for f in outcome.fired}
    return [ActionRequest(p.rule.client_id, p.rule.id, p.sensor.id, None, p.rule.action,
                          _stage_target(p.rule, p.sensor), p.repeats.value, _limit(p.rule, p.sensor), retry=True)
            for p in pairs
            if p.rule.action and p.state == "firing" and p.repeats and (p.rule.id, p.sensor.id) not in opened]


def _canonical(sensor_type: str) -> str:
    kind = canonical_sensor_type(sensor_type)
    return kind.name if kind else sensor_type


def _watched_sensors(session: Session, readings: Sequence[QueuedReading]) -> list[WatchedSensor]:
    batch = json.dumps([{"client_id": str(r.client_id), "external_id": r.sensor,
                         "recorded_at": r.recorded_at.isoformat()} for r in readings])
    sensors = []
    for row in session.execute(_SENSORS_AND_READINGS, {"batch": batch}).mappings():
        crops = row["crops"] if not isinstance(row["crops"], str) else json.loads(row["crops"])
        sensors.append(WatchedSensor(
            id=row["id"], client_id=row["client_id"], external_id=row["external_id"],
            sensor_type=_canonical(row["sensor_type"]), location=row["location"],
            points=tuple(zip(row["recorded_at"], row["value"])),
            crops=tuple(CropStage(uuid.UUID(c["crop_id"]), c["stage"], c["targets"] or {}) for c in crops)))
    return sensors


def _lock_states(session: Session, pairs: dict[tuple[uuid.UUID, uuid.UUID], _Pair]) -> None:
    keys = [{"rule_id": str(rule_id), "sensor_id": str(sensor_id)} for rule_id, sensor_id in pairs]
    found = set()
    for row in session.execute(_LOCK_STATES, {"pairs": json.dumps(keys)}):
        pair = pairs[(row.rule_id, row.sensor_id)]
        pair.state, pair.pending_since, pair.last_recorded_at = row.state, row.pending_since, row.last_recorded_at
        found.add((row.rule_id, row.sensor_id))
    for key in set(pairs) - found:  # the rule was deleted or disabled since it was cached
        del pairs[key]


def _earlier_values(session: Session, pairs: list[_Pair]) -> dict[tuple[uuid.UUID, datetime, int], float]:
    """The value ~window_seconds before each new reading of each rate-of-change pair: one query."""
    probes, keys = [], []
    for pair in pairs:
        if pair.rule.condition.kind != "rate_of_change":
            continue
        window = timedelta(seconds=pair.rule.condition.window_seconds)
        for at, _ in pair.sensor.points:
            if pair.last_recorded_at is None or at > pair.last_recorded_at:
                keys.append((pair.sensor.id, at, pair.rule.condition.window_seconds))
                probes.append({"n": len(probes), "sensor_id": str(pair.sensor.id),
                               "at": (at - window).isoformat(), "since": (at - 2 * window).isoformat()})
    if not probes:
        return {}
    rows = session.execute(_EARLIER_READINGS, {"probes": json.dumps(probes)})
    return {keys[n]: value for n, value in rows}


def _unit(sensor_type: str) -> str:
    kind = SENSOR_TYPES.get(sensor_type)
    return f" {kind.unit}" if kind else ""


def _limit_text(rule: ActiveRule, band: Band | None, stage: str | None) -> str:
    condition = rule.condition
    match condition.kind:
        case "above":
            return f"the limit is {condition.threshold:g}"
        case "below":
            return f"the lower limit is {condition.threshold:g}"
        case "outside_stage_range":
            return f"the {stage or 'current'} stage's target is {band.describe() if band else 'not set'}"
        case "rate_of_change":
            return f"at most {condition.max_change:g} change in {condition.window_seconds} s is allowed"
    return "no data"


def _fire_notice(rule: ActiveRule, sensor: WatchedSensor, value: float, measure: float, band: Band | None,
                 stage: str | None, at: datetime) -> Notice:
    reading = f"{sensor.sensor_type} {value:g}{_unit(sensor.sensor_type)}"
    if rule.condition.kind == "rate_of_change":
        reading += f" (changed by {measure:g})"
    return Notice(
        subject=f"[{rule.severity}] {rule.name}: {reading} at {sensor.location}",
        body=(f"{rule.name}: sensor {sensor.external_id} at {sensor.location} read {reading} at {at.isoformat()}; "
              f"{_limit_text(rule, band, stage)}."))


def _clear_notice(rule: ActiveRule, sensor: WatchedSensor, value: float, band: Band | None, stage: str | None,
                  at: datetime) -> Notice:
    reading = f"{sensor.sensor_type} {value:g}{_unit(sensor.sensor_type)}"
    return Notice(
        subject=f"[resolved] {rule.name}: {reading} at {sensor.location}",
        body=(f"{rule.name} resolved: sensor {sensor.external_id} at {sensor.location} read {reading} at "
              f"{at.isoformat()}, back within limits ({_limit_text(rule, band, stage)})."))


def _run(pair: _Pair, earlier: dict[tuple[uuid.UUID, datetime, int], float], outcome: EvaluationOutcome) -> None:
    """Each new reading of the pair's sensor through its rule, in time order (pure, in memory)."""
    rule, sensor, condition = pair.rule, pair.sensor, pair.rule.condition
    crop = sensor.crop_stage(rule.crop_id)
    stage = crop.stage if crop else None
    band = band_of(condition, crop.targets.get(sensor.sensor_type) if crop else None)
    for at, value in sensor.points:
        if pair.last_recorded_at is not None and at <= pair.last_recorded_at:
            outcome.readings_skipped += 1
            continue
        outcome.readings_evaluated += 1
        pair.last_recorded_at, pair.last_value = at, value
        if condition.kind == "rate_of_change":
            before = earlier.get((sensor.id, at, condition.window_seconds))
            measure = None if before is None else abs(value - before)
        else:
            measure = value
        seen = verdict(measure, None if condition.kind == "no_data" else band, condition.hysteresis)
        if seen is None:
            continue
        moved = step(pair.state, pair.pending_since, seen, at, condition.for_seconds)
        pair.state, pair.pending_since = moved.state, moved.pending_since
        if moved.happened == "fire":
            pair.changes.append(_Fire(at, value, _fire_notice(rule, sensor, value, measure, band, stage, at)))
        elif moved.happened == "resolve":
            pair.changes.append(_Clear(at, value, _clear_notice(rule, sensor, value, band, stage, at)))
        elif moved.happened == "repeat":
            latest = pair.changes[-1] if pair.changes else None
            if isinstance(latest, _Fire):
                latest.repeats, latest.last_seen_at, latest.last_value = latest.repeats + 1, at, value
            else:
                count = pair.repeats.count + 1 if pair.repeats else 1
                pair.repeats = Repeats(rule.id, sensor.id, count, value, at)


Origins = dict[tuple[uuid.UUID, str, datetime], str]  # (client, sensor, recorded_at) -> correlation id


def _record_changes(session: Session, pairs: list[_Pair], now: datetime, outcome: EvaluationOutcome,
                    origins: Origins) -> None:
    """Alerts opened, repeated and resolved, with their events and notifications, each under the
    correlation id of the reading that caused it (written on its notifications, in its log lines)."""
    repeats = [pair.repeats for pair in pairs if pair.repeats]
    count_repeats(session, repeats)
    outcome.repeats += sum(r.count for r in repeats)
    firing = [pair for pair in pairs if any(isinstance(change, _Fire) for change in pair.changes)]
    silences = active_silences(session, {pair.rule.client_id for pair in firing}, now) if firing else []
    for pair in pairs:
        for change in pair.changes:
            correlation_id = origins.get((pair.sensor.client_id, pair.sensor.external_id, change.at))
            with correlated(correlation_id):
                _record_change(session, pair, change, now, silences, outcome, correlation_id)


def _record_change(session: Session, pair: _Pair, change: "_Fire | _Clear", now: datetime, silences: list,
                   outcome: EvaluationOutcome, correlation_id: str | None) -> None:
    """One alert change of a pair (opened or repeated, or resolved)."""
    result: AlertChange | None
    if isinstance(change, _Fire):
        result = open_or_repeat(
            session, pair.rule, sensor_id=pair.sensor.id, location=pair.sensor.location,
            value=change.last_value if change.repeats else change.value,
            seen_at=change.last_seen_at or change.at, notice=change.message, now=now,
            repeats=change.repeats, silences=silences)
        outcome.repeats += change.repeats
        if result.opened:
            outcome.alerts_opened.append(result.alert.id)
            logger.info("alert opened", extra={"alert_id": str(result.alert.id), "rule_id": str(pair.rule.id),
                                               "sensor_id": str(pair.sensor.id)})
            outcome.fired.append(FiredRule(
                pair.rule.id, pair.sensor.id, result.alert.id, pair.rule.action, pair.rule.client_id,
                _stage_target(pair.rule, pair.sensor) if pair.rule.action else None,
                change.value, _limit(pair.rule, pair.sensor) if pair.rule.action else None))
        else:
            outcome.repeats += 1
    else:
        result = resolve_automatically(session, pair.rule, sensor_id=pair.sensor.id, value=change.value,
                                       cleared_at=change.at, notice=change.message)
        if result is not None:
            outcome.alerts_resolved.append(result.alert.id)
            logger.info("alert resolved", extra={"alert_id": str(result.alert.id)})
    if result is not None:
        outcome.notifications_queued += len(result.notifications)
        if correlation_id:
            outcome.correlation_ids[result.alert.id] = correlation_id


def _write_states(session: Session, pairs: list[_Pair]) -> None:
    states = [{"rule_id": str(p.rule.id), "sensor_id": str(p.sensor.id), "state": p.state,
               "pending_since": p.pending_since.isoformat() if p.pending_since else None,
               "last_recorded_at": p.last_recorded_at.isoformat() if p.last_recorded_at else None,
               "last_value": p.last_value} for p in pairs]
    if states:
        session.execute(_WRITE_STATES, {"states": json.dumps(states)})


def evaluate_readings(session: Session, readings: Sequence[QueuedReading], now: datetime | None = None
                      ) -> EvaluationOutcome:
    """Run the stored `readings` through their clients' enabled rules (see the module docstring)."""
    outcome = EvaluationOutcome()
    now = now or datetime.now(UTC)
    rules = rules_for_clients(session, {reading.client_id for reading in readings})
    watched = [reading for reading in readings if rules.get(reading.client_id)]
    if not watched:
        return outcome
    pairs = {(rule.id, sensor.id): _Pair(rule, sensor)
             for sensor in _watched_sensors(session, watched)
             for rule in rules[sensor.client_id] if _in_scope(rule, sensor)}
    if not pairs:
        return outcome
    _lock_states(session, pairs)
    ordered = [pairs[key] for key in sorted(pairs)]
    earlier = _earlier_values(session, ordered)
    for pair in ordered:
        _run(pair, earlier, outcome)
    origins = {(r.client_id, r.sensor, r.recorded_at): r.correlation_id for r in readings if r.correlation_id}
    _record_changes(session, ordered, now, outcome, origins)
    requests = [ActionRequest(f.client_id, f.rule_id, f.sensor_id, f.alert_id, f.action, f.stage_target,
                              f.value, f.limit) for f in outcome.actions] + _still_firing(ordered, outcome)
    for request in requests:  # one by one, each under the correlation id of its alert's reading
        with correlated(outcome.correlation_ids.get(request.alert_id)):
            outcome.commands_requested += request_actions(session, [request])
    _write_states(session, ordered)
    return outcome
