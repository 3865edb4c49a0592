"""AC control end to end on the deployed stack: an operator registers a unit whose controller is a real
simulated unit on this machine, sends commands through the API, and the ac_control function (fed by
the FIFO queue) delivers them signed, in order, or refuses them at an interlock without sending."""

import uuid

import pytest

from hydroponics.climate.room import Room
from hydroponics.climate.simulator import SimulatedUnit, SimulatorServer
from tests.e2e.conftest import wait_for

SECRET = "e2e-" + uuid.uuid4().hex  # a throwaway controller secret for this run
CAPABILITIES = {"modes": ["cool", "fan"], "setpoint_min": 16, "setpoint_max": 30, "fan_speeds": ["auto", "high"]}


@pytest.fixture
def controller():
    server = SimulatorServer(SimulatedUnit(secret=SECRET, room=Room(temperature=27.0))).start()
    yield server
    server.stop()


@pytest.fixture
def operator(make_client, api):
    made = make_client("Climate Farm", rate_limits={"api": 5000, "ac_control": 5000})
    headers = {"X-API-Key": made["key"]}

    def call(method: str, path: str, expect: int, **kwargs) -> dict:
        reply = api.request(method, path, headers=headers, **kwargs)
        assert reply.status_code == expect, reply.text
        return reply.json()

    return call


def test_commands_reach_the_unit_in_order_and_an_interlock_refuses_without_sending(operator, controller):
    unit = operator("POST", "/api/ac/register", 201, json={
        "name": "Bay A AC", "location": "bay-a", "driver": "http", "endpoint": controller.url, "secret": SECRET,
        "capabilities": CAPABILITIES, "safety": {"min_off_seconds": 0, "setpoint_min": 18, "setpoint_max": 26}})
    assert "secret" not in unit
    sent = [operator("POST", "/api/ac/control", 202, json={"ac_unit_id": unit["id"], "command": command})["id"]
            for command in ({"power": "on", "mode": "cool"}, {"setpoint": 22}, {"fan": "high"})]
    refused = operator("POST", "/api/ac/control", 202,
                       json={"ac_unit_id": unit["id"], "command": {"setpoint": 17}})["id"]  # below the safety bound

    def settled() -> list[str]:
        statuses = [operator("GET", f"/api/ac/commands/{cid}", 200)["status"] for cid in [*sent, refused]]
        return statuses if all(s in ("acknowledged", "failed", "rejected") for s in statuses) else []

    statuses = wait_for(settled, timeout=60, interval=0.5)
    assert statuses == ["acknowledged", "acknowledged", "acknowledged", "rejected"], statuses
    assert [m["command_id"] for m in controller.unit.commands()] == sent  # in order, once each, 17 never sent
    state = operator("GET", f"/api/ac/units/{unit['id']}", 200)["state"]
    assert (state["power"], state["mode"], state["setpoint"], state["fan"]) == ("on", "cool", 22, "high")
    assert "setpoint" in operator("GET", f"/api/ac/commands/{refused}", 200)["reason"]
