"""Spot checks: a technician's manual reading against one of the client's sensors (drift evidence)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hydroponics.api.deps import acting_client, actor_of, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.events import record_event
from hydroponics.jobs import spot_checks
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.text import display_name, free_text

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/sensors/{sensor_id}/spot-checks", tags=["spot checks"],
                   dependencies=[Depends(api_limit)])

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)


def _measured_at(at: datetime) -> datetime:
    """Naive means UTC; not before 2000, not in the future."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if at < EARLIEST:
        raise ValueError("must not be before 2000-01-01")
    if at > datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError("must not be in the future")
    return at


class SpotCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    measured_at: Annotated[datetime, AfterValidator(_measured_at)]
    value: float = Field(allow_inf_nan=False, description="what the reference instrument read, in the sensor's unit")
    technician: display_name(200) | None = None
    notes: free_text(2000) | None = None


class SpotCheckOut(BaseModel):
    id: UUID
    sensor_id: UUID
    measured_at: datetime
    value: float
    technician: str | None
    notes: str | None
    created_at: datetime
    reading_recorded_at: datetime | None = Field(description="the sensor's reading nearest in time, if any near")
    reading_value: float | None
    difference: float | None = Field(description="reading minus spot check")


@router.post("", status_code=201, response_model=SpotCheckOut,
             summary="Record a spot check; answers with the sensor's nearest reading and the difference")
def record_spot_check(sensor_id: UUID, body: SpotCheckIn, client_id: UUID = Depends(acting_client),
                      caller: Caller = Depends(current_caller),
                      session: Session = Depends(db_session)) -> dict[str, Any]:
    check = spot_checks.record_spot_check(session, client_id, sensor_id, body.measured_at, body.value,
                                          body.technician, body.notes)
    record_event(session, "spot_check.recorded", client_id=client_id, actor=actor_of(caller),
                 subject_type="sensor", subject_id=sensor_id,
                 details=body.model_dump(mode="json") | {"spot_check_id": check["id"],
                                                         "difference": check["difference"]})
    return check


@router.get("", response_model=Page[SpotCheckOut], summary="The sensor's spot checks, newest first")
def list_spot_checks(sensor_id: UUID, page: Annotated[PageRequest, Query()], client_id: UUID = Depends(acting_client),
                     session: Session = Depends(db_session)) -> Page[dict[str, Any]]:
    return spot_checks.list_spot_checks(session, client_id, sensor_id, page)
