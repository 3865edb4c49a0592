"""AC units: register (capabilities and safety limits checked against each other), list, get, and state updates.

A unit's `alert_channels` are names of the client's notification channels (422 naming
`alert_channels.<i>` otherwise); they are told when the unit is unreachable (climate/delivery.py).
An endpoint the outbound policy refuses (hydroponics/outbound.py) is a 422 naming `endpoint`.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from hydroponics import outbound
from hydroponics.climate.room import compressor_running
from hydroponics.db.models import AcUnit
from hydroponics.errors import Conflict, InvalidInput, NotFound
from hydroponics.events import record_event
from hydroponics.notifications.outbox import unknown_channels
from hydroponics.sealed_secrets import seal_unit_secret
from hydroponics.text import identifier

Driver = Literal["http", "mqtt", "simulated"]
SETTINGS = ("power", "mode", "setpoint", "fan")  # the state fields a command can set
_ENDPOINT_SCHEMES = {"http": {"http", "https"}, "mqtt": {"mqtt", "mqtts"}}


class Capabilities(BaseModel):
    """What the unit can do."""

    model_config = ConfigDict(extra="forbid")

    modes: list[identifier(30)] = Field(min_length=1, max_length=10, examples=[["cool", "fan", "dry"]])
    setpoint_min: float = Field(ge=-20, le=60)
    setpoint_max: float = Field(ge=-20, le=60)
    fan_speeds: list[identifier(30)] = Field(min_length=1, max_length=10, examples=[["auto", "low", "high"]])

    @model_validator(mode="after")
    def _range(self) -> "Capabilities":
        if self.setpoint_min >= self.setpoint_max:
            raise ValueError("setpoint_min must be below setpoint_max")
        return self


class Safety(BaseModel):
    """Limits every command is checked against before it is sent (the interlocks)."""

    model_config = ConfigDict(extra="forbid")

    min_off_seconds: int = Field(180, ge=0, le=3600, description="compressor protection: off this long before a restart")
    setpoint_min: float | None = Field(None, description="default: the unit's setpoint_min")
    setpoint_max: float | None = Field(None, description="default: the unit's setpoint_max")
    max_commands_per_hour: int = Field(30, ge=1, le=3600)
    state_stale_seconds: int = Field(900, ge=30, le=86400,
                                     description="refuse commands when the unit's state is older than this")


def _endpoint_problems(driver: str, endpoint: str | None, secret: str | None) -> list[dict[str, str]]:
    if driver == "simulated":
        return []
    problems = []
    schemes = _ENDPOINT_SCHEMES[driver]
    parts = urlsplit(endpoint or "")
    if parts.scheme not in schemes or not parts.hostname:
        problems.append({"field": "endpoint", "reason": f"a {driver} unit needs a {'/'.join(sorted(schemes))} URL"})
    elif refusal := outbound.target_refusal(parts.hostname):
        problems.append({"field": "endpoint", "reason": refusal})
    if not secret:
        problems.append({"field": "secret", "reason": f"a {driver} unit needs the secret its controller signs with"})
    return problems


def resolved_safety(capabilities: Capabilities, safety: Safety) -> Safety:
    """The safety limits with the setpoint bounds filled in and checked to lie within the capabilities."""
    low = capabilities.setpoint_min if safety.setpoint_min is None else safety.setpoint_min
    high = capabilities.setpoint_max if safety.setpoint_max is None else safety.setpoint_max
    problems = []
    if not capabilities.setpoint_min <= low <= capabilities.setpoint_max:
        problems.append({"field": "safety.setpoint_min", "reason": "must lie within the unit's setpoint range"})
    if not capabilities.setpoint_min <= high <= capabilities.setpoint_max:
        problems.append({"field": "safety.setpoint_max", "reason": "must lie within the unit's setpoint range"})
    if low >= high:
        problems.append({"field": "safety.setpoint_max", "reason": "must be above safety.setpoint_min"})
    if problems:
        raise InvalidInput("the safety limits do not fit the unit's capabilities", details=problems)
    return safety.model_copy(update={"setpoint_min": low, "setpoint_max": high})


def register_unit(session: Session, client_id: uuid.UUID, *, name: str, location: str, driver: Driver,
                  endpoint: str | None, secret: str | None, capabilities: Capabilities, safety: Safety,
                  actor: str, alert_channels: Sequence[str] = ()) -> AcUnit:
    """A new unit (409 if the client already has one of that name); its state is unknown until it reports."""
    problems = _endpoint_problems(driver, endpoint, secret)
    if problems:
        raise InvalidInput("the unit's driver settings are incomplete", details=problems)
    alert_channels = list(alert_channels)
    problems = unknown_channels(session, client_id, alert_channels, "alert_channels")
    if problems:
        raise InvalidInput("the unit's alert channels are not the client's channels", details=problems)
    limits = resolved_safety(capabilities, safety)
    new_id = uuid.uuid4()  # known before the insert: the sealed secret is bound to it
    unit_id = session.scalar(
        insert(AcUnit)
        .values(id=new_id, client_id=client_id, name=name, location=location, driver=driver,
                endpoint=endpoint if driver != "simulated" else None,
                secret_sealed=seal_unit_secret(client_id, new_id, secret), alert_channels=alert_channels,
                capabilities=capabilities.model_dump(), safety=limits.model_dump())
        .on_conflict_do_nothing(index_elements=["client_id", "name"])
        .returning(AcUnit.id)
    )
    if unit_id is None:
        raise Conflict(f"an AC unit named {name!r} already exists")
    unit = session.get_one(AcUnit, unit_id)
    record_event(session, "ac.unit.registered", client_id=client_id, actor=actor, subject_type="ac_unit",
                 subject_id=unit_id, details={"name": name, "location": location, "driver": driver,
                                              "endpoint": unit.endpoint, "capabilities": unit.capabilities,
                                              "safety": unit.safety, "alert_channels": unit.alert_channels})
    return unit


def list_units(session: Session, client_id: uuid.UUID, location: str | None = None) -> list[AcUnit]:
    statement = select(AcUnit).where(AcUnit.client_id == client_id).order_by(AcUnit.name)
    if location is not None:
        statement = statement.where(AcUnit.location == location)
    return list(session.scalars(statement))


def get_unit(session: Session, client_id: uuid.UUID, unit_id: uuid.UUID, *, lock: bool = False) -> AcUnit:
    """The client's unit (404 for another client's); `lock` holds it for update until the commit."""
    statement = select(AcUnit).where(AcUnit.id == unit_id, AcUnit.client_id == client_id)
    unit = session.scalar(statement.with_for_update() if lock else statement)
    if unit is None:
        raise NotFound("AC unit not found")
    return unit


def apply_state(session: Session, unit: AcUnit, reported: dict[str, Any], at: datetime, actor: str) -> bool:
    """Record the state the unit reported; a stopped compressor sets last_off_at. Whether a setting changed."""
    before = dict(unit.state or {})
    after = before | {key: value for key, value in reported.items() if value is not None}
    changed = {key: after.get(key) for key in SETTINGS if before.get(key) != after.get(key)}
    if compressor_running(before) and not compressor_running(after):
        unit.last_off_at = at
    unit.state = after
    unit.state_updated_at = at
    if changed:
        record_event(session, "ac.unit.state_changed", client_id=unit.client_id, actor=actor,
                     subject_type="ac_unit", subject_id=unit.id,
                     details={"before": {key: before.get(key) for key in changed}, "after": changed,
                              "room_temperature": after.get("room_temperature")})
    return bool(changed)
