"""The notify function's work: claim each queued notification once, hold what exceeds a cap, send, record.

A message names a `notifications` row. The row is claimed with one UPDATE (pending or failed, or a
`sending` claim older than CLAIM_TTL left by a crashed worker); a row already sent, suppressed,
held or digested is acknowledged without sending, so a redelivered message never notifies twice.
The send happens outside any transaction; its outcome is written afterwards. A failure is handed
back to SQS as a batch item failure, visible again after settings.notify_backoff_seconds for its
receive count (about 1, 5, 15 min); after the last one the queue's redrive policy moves it to the
dead-letter queue. A failure that trying again cannot fix (the outbound policy refuses the channel's
target) is recorded as the final failure at once and its message acknowledged, not retried.
If PostgreSQL cannot be reached every message of the batch is handed back.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hydroponics.aws import client
from hydroponics.correlation import correlated
from hydroponics.db.engine import session_scope
from hydroponics.envelope import SecretUnreadable
from hydroponics.events import record_event
from hydroponics.notifications.delivery import DeliveryResult, deliver
from hydroponics.observability import logger
from hydroponics.sealed_secrets import channel_target
from hydroponics.settings import get_settings

CLAIM_TTL = timedelta(minutes=5)  # longer than the function's timeout: an older `sending` claim was abandoned
TIME_RESERVE_SECONDS = 15.0  # what one send may take at most (SMTP timeout) plus writing its outcome
CAP_EXEMPT_KINDS = ("digest", "test")
ACTOR = "notify"

_CLAIM = text("""
    UPDATE notifications SET status = 'sending', claimed_at = now(), attempts = attempts + 1
    WHERE id = :id AND (status IN ('pending', 'failed')
                        OR (status = 'sending' AND claimed_at < now() - make_interval(secs => :ttl)))
    RETURNING id, client_id, channel_id, alert_id, kind, subject, body, attempts, correlation_id
""")
# Messages the channel has used in the hour: sent, being sent, or a digest waiting to go.
_USAGE = text("""
    SELECT count(*) FROM notifications
    WHERE channel_id = :channel_id AND id <> :id
      AND ((status = 'sent' AND sent_at > CAST(:now AS timestamptz) - interval '1 hour')
           OR (status = 'sending' AND claimed_at > CAST(:now AS timestamptz) - make_interval(secs => :ttl)))
""")


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached."""


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    client_id: uuid.UUID
    channel_id: uuid.UUID
    alert_id: uuid.UUID | None
    kind: str
    subject: str
    body: str
    attempts: int
    correlation_id: str | None
    channel_kind: str
    target: str


@dataclass
class BatchOutcome:
    sent: int = 0
    skipped: int = 0  # already handled, or held by the cap
    refused: int = 0  # failed for good (refused by the outbound policy): recorded, not retried
    failed: list[tuple[str, int]] = field(default_factory=list)  # (messageId, visibility seconds or -1: leave)

    def as_sqs_response(self) -> dict:
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid, _ in self.failed]}


def channel_usage(session: Session, channel_id: uuid.UUID, now, exclude: uuid.UUID | None = None) -> int:
    """How many messages count against the channel's hourly cap at `now`."""
    return session.execute(_USAGE, {"channel_id": channel_id, "id": exclude or uuid.UUID(int=0), "now": now,
                                    "ttl": CLAIM_TTL.total_seconds()}).scalar_one()


def claim(session: Session, notification_id: uuid.UUID) -> tuple[Claimed | None, str | None]:
    """Claim the row to send it; (None, status) when it is not claimable (status None: no such row).

    A capped channel is locked while it is counted, so concurrent workers never exceed the cap; a
    message over the cap becomes `held` (the digest job carries it later) and is not sent.
    """
    row = session.execute(_CLAIM, {"id": notification_id, "ttl": CLAIM_TTL.total_seconds()}).one_or_none()
    if row is None:
        return None, session.execute(text("SELECT status FROM notifications WHERE id = :id"),
                                     {"id": notification_id}).scalar_one_or_none()
    channel = session.execute(
        text("SELECT client_id, kind, target_sealed, is_enabled, hourly_cap FROM notification_channels"
             " WHERE id = :id FOR UPDATE"),
        {"id": row.channel_id}).one()
    if not channel.is_enabled:
        session.execute(text("UPDATE notifications SET status = 'suppressed', claimed_at = NULL,"
                             " last_error = 'channel disabled' WHERE id = :id"), {"id": notification_id})
        return None, "suppressed"
    if channel.hourly_cap is not None and row.kind not in CAP_EXEMPT_KINDS:
        now = session.scalar(text("SELECT now()"))
        if channel_usage(session, row.channel_id, now, exclude=notification_id) >= channel.hourly_cap:
            session.execute(text("UPDATE notifications SET status = 'held', claimed_at = NULL,"
                                 " attempts = attempts - 1 WHERE id = :id"), {"id": notification_id})
            return None, "held"
    try:
        target = channel_target(channel.client_id, row.channel_id, channel.target_sealed)
    except SecretUnreadable as exc:  # no retry can open it: failed for good, the operator saves the channel again
        session.execute(text("UPDATE notifications SET status = 'failed', claimed_at = NULL, last_error = :error"
                             " WHERE id = :id"), {"id": notification_id, "error": f"channel target: {exc.message}"})
        logger.error("channel target does not open", extra={"channel_id": str(row.channel_id)})
        return None, "failed"
    return Claimed(**row._mapping, channel_kind=channel.kind, target=target), None


def record_outcome(session: Session, claimed: Claimed, result: DeliveryResult, final: bool) -> None:
    if result.ok:
        session.execute(text("UPDATE notifications SET status = 'sent', sent_at = now(), last_error = NULL"
                             " WHERE id = :id AND status = 'sending'"), {"id": claimed.id})
        if claimed.attempts > 1:  # recovered after failures (or redriven): worth a line in the audit log
            record_event(session, "notification.sent", client_id=claimed.client_id, actor=ACTOR,
                         subject_type="notification", subject_id=claimed.id,
                         details={"channel_id": claimed.channel_id, "alert_id": claimed.alert_id,
                                  "kind": claimed.kind, "attempts": claimed.attempts})
        return
    session.execute(text("UPDATE notifications SET status = 'failed', last_error = :error"
                         " WHERE id = :id AND status = 'sending'"), {"id": claimed.id, "error": result.error})
    if final:
        record_event(session, "notification.failed", client_id=claimed.client_id, actor=ACTOR,
                     subject_type="notification", subject_id=claimed.id,
                     details={"channel_id": claimed.channel_id, "alert_id": claimed.alert_id, "kind": claimed.kind,
                              "attempts": claimed.attempts, "error": result.error})


def _db(action: Callable[[Session], object]):
    """Run `action` in a transaction; an unreachable database becomes DatabaseUnavailable."""
    connected = False
    try:
        with session_scope() as session:
            session.connection()
            connected = True
            return action(session)
    except DBAPIError as exc:
        if not connected or exc.connection_invalidated:
            raise DatabaseUnavailable(str(exc.orig)) from exc
        raise


def receive_count(record: dict) -> int:
    return int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))


def backoff_for(receive: int) -> int:
    """Visibility before the next attempt; 0 after the last (the next receive moves it to the DLQ)."""
    backoff = get_settings().notify_backoff_seconds
    return backoff[receive - 1] if receive - 1 < len(backoff) else 0


def is_final(receive: int) -> bool:
    return receive > len(get_settings().notify_backoff_seconds)


def handle_message(record: dict) -> tuple[str, int]:
    """One message: ('sent' | 'skipped' | 'refused', 0) or ('failed', visibility seconds)."""
    notification_id = uuid.UUID(json.loads(record["body"])["notification_id"])
    claimed, status = _db(lambda session: claim(session, notification_id))
    if claimed is None:
        if status == "sending":  # another worker has it right now: look again once its claim has expired
            return "failed", int(CLAIM_TTL.total_seconds())
        if status is None:
            logger.warning("notification not found; message dropped", extra={"notification_id": str(notification_id)})
        return "skipped", 0
    with correlated(claimed.correlation_id):  # the request whose reading caused it, in this message's log lines
        return _send(record, claimed)


def _send(record: dict, claimed: Claimed) -> tuple[str, int]:
    result = deliver(claimed.channel_kind, claimed.target, claimed.subject, claimed.body)
    receive = receive_count(record)
    final = is_final(receive) or not result.retryable
    _db(lambda session: record_outcome(session, claimed, result, final))
    log = {"notification_id": str(claimed.id), "channel_id": str(claimed.channel_id), "kind": claimed.kind,
           "attempt": claimed.attempts}
    if result.ok:
        logger.info("notification sent", extra=log)
        return "sent", 0
    logger.warning("notification failed", extra=log | {"error": result.error, "final": final})
    if not result.retryable:
        return "refused", 0
    return "failed", backoff_for(receive)


def process_batch(records: list[dict], time_left: Callable[[], float] = lambda: float("inf")) -> BatchOutcome:
    """Handle an SQS batch; failures are returned (and their visibility set) for SQS to retry."""
    outcome = BatchOutcome()
    for index, record in enumerate(records):
        if time_left() < TIME_RESERVE_SECONDS:  # not enough time to send it: back to the queue untouched
            outcome.failed.extend((r["messageId"], 0) for r in records[index:])
            break
        try:
            state, visibility = handle_message(record)
        except DatabaseUnavailable as exc:
            logger.warning("database unavailable; notifications stay queued",
                           extra={"messages": len(records) - index, "error": str(exc)})
            outcome.failed.extend((r["messageId"], backoff_for(receive_count(r))) for r in records[index:])
            break
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            logger.warning("unreadable notification message", extra={"message_id": record.get("messageId")})
            outcome.failed.append((record["messageId"], -1))
            continue
        except Exception:  # noqa: BLE001 - one bad message must not fail the others
            logger.exception("notification message failed", extra={"message_id": record.get("messageId")})
            outcome.failed.append((record["messageId"], backoff_for(receive_count(record))))
            continue
        if state == "failed":
            outcome.failed.append((record["messageId"], visibility))
        else:
            outcome.sent += state == "sent"
            outcome.skipped += state == "skipped"
            outcome.refused += state == "refused"
    set_visibility(records, dict(outcome.failed))
    return outcome


def set_visibility(records: list[dict], visibility: dict[str, int]) -> None:
    """Make each failed message visible again after its backoff (a visibility change, not a sleep)."""
    queue_url = get_settings().notifications_queue_url
    entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": visibility[r["messageId"]]}
               for i, r in enumerate(records) if visibility.get(r["messageId"], -1) >= 0]
    if not queue_url or not entries:
        return
    for start in range(0, len(entries), 10):
        try:
            reply = client("sqs").change_message_visibility_batch(QueueUrl=queue_url, Entries=entries[start:start + 10])
            for failure in reply.get("Failed", []):
                logger.warning("could not change a message's visibility", extra={"code": failure.get("Code")})
        except Exception:  # noqa: BLE001 - it comes back after the queue's visibility timeout anyway
            logger.exception("could not change the visibility of failed notifications")
