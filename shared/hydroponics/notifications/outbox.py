"""The notification outbox: delivery rows written with the alert change, queued after the commit.

A notification is first a `notifications` row, inserted in the same transaction as the alert change
that caused it, keyed `{alert}:{channel}:{kind}:{level}` so the same change never produces two rows
(a redelivered readings batch, a re-run escalation). Once that transaction commits, the row ids are
sent to the notifications queue. Should that send fail (SQS unreachable, a crash in between), the
row stays `pending` and `requeue_stale_pending` (run every minute) sends it again; the notify function
claims a row before sending it, so a message queued twice is still delivered once.
"""

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, event, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from hydroponics.aws import client
from hydroponics.correlation import current_correlation_id
from hydroponics.db.models import Alert, Notification, NotificationChannel
from hydroponics.observability import logger
from hydroponics.settings import get_settings

STALE_PENDING = timedelta(minutes=2)  # a pending row this old has probably lost its queue message
ABANDONED_CLAIM = timedelta(minutes=6)  # beyond the notify worker's claim TTL (5 min)
_SQS_BATCH = 10
_STAGED = "notifications_to_publish"


def idempotency_key(alert_id: uuid.UUID, channel_id: uuid.UUID, kind: str, level: int) -> str:
    return f"{alert_id}:{channel_id}:{kind}:{level}"


def channels_named(session: Session, client_id: uuid.UUID, names: Iterable[str]) -> list[NotificationChannel]:
    """The client's enabled channels among `names` (unknown or disabled names are skipped)."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    rows = session.scalars(
        select(NotificationChannel).where(
            NotificationChannel.client_id == client_id,
            NotificationChannel.name.in_(wanted),
            NotificationChannel.is_enabled,
        )
    )
    return list(rows)


def unknown_channels(session: Session, client_id: uuid.UUID, names: list[str], field: str) -> list[dict[str, str]]:
    """Problems for each name that is not one of the client's channels (disabled channels are known)."""
    known = set(session.scalars(select(NotificationChannel.name).where(
        NotificationChannel.client_id == client_id, NotificationChannel.name.in_(names)))) if names else set()
    problems = [{"field": f"{field}.{n}", "reason": f"no channel named {name!r}"}
                for n, name in enumerate(names) if name not in known]
    seen: set[str] = set()
    for n, name in enumerate(names):
        if name in seen:
            problems.append({"field": f"{field}.{n}", "reason": f"channel {name!r} is named twice"})
        seen.add(name)
    return problems


def queue_notifications(
    session: Session,
    alert: Alert,
    *,
    kind: str,
    channel_names: Iterable[str],
    subject: str,
    body: str,
    level: int = 0,
) -> list[uuid.UUID]:
    """Insert one delivery row per channel (once per key); the new rows' ids to publish are returned
    and also kept on the session (`staged(session)`), so whoever commits it can publish them.

    A silenced alert's rows are recorded as `suppressed` and are not returned: nothing is sent.
    """
    channels = channels_named(session, alert.client_id, channel_names)
    if not channels:
        return []
    status = "suppressed" if alert.silence_id else "pending"
    rows = [
        {
            "client_id": alert.client_id,
            "alert_id": alert.id,
            "channel_id": channel.id,
            "idempotency_key": idempotency_key(alert.id, channel.id, kind, level),
            "kind": kind,
            "escalation_level": level,
            "subject": subject,
            "body": body,
            "status": status,
            "correlation_id": current_correlation_id(),  # the notify function logs under the same id
        }
        for channel in channels
    ]
    statement = (
        insert(Notification)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Notification.id)
    )
    created = list(session.scalars(statement))
    if status == "suppressed":
        return []
    stage(session, created)
    return created


def stage(session: Session, notification_ids: Iterable[uuid.UUID]) -> None:
    """Remember ids to publish once this session's transaction has committed."""
    session.info.setdefault(_STAGED, []).extend(notification_ids)


def staged(session: Session) -> list[uuid.UUID]:
    """The ids staged on this session (read them after the commit, then `publish` them)."""
    return list(session.info.get(_STAGED, []))


def publish(notification_ids: Sequence[uuid.UUID]) -> int:
    """Send the ids to the notifications queue (after the commit); returns how many were queued.

    Failures are logged, not raised: the rows stay pending and the minute sweep queues them again.
    """
    queue_url = get_settings().notifications_queue_url
    if not notification_ids:
        return 0
    if not queue_url:
        logger.warning("NOTIFICATIONS_QUEUE_URL is not set; notifications wait for the sweep",
                       extra={"count": len(notification_ids)})
        return 0
    queued = 0
    for start in range(0, len(notification_ids), _SQS_BATCH):
        chunk = notification_ids[start:start + _SQS_BATCH]
        entries = [{"Id": str(i), "MessageBody": json.dumps({"notification_id": str(nid)})}
                   for i, nid in enumerate(chunk)]
        try:
            reply = client("sqs").send_message_batch(QueueUrl=queue_url, Entries=entries)
            queued += len(reply.get("Successful", []))
        except Exception:  # noqa: BLE001 - the sweep will queue them again
            logger.exception("could not queue notifications; the sweep will retry", extra={"count": len(chunk)})
    return queued


def requeue_stale_pending(session: Session, now: datetime | None = None) -> list[uuid.UUID]:
    """Ids of rows whose queue message was probably lost (to publish again): pending ones older than
    STALE_PENDING, and `sending` claims abandoned by a crashed worker (the worker re-claims those)."""
    moment = now if now is not None else session.scalar(text("SELECT now()"))
    return list(
        session.scalars(
            select(Notification.id)
            .where(or_(and_(Notification.status == "pending", Notification.created_at < moment - STALE_PENDING),
                       # a worker claimed it and vanished (crashed) and its message may be gone too
                       and_(Notification.status == "sending", Notification.claimed_at < moment - ABANDONED_CLAIM)))
            .order_by(Notification.created_at)
            .limit(500)
        )
    )


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the transaction has not committed yet
        return
    ids = session.info.pop(_STAGED, None)
    if ids:
        publish(ids)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint rolled back: what the transaction staged before stays
        return
    session.info.pop(_STAGED, None)
