"""The audit log: one row per change, who made it, to what, and when."""

import json
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session


def record_event(session: Session, event_type: str, *, client_id: UUID | None, actor: str,
                 subject_type: str | None = None, subject_id: object = None, details: dict[str, Any] | None = None) -> None:
    session.execute(
        text("INSERT INTO events (client_id, event_type, actor, subject_type, subject_id, details)"
             " VALUES (:client_id, :event_type, :actor, :subject_type, :subject_id, CAST(:details AS jsonb))"),
        {"client_id": client_id, "event_type": event_type, "actor": actor, "subject_type": subject_type,
         "subject_id": None if subject_id is None else str(subject_id), "details": json.dumps(details or {}, default=str)},
    )
