"""A rule's action: parsed and named field by field, its "stage_target" setpoint resolved from the stage's band."""

import pytest

from hydroponics.errors import InvalidInput
from hydroponics.rules.actions import parse_rule_action, target_setpoint
from hydroponics.rules.conditions import Band

UNIT = "6f1c6a2e-3b1d-4c8e-9a57-1d2e3f4a5b6c"


def problems(raw) -> list[dict[str, str]]:
    with pytest.raises(InvalidInput) as raised:
        parse_rule_action(raw)
    return raised.value.details


def test_a_cooling_action_to_the_stage_target_is_stored_as_given() -> None:
    action = parse_rule_action({"ac_unit_id": UNIT, "command": {"power": "on", "mode": "cool",
                                                                 "setpoint": "stage_target"}})
    assert action.stored() == {"ac_unit_id": UNIT, "command": {"power": "on", "mode": "cool",
                                                                "setpoint": "stage_target"}, "when": "any"}


@pytest.mark.parametrize(("when", "value", "band", "answers"), [
    ("any", 12.0, Band(low=18, high=24), True),
    ("above", 25.0, Band(low=18, high=24), True),   # too warm: cool
    ("above", 12.0, Band(low=18, high=24), False),  # too cold: a cooling action stays out of it
    ("below", 12.0, Band(low=18, high=24), True),
    ("below", 25.0, Band(low=18, high=24), False),
    ("above", 25.0, Band(low=18), False),           # no upper limit to be above
    ("above", None, Band(high=24), False),
    ("above", 25.0, None, False),
])
def test_an_action_answers_only_breaches_on_its_side(when, value, band, answers) -> None:
    action = parse_rule_action({"ac_unit_id": UNIT, "command": {"mode": "cool"}, "when": when})
    assert action.answers(value, band) is answers


def test_a_fixed_setpoint_needs_no_stage() -> None:
    action = parse_rule_action({"ac_unit_id": UNIT, "command": {"setpoint": 22, "fan": "high"}})
    assert action.command_for(None).changes() == {"setpoint": 22.0, "fan": "high"}


@pytest.mark.parametrize(("band", "setpoint"), [
    (Band(low=18, high=24), 21.0),  # the middle when both sides are known
    (Band(high=24), 24),  # else the bounded side
    (Band(low=18), 18),
])
def test_the_stage_target_setpoint_is_the_bands_middle_or_its_bounded_side(band, setpoint) -> None:
    assert target_setpoint(band) == setpoint
    action = parse_rule_action({"ac_unit_id": UNIT, "command": {"mode": "cool", "setpoint": "stage_target"}})
    assert action.command_for(band).changes() == {"mode": "cool", "setpoint": setpoint}


def test_the_stage_target_without_a_stage_band_names_the_setpoint() -> None:
    action = parse_rule_action({"ac_unit_id": UNIT, "command": {"setpoint": "stage_target"}})
    with pytest.raises(InvalidInput) as raised:
        action.command_for(None)
    assert [d["field"] for d in raised.value.details] == ["action.command.setpoint"]


@pytest.mark.parametrize(("raw", "fields"), [
    ("cool", ["action"]),
    ({"command": {"power": "on"}}, ["action.ac_unit_id"]),
    ({"ac_unit_id": "bay-a-ac", "command": {"power": "on"}}, ["action.ac_unit_id"]),
    ({"ac_unit_id": UNIT}, ["action.command"]),
    ({"ac_unit_id": UNIT, "command": {}}, ["action.command"]),
    ({"ac_unit_id": UNIT, "command": {"power": "maybe"}}, ["action.command.power"]),
    ({"ac_unit_id": UNIT, "command": {"setpoint": "cold"}}, ["action.command.setpoint"]),
    ({"ac_unit_id": UNIT, "command": {"setpoint": float("nan")}}, ["action.command.setpoint"]),
    ({"ac_unit_id": UNIT, "command": {"setpoint": True}}, ["action.command.setpoint"]),
    ({"ac_unit_id": UNIT, "command": {"swing": "on"}}, ["action.command.swing"]),
    ({"ac_unit_id": UNIT, "command": {"power": "on"}, "when": "fired"}, ["action.when"]),
])
def test_an_invalid_action_names_each_bad_field(raw, fields) -> None:
    assert [problem["field"] for problem in problems(raw)] == fields
