"""A failed scheduled job's alert: critical, one open per job, sent to the platform's admin channel.

The admin channel is the enabled notification channel named `settings.admin_channel` (default
`admin`) of a client that holds an active admin API key (the platform operators' own client; the
local stack's is "Platform Operators"). Without such a channel the alert is still opened on the
operators' client and recorded, and the failure is logged; without any operators' client it is
only logged. Later failures are counted on the open alert; the job's next success resolves it.
"""

import uuid

from sqlalchemy import literal_column, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from hydroponics.db.models import Alert
from hydroponics.events import record_event
from hydroponics.notifications.outbox import queue_notifications
from hydroponics.observability import logger
from hydroponics.settings import get_settings

_OPERATORS = text(
    "SELECT k.client_id, bool_or(ch.id IS NOT NULL) AS has_channel FROM api_keys k"
    " LEFT JOIN notification_channels ch ON ch.client_id = k.client_id AND ch.name = :channel AND ch.is_enabled"
    " WHERE k.scope = 'admin' AND k.revoked_at IS NULL AND k.client_id IS NOT NULL"
    " GROUP BY k.client_id ORDER BY bool_or(ch.id IS NOT NULL) DESC, min(k.created_at) LIMIT 1")


def operators_client(session: Session) -> tuple[uuid.UUID | None, bool]:
    """The platform operators' client (the one with the admin channel first) and whether it has that channel."""
    row = session.execute(_OPERATORS, {"channel": get_settings().admin_channel}).one_or_none()
    return (row.client_id, row.has_channel) if row else (None, False)


def job_failed(session: Session, job: str, message: str) -> Alert | None:
    """Open the job's critical alert (or count this failure on the open one) and tell the admin channel."""
    client_id, has_channel = operators_client(session)
    if client_id is None:
        logger.error("scheduled job failed and no operators' client exists to alert", extra={"job": job})
        return None
    statement = (
        insert(Alert)
        .values(client_id=client_id, job=job, severity="critical", message=message,
                last_seen_at=literal_column("now()"))
        .on_conflict_do_update(index_elements=[Alert.job], index_where=Alert.status != "resolved",
                               set_={"repeat_count": Alert.repeat_count + 1, "last_seen_at": literal_column("now()"),
                                     "message": insert(Alert).excluded.message})
        .returning(Alert, literal_column("(xmax = 0)").label("opened"))
    )
    alert, opened = session.execute(statement).one()
    if not opened:
        return alert
    channel = get_settings().admin_channel
    if not has_channel:
        logger.error("no admin channel to tell about a failed job", extra={"job": job, "channel": channel})
    queued = queue_notifications(session, alert, kind="alert", channel_names=[channel],
                                 subject=f"[critical] scheduled job {job} failed", body=message)
    record_event(session, "alert.opened", client_id=client_id, actor=job, subject_type="alert", subject_id=alert.id,
                 details={"job": job, "severity": "critical", "message": message, "notifications": len(queued)})
    return alert


def job_succeeded(session: Session, job: str) -> Alert | None:
    """The job ran through: resolve its open alert, if any, and tell the admin channel."""
    alert = session.scalars(
        update(Alert).where(Alert.job == job, Alert.status != "resolved")
        .values(status="resolved", resolved_at=literal_column("now()"), resolved_by=job)
        .returning(Alert).execution_options(synchronize_session=False)
    ).first()
    if alert is None:
        return None
    queued = queue_notifications(session, alert, kind="resolved", channel_names=[get_settings().admin_channel],
                                 subject=f"[resolved] scheduled job {job} ran through again",
                                 body=f"{alert.message}\nThe job's latest run succeeded.")
    record_event(session, "alert.resolved", client_id=alert.client_id, actor=job, subject_type="alert",
                 subject_id=alert.id, details={"job": job, "resolved_by": job, "notifications": len(queued)})
    return alert
