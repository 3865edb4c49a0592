"""Escalation policies: who hears about an alert nobody acknowledged, level by level."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hydroponics.alerts import escalation
from hydroponics.api.changes import Changes
from hydroponics.api.deps import acting_client, actor_of, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.text import display_name, identifier

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/escalation-policies", tags=["escalation policies"],
                   dependencies=[Depends(api_limit)])

Name = display_name(200)
ChannelName = identifier(100)


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after_seconds: int = Field(gt=0, le=escalation.MAX_DELAY_SECONDS,
                               description="wait since the previous level was reached (the first level: since the "
                                           "alert opened); each level waits longer than the one before")
    channels: list[ChannelName] = Field(min_length=1, max_length=20, description="names of your channels")


Levels = Annotated[list[Level], Field(min_length=1, max_length=escalation.MAX_LEVELS)]


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    levels: Levels = Field(examples=[[{"after_seconds": 300, "channels": ["on-call-sms"]},
                                      {"after_seconds": 900, "channels": ["farm-manager-email"]}]])


class PolicyChanges(Changes):
    """Rename it or replace its levels (alerts already escalated keep their level)."""

    not_null = ("name", "levels")

    name: Name = None
    levels: Levels = None


class PolicyOut(BaseModel):
    id: UUID
    name: str
    levels: list[Level]
    created_at: datetime
    updated_at: datetime


@router.post("", status_code=201, response_model=PolicyOut, summary="Create a policy (409 if the name is taken)")
def create_policy(body: PolicyIn, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
                  session: Session = Depends(db_session)) -> dict[str, Any]:
    data = body.model_dump()
    return escalation.create_policy(session, client_id, data["name"], data["levels"], actor_of(caller))


@router.get("", response_model=list[PolicyOut], summary="List your policies by name")
def list_policies(client_id: UUID = Depends(acting_client),
                  session: Session = Depends(db_session)) -> list[dict[str, Any]]:
    return escalation.list_policies(session, client_id)


@router.get("/{policy_id}", response_model=PolicyOut, summary="A policy")
def get_policy(policy_id: UUID, client_id: UUID = Depends(acting_client),
               session: Session = Depends(db_session)) -> dict[str, Any]:
    return escalation.get_policy(session, client_id, policy_id)


@router.patch("/{policy_id}", response_model=PolicyOut, summary="Rename a policy or replace its levels")
def update_policy(policy_id: UUID, body: PolicyChanges, client_id: UUID = Depends(acting_client),
                  caller: Caller = Depends(current_caller), session: Session = Depends(db_session)) -> dict[str, Any]:
    return escalation.update_policy(session, client_id, policy_id, body.model_dump(exclude_unset=True),
                                    actor_of(caller))


@router.delete("/{policy_id}", status_code=204, response_class=Response,
               summary="Delete a policy; rules naming it stop escalating")
def delete_policy(policy_id: UUID, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
                  session: Session = Depends(db_session)) -> Response:
    escalation.delete_policy(session, client_id, policy_id, actor_of(caller))
    return Response(status_code=204)
