"""Air-conditioning: register and list units with their last known state, send commands, follow them,
and the controllers' signed acknowledgement callback."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hydroponics.api.deps import acting_client, actor_of, current_caller, ip_rate_limited, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.climate import commands, delivery, units
from hydroponics.climate.signing import SIGNATURE_HEADER
from hydroponics.db.models import AcCommand, AcUnit
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.text import Identifier, display_name, identifier, token

api_limit = rate_limited("api")
control_limit = rate_limited("ac_control")
callback_limit = ip_rate_limited("public")
ChannelName = identifier(100)
router = APIRouter(prefix="/api/ac", tags=["air conditioning"])


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: display_name(200)
    location: Identifier = Field(description="the room or bay it conditions")
    driver: units.Driver = Field(description="http: a controller endpoint; mqtt: a broker; simulated: in-process")
    endpoint: identifier(500) | None = Field(None,
                                 examples=["https://10.0.4.20/ac", "mqtts://broker.example:8883"])
    secret: token(200, min_length=16) | None = Field(None,
                               description="shared with the controller, which signs with it; never shown again")
    capabilities: units.Capabilities
    safety: units.Safety = Field(default_factory=units.Safety)
    alert_channels: list[ChannelName] = Field(default_factory=list, max_length=20,
                                      description="names of the client's notification channels told when the unit "
                                                  "is unreachable (a command failed after its last attempt)")


class UnitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    location: str
    driver: str
    endpoint: str | None
    capabilities: dict[str, Any]
    safety: dict[str, Any]
    alert_channels: list[str] = Field(description="notification channels told when the unit is unreachable")
    state: dict[str, Any] = Field(description="last known state (empty until the unit first reports)")
    state_updated_at: datetime | None
    last_off_at: datetime | None = Field(description="when the compressor last stopped")
    created_at: datetime


class ControlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ac_unit_id: UUID
    command: commands.Command


class CommandOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    ac_unit_id: UUID
    source: str
    requested_by: str | None
    command: dict[str, Any]
    status: Literal["queued", "sent", "acknowledged", "failed", "rejected"]
    reason: str | None = Field(description="the interlock that refused it, or why it failed")
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    acknowledged_at: datetime | None


@router.post("/register", status_code=201, response_model=UnitOut, dependencies=[Depends(api_limit)],
             summary="Register an AC unit (409 if the name is taken)")
def register_unit(body: UnitIn, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
                  session: Session = Depends(db_session)) -> AcUnit:
    return units.register_unit(session, client_id, name=body.name, location=body.location, driver=body.driver,
                               endpoint=body.endpoint, secret=body.secret, capabilities=body.capabilities,
                               safety=body.safety, actor=actor_of(caller), alert_channels=body.alert_channels)


@router.get("/units", response_model=list[UnitOut], dependencies=[Depends(api_limit)],
            summary="The client's AC units with their last known state")
def list_units(location: Annotated[Identifier | None, Query()] = None, client_id: UUID = Depends(acting_client),
               session: Session = Depends(db_session)) -> list[AcUnit]:
    return units.list_units(session, client_id, location)


@router.get("/units/{unit_id}", response_model=UnitOut, dependencies=[Depends(api_limit)],
            summary="One AC unit with its last known state")
def get_unit(unit_id: UUID, client_id: UUID = Depends(acting_client), session: Session = Depends(db_session)) -> AcUnit:
    return units.get_unit(session, client_id, unit_id)


@router.get("/units/{unit_id}/commands", response_model=Page[CommandOut], dependencies=[Depends(api_limit)],
            summary="The unit's commands, newest first")
def list_unit_commands(unit_id: UUID, page: Annotated[PageRequest, Query()], client_id: UUID = Depends(acting_client),
                       session: Session = Depends(db_session)) -> Page[dict[str, Any]]:
    return commands.list_unit_commands(session, client_id, unit_id, page)


@router.post("/control", status_code=202, response_model=CommandOut, dependencies=[Depends(control_limit)],
             summary="Queue a command (power, mode, setpoint, fan); follow it with GET /api/ac/commands/{id}")
def control(body: ControlIn, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
            session: Session = Depends(db_session)) -> AcCommand:
    return commands.request_command(session, client_id, body.ac_unit_id, body.command, "operator", actor_of(caller))


@router.get("/commands/{command_id}", response_model=CommandOut, dependencies=[Depends(api_limit)],
            summary="A command: queued -> sent -> acknowledged, or failed, or rejected with the interlock's reason")
def get_command(command_id: UUID, client_id: UUID = Depends(acting_client),
                session: Session = Depends(db_session)) -> AcCommand:
    return commands.get_command(session, client_id, command_id)


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the signature covers these bytes."""
    return await request.body()


@router.post("/callback/{command_id}", response_model=CommandOut, dependencies=[Depends(callback_limit)],
             summary=f"A controller's late acknowledgement, signed with the unit's secret ({SIGNATURE_HEADER})")
def callback(command_id: UUID, request: Request, body: bytes = Depends(raw_body),
             session: Session = Depends(db_session)) -> AcCommand:
    return delivery.record_callback(session, command_id, body, request.headers.get(SIGNATURE_HEADER))
