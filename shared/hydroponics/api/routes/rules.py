"""Alert rules: what to watch (a sensor, a sensor type and/or location, or a crop), when to fire, who hears."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hydroponics.api.changes import Changes
from hydroponics.api.deps import acting_client, actor_of, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.rules import records
from hydroponics.text import Identifier, JsonObject, display_name, identifier

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/rules", tags=["rules"], dependencies=[Depends(api_limit)])

Name = display_name(200)
ChannelName = identifier(100)
SensorType = identifier(50)
Severity = Literal["info", "warning", "critical"]

CONDITION = ("When the rule fires. One of `{\"kind\": \"above\", \"threshold\": 6.5}`, `{\"kind\": \"below\", "
             "\"threshold\": 5.5}`, `{\"kind\": \"outside_stage_range\"}` (the current growth stage's target for the "
             "sensor's type), `{\"kind\": \"rate_of_change\", \"max_change\": 0.5, \"window_seconds\": 600}`, "
             "`{\"kind\": \"no_data\", \"after_seconds\": 300}` (default 3x the sensor's interval). Every kind also "
             "takes `for_seconds` (the breach must last this long before firing) and `hysteresis` (clear only once "
             "back inside the limit by this margin).")
SCOPE = ("Scope: give `sensor_id` alone, or `crop_id` (optionally with `sensor_type`), or `sensor_type` and/or "
         "`location`. above, below and rate_of_change need one sensor type (`sensor_id` or `sensor_type`).")


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"description": SCOPE})

    name: Name
    sensor_id: UUID | None = Field(None, description="one sensor of yours")
    sensor_type: SensorType | None = Field(None, description="every sensor of this type (aliases accepted)")
    location: Identifier | None = Field(None, description="every sensor at this location")
    crop_id: UUID | None = Field(None, description="the sensors at an active crop's location")
    condition: JsonObject = Field(description=CONDITION, examples=[{"kind": "above", "threshold": 6.5,
                                                                        "for_seconds": 120, "hysteresis": 0.1}])
    severity: Severity = "warning"
    channels: list[ChannelName] = Field([], max_length=20, description="names of your notification channels")
    action: JsonObject | None = Field(None, description=(
        'optional: an AC command to request when it fires, {"ac_unit_id", "command": {power, mode, setpoint, fan}, '
        '"when": "any" | "above" | "below"}; the setpoint may be "stage_target" (the middle of the current stage\'s '
        'target band); asked again every 2 minutes while it keeps firing and the unit is not set so'),
        examples=[{"ac_unit_id": "6f1c6a2e-3b1d-4c8e-9a57-1d2e3f4a5b6c",
                   "command": {"power": "on", "mode": "cool", "setpoint": "stage_target"}, "when": "above"}])
    escalation_policy_id: UUID | None = Field(None, description="escalate unacknowledged alerts by this policy")
    is_enabled: bool = True


class RuleChanges(Changes):
    """Only the fields sent change; the rule is validated again as a whole. Send null to clear a scope field."""

    not_null = ("name", "condition", "severity", "channels", "is_enabled")

    name: Name = None
    sensor_id: UUID | None = None
    sensor_type: SensorType | None = None
    location: Identifier | None = None
    crop_id: UUID | None = None
    condition: JsonObject = Field(None, description=CONDITION)
    severity: Severity = None
    channels: list[ChannelName] = Field(None, max_length=20)
    action: JsonObject | None = None
    escalation_policy_id: UUID | None = None
    is_enabled: bool = None


class RuleOut(BaseModel):
    id: UUID
    name: str
    sensor_id: UUID | None
    sensor_type: str | None
    location: str | None
    crop_id: UUID | None
    condition: dict[str, Any] = Field(description="as stored: defaults (for_seconds, hysteresis) filled in")
    severity: Severity
    channels: list[str]
    action: dict[str, Any] | None
    escalation_policy_id: UUID | None
    is_enabled: bool
    created_at: datetime
    updated_at: datetime


@router.post("", status_code=201, response_model=RuleOut, summary="Create a rule (422 names each invalid field)")
def create_rule(body: RuleIn, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
                session: Session = Depends(db_session)) -> dict[str, Any]:
    return records.create_rule(session, client_id, body.model_dump(), actor_of(caller))


@router.get("", response_model=Page[RuleOut], summary="List rules, newest first")
def list_rules(page: Annotated[PageRequest, Query()], severity: Severity | None = None,
               sensor_id: UUID | None = None, crop_id: UUID | None = None, escalation_policy_id: UUID | None = None,
               is_enabled: bool | None = None, client_id: UUID = Depends(acting_client),
               session: Session = Depends(db_session)) -> Page[dict[str, Any]]:
    filters = records.RuleFilter(severity, sensor_id, crop_id, escalation_policy_id, is_enabled)
    return records.list_rules(session, client_id, filters, page)


@router.get("/{rule_id}", response_model=RuleOut, summary="A rule")
def get_rule(rule_id: UUID, client_id: UUID = Depends(acting_client),
             session: Session = Depends(db_session)) -> dict[str, Any]:
    return records.get_rule(session, client_id, rule_id)


@router.patch("/{rule_id}", response_model=RuleOut, summary="Change a rule (applies to the next readings)")
def update_rule(rule_id: UUID, body: RuleChanges, client_id: UUID = Depends(acting_client),
                caller: Caller = Depends(current_caller), session: Session = Depends(db_session)) -> dict[str, Any]:
    return records.update_rule(session, client_id, rule_id, body.model_dump(exclude_unset=True), actor_of(caller))


@router.delete("/{rule_id}", status_code=204, response_class=Response,
               summary="Delete a rule; its unresolved alerts are resolved by you, its silences go with it")
def delete_rule(rule_id: UUID, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
                session: Session = Depends(db_session)) -> Response:
    records.delete_rule(session, client_id, rule_id, actor_of(caller), datetime.now(UTC))
    return Response(status_code=204)
