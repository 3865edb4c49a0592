"""The audit log of the caller's client: who changed what, and when; newest first."""

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel
from sqlalchemy.orm import Session

from hydroponics.api.deps import acting_client, rate_limited
from hydroponics.api.session import db_session
from hydroponics.errors import InvalidInput
from hydroponics.records import events
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.text import Identifier

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/events", tags=["events"], dependencies=[Depends(api_limit)])

Moment = Annotated[datetime, AfterValidator(lambda m: m if m.tzinfo else m.replace(tzinfo=UTC))]
Word = Annotated[Identifier | None, Query()]


class EventOut(BaseModel):
    id: int
    event_type: str
    actor: str | None
    subject_type: str | None
    subject_id: str | None
    details: dict[str, Any]
    occurred_at: datetime


@router.get("", response_model=Page[EventOut], summary="The client's events, newest first")
def list_events(
    page: Annotated[PageRequest, Query()],
    event_type: Annotated[Identifier | None, Query(description="e.g. sensor.registered")] = None,
    subject_type: Word = None,
    subject_id: Word = None,
    since: Annotated[Moment | None, Query(description="inclusive; ISO-8601 or epoch seconds")] = None,
    until: Annotated[Moment | None, Query(description="exclusive; ISO-8601 or epoch seconds")] = None,
    client_id: UUID = Depends(acting_client),
    session: Session = Depends(db_session),
) -> Page:
    if since is not None and until is not None and until < since:
        raise InvalidInput("until is before since",
                           details=[{"field": "query.until", "reason": "must not be before since"}])
    filters = events.EventFilter(event_type, subject_type, subject_id, since, until)
    return events.list_events(session, client_id, filters, page)
