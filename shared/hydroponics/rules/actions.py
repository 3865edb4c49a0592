"""Rule actions: a fired rule's AC command, its setpoint taken from the stage's target when it asks for one.

A rule's action is `{"ac_unit_id": "<unit>", "command": {...}}`; the command takes what an operator's
AC command takes (power, mode, setpoint, fan) and, for the setpoint, `"stage_target"`: the middle of
the current growth stage's target band for the sensor's type (its bounded side when it has only one),
so "air temperature above the stage's target -> cool to the target" needs no number in the rule.
`"when": "above"` (or `"below"`) limits the action to breaches on that side of the limit, so a
rule on the stage's band cools a room that is too warm and leaves one that is too cold alone.

The engine calls `request_actions` in its transaction, once per alert opened (never per reading),
and again while the rule keeps firing if the unit is still not set as asked and has had no command
for RETRY_AFTER (an interlock refused the first one, or it failed): the room is not left out of
range. Climate publishes the commands after the commit and runs its interlocks at delivery. An action that
cannot be carried out (unit deleted, capabilities changed, no stage target) is logged and recorded as
a `rule.action_failed` event; it never fails the batch, the alert, or the other actions.
"""

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hydroponics.climate.commands import Command, capability_problems, request_rule_action
from hydroponics.climate.units import get_unit
from hydroponics.db.models import AcCommand
from hydroponics.errors import DomainError, InvalidInput, NotFound
from hydroponics.events import record_event
from hydroponics.observability import logger
from hydroponics.rules.conditions import Band

STAGE_TARGET = "stage_target"
ACTOR = "rules"
RETRY_AFTER = timedelta(minutes=2)  # a firing rule asks again only after the unit had no command this long


class RuleCommand(Command):
    """An AC command as a rule states it: the setpoint may be "stage_target"."""

    setpoint: float | Literal["stage_target"] | None = Field(
        None, description='degrees Celsius, or "stage_target" (the middle of the stage\'s target band)')

    @field_validator("setpoint", mode="plain")
    @classmethod
    def _setpoint(cls, value: Any) -> float | str | None:
        if value is None or value == STAGE_TARGET:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError('must be a number of degrees Celsius or "stage_target"')
        return float(value)


class RuleAction(BaseModel):
    """What a rule requests when it fires: a command for one of the client's AC units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ac_unit_id: uuid.UUID
    command: RuleCommand
    when: Literal["any", "above", "below"] = Field(
        "any", description='which breaches it answers: "above" the limit (e.g. cool), "below" it (e.g. heat), or "any"')

    def stored(self) -> dict[str, Any]:
        """The action as the rule keeps it (normalised JSON)."""
        return {"ac_unit_id": str(self.ac_unit_id), "command": self.command.changes(), "when": self.when}

    def answers(self, value: float | None, band: Band | None) -> bool:
        """Whether a breach at `value` of `band` is on the side this action is for."""
        if self.when == "any":
            return True
        if value is None or band is None:
            return False
        if self.when == "above":
            return band.high is not None and value > band.high
        return band.low is not None and value < band.low

    def command_for(self, stage_target: Band | None) -> Command:
        """The command to send, its setpoint resolved against the stage's target band (422 when there is none)."""
        changes = self.command.changes()
        if changes.get("setpoint") == STAGE_TARGET:
            if stage_target is None:
                raise InvalidInput("the action's setpoint is the stage target, and there is none", details=[
                    {"field": "action.command.setpoint",
                     "reason": "no active crop stage here sets a target for this sensor's type"}])
            changes["setpoint"] = target_setpoint(stage_target)
        return Command.model_validate(changes)


@dataclass(frozen=True)
class ActionRequest:
    """A rule firing with an action: who, where, its alert, the breaching value against the rule's limit
    (`limit`), and the stage's band at the sensor (`stage_target`). `retry`: the rule was already firing."""

    client_id: uuid.UUID
    rule_id: uuid.UUID
    sensor_id: uuid.UUID
    alert_id: uuid.UUID | None
    action: dict[str, Any]
    stage_target: Band | None
    value: float | None = None
    limit: Band | None = None
    retry: bool = False


def target_setpoint(band: Band) -> float:
    """The band's middle when both sides are known, else its bounded side."""
    if band.low is not None and band.high is not None:
        return round((band.low + band.high) / 2, 2)
    return band.low if band.low is not None else band.high


def parse_rule_action(raw: Any) -> RuleAction:
    """The action a rule's JSON describes; InvalidInput naming each bad field as `action.<field>`."""
    if not isinstance(raw, dict):
        raise InvalidInput("the action is invalid", details=[
            {"field": "action", "reason": 'must be an object {"ac_unit_id", "command"}'}])
    try:
        return RuleAction.model_validate(raw)
    except ValidationError as exc:
        details = [{"field": ".".join(["action", *(str(part) for part in error["loc"])]), "reason": error["msg"]}
                   for error in exc.errors()]
        raise InvalidInput("the action is invalid", details=details) from None


def check_rule_action(session: Session, client_id: uuid.UUID, action: RuleAction) -> None:
    """The unit is the client's (404 naming action.ac_unit_id) and can do what the action asks (422)."""
    try:
        unit = get_unit(session, client_id, action.ac_unit_id)
    except NotFound:
        raise NotFound(f"AC unit {action.ac_unit_id} not found",
                       details=[{"field": "action.ac_unit_id", "reason": "no such AC unit"}]) from None
    fixed = action.command.model_copy(update={"setpoint": None}) if action.command.setpoint == STAGE_TARGET \
        else action.command
    problems = capability_problems(unit.capabilities, fixed)
    if problems:
        raise InvalidInput("the AC unit cannot do what the action asks",
                           details=[problem | {"field": f"action.{problem['field']}"} for problem in problems])


def _recently_commanded(session: Session, unit_id: uuid.UUID, now: datetime) -> bool:
    latest = session.scalar(select(AcCommand.created_at).where(AcCommand.ac_unit_id == unit_id)
                            .order_by(AcCommand.created_at.desc()).limit(1))
    return latest is not None and latest > now - RETRY_AFTER


def _request(session: Session, request: ActionRequest) -> uuid.UUID | None:
    action = parse_rule_action(request.action)
    if not action.answers(request.value, request.limit):
        return None
    if request.retry and _recently_commanded(session, action.ac_unit_id, session.scalar(select(func.now()))):
        return None
    command = action.command_for(request.stage_target)
    with session.begin_nested():  # a domain error part-way leaves nothing behind
        row = request_rule_action(session, request.client_id, request.rule_id,
                                  {"ac_unit_id": action.ac_unit_id, "command": command})
    return row.id if row is not None else None


def request_actions(session: Session, requests: Iterable[ActionRequest]) -> list[uuid.UUID]:
    """Request each fired rule's AC command; the ids of the commands queued (an unchanged unit needs none)."""
    queued = []
    for request in requests:
        try:
            command_id = _request(session, request)
        except DomainError as exc:
            logger.warning("rule action not carried out", extra={
                "rule_id": str(request.rule_id), "alert_id": str(request.alert_id), "error": exc.message,
                "details": exc.details})
            if not request.retry:  # recorded once per alert, not on every batch while it keeps firing
                record_event(session, "rule.action_failed", client_id=request.client_id, actor=ACTOR,
                             subject_type="rule", subject_id=request.rule_id,
                             details={"alert_id": request.alert_id, "sensor_id": request.sensor_id,
                                      "action": request.action, "error": exc.message, "problems": exc.details})
            continue
        if command_id is None:
            logger.info("rule action sends no command (unit already set so, other side, or commanded recently)",
                        extra={"rule_id": str(request.rule_id), "alert_id": str(request.alert_id)})
        else:
            queued.append(command_id)
    return queued
