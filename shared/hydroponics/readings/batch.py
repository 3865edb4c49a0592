"""The store step of the readings queue consumer: one statement per batch, per-message failures.

A message that cannot be parsed, or whose row the database refuses, is reported alone as a batch
item failure (SQS retries it and finally moves it to the DLQ); the rest of the batch is stored.
If the database is unreachable the invocation fails, so the queue keeps the whole batch for a retry.
"""

from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from hydroponics.db.engine import session_scope
from hydroponics.observability import logger
from hydroponics.readings.messages import QueuedReading
from hydroponics.readings.store import store_readings


@dataclass
class BatchOutcome:
    stored: int = 0
    failed_message_ids: list[str] = field(default_factory=list)

    def as_sqs_response(self) -> dict:
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in self.failed_message_ids]}


def _parse(records: list[dict], outcome: BatchOutcome) -> list[tuple[str, QueuedReading]]:
    parsed = []
    for record in records:
        try:
            parsed.append((record["messageId"], QueuedReading.model_validate_json(record["body"])))
        except (ValidationError, KeyError, TypeError) as exc:
            logger.warning("unreadable reading message", extra={"message_id": record.get("messageId"), "error": str(exc)})
            outcome.failed_message_ids.append(record.get("messageId", ""))
    return parsed


def _database_unreachable(exc: DBAPIError) -> bool:
    return exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))


def store_sqs_batch(records: list[dict]) -> BatchOutcome:
    outcome = BatchOutcome()
    parsed = _parse(records, outcome)
    try:
        with session_scope() as session:
            outcome.stored = store_readings(session, [reading for _, reading in parsed])
        return outcome
    except DBAPIError as exc:
        if _database_unreachable(exc):
            raise  # the whole batch goes back to the queue and is retried when PostgreSQL is back
        logger.warning("batch refused by the database; storing message by message to isolate the bad ones")
    # Fallback: one statement per message, so one bad row never blocks the others.
    for message_id, reading in parsed:
        try:
            with session_scope() as session:
                outcome.stored += store_readings(session, [reading])
        except DBAPIError as exc:
            if _database_unreachable(exc):
                raise
            logger.warning("reading refused", extra={"message_id": message_id, "error": str(exc.orig)})
            outcome.failed_message_ids.append(message_id)
    return outcome
