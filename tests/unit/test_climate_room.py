"""The simulated room, the command's validation against capabilities, and the message signatures."""

import pytest

from hydroponics.climate.commands import Command, capability_problems
from hydroponics.climate.room import Room, compressor_running
from hydroponics.climate.signing import sign, verify
from hydroponics.climate.units import Capabilities, Safety, resolved_safety
from hydroponics.errors import InvalidInput

CAPS = {"modes": ["cool", "fan"], "setpoint_min": 16, "setpoint_max": 30, "fan_speeds": ["auto", "low"]}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_room_drifts_to_ambient_when_off_and_to_the_setpoint_when_cooling() -> None:
    clock = Clock()
    room = Room(temperature=25.0, ambient=32.0, clock=clock)
    clock.now = 1800
    warmed = room.state()["room_temperature"]
    assert 29 < warmed < 32
    room.apply({"power": "on", "mode": "cool", "setpoint": 22})
    clock.now += 3000
    assert room.state()["room_temperature"] == pytest.approx(22, abs=0.1)
    room.apply({"mode": "fan"})
    clock.now += 600
    assert room.state()["room_temperature"] > 23


def test_compressor_running() -> None:
    assert compressor_running({"power": "on", "mode": "cool"})
    assert not compressor_running({"power": "on", "mode": "fan"})
    assert not compressor_running({"power": "off", "mode": "cool"})


def test_a_command_beyond_the_capabilities_names_each_field() -> None:
    command = Command(mode="heat", fan="turbo", setpoint=31)
    assert [p["field"] for p in capability_problems(CAPS, command)] == ["command.mode", "command.fan",
                                                                       "command.setpoint"]
    assert capability_problems(CAPS, Command(power="on", setpoint=16)) == []


def test_an_empty_command_is_refused() -> None:
    with pytest.raises(ValueError):
        Command()


def test_safety_bounds_default_to_and_must_lie_within_the_capabilities() -> None:
    caps = Capabilities(**CAPS)
    assert resolved_safety(caps, Safety()).setpoint_min == 16
    with pytest.raises(InvalidInput) as refused:
        resolved_safety(caps, Safety(setpoint_min=10, setpoint_max=35))
    assert [d["field"] for d in refused.value.details] == ["safety.setpoint_min", "safety.setpoint_max"]


def test_signatures() -> None:
    signature = sign("secret-one", b'{"a":1}')
    assert verify("secret-one", b'{"a":1}', signature)
    assert not verify("secret-two", b'{"a":1}', signature)
    assert not verify("secret-one", b'{"a":2}', signature)
    assert not verify(None, b'{"a":1}', signature)
