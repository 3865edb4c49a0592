"""Dead letters: record each message a DLQ receives as a failed task; list, redrive or discard them.

One consumer serves every dead-letter queue; settings.dead_letter_sources maps a DLQ's name to the
work queue it catches for, which is where a retry sends the message back (a FIFO queue gets the
original MessageGroupId and a fresh MessageDeduplicationId). Recording is idempotent on the SQS
message id, so a DLQ message delivered twice is one row.

A consumer that refuses a message at once as never storable (the readings store step) sends it to
the DLQ itself with `refused_code`, `refused_reason` and `original_message_id` attributes: the row
then carries that reason as its error, the code as `refusal_code`, and the original message id
(a redelivered refusal is still one row). A reading refused alone out of a message of several
carries `<message id>#<its place in the message>`, so two refused readings of one message are two
rows; its body is that one reading, which a retry sends back to the work queue by itself. A whole
message of several readings that reaches the DLQ (after its receives) is retried whole.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.aws import client
from hydroponics.db.engine import session_scope
from hydroponics.errors import Conflict, NotFound, ServiceUnavailable
from hydroponics.events import record_event
from hydroponics.observability import logger
from hydroponics.records.pagination import Keyset, Page, PageRequest
from hydroponics.settings import get_settings

TASK_ORDER = Keyset("failed_tasks", {"t.failed_at": datetime, "t.id": uuid.UUID}, descending=True)
ACTOR = "dead-letters"
_COLUMNS = ("t.id, t.source_queue, t.message_id, t.body, t.error, t.refusal_code, t.attributes, t.failed_at,"
            " t.status, t.resolved_at")

_RECORD = text("""
    INSERT INTO failed_tasks (source_queue, message_id, body, error, refusal_code, attributes)
    SELECT :source_queue, :message_id, :body, :error, :refusal_code, CAST(:attributes AS jsonb)
    WHERE NOT EXISTS (SELECT 1 FROM failed_tasks WHERE message_id = :message_id)
    RETURNING id
""")


@dataclass(frozen=True)
class FailedTaskRecord:
    id: uuid.UUID
    source_queue: str
    message_id: str | None
    body: str
    error: str | None
    refusal_code: str | None
    attributes: dict[str, Any]
    failed_at: datetime
    status: str
    resolved_at: datetime | None


def queue_name(arn_or_url: str) -> str:
    return arn_or_url.rstrip("/").replace("/", ":").rsplit(":", 1)[-1]


def source_queue_of(dlq_arn: str) -> str:
    """The work queue a DLQ catches for (its URL), or the DLQ's ARN when DEAD_LETTER_SOURCES does not name it."""
    return get_settings().dead_letter_sources.get(queue_name(dlq_arn), dlq_arn)


def _notification_error(session: Session, body: str) -> tuple[str | None, uuid.UUID | None]:
    """For a notification message: the row's last_error and client (None, None for other bodies)."""
    try:
        notification_id = uuid.UUID(json.loads(body)["notification_id"])
    except (ValueError, KeyError, TypeError):
        return None, None
    row = session.execute(text("SELECT last_error, client_id FROM notifications WHERE id = :id"),
                          {"id": notification_id}).one_or_none()
    return (row.last_error, row.client_id) if row else ("notification row not found", None)


def _attribute(record: dict, name: str) -> str | None:
    return (record.get("messageAttributes") or {}).get(name, {}).get("stringValue")


def _refusal(record: dict) -> tuple[str, str] | None:
    """(code, reason) of a message its consumer dead-lettered at once as never storable."""
    code, reason = _attribute(record, "refused_code"), _attribute(record, "refused_reason")
    return (code, reason or "refused") if code else None


def record_dead_letter(session: Session, record: dict, source_arn: str) -> uuid.UUID | None:
    """One failed_tasks row for one DLQ record; None when its message id was recorded already."""
    body = record.get("body", "")
    refusal = _refusal(record)
    message_id = (_attribute(record, "original_message_id") if refusal else None) or record.get("messageId")
    # Serialise recorders of the same message id (no unique index on it): redelivery makes no second row.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('failed_task:' || :mid))"), {"mid": message_id or ""})
    error, client_id = _notification_error(session, body)
    receives = record.get("attributes", {}).get("ApproximateReceiveCount")
    if refusal is not None:
        error = f"refused at once, never storable: {refusal[1]}"
    elif error is None:
        error = f"moved to the dead-letter queue {queue_name(source_arn)}" + (
            f" after {receives} receives" if receives else "")
    attributes = dict(record.get("attributes", {})) | {
        "dead_letter_queue": source_arn, "message_attributes": record.get("messageAttributes", {})}
    task_id = session.scalar(_RECORD, {"source_queue": source_queue_of(source_arn), "message_id": message_id,
                                       "body": body, "error": error, "refusal_code": refusal and refusal[0],
                                       "attributes": json.dumps(attributes)})
    if task_id is not None:
        record_event(session, "failed_task.recorded", client_id=client_id, actor=ACTOR, subject_type="failed_task",
                     subject_id=task_id, details={"dead_letter_queue": queue_name(source_arn),
                                                  "message_id": message_id, "error": error,
                                                  "refusal_code": refusal and refusal[0]})
    return task_id


def record_dead_letters(records: list[dict], source_arn: str | None = None) -> dict:
    """Record a batch from a DLQ (each record's eventSourceARN unless `source_arn` is given).

    Returns the Lambda partial-batch response: a record that could not be stored (database down)
    stays on the DLQ and comes back.
    """
    failures, recorded = [], 0
    for record in records:
        arn = source_arn or record.get("eventSourceARN", "")
        try:
            with session_scope() as session:
                recorded += record_dead_letter(session, record, arn) is not None
        except Exception:  # noqa: BLE001 - the message stays on the DLQ and is retried
            logger.exception("could not record a dead letter", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record.get("messageId")})
    logger.info("dead letters", extra={"received": len(records), "recorded": recorded, "failed": len(failures)})
    return {"batchItemFailures": failures}


def _task(row: Any) -> FailedTaskRecord:
    return FailedTaskRecord(**row._mapping)


def list_failed_tasks(session: Session, request: PageRequest, status: str | None = None,
                      source_queue: str | None = None) -> Page[FailedTaskRecord]:
    page = TASK_ORDER.clause(request)
    rows = session.execute(text(
        f"SELECT {_COLUMNS} FROM failed_tasks t"
        f" WHERE (CAST(:status AS text) IS NULL OR t.status = :status)"
        f" AND (CAST(:source AS text) IS NULL OR t.source_queue = :source) AND {page.after}"
        f" ORDER BY {page.order_by} {page.limit}"), {"status": status, "source": source_queue} | page.params)
    return TASK_ORDER.page([_task(row) for row in rows], request)


def get_failed_task(session: Session, task_id: uuid.UUID, *, lock: bool = False) -> FailedTaskRecord:
    row = session.execute(text(f"SELECT {_COLUMNS} FROM failed_tasks t WHERE t.id = :id"
                               + (" FOR UPDATE" if lock else "")), {"id": task_id}).one_or_none()
    if row is None:
        raise NotFound(f"failed task {task_id} not found")
    return _task(row)


def _still_failed(session: Session, task_id: uuid.UUID) -> FailedTaskRecord:
    task = get_failed_task(session, task_id, lock=True)
    if task.status != "failed":
        raise Conflict(f"failed task {task_id} is already {task.status}",
                       details=[{"field": "status", "reason": f"is {task.status}, not failed"}])
    return task


def _resolve(session: Session, task_id: uuid.UUID, status: str) -> FailedTaskRecord:
    row = session.execute(text(f"UPDATE failed_tasks t SET status = :status, resolved_at = now() WHERE t.id = :id"
                               f" RETURNING {_COLUMNS}"), {"id": task_id, "status": status}).one()
    return _task(row)


def retry(session: Session, task_id: uuid.UUID) -> FailedTaskRecord:
    """Send the message back to its work queue (409 unless `failed`); the task becomes `redriven`."""
    task = _still_failed(session, task_id)
    if not task.source_queue.startswith(("http://", "https://")):
        raise Conflict("the work queue of this dead-letter queue is unknown (DEAD_LETTER_SOURCES)",
                       details=[{"field": "source_queue", "reason": "not a queue URL"}])
    message: dict[str, Any] = {"QueueUrl": task.source_queue, "MessageBody": task.body}
    if task.source_queue.endswith(".fifo"):
        message["MessageGroupId"] = task.attributes.get("MessageGroupId") or "redrive"
        message["MessageDeduplicationId"] = f"redrive-{task.id}"
    try:
        client("sqs").send_message(**message)
    except Exception as exc:  # noqa: BLE001 - stays failed; the operator can retry again
        logger.exception("redrive failed", extra={"failed_task_id": str(task_id)})
        raise ServiceUnavailable(f"could not send the message back to its queue: {type(exc).__name__}") from None
    return _resolve(session, task_id, "redriven")


def discard(session: Session, task_id: uuid.UUID) -> FailedTaskRecord:
    """Give up on the message (409 unless `failed`); it stays listed as `discarded`."""
    _still_failed(session, task_id)
    return _resolve(session, task_id, "discarded")
