"""The closed loop over real PostgreSQL, a MiniStack FIFO queue and a simulated AC unit on real HTTP: a rule
on the room's air temperature requests cooling to the stage's target, and the room is held in its band."""

import json
import math
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import delete, select, text, update

from hydroponics.climate.room import Room
from hydroponics.climate.units import Capabilities, Safety, register_unit
from hydroponics.crops.crops import plant_crop
from hydroponics.crops.varieties import StageProfile, create_variety
from hydroponics.db.engine import session_scope
from hydroponics.db.models import AcCommand, AcUnit, Alert, Event
from hydroponics.errors import InvalidInput, NotFound
from hydroponics.readings.messages import QueuedReading
from hydroponics.records.clients import create_client
from hydroponics.rules.records import create_rule, update_rule
from tests.integration.ac_fixtures import CAPABILITIES, SECRET, Worker, ac_queue, simulators  # noqa: F401
from tests.lambda_events import lambda_context, load_handler, sqs_event

rules_function = load_handler("rules")

SPEED = 600.0  # simulated seconds per real second: 10 simulated minutes a second (a stall on a busy CI machine costs half as much room heat as at 1200x)
RUN = 2 * 3600  # simulated seconds the loop runs
EVERY = 60  # simulated seconds between two readings of the room's sensor
BAND = (18.0, 24.0)  # the vegetative stage's air temperature target
HYSTERESIS = 1.0
SAFETY = {"min_off_seconds": 180, "max_commands_per_hour": 4, "state_stale_seconds": 900}
COOL_TO_TARGET = {"power": "on", "mode": "cool", "setpoint": "stage_target"}
BASIL = [
    {"name": "seedling", "duration_days": 14, "targets": {"air_temperature": {"min": 20, "max": 26}}},
    {"name": "vegetative", "duration_days": 28, "targets": {"air_temperature": {"min": BAND[0], "max": BAND[1]},
                                                          "ph": {"min": 5.5, "max": 6.5}}},
]


@pytest.fixture
def farm(platform_db) -> UUID:
    """A farm with basil at bay-a in its vegetative stage (air temperature 18 to 24 °C)."""
    now = datetime.now(UTC)
    with session_scope() as session:
        farm = create_client(session, "Greenleaf Farms")
        variety = create_variety(session, farm, "Genovese", None, [StageProfile(**stage) for stage in BASIL])
        crop = plant_crop(session, farm, variety["id"], "bay-a", "G-1", now - timedelta(days=20), now)
    assert crop["current_stage"]["name"] == "vegetative"
    return farm


def add_unit(farm: UUID, endpoint: str, state: dict[str, Any], stopped_ago: timedelta, **safety: Any) -> UUID:
    """An HTTP unit at bay-a whose state is known now and whose compressor stopped `stopped_ago`."""
    with session_scope() as session:
        unit = register_unit(session, farm, name="AC bay A", location="bay-a", driver="http", endpoint=endpoint,
                             secret=SECRET, capabilities=Capabilities(**CAPABILITIES),
                             safety=Safety(**(SAFETY | safety)), actor="ops")
        now = session.scalar(text("SELECT now()"))
        unit.state, unit.state_updated_at, unit.last_off_at = state, now, now - stopped_ago
        return unit.id


def add_rule(farm: UUID, unit_id: UUID, command: dict[str, Any] = COOL_TO_TARGET, when: str = "any") -> UUID:
    with session_scope() as session:
        rule = create_rule(session, farm, {
            "name": "Air temperature in the stage's band", "sensor_type": "air_temperature", "location": "bay-a",
            "condition": {"kind": "outside_stage_range", "hysteresis": HYSTERESIS}, "severity": "warning",
            "action": {"ac_unit_id": str(unit_id), "command": command, "when": when}}, actor="ops")
        return rule["id"]


def reading(farm: UUID, value: float, at: datetime) -> QueuedReading:
    return QueuedReading(client_id=farm, sensor="air-a1", sensor_type="air_temperature", location="bay-a",
                         value=value, recorded_at=at, received_at=at)


def store_and_evaluate(readings: list[QueuedReading]) -> None:
    """The rules function on a batch from the readings queue: store, then evaluate."""
    reply = rules_function.handler(sqs_event([r.model_dump_json() for r in readings]), lambda_context("rules"))
    assert reply == {"batchItemFailures": []}


def room_state(url: str) -> dict[str, Any]:
    """What the unit's controller reports (GET /): the room's temperature and the unit's settings."""
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.load(reply)


def table(model, *where) -> list[Any]:
    with session_scope() as session:
        order = model.opened_at if model is Alert else model.created_at
        return list(session.scalars(select(model).where(*where).order_by(order)))


def events(event_type: str) -> list[Event]:
    with session_scope() as session:
        return list(session.scalars(select(Event).where(Event.event_type == event_type).order_by(Event.id)))


class LoopClock:
    """The room's clock: stands still until the loop starts, then counts real seconds since."""

    def __init__(self) -> None:
        self.started: float | None = None

    def start(self) -> None:
        self.started = time.monotonic()

    def __call__(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started


@dataclass
class Sample:
    at: float  # simulated seconds since the start
    temperature: float
    power: str


def test_the_loop_holds_the_room_within_the_stage_band(farm, ac_queue, simulators) -> None:
    clock = LoopClock()
    room = Room(temperature=22.0, ambient=32.0, power="off", mode="cool", setpoint=26.0, speed=SPEED, clock=clock)
    sim = simulators(room=room)
    unit_id = add_unit(farm, sim.url, {"power": "off", "mode": "cool", "setpoint": 26.0, "fan": "auto"},
                       stopped_ago=timedelta(hours=1))
    rule_id = add_rule(farm, unit_id)
    worker = Worker(ac_queue["sqs"], ac_queue["queue_url"])

    clock.start()
    start_real = clock.started
    origin = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=RUN + 3600)  # readings stay in the past
    samples: list[Sample] = []
    next_at, slowest = 0.0, 0.0
    while next_at <= RUN:
        time.sleep(max(0.0, start_real + next_at / SPEED - time.monotonic()))
        elapsed = clock() * SPEED
        state = room_state(sim.url)
        samples.append(Sample(elapsed, state["room_temperature"], state["power"]))
        store_and_evaluate([reading(farm, state["room_temperature"], origin + timedelta(seconds=elapsed))])
        worker.poll_once()  # the ac_control function on what the evaluation queued
        slowest = max(slowest, clock() * SPEED - elapsed)
        next_at = max(next_at + EVERY, elapsed)  # a slow step skips readings rather than bunching them
    real_seconds = time.monotonic() - start_real

    low, high = BAND
    hottest = max(samples, key=lambda s: s.temperature)
    first_above = next(s for s in samples if s.temperature > high)
    back_in = next(s for s in samples if s.at > first_above.at and s.temperature <= high)
    after = [s for s in samples if s.at >= back_in.at]
    report = {"readings": len(samples), "real_seconds": round(real_seconds, 1), "band": BAND,
              "first_above_at": round(first_above.at), "hottest": hottest.temperature,
              "max_excursion": round(hottest.temperature - high, 2), "slowest_step": round(slowest),
              "back_in_at": round(back_in.at),
              "held_between": (min(s.temperature for s in after), max(s.temperature for s in after))}
    print("closed loop:", report)

    # the room rose above the band (the AC was off), the unit cooled it back, and it stayed within the band
    assert samples[0].temperature < high and first_above.power == "off"
    # the initial excursion: at most what the room gains drifting toward the ambient for one reading interval
    # plus the slowest step (evaluate, publish, deliver) before the unit starts cooling
    reaction = EVERY + slowest
    assert hottest.temperature - high <= (room.ambient - high) * (1 - math.exp(-reaction / room.drift_seconds)), report
    assert hottest.temperature - high < 3.0, report
    assert back_in.at - first_above.at < 1800, report
    assert all(low <= s.temperature <= high for s in after), report
    assert len(after) > len(samples) / 2  # most of the run is held in the band

    # the rule fired once: one alert, one command (cool to the band's middle), not one per reading
    [alert] = table(Alert, Alert.rule_id == rule_id)
    assert alert.status == "resolved" and alert.resolved_by == "rule"
    [command] = table(AcCommand, AcCommand.ac_unit_id == unit_id)
    assert command.source == "rule" and command.requested_by == f"rule:{rule_id}"
    assert command.command == {"power": "on", "mode": "cool", "setpoint": (low + high) / 2}
    assert command.status == "acknowledged"
    assert [m["command"] for m in sim.unit.commands()] == [command.command]
    assert room.power == "on" and room.setpoint == 21.0
    assert [e.subject_id for e in events("ac.command.requested")] == [str(command.id)]

    # the interlocks let it through and were respected: no refusal, within the hourly budget, no quick restart
    assert events("ac.command.rejected") == [] and events("rule.action_failed") == []
    with session_scope() as session:
        unit = session.get_one(AcUnit, unit_id)
        assert (command.sent_at - unit.last_off_at).total_seconds() >= SAFETY["min_off_seconds"]
        assert unit.state["power"] == "on" and unit.state["setpoint"] == 21.0
    assert len([c for c in table(AcCommand) if c.sent_at]) <= SAFETY["max_commands_per_hour"]


def test_a_rules_command_is_refused_by_the_minimum_off_time_and_the_alert_stays(farm, ac_queue, simulators) -> None:
    sim = simulators(room=Room(temperature=27.0, power="off"))
    unit_id = add_unit(farm, sim.url, {"power": "off", "mode": "cool", "setpoint": 26.0, "fan": "auto"},
                       stopped_ago=timedelta(seconds=20))
    rule_id = add_rule(farm, unit_id)
    at = datetime.now(UTC) - timedelta(minutes=5)
    store_and_evaluate([reading(farm, 27.0, at), reading(farm, 27.2, at + timedelta(minutes=1))])
    worker = Worker(ac_queue["sqs"], ac_queue["queue_url"])
    worker.drain(lambda: all(c.status != "queued" for c in table(AcCommand)))

    [command] = table(AcCommand, AcCommand.ac_unit_id == unit_id)
    assert command.status == "rejected" and command.reason.startswith("minimum_off_time")
    assert sim.unit.commands() == []  # never sent
    [alert] = table(Alert, Alert.rule_id == rule_id)
    assert alert.status == "open"


def test_a_refused_command_is_asked_for_again_while_the_rule_keeps_firing(farm, ac_queue, simulators) -> None:
    sim = simulators(room=Room(temperature=27.0, power="off"))
    unit_id = add_unit(farm, sim.url, {"power": "off", "mode": "cool", "setpoint": 26.0, "fan": "auto"},
                       stopped_ago=timedelta(seconds=20))
    add_rule(farm, unit_id)
    worker = Worker(ac_queue["sqs"], ac_queue["queue_url"])
    at = datetime.now(UTC) - timedelta(minutes=10)
    store_and_evaluate([reading(farm, 27.0, at)])
    worker.drain(lambda: all(c.status != "queued" for c in table(AcCommand)))
    assert [c.status for c in table(AcCommand)] == ["rejected"]  # the compressor stopped 20 s ago

    store_and_evaluate([reading(farm, 27.3, at + timedelta(minutes=1))])  # still hot, but asked a moment ago
    assert len(table(AcCommand)) == 1
    with session_scope() as session:  # time passes: the refusal is old and the compressor has rested
        session.execute(update(AcCommand).values(created_at=AcCommand.created_at - timedelta(minutes=3)))
        session.execute(update(AcUnit).where(AcUnit.id == unit_id).values(
            last_off_at=AcUnit.last_off_at - timedelta(minutes=10)))
    store_and_evaluate([reading(farm, 27.6, at + timedelta(minutes=2))])
    worker.drain(lambda: all(c.status not in ("queued", "sent") for c in table(AcCommand)))
    assert [c.status for c in table(AcCommand)] == ["rejected", "acknowledged"]
    assert [c["command"]["mode"] for c in sim.unit.commands()] == ["cool"]


def test_a_cooling_action_for_breaches_above_leaves_a_cold_room_alone(farm, ac_queue, simulators) -> None:
    unit_id = add_unit(farm, simulators().url, {"power": "off"}, stopped_ago=timedelta(hours=1))
    rule_id = add_rule(farm, unit_id, when="above")
    at = datetime.now(UTC) - timedelta(minutes=5)
    store_and_evaluate([reading(farm, 14.0, at), reading(farm, 13.5, at + timedelta(minutes=1))])  # too cold
    [alert] = table(Alert, Alert.rule_id == rule_id)
    assert alert.status == "open" and table(AcCommand) == []
    store_and_evaluate([reading(farm, 21.0, at + timedelta(minutes=2)),  # back in the band: resolved
                        reading(farm, 25.5, at + timedelta(minutes=3))])  # too warm: cool
    assert [c.command for c in table(AcCommand)] == [{"power": "on", "mode": "cool", "setpoint": 21.0}]


def test_a_rule_whose_unit_was_deleted_still_opens_its_alert(farm, ac_queue, simulators) -> None:
    unit_id = add_unit(farm, simulators().url, {"power": "off"}, stopped_ago=timedelta(hours=1))
    rule_id = add_rule(farm, unit_id)
    with session_scope() as session:
        session.execute(delete(AcUnit).where(AcUnit.id == unit_id))
    store_and_evaluate([reading(farm, 26.0, datetime.now(UTC) - timedelta(minutes=1))])

    [alert] = table(Alert, Alert.rule_id == rule_id)
    assert alert.status == "open"
    assert table(AcCommand) == []
    [failed] = events("rule.action_failed")
    assert failed.subject_id == str(rule_id) and failed.details["alert_id"] == str(alert.id)
    assert failed.details["error"] == "AC unit not found"


def test_a_rule_whose_unit_lost_a_capability_opens_its_alert_and_the_other_rules_act(farm, ac_queue,
                                                                                     simulators) -> None:
    unit_id = add_unit(farm, simulators().url, {"power": "off"}, stopped_ago=timedelta(hours=1))
    fanning = add_rule(farm, unit_id, {"power": "on", "mode": "fan", "fan": "high"})
    cooling = add_rule(farm, unit_id)
    with session_scope() as session:  # the unit was swapped for one without the high fan speed
        session.execute(update(AcUnit).where(AcUnit.id == unit_id).values(
            capabilities=CAPABILITIES | {"fan_speeds": ["auto", "low"]}))
    store_and_evaluate([reading(farm, 26.0, datetime.now(UTC) - timedelta(minutes=1))])

    assert {alert.rule_id for alert in table(Alert)} == {fanning, cooling}
    [command] = table(AcCommand)
    assert command.requested_by == f"rule:{cooling}"
    [failed] = events("rule.action_failed")
    assert failed.subject_id == str(fanning)
    assert [p["field"] for p in failed.details["problems"]] == ["command.fan"]


def test_a_rule_action_is_validated_when_the_rule_is_saved(farm, simulators) -> None:
    unit_id = add_unit(farm, simulators().url, {"power": "off"}, stopped_ago=timedelta(hours=1))
    with session_scope() as session:
        other = create_client(session, "Blue Basin Growers")
    with session_scope() as session:
        foreign = register_unit(session, other, name="AC", location="bay-a", driver="simulated", endpoint=None,
                                secret=None, capabilities=Capabilities(**CAPABILITIES), safety=Safety(),
                                actor="ops").id

    def saved(action: Any) -> Any:
        with session_scope() as session:
            return create_rule(session, farm, {
                "name": "hot", "sensor_type": "air_temperature", "location": "bay-a",
                "condition": {"kind": "above", "threshold": 26}, "action": action}, actor="ops")

    with pytest.raises(InvalidInput) as invalid:
        saved({"ac_unit_id": str(unit_id), "command": {"setpoint": "cold", "power": "sideways"}})
    assert {d["field"] for d in invalid.value.details} == {"action.command.setpoint", "action.command.power"}
    with pytest.raises(InvalidInput) as beyond:
        saved({"ac_unit_id": str(unit_id), "command": {"mode": "turbo", "setpoint": "stage_target"}})
    assert [d["field"] for d in beyond.value.details] == ["action.command.mode"]
    with pytest.raises(NotFound) as missing:
        saved({"ac_unit_id": str(foreign), "command": {"power": "on"}})  # another farm's unit: not found
    assert [d["field"] for d in missing.value.details] == ["action.ac_unit_id"]

    rule = saved({"ac_unit_id": str(unit_id), "command": {"mode": "cool", "setpoint": 22}})
    assert rule["action"] == {"ac_unit_id": str(unit_id), "command": {"mode": "cool", "setpoint": 22.0},
                              "when": "any"}
    with session_scope() as session, pytest.raises(InvalidInput):
        update_rule(session, farm, rule["id"], {"condition": {"kind": "no_data"}, "sensor_type": "air_temperature"},
                    actor="ops")
    with session_scope() as session:
        assert update_rule(session, farm, rule["id"], {"action": None}, actor="ops")["action"] is None
