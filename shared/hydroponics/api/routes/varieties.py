"""Varieties and their stage profiles (ordered stages, durations, target ranges per metric)."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.orm import Session

from hydroponics.api.deps import acting_client, actor_of, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.crops import varieties
from hydroponics.crops.targets import canonical_targets
from hydroponics.events import record_event
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.text import display_name, free_text, identifier

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/varieties", tags=["varieties"], dependencies=[Depends(api_limit)])


class TargetRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: float | None = Field(None, allow_inf_nan=False)
    max: float | None = Field(None, allow_inf_nan=False)


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: display_name(100) = Field(examples=["seedling"])
    duration_days: int = Field(ge=1, le=3650)
    targets: dict[identifier(50), TargetRange] = Field(
        default_factory=dict, examples=[{"ph": {"min": 5.5, "max": 6.5}, "ec": {"min": 1.2, "max": 1.8}}],
        description="per metric (a sensor type: ph, ec, temperature, humidity, ...) the band to stay in")

    @field_validator("targets")
    @classmethod
    def _known_metrics(cls, targets: dict[str, TargetRange]) -> dict[str, TargetRange]:
        canonical = canonical_targets({name: band.model_dump() for name, band in targets.items()})
        return {name: TargetRange(**band) for name, band in canonical.items()}

    def profile(self) -> varieties.StageProfile:
        return varieties.StageProfile(self.name, self.duration_days,
                                      {name: band.model_dump(exclude_none=True) for name, band in self.targets.items()})


def _distinct_stage_names(stages: list[StageIn]) -> list[StageIn]:
    names = [stage.name.strip().lower() for stage in stages]
    if len(set(names)) != len(names):
        raise ValueError("stage names must be distinct within a variety")
    return stages


Stages = Annotated[list[StageIn], Field(min_length=1, max_length=30, description="in growing order"),
                   AfterValidator(_distinct_stage_names)]


class VarietyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: display_name(200) = Field(examples=["Butterhead lettuce"])
    description: free_text(2000) | None = None
    stages: Stages


class VarietyPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: display_name(200) | None = None
    description: free_text(2000) | None = None
    stages: Stages | None = Field(None, description="replaces the whole profile; only while no active crop uses it")

    @model_validator(mode="after")
    def _name_not_null(self) -> "VarietyPatch":
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        if "stages" in self.model_fields_set and self.stages is None:
            raise ValueError("stages cannot be null")
        return self


class StageOut(BaseModel):
    id: UUID
    name: str
    stage_order: int
    duration_days: int
    targets: dict[str, dict[str, float]]


class VarietyOut(BaseModel):
    id: UUID
    name: str
    description: str | None
    created_at: datetime
    active_crops: int
    stages: list[StageOut]


@router.post("", status_code=201, response_model=VarietyOut, summary="Create a variety with its stage profile")
def create_variety(body: VarietyIn, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
                   session: Session = Depends(db_session)) -> dict[str, Any]:
    variety = varieties.create_variety(session, client_id, body.name, body.description,
                                       [stage.profile() for stage in body.stages])
    record_event(session, "variety.created", client_id=client_id, actor=actor_of(caller), subject_type="variety",
                 subject_id=variety["id"], details={"name": body.name, "stages": [s.name for s in body.stages]})
    return variety


@router.get("", response_model=Page[VarietyOut], summary="List the client's varieties by name, with their profiles")
def list_varieties(page: Annotated[PageRequest, Query()], client_id: UUID = Depends(acting_client),
                   session: Session = Depends(db_session)) -> Page[dict[str, Any]]:
    return varieties.list_varieties(session, client_id, page)


@router.get("/{variety_id}", response_model=VarietyOut, summary="One variety with its stage profile")
def get_variety(variety_id: UUID, client_id: UUID = Depends(acting_client),
                session: Session = Depends(db_session)) -> dict[str, Any]:
    return varieties.get_variety(session, client_id, variety_id)


@router.patch("/{variety_id}", response_model=VarietyOut,
              summary="Rename, redescribe, or replace the stages (409 while active crops grow by it)")
def update_variety(variety_id: UUID, body: VarietyPatch, client_id: UUID = Depends(acting_client),
                   caller: Caller = Depends(current_caller), session: Session = Depends(db_session)) -> dict[str, Any]:
    changes = body.model_dump(include={"name", "description"}, exclude_unset=True)
    stages = [stage.profile() for stage in body.stages] if body.stages is not None else None
    variety = varieties.update_variety(session, client_id, variety_id, changes, stages)
    if changes or stages is not None:
        details: dict[str, Any] = dict(changes)
        if stages is not None:
            details["stages"] = [stage.name for stage in stages]
        record_event(session, "variety.updated", client_id=client_id, actor=actor_of(caller), subject_type="variety",
                     subject_id=variety_id, details=details)
    return variety
