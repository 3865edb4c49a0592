"""The AC routes: register, list and get units (never their secret), control, follow commands, the callback."""

import json
from uuid import UUID

from hydroponics.climate.signing import SIGNATURE_HEADER, sign
from tests.integration.ac_fixtures import (CAPABILITIES, SECRET, Worker, ac_queue, add_channels,  # noqa: F401
                                           all_final, as_farm, control, farms, http, register, simulators)


def fields(reply) -> list[str]:
    assert reply.status_code == 422, reply.json()
    return [detail["field"] for detail in reply.json()["error"]["details"]]


def test_register_list_and_get_units_without_their_secret(http, farms) -> None:
    farm, other = farms
    unit = register(http, farm, endpoint="http://127.0.0.1:9/ac", safety={"setpoint_min": 18})
    assert "secret" not in unit
    assert unit["safety"] == {"min_off_seconds": 180, "setpoint_min": 18, "setpoint_max": 30,
                              "max_commands_per_hour": 30, "state_stale_seconds": 900}
    assert (unit["state"], unit["state_updated_at"]) == ({}, None)
    simulated = register(http, farm, name="AC bay B")
    listed = http.get("/api/ac/units", headers=as_farm(farm)).json()
    assert [u["name"] for u in listed] == ["AC bay A", "AC bay B"]
    assert all("secret" not in u for u in listed)
    assert http.get(f"/api/ac/units/{simulated['id']}", headers=as_farm(farm)).json()["driver"] == "simulated"
    assert http.get(f"/api/ac/units/{unit['id']}", headers=as_farm(other)).status_code == 404
    assert http.get("/api/ac/units", headers=as_farm(other)).json() == []
    again = http.post("/api/ac/register", headers=as_farm(farm), json={
        "name": "AC bay B", "location": "x", "driver": "simulated", "capabilities": CAPABILITIES})
    assert again.status_code == 409


def test_register_refuses_incomplete_or_unsafe_units(http, farms) -> None:
    farm = farms[0]
    base = {"name": "AC", "location": "bay", "capabilities": CAPABILITIES}
    reply = http.post("/api/ac/register", headers=as_farm(farm), json=base | {"driver": "http"})
    assert fields(reply) == ["endpoint", "secret"]
    reply = http.post("/api/ac/register", headers=as_farm(farm),
                      json=base | {"driver": "mqtt", "endpoint": "http://broker", "secret": SECRET})
    assert fields(reply) == ["endpoint"]
    reply = http.post("/api/ac/register", headers=as_farm(farm),
                      json=base | {"driver": "simulated", "safety": {"setpoint_min": 10}})
    assert fields(reply) == ["safety.setpoint_min"]
    reply = http.post("/api/ac/register", headers=as_farm(farm), json=base | {
        "driver": "simulated", "capabilities": CAPABILITIES | {"setpoint_min": 30, "setpoint_max": 16}})
    assert fields(reply) == ["capabilities"]
    reply = http.post("/api/ac/register", headers=as_farm(farm), json=base | {"driver": "gas"})
    assert fields(reply) == ["driver"]


def test_alert_channels_must_be_the_clients_channels(http, farms) -> None:
    farm, other = farms
    add_channels(farm, "ops-hook", "pager-hook")
    add_channels(other, "blue-hook")
    base = {"name": "AC", "location": "bay", "driver": "simulated", "capabilities": CAPABILITIES}
    reply = http.post("/api/ac/register", headers=as_farm(farm),
                      json=base | {"alert_channels": ["ops-hook", "nope", "blue-hook"]})
    assert fields(reply) == ["alert_channels.1", "alert_channels.2"]  # another client's channel is unknown too
    reply = http.post("/api/ac/register", headers=as_farm(farm),
                      json=base | {"alert_channels": ["ops-hook", "ops-hook"]})
    assert fields(reply) == ["alert_channels.1"]
    reply = http.post("/api/ac/register", headers=as_farm(farm), json=base | {"alert_channels": [""]})
    assert fields(reply) == ["alert_channels.0"]
    assert http.get("/api/ac/units", headers=as_farm(farm)).json() == []

    unit = register(http, farm, alert_channels=["pager-hook", "ops-hook"])
    assert unit["alert_channels"] == ["pager-hook", "ops-hook"]
    assert http.get(f"/api/ac/units/{unit['id']}", headers=as_farm(farm)).json()["alert_channels"] == [
        "pager-hook", "ops-hook"]
    assert [u["alert_channels"] for u in http.get("/api/ac/units", headers=as_farm(farm)).json()] == [
        ["pager-hook", "ops-hook"]]
    assert register(http, farm, name="AC bay B")["alert_channels"] == []


def test_control_queues_a_command_grouped_by_unit(http, farms, ac_queue) -> None:
    farm, other = farms
    unit = register(http, farm)
    command = control(http, farm, unit["id"], power="on", setpoint=21.5)
    assert (command["status"], command["source"], command["requested_by"]) == ("queued", "operator", "api-key:hk_test")
    assert command["command"] == {"power": "on", "setpoint": 21.5}
    messages = ac_queue["sqs"].receive_message(QueueUrl=ac_queue["queue_url"], AttributeNames=["All"])["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [{"command_id": command["id"]}]
    assert messages[0]["Attributes"]["MessageGroupId"] == unit["id"]
    assert messages[0]["Attributes"]["MessageDeduplicationId"] == command["id"]
    assert http.get(f"/api/ac/commands/{command['id']}", headers=as_farm(farm)).json()["status"] == "queued"
    assert http.get(f"/api/ac/commands/{command['id']}", headers=as_farm(other)).status_code == 404
    page = http.get(f"/api/ac/units/{unit['id']}/commands", headers=as_farm(farm)).json()
    assert [c["id"] for c in page["items"]] == [command["id"]]


def test_control_refuses_what_the_unit_cannot_do(http, farms, ac_queue) -> None:
    farm, other = farms
    unit = register(http, farm)
    reply = http.post("/api/ac/control", headers=as_farm(farm),
                      json={"ac_unit_id": unit["id"], "command": {"mode": "turbo", "setpoint": 40}})
    assert fields(reply) == ["command.mode", "command.setpoint"]
    reply = http.post("/api/ac/control", headers=as_farm(farm), json={"ac_unit_id": unit["id"], "command": {}})
    assert fields(reply) == ["command"]
    reply = http.post("/api/ac/control", headers=as_farm(other),
                      json={"ac_unit_id": unit["id"], "command": {"power": "off"}})
    assert reply.status_code == 404
    assert "Messages" not in ac_queue["sqs"].receive_message(QueueUrl=ac_queue["queue_url"])


def test_a_controller_that_acknowledges_later_calls_back(http, farms, ac_queue, simulators) -> None:
    farm = farms[0]
    sim = simulators(ack="callback")
    unit = register(http, farm, endpoint=sim.url)
    command = control(http, farm, unit["id"], power="on", mode="cool", setpoint=23)
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(lambda: bool(sim.unit.commands()))
    assert http.get(f"/api/ac/commands/{command['id']}", headers=as_farm(farm)).json()["status"] == "sent"

    body = json.dumps({"command_id": command["id"], "status": "acknowledged", "state": sim.unit.room.state()}).encode()
    forged = http.post(f"/api/ac/callback/{command['id']}", content=body,
                       headers={SIGNATURE_HEADER: sign("not-the-secret-at-all", body)})
    # a wrong signature is answered as an unknown command (ids of other clients' commands do not show)
    assert forged.status_code == 404
    unsigned = http.post(f"/api/ac/callback/{command['id']}", content=body)
    assert unsigned.status_code == 401
    for _ in range(2):  # a repeated callback changes nothing
        reply = http.post(f"/api/ac/callback/{command['id']}", content=body,
                          headers={SIGNATURE_HEADER: sign(SECRET, body), "content-type": "application/json"})
        assert reply.status_code == 200, reply.json()
        assert reply.json()["status"] == "acknowledged"
    state = http.get(f"/api/ac/units/{unit['id']}", headers=as_farm(farm)).json()["state"]
    assert (state["power"], state["setpoint"]) == ("on", 23)
    assert all_final([UUID(command["id"])])()
