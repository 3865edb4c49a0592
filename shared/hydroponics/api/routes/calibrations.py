"""Calibrations of the caller's sensors: record one, a sensor's history, and what falls due."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hydroponics.api.deps import acting_client, actor_of, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.events import record_event
from hydroponics.records import calibrations
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.text import display_name, free_text, identifier

api_limit = rate_limited("api")
router = APIRouter(prefix="/api", tags=["calibrations"], dependencies=[Depends(api_limit)])


def as_utc(moment: datetime) -> datetime:
    """Naive times mean UTC, as everywhere in the API."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


Moment = Annotated[datetime, AfterValidator(as_utc)]
Text = display_name(200)
Number = Annotated[float, Field(allow_inf_nan=False)]


class ReferenceSolution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(None, description="e.g. 'pH 7.00 buffer'")
    value: Number
    unit: identifier(20) | None = None


class NewCalibration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calibrated_at: Moment | None = Field(None, description="default: now; readings from then on use it")
    method: Text | None = Field(None, description="e.g. 'two-point'")
    reference_solutions: list[ReferenceSolution] = Field(default_factory=list, max_length=20)
    offset: Number = Field(0.0, description="value = raw * slope + offset")
    slope: Number = 1.0
    technician: Text | None = None
    next_due_at: Moment | None = None
    notes: free_text(2000) | None = None


class CalibrationOut(BaseModel):
    id: UUID
    sensor_id: UUID
    calibrated_at: datetime
    method: str | None
    reference_solutions: list[dict[str, Any]]
    offset: float
    slope: float
    technician: str | None
    next_due_at: datetime | None
    notes: str | None


class DueCalibrationOut(CalibrationOut):
    external_id: str
    sensor_type: str
    location: str
    status: Literal["ok", "due_soon", "overdue"]


@router.post("/sensors/{sensor_id}/calibrations", status_code=201, response_model=CalibrationOut,
             summary="Record a sensor's calibration; readings from calibrated_at on are corrected with it")
def record(sensor_id: UUID, body: NewCalibration, client_id: UUID = Depends(acting_client),
           caller: Caller = Depends(current_caller),
           session: Session = Depends(db_session)) -> calibrations.CalibrationRecord:
    calibration = calibrations.record_calibration(session, client_id, sensor_id, body.model_dump(exclude_none=True))
    record_event(session, "calibration.recorded", client_id=client_id, actor=actor_of(caller), subject_type="sensor",
                 subject_id=sensor_id, details={"calibration_id": calibration.id, "offset": calibration.offset,
                                                "slope": calibration.slope, "calibrated_at": calibration.calibrated_at,
                                                "next_due_at": calibration.next_due_at})
    return calibration


@router.get("/sensors/{sensor_id}/calibrations", response_model=Page[CalibrationOut],
            summary="A sensor's calibrations, newest first")
def history(sensor_id: UUID, page: Annotated[PageRequest, Query()], client_id: UUID = Depends(acting_client),
            session: Session = Depends(db_session)) -> Page:
    return calibrations.list_calibrations(session, client_id, sensor_id, page)


@router.get("/calibrations", response_model=Page[DueCalibrationOut],
            summary="Calibrations in force that fall due before a time, soonest first (overdue ones included)")
def due(page: Annotated[PageRequest, Query()],
        due_before: Annotated[Moment | None, Query(description="ISO-8601 or epoch seconds; default: in 7 days")] = None,
        client_id: UUID = Depends(acting_client), session: Session = Depends(db_session)) -> Page:
    now = datetime.now(UTC)
    return calibrations.calibrations_due(session, client_id, due_before or now + calibrations.DUE_SOON, page, now)
