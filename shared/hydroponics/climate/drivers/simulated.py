"""Simulated driver: an in-process room per unit (demos and tests; each process has its own rooms)."""

import json
import threading
import uuid

from hydroponics.climate.drivers import Reply
from hydroponics.climate.room import Room
from hydroponics.db.models import AcUnit

_rooms: dict[uuid.UUID, Room] = {}
_lock = threading.Lock()


def room_of(unit_id: uuid.UUID) -> Room:
    """The unit's simulated room, created on first use."""
    with _lock:
        return _rooms.setdefault(unit_id, Room())


def send(unit: AcUnit, body: bytes, command_id: str, timeout: float) -> Reply:
    message = json.loads(body)
    room = room_of(unit.id)
    state = room.apply(message["command"]) if message["kind"] == "command" else room.state()
    return Reply(outcome="acknowledged", state=state)
