"""Silences (maintenance windows): mute alerts of a sensor, a location or a rule for a while, with a reason."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hydroponics.alerts import silences
from hydroponics.api.changes import Changes
from hydroponics.api.deps import acting_client, actor_of, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.text import Identifier, free_text

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/silences", tags=["silences"], dependencies=[Depends(api_limit)])

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
Reason = free_text(500, min_length=1)
State = Literal["active", "scheduled", "ended"]


def _utc(at: datetime) -> datetime:
    """Naive means UTC; before 2000 is refused."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if at < EARLIEST:
        raise ValueError("must not be before 2000-01-01")
    return at


Moment = Annotated[datetime, AfterValidator(_utc)]


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "description": "Matches alerts of the sensor, OR of any sensor at the location, OR of the rule; "
                       "with none of the three it mutes every alert of yours."})

    sensor_id: UUID | None = Field(None, description="one of your sensors")
    location: Identifier | None = None
    rule_id: UUID | None = Field(None, description="one of your rules")
    starts_at: Moment | None = Field(None, description="default: now")
    ends_at: Moment = Field(description=f"after starts_at, in the future, at most {silences.MAX_WINDOW.days} days "
                                        "after starts_at")
    reason: Reason = Field(description="why alerts are muted, e.g. 'reservoir flush'")


class SilenceChanges(Changes):
    """Move the window or change the reason; the scope is fixed (create another silence)."""

    not_null = ("starts_at", "ends_at", "reason")

    starts_at: Moment = None
    ends_at: Moment = None
    reason: Reason = None


class SilenceOut(BaseModel):
    id: UUID
    sensor_id: UUID | None
    location: str | None
    rule_id: UUID | None
    reason: str | None
    starts_at: datetime
    ends_at: datetime
    created_by: str | None
    state: Literal["active", "scheduled", "ended", "removed"] = Field(
        description="at the time of the answer; `removed` when ending a silence that had not begun deleted it")


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("", status_code=201, response_model=SilenceOut, summary="Silence a sensor, location or rule for a while")
def create_silence(body: SilenceIn, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
                   session: Session = Depends(db_session)) -> dict[str, Any]:
    return silences.create_silence(session, client_id, body.model_dump(), actor_of(caller), _now())


@router.get("", response_model=Page[SilenceOut], summary="List silences, latest start first")
def list_silences(page: Annotated[PageRequest, Query()],
                  state: Annotated[State | None, Query(description="only those active, scheduled or ended now")] = None,
                  sensor_id: UUID | None = None, location: Annotated[Identifier | None, Query()] = None,
                  rule_id: UUID | None = None, client_id: UUID = Depends(acting_client),
                  session: Session = Depends(db_session)) -> Page[dict[str, Any]]:
    filters = silences.SilenceFilter(state, sensor_id, location, rule_id)
    return silences.list_silences(session, client_id, filters, page, _now())


@router.get("/{silence_id}", response_model=SilenceOut, summary="A silence")
def get_silence(silence_id: UUID, client_id: UUID = Depends(acting_client),
                session: Session = Depends(db_session)) -> dict[str, Any]:
    return silences.get_silence(session, client_id, silence_id, _now())


@router.patch("/{silence_id}", response_model=SilenceOut,
              summary="Extend, shorten or move a silence, or change its reason (409 once it has ended)")
def update_silence(silence_id: UUID, body: SilenceChanges, client_id: UUID = Depends(acting_client),
                   caller: Caller = Depends(current_caller), session: Session = Depends(db_session)) -> dict[str, Any]:
    return silences.update_silence(session, client_id, silence_id, body.model_dump(exclude_unset=True),
                                   actor_of(caller), _now())


@router.delete("/{silence_id}", response_model=SilenceOut,
               summary="End a silence now (one not yet begun is removed); 409 if it has ended")
def end_silence(silence_id: UUID, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
                session: Session = Depends(db_session)) -> dict[str, Any]:
    return silences.end_silence(session, client_id, silence_id, actor_of(caller), _now())
