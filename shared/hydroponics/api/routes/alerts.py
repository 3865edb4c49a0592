"""Alerts: list and read them, acknowledge one (stops its escalation), resolve one by hand."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hydroponics.alerts import records
from hydroponics.api.deps import acting_client, actor_of, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.text import free_text

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/alerts", tags=["alerts"], dependencies=[Depends(api_limit)])


def _utc(at: datetime) -> datetime:
    """Naive means UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: free_text(2000, min_length=1) | None = Field(None, description="why; kept in the events log")


class AlertOut(BaseModel):
    id: UUID
    rule_id: UUID | None = Field(description="null once the rule was deleted")
    rule_name: str | None
    sensor_id: UUID | None
    sensor_external_id: str | None = Field(description="the sensor id the device reports")
    sensor_type: str | None
    location: str | None
    severity: Literal["info", "warning", "critical"]
    status: Literal["open", "acknowledged", "resolved"]
    message: str
    value: float | None = Field(description="the reading that opened it (the latest repeat's, once repeated)")
    opened_at: datetime
    last_seen_at: datetime | None = Field(description="the newest breaching reading")
    repeat_count: int = Field(description="breaching readings seen after it opened")
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None = Field(description="'rule' when the condition cleared, 'ac_control' when the AC unit "
                                                "answered again, else the operator")
    escalation_level: int = Field(description="0 until its escalation policy's first level is reached")
    last_escalated_at: datetime | None
    silence_id: UUID | None = Field(description="set when it opened under a silence: its messages were not sent")
    ac_unit_id: UUID | None = Field(None, description="the AC unit it is about (an unreachable unit; no rule)")


@router.get("", response_model=Page[AlertOut], summary="List alerts, newest first")
def list_alerts(page: Annotated[PageRequest, Query()],
                status: Literal["open", "acknowledged", "resolved"] | None = None,
                severity: Literal["info", "warning", "critical"] | None = None,
                sensor_id: UUID | None = None, rule_id: UUID | None = None,
                since: Annotated[datetime | None, Query(description="opened at or after (naive is UTC)")] = None,
                client_id: UUID = Depends(acting_client),
                session: Session = Depends(db_session)) -> Page[dict[str, Any]]:
    filters = records.AlertFilter(status, severity, sensor_id, rule_id, _utc(since) if since else None)
    return records.list_alerts(session, client_id, filters, page)


@router.get("/{alert_id}", response_model=AlertOut, summary="An alert")
def get_alert(alert_id: UUID, client_id: UUID = Depends(acting_client),
              session: Session = Depends(db_session)) -> dict[str, Any]:
    return records.get_alert(session, client_id, alert_id)


@router.post("/{alert_id}/acknowledge", response_model=AlertOut,
             summary="Acknowledge an open alert: you are on it, escalation stops (409 unless open)")
def acknowledge_alert(alert_id: UUID, body: NoteIn | None = None, client_id: UUID = Depends(acting_client),
                      caller: Caller = Depends(current_caller),
                      session: Session = Depends(db_session)) -> dict[str, Any]:
    return records.acknowledge_alert(session, client_id, alert_id, actor_of(caller), datetime.now(UTC),
                                     body.note if body else None)


@router.post("/{alert_id}/resolve", response_model=AlertOut,
             summary="Resolve an alert by hand: the rule starts over, its channels hear it (409 if resolved)")
def resolve_alert(alert_id: UUID, body: NoteIn | None = None, client_id: UUID = Depends(acting_client),
                  caller: Caller = Depends(current_caller), session: Session = Depends(db_session)) -> dict[str, Any]:
    return records.resolve_alert(session, client_id, alert_id, actor_of(caller), datetime.now(UTC),
                                 body.note if body else None)
