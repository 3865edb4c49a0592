"""Crops (batches): plant, list with the current stage, history, harvest, and the per-stage report."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hydroponics.api.deps import acting_client, actor_of, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.crops import crops, harvests, report
from hydroponics.events import record_event
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.text import Identifier, free_text, identifier

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/crops", tags=["crops"], dependencies=[Depends(api_limit)])

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)


def _utc(at: datetime) -> datetime:
    """Naive means UTC; before 2000 is refused (as readings' timestamps are)."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if at < EARLIEST:
        raise ValueError("must not be before 2000-01-01")
    return at


def _not_future(at: datetime) -> datetime:
    if at > datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError("must not be in the future")
    return at


Moment = Annotated[datetime, AfterValidator(_utc)]
PastMoment = Annotated[datetime, AfterValidator(_utc), AfterValidator(_not_future)]


class CropIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variety_id: UUID
    location: Identifier = Field(description="where it grows; its sensors are the location's")
    batch_code: identifier(100)
    planted_at: Moment = Field(description="a later planting opens the first stage then; an earlier one records "
                                           "the stages already passed")


class HarvestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    harvested_at: PastMoment | None = Field(None, description="default: now")
    yield_amount: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=3)
    yield_unit: identifier(20) | None = Field(None, examples=["kg"])
    quality_grade: identifier(20) | None = Field(None, examples=["A"])
    notes: free_text(2000) | None = None


class CurrentStageOut(BaseModel):
    name: str
    stage_order: int
    started_at: datetime
    due_at: datetime
    completed_at: datetime | None
    days_in_stage: int


class CropOut(BaseModel):
    id: UUID
    variety_id: UUID
    variety_name: str
    location: str
    batch_code: str
    planted_at: datetime
    status: str
    created_at: datetime
    closed_at: datetime | None
    current_stage: CurrentStageOut | None = Field(description="the open stage; the last one once all are complete")
    awaiting_harvest: bool = Field(description="active, with every stage of the profile complete")


class StageHistoryOut(BaseModel):
    id: UUID
    name: str
    stage_order: int
    started_at: datetime
    due_at: datetime
    completed_at: datetime | None


class HarvestOut(BaseModel):
    id: UUID
    harvested_at: datetime
    yield_amount: Decimal | None
    yield_unit: str | None
    quality_grade: str | None
    notes: str | None


class CropDetailOut(CropOut):
    stages: list[StageHistoryOut]
    harvest: HarvestOut | None


class MetricOut(BaseModel):
    metric: str
    min: float | None
    max: float | None
    sensors: int = Field(description="sensors of this metric at the crop's location that reported in the stage")
    hours_measured: float
    hours_below: float
    hours_above: float
    hours_outside: float


class StageReportOut(BaseModel):
    name: str
    stage_order: int
    started_at: datetime
    due_at: datetime
    completed_at: datetime | None
    measured_until: datetime
    targets: dict[str, dict[str, float]] | None = Field(description="null when the variety's profile was replaced")
    metrics: list[MetricOut]


class CropReportOut(BaseModel):
    crop: CropOut
    harvest: HarvestOut | None
    stages: list[StageReportOut]


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("", status_code=201, response_model=CropDetailOut, summary="Plant a batch: opens its growth stage")
def plant_crop(body: CropIn, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
               session: Session = Depends(db_session)) -> dict[str, Any]:
    crop = crops.plant_crop(session, client_id, body.variety_id, body.location, body.batch_code, body.planted_at,
                            _now())
    record_event(session, "crop.planted", client_id=client_id, actor=actor_of(caller), subject_type="crop",
                 subject_id=crop["id"], details=body.model_dump(mode="json")
                 | {"stage": (crop["current_stage"] or {}).get("name")})
    return crop


@router.get("", response_model=Page[CropOut], summary="List the client's crops with their current stage (newest first)")
def list_crops(page: Annotated[PageRequest, Query()], status: Literal["active", "harvested", "failed"] | None = None,
               variety_id: UUID | None = None, location: Annotated[Identifier | None, Query()] = None,
               client_id: UUID = Depends(acting_client), session: Session = Depends(db_session)) -> Page[dict[str, Any]]:
    filters = {"status": status, "variety_id": variety_id, "location": location}
    return crops.list_crops(session, client_id, filters, page, _now())


@router.get("/{crop_id}", response_model=CropDetailOut, summary="One crop with its stage history and harvest")
def get_crop(crop_id: UUID, client_id: UUID = Depends(acting_client),
             session: Session = Depends(db_session)) -> dict[str, Any]:
    return crops.get_crop(session, client_id, crop_id, _now())


@router.post("/{crop_id}/harvest", response_model=CropDetailOut,
             summary="Record the harvest: closes the crop and its open stage (409 if already closed)")
def harvest_crop(crop_id: UUID, body: HarvestIn, client_id: UUID = Depends(acting_client),
                 caller: Caller = Depends(current_caller), session: Session = Depends(db_session)) -> dict[str, Any]:
    now = _now()
    record = harvests.HarvestRecord(harvested_at=body.harvested_at or now, yield_amount=body.yield_amount,
                                    yield_unit=body.yield_unit, quality_grade=body.quality_grade, notes=body.notes)
    crop = harvests.harvest_crop(session, client_id, crop_id, record, now)
    record_event(session, "crop.harvested", client_id=client_id, actor=actor_of(caller), subject_type="crop",
                 subject_id=crop_id, details=body.model_dump(mode="json") | {"harvested_at": record.harvested_at})
    return crop


@router.get("/{crop_id}/report", response_model=CropReportOut,
            summary="Per stage, the hours each target metric spent outside its range, with the harvest")
def crop_report(crop_id: UUID, client_id: UUID = Depends(acting_client),
                session: Session = Depends(db_session)) -> dict[str, Any]:
    return report.crop_report(session, client_id, crop_id, _now())
