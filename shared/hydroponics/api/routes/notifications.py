"""The delivery log: every notification to a channel, its attempts and result (never a channel secret)."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.api.deps import acting_client, rate_limited
from hydroponics.api.session import db_session
from hydroponics.errors import NotFound
from hydroponics.records.pagination import Keyset, Page, PageRequest

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/notifications", tags=["notifications"], dependencies=[Depends(api_limit)])

NOTIFICATION_ORDER = Keyset("notifications", {"n.created_at": datetime, "n.id": UUID}, descending=True)
Status = Literal["pending", "sending", "sent", "failed", "suppressed", "held", "digested"]
Kind = Literal["alert", "escalation", "resolved", "digest", "test"]

_SELECT = """
    SELECT n.id, n.alert_id, n.channel_id, c.name AS channel_name, c.kind AS channel_kind, n.kind, n.status,
           n.attempts, n.last_error, n.subject, n.escalation_level, n.digest_id, n.created_at, n.sent_at
    FROM notifications n JOIN notification_channels c ON c.id = n.channel_id
    WHERE n.client_id = :client_id"""


class NotificationOut(BaseModel):
    id: UUID
    alert_id: UUID | None
    channel_id: UUID
    channel_name: str
    channel_kind: str
    kind: str = Field(description="alert, escalation, resolved, digest or test")
    status: str = Field(description="pending, sending, sent, failed (retried, then dead-lettered), suppressed "
                                    "(silenced or channel disabled), held (over the hourly cap), digested")
    attempts: int
    last_error: str | None
    subject: str
    escalation_level: int
    digest_id: UUID | None = Field(description="the digest that carried this held message")
    created_at: datetime
    sent_at: datetime | None


@router.get("", response_model=Page[NotificationOut], summary="The delivery log, newest first")
def list_notifications(page: Annotated[PageRequest, Query()], alert_id: UUID | None = None,
                       channel_id: UUID | None = None, status: Status | None = None, kind: Kind | None = None,
                       client_id: UUID = Depends(acting_client), session: Session = Depends(db_session)) -> Any:
    clause = NOTIFICATION_ORDER.clause(page)
    filters = {"alert_id": alert_id, "channel_id": channel_id, "status": status, "kind": kind}
    conditions = "".join(f" AND n.{name} = :{name}" for name, value in filters.items() if value is not None)
    rows = session.execute(text(f"{_SELECT}{conditions} AND {clause.after} ORDER BY {clause.order_by} {clause.limit}"),
                           {"client_id": client_id} | {k: v for k, v in filters.items() if v is not None}
                           | clause.params)
    return NOTIFICATION_ORDER.page([dict(row._mapping) for row in rows], page)


@router.get("/{notification_id}", response_model=NotificationOut, summary="One delivery")
def get_notification(notification_id: UUID, client_id: UUID = Depends(acting_client),
                     session: Session = Depends(db_session)) -> Any:
    row = session.execute(text(f"{_SELECT} AND n.id = :id"), {"client_id": client_id, "id": notification_id}
                          ).one_or_none()
    if row is None:
        raise NotFound(f"notification {notification_id} not found")
    return dict(row._mapping)
