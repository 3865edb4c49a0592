"""The MQTT driver end to end: a local amqtt broker, the simulated unit as an MQTT device, the FIFO queue."""

import asyncio
import threading
from typing import Iterator
from uuid import UUID

import pytest
from hydroponics.climate.simulator import MqttDevice, SimulatedUnit
from hydroponics.db.engine import session_scope
from hydroponics.db.models import AcCommand
from tests.integration.ac_fixtures import (SECRET, Worker, ac_queue, all_final, as_farm, control, farms,  # noqa: F401
                                           free_port, http, register, statuses)


@pytest.fixture
def broker() -> Iterator[str]:
    """An amqtt broker on 127.0.0.1 (its own event loop on a thread); the mqtt:// URL."""
    from amqtt.broker import Broker

    port = free_port()
    loop = asyncio.new_event_loop()
    config = {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
              "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}}
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def boot() -> Broker:
        started = Broker(config)
        await started.start()
        return started

    instance = asyncio.run_coroutine_threadsafe(boot(), loop).result(10)
    yield f"mqtt://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(instance.shutdown(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_a_command_over_mqtt_is_acknowledged_on_the_ack_topic(http, farms, ac_queue, broker) -> None:
    farm = farms[0]
    unit = register(http, farm, endpoint=broker, driver="mqtt")
    device = MqttDevice(SimulatedUnit(secret=SECRET), broker, farm, unit["id"])
    try:
        first = control(http, farm, unit["id"], power="on", mode="cool", setpoint=22)
        second = control(http, farm, unit["id"], fan="high")
        ids = [UUID(first["id"]), UUID(second["id"])]
        Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(all_final(ids))
    finally:
        device.stop()
    assert set(statuses(ids).values()) == {"acknowledged"}
    assert [m["command_id"] for m in device.unit.commands()] == [first["id"], second["id"]]
    state = http.get(f"/api/ac/units/{unit['id']}", headers=as_farm(farm)).json()["state"]
    assert (state["power"], state["setpoint"], state["fan"]) == ("on", 22, "high")


def test_a_silent_mqtt_unit_times_out_and_is_retried(http, farms, ac_queue, broker) -> None:
    farm = farms[0]
    unit = register(http, farm, endpoint=broker, driver="mqtt")  # no device listening
    command = control(http, farm, unit["id"], power="off")
    Worker(ac_queue["sqs"], ac_queue["queue_url"]).drain(all_final([UUID(command["id"])]), timeout=60)
    with session_scope() as session:
        row = session.get_one(AcCommand, UUID(command["id"]))
    assert (row.status, row.attempts) == ("failed", 3)
    assert "no acknowledgement" in row.reason
