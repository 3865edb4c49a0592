"""The store step of the readings queue consumer: one statement per batch, per-message failures.

A message that cannot be parsed, or whose row the database refuses, is reported alone as a batch
item failure (SQS retries it and finally moves it to the DLQ); the rest of the batch is stored.
If the database cannot be reached, every message is reported and made visible again after a
backoff (15 s doubling to 5 min, by receive count) instead of the queue's 6-minute visibility
timeout, so readings buffered during an outage are stored soon after PostgreSQL is back.

With TIMESERIES_BACKEND=influxdb the readings go to InfluxDB instead (the store's `write`: sensors
and calibrations still in PostgreSQL, the points written synchronously), with the same outcomes:
refused points fail their message alone, an unreachable InfluxDB is an outage like PostgreSQL's.
"""

from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hydroponics.aws import client
from hydroponics.db.engine import one_statement, session_scope
from hydroponics.observability import logger
from hydroponics.readings.messages import QueuedReading
from hydroponics.readings.store import store_readings
from hydroponics.settings import get_settings
from hydroponics.timeseries.base import PointsRefused, StoreUnavailable
from hydroponics.timeseries.config import get_timeseries_settings
from hydroponics.timeseries.factory import get_store

FIRST_BACKOFF_SECONDS = 15
MAX_BACKOFF_SECONDS = 300


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached (down, restarting, refusing connections)."""


@dataclass
class BatchOutcome:
    stored: int = 0
    failed_message_ids: list[str] = field(default_factory=list)
    # every reading now in the table (new, or already there from an earlier delivery), by message id:
    # what the rules step evaluates
    readings: list[tuple[str, QueuedReading]] = field(default_factory=list)

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


def _store_one_by_one(session: Session, parsed: list[tuple[str, QueuedReading]], outcome: BatchOutcome) -> None:
    """Fallback after the batch statement failed: a savepoint per message isolates the bad ones."""
    for message_id, reading in parsed:
        try:
            with session.begin_nested():
                outcome.stored += store_readings(session, [reading])
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseUnavailable(str(exc)) from exc
            logger.warning("reading refused", extra={"message_id": message_id, "error": str(exc.orig)})
            outcome.failed_message_ids.append(message_id)


def _write_elsewhere(readings: list[QueuedReading]) -> int:
    """One write to the configured store (not PostgreSQL); either database out of reach is an outage."""
    try:
        return get_store().write(readings)
    except StoreUnavailable as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    except DBAPIError as exc:  # PostgreSQL, for the sensors and calibrations
        if exc.statement is None or exc.connection_invalidated:
            raise DatabaseUnavailable(str(exc)) from exc
        raise PointsRefused(str(exc.orig)) from exc


def _store_elsewhere(parsed: list[tuple[str, QueuedReading]], outcome: BatchOutcome) -> BatchOutcome:
    """The store step for TIMESERIES_BACKEND=influxdb: the batch in one write, else message by message."""
    try:
        outcome.stored = _write_elsewhere([reading for _, reading in parsed])
        outcome.readings = parsed
        return outcome
    except PointsRefused as exc:
        logger.warning("batch refused by the time-series store; writing message by message", extra={"error": str(exc)})
    for message_id, reading in parsed:
        try:
            outcome.stored += _write_elsewhere([reading])
            outcome.readings.append((message_id, reading))
        except PointsRefused as exc:
            logger.warning("reading refused", extra={"message_id": message_id, "error": str(exc)})
            outcome.failed_message_ids.append(message_id)
    return outcome


def store_sqs_batch(records: list[dict]) -> BatchOutcome:
    """Store a batch of SQS records; raises DatabaseUnavailable if PostgreSQL cannot be reached."""
    outcome = BatchOutcome()
    parsed = _parse(records, outcome)
    if not parsed:
        return outcome
    if get_timeseries_settings().timeseries_backend != "postgres":
        return _store_elsewhere(parsed, outcome)
    connected = False

    def store(connection) -> int:
        nonlocal connected
        connected = True
        return store_readings(connection, [reading for _, reading in parsed])

    try:
        # One statement, atomic on its own: one round trip, no BEGIN or COMMIT; idempotent, so a
        # connection found dead is retried once on a fresh one before this counts as an outage.
        outcome.stored = one_statement(store)
        outcome.readings = parsed
        return outcome
    except DBAPIError as exc:
        # failing to connect (no statement: also on the retry) is an outage, not a bad message
        if not connected or exc.statement is None or exc.connection_invalidated:
            raise DatabaseUnavailable(str(exc)) from exc
        logger.warning("batch refused by the database; storing message by message", extra={"error": str(exc.orig)})
    try:
        with session_scope() as session:
            _store_one_by_one(session, parsed, outcome)
    except DBAPIError as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    refused = set(outcome.failed_message_ids)
    outcome.readings = [(message_id, reading) for message_id, reading in parsed if message_id not in refused]
    return outcome


def backoff_seconds(receive_count: int) -> int:
    return min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** max(0, receive_count - 1))


def retry_later(records: list[dict]) -> BatchOutcome:
    """The database is down: hand every message back, visible again after its backoff."""
    queue_url = get_settings().readings_queue_url
    for start in range(0, len(records), 10):
        entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"],
                    "VisibilityTimeout": backoff_seconds(int(r.get("attributes", {}).get("ApproximateReceiveCount", 1)))}
                   for i, r in enumerate(records[start:start + 10])]
        try:
            client("sqs").change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        except Exception:  # noqa: BLE001 - they come back after the queue's own visibility timeout anyway
            logger.exception("could not shorten the visibility of a batch")
    return BatchOutcome(failed_message_ids=[r["messageId"] for r in records])


def store_or_retry_later(records: list[dict]) -> BatchOutcome:
    """The store step as the rules function runs it: store, or back off while PostgreSQL is down."""
    try:
        return store_sqs_batch(records)
    except DatabaseUnavailable as exc:
        logger.warning("database unavailable; readings stay queued", extra={"messages": len(records), "error": str(exc)})
        return retry_later(records)
