"""How a command reaches a unit: the message, the unit's answer, and the driver for each kind of unit."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from hydroponics.db.models import AcUnit

Outcome = Literal["acknowledged", "accepted", "refused"]


class Unreachable(Exception):
    """The unit did not answer (connection refused, timeout, server error): worth another try."""


@dataclass(frozen=True)
class Reply:
    """The unit's answer: `acknowledged` (applied; `state` is the new state), `accepted` (the ack follows
    by callback) or `refused` (the controller will not apply it; `reason` says why)."""

    outcome: Outcome
    state: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> "Reply":
        outcome = payload.get("status")
        if outcome not in ("acknowledged", "accepted", "refused"):
            raise Unreachable(f"the unit answered with an unknown status {outcome!r}")
        state = payload.get("state") or {}
        return cls(outcome=outcome, state=state if isinstance(state, dict) else {}, reason=payload.get("reason"))


def message(unit: AcUnit, command_id: object, kind: Literal["command", "status"],
            command: dict[str, Any] | None = None) -> bytes:
    """The JSON the controller receives (signed by the driver): a command to apply, or a status query."""
    body = {"command_id": str(command_id), "unit_id": str(unit.id), "kind": kind, "command": command or {},
            "sent_at": datetime.now(UTC).isoformat()}
    return json.dumps(body, separators=(",", ":")).encode()


class Driver(Protocol):
    def send(self, unit: AcUnit, body: bytes, command_id: str, timeout: float) -> Reply: ...


def driver_for(unit: AcUnit) -> Driver:
    """The driver of the unit's kind (imported on use: the MQTT client is only needed for MQTT units)."""
    if unit.driver == "http":
        from hydroponics.climate.drivers import http
        return http
    if unit.driver == "mqtt":
        from hydroponics.climate.drivers import mqtt
        return mqtt
    from hydroponics.climate.drivers import simulated
    return simulated
