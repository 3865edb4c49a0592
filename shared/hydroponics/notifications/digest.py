"""Flood control's second half: messages held by a channel's hourly cap go out as one digest, never dropped.

Run every minute (by the escalation function). For each channel with `held` rows and room under
its cap again, one `digest` notification lists them; the held rows become `digested` (digest_id
set) in the same transaction, and the digest is staged to be queued after the commit. The digest
itself is exempt from the cap. Held rows of a channel disabled since are recorded `suppressed`.
"""

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from hydroponics.db.models import Notification
from hydroponics.notifications.outbox import stage
from hydroponics.notifications.worker import channel_usage

MAX_LINES = 100  # a digest lists at most this many alerts by name, then counts the rest

_HELD_CHANNELS = text("""
    SELECT c.id, c.client_id, c.name, c.hourly_cap, c.is_enabled
    FROM notification_channels c
    WHERE c.id IN (SELECT DISTINCT channel_id FROM notifications WHERE status = 'held')
    ORDER BY c.id
    FOR UPDATE OF c SKIP LOCKED
""")
_HELD = text("""
    SELECT id, subject, created_at FROM notifications
    WHERE channel_id = :channel_id AND status = 'held' ORDER BY created_at, id FOR UPDATE
""")


def _digest_text(channel_name: str, held: list) -> tuple[str, str]:
    subject = f"{len(held)} alert notification(s) held back on {channel_name} (hourly cap)"
    lines = [f"- {row.created_at:%Y-%m-%d %H:%M} UTC  {row.subject}" for row in held[:MAX_LINES]]
    if len(held) > MAX_LINES:
        lines.append(f"... and {len(held) - MAX_LINES} more (see the delivery log)")
    body = ("These notifications exceeded the channel's hourly cap and were held; here they are together:\n"
            + "\n".join(lines))
    return subject, body


def _digest_key(channel_id: uuid.UUID, held_ids: list[uuid.UUID]) -> str:
    fingerprint = hashlib.sha256(",".join(sorted(str(i) for i in held_ids)).encode()).hexdigest()[:32]
    return f"digest:{channel_id}:{fingerprint}"


def send_digests(session: Session, now: datetime) -> dict:
    """Create one digest per channel that has held messages and room under its cap; returns counts."""
    digests, digested, suppressed, waiting = 0, 0, 0, 0
    for channel in session.execute(_HELD_CHANNELS).all():
        if not channel.is_enabled:
            suppressed += session.execute(
                text("UPDATE notifications SET status = 'suppressed', last_error = 'channel disabled'"
                     " WHERE channel_id = :id AND status = 'held'"), {"id": channel.id}).rowcount
            continue
        if channel.hourly_cap is not None and channel_usage(session, channel.id, now) >= channel.hourly_cap:
            waiting += 1
            continue
        held = session.execute(_HELD, {"channel_id": channel.id}).all()
        if not held:
            continue
        held_ids = [row.id for row in held]
        subject, body = _digest_text(channel.name, held)
        digest_id = session.scalar(
            insert(Notification)
            .values(client_id=channel.client_id, channel_id=channel.id, kind="digest", subject=subject, body=body,
                    idempotency_key=_digest_key(channel.id, held_ids), status="pending")
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(Notification.id))
        if digest_id is None:  # the same held rows were digested already (cannot happen once marked)
            continue
        session.execute(update(Notification).where(Notification.id.in_(held_ids))
                        .values(status="digested", digest_id=digest_id))
        stage(session, [digest_id])
        digests += 1
        digested += len(held_ids)
    return {"digests": digests, "digested": digested, "suppressed": suppressed, "channels_waiting": waiting}
