"""The store step of the readings queue consumer: one statement per batch, per-reading outcomes.

A message holds several readings of one request (or, in the first format, one reading:
readings/messages.py). Readings that cannot be parsed are set apart first; the rest of the batch
goes to PostgreSQL in one statement. If the database refuses that statement, each reading is
stored on its own (a savepoint each), and:

- A reading that can never be stored is refused at once, alone: one that cannot be parsed, or
  whose row the database refuses for a data reason (SQLSTATE class 22, data exception, or 23,
  integrity constraint violation: a NUL the JSON-to-text cast cannot hold, an unknown client). It
  goes straight to the readings DLQ by itself, in the one-reading format, with the reason as
  message attributes (the dead-letters function lists it in /admin/failed-tasks with that reason,
  under `<message id>#<its place in the message>`, or the message id for a one-reading message),
  and its message is not reported as a batch item failure: the reading's siblings are stored, and
  nothing spins through the queue's receives. A message that is no reading at all goes to the DLQ
  as it is, under its own id.
- Any other refusal of a reading fails its whole message: it is reported as a batch item failure
  (SQS retries it, finally into the DLQ) and none of its readings is evaluated now; siblings stored
  meanwhile are stored again as no-ops (readings are keyed by sensor and time). The rest of the
  batch is stored either way.

If the database cannot be reached (connection lost or refused, SQLSTATE class 08, 53 or 57:
shutting down, out of connections), every message is reported and made visible again after a
backoff (15 s doubling to 5 min, by receive count) instead of the queue's 6-minute visibility
timeout, so readings buffered during an outage are stored soon after PostgreSQL is back.

With TIMESERIES_BACKEND=influxdb the readings go to InfluxDB instead (the store's `write`: sensors
and calibrations still in PostgreSQL, the points written synchronously), with the same outcomes
message by message: refused points fail their message alone, an unreachable InfluxDB is an outage
like PostgreSQL's.
"""

from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hydroponics.aws import client
from hydroponics.correlation import of_sqs_record
from hydroponics.db.engine import one_statement, session_scope
from hydroponics.observability import logger
from hydroponics.readings.messages import QueuedReading, parse_message
from hydroponics.readings.store import store_readings
from hydroponics.settings import get_settings
from hydroponics.text import escaped
from hydroponics.timeseries.base import PointsRefused, StoreUnavailable
from hydroponics.timeseries.config import get_timeseries_settings
from hydroponics.timeseries.factory import get_store

FIRST_BACKOFF_SECONDS = 15
MAX_BACKOFF_SECONDS = 300
DATA_SQLSTATE_CLASSES = ("22", "23")  # this row can never be stored, whenever it is tried
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")  # the database, not the row: try again later
UNREADABLE = "unreadable"  # the refusal code of a message (or reading) that is no reading at all
MAX_REASON_CHARS = 1000


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached (down, restarting, refusing connections)."""


@dataclass(frozen=True)
class Delivered:
    """One reading as the store step received it: its message, and its own id for the DLQ."""

    message_id: str
    letter_id: str  # the message id, or `<message id>#<n>` for the n-th reading of a several-readings message
    reading: QueuedReading

    @property
    def alone(self) -> bool:
        """Whether the reading is its message's only content (the first, one-reading format)."""
        return self.letter_id == self.message_id


@dataclass(frozen=True)
class Refusal:
    """What can never be stored, and why: the SQLSTATE (or `unreadable`) and the reason. A whole
    message (`body` None: its own body goes to the DLQ) or one reading of it (its own body and id)."""

    record: dict
    code: str
    reason: str
    body: str | None = None
    letter_id: str | None = None

    @property
    def message_id(self) -> str:
        return self.record.get("messageId", "")

    @property
    def whole_message(self) -> bool:
        return self.letter_id is None or self.letter_id == self.message_id

    @property
    def dead_letter_id(self) -> str:
        return self.letter_id or self.message_id

    @property
    def dead_letter_body(self) -> str:
        return self.body if self.body is not None else (self.record.get("body") or "-")


@dataclass
class BatchOutcome:
    stored: int = 0
    failed_message_ids: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    # every reading now in the table (new, or already there from an earlier delivery), with its message
    # id (repeated for the readings of one message): what the rules step evaluates
    readings: list[tuple[str, QueuedReading]] = field(default_factory=list)

    def fail(self, message_id: str) -> None:
        """Hand this message back to the queue (once, however many of its readings failed)."""
        if message_id not in self.failed_message_ids:
            self.failed_message_ids.append(message_id)

    def as_sqs_response(self) -> dict:
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in self.failed_message_ids]}


def _parse(records: list[dict], outcome: BatchOutcome) -> list[Delivered]:
    parsed = []
    for record in records:
        message_id = record.get("messageId", "")
        try:
            message = parse_message(record["body"])
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("unreadable reading message", extra={"message_id": message_id, "error": str(exc)})
            outcome.refused.append(Refusal(record, UNREADABLE, f"not a queued reading: {exc}"))
            continue
        correlation_id = of_sqs_record(record)
        for index, reading in message.readings:
            parsed.append(Delivered(message_id, message_id if index is None else f"{message_id}#{index}",
                                    reading.model_copy(update={"correlation_id": correlation_id})
                                    if correlation_id else reading))
        for entry in message.unreadable:
            logger.warning("unreadable reading", extra={"message_id": message_id, "index": entry.index,
                                                        "error": entry.reason})
            outcome.refused.append(Refusal(record, UNREADABLE, f"not a queued reading: {entry.reason}",
                                           body=entry.body, letter_id=f"{message_id}#{entry.index}"))
    return parsed


def sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE PostgreSQL answered with (pg8000 puts the error's fields in its first argument)."""
    fields = getattr(exc.orig, "args", None) or [None]
    return fields[0].get("C") if isinstance(fields[0], dict) else None


def database_reason(exc: DBAPIError) -> str:
    """The database's own words: its message and detail (not its context, which quotes the data)."""
    fields = getattr(exc.orig, "args", None) or [None]
    if not isinstance(fields[0], dict):
        return str(exc.orig)
    return ": ".join(part for part in (fields[0].get("M"), fields[0].get("D")) if part)


def _unavailable(exc: DBAPIError) -> bool:
    return exc.connection_invalidated or (sqlstate(exc) or "")[:2] in UNAVAILABLE_SQLSTATE_CLASSES


def _store_one_by_one(session: Session, parsed: list[Delivered], records: dict[str, dict],
                      outcome: BatchOutcome) -> set[str]:
    """Fallback after the batch statement failed: a savepoint per reading isolates the bad ones.
    Returns the letter ids of the readings not stored (refused, or in a message that failed)."""
    not_stored = set()
    failed = set(outcome.failed_message_ids)
    for delivered in parsed:
        if delivered.message_id in failed:  # its message comes back whole: its readings are stored then
            not_stored.add(delivered.letter_id)
            continue
        try:
            with session.begin_nested():
                outcome.stored += store_readings(session, [delivered.reading])
        except DBAPIError as exc:
            if _unavailable(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            code, reason = sqlstate(exc), database_reason(exc)
            logger.warning("reading refused", extra={"message_id": delivered.message_id,
                                                     "reading": delivered.letter_id, "sqlstate": code, "error": reason})
            not_stored.add(delivered.letter_id)
            if (code or "")[:2] in DATA_SQLSTATE_CLASSES:
                outcome.refused.append(Refusal(
                    records[delivered.message_id], code, reason, letter_id=delivered.letter_id,
                    body=None if delivered.alone else delivered.reading.model_dump_json()))
            else:
                outcome.fail(delivered.message_id)
                failed.add(delivered.message_id)
    return not_stored


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


def _store_elsewhere(parsed: list[Delivered], outcome: BatchOutcome) -> None:
    """The store step for TIMESERIES_BACKEND=influxdb: the batch in one write, else message by message."""
    try:
        outcome.stored = _write_elsewhere([d.reading for d in parsed])
        outcome.readings = [(d.message_id, d.reading) for d in parsed]
        return
    except PointsRefused as exc:
        logger.warning("batch refused by the time-series store; writing message by message", extra={"error": str(exc)})
    messages: dict[str, list[QueuedReading]] = {}
    for delivered in parsed:
        messages.setdefault(delivered.message_id, []).append(delivered.reading)
    for message_id, readings in messages.items():
        try:
            outcome.stored += _write_elsewhere(readings)
            outcome.readings += [(message_id, reading) for reading in readings]
        except PointsRefused as exc:
            logger.warning("reading refused", extra={"message_id": message_id, "error": str(exc)})
            outcome.fail(message_id)


def store_parsed(parsed: list[Delivered], records: dict[str, dict], outcome: BatchOutcome) -> None:
    """Store parsed readings into `outcome`; raises DatabaseUnavailable if PostgreSQL cannot be reached."""
    if not parsed:
        return
    if get_timeseries_settings().timeseries_backend != "postgres":
        _store_elsewhere(parsed, outcome)
        return
    connected = False

    def store(connection) -> int:
        nonlocal connected
        connected = True
        return store_readings(connection, [d.reading for d in parsed])

    try:
        # One statement, atomic on its own: one round trip, no BEGIN or COMMIT; idempotent, so a
        # connection found dead is retried once on a fresh one before this counts as an outage.
        outcome.stored = one_statement(store)
        outcome.readings = [(d.message_id, d.reading) for d in parsed]
        return
    except DBAPIError as exc:
        # failing to connect (no statement: also on the retry) is an outage, not a bad message
        if not connected or exc.statement is None or _unavailable(exc):
            raise DatabaseUnavailable(str(exc)) from exc
        logger.warning("batch refused by the database; storing reading by reading",
                       extra={"sqlstate": sqlstate(exc), "error": database_reason(exc)})
    try:
        with session_scope() as session:
            not_stored = _store_one_by_one(session, parsed, records, outcome)
    except DBAPIError as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    failed = set(outcome.failed_message_ids)
    outcome.readings = [(d.message_id, d.reading) for d in parsed
                        if d.letter_id not in not_stored and d.message_id not in failed]


def store_sqs_batch(records: list[dict]) -> BatchOutcome:
    """Store a batch of SQS records (no queue calls: refusals are in `refused`); raises
    DatabaseUnavailable if PostgreSQL cannot be reached."""
    outcome = BatchOutcome()
    store_parsed(_parse(records, outcome), {r.get("messageId", ""): r for r in records}, outcome)
    return outcome


def _attribute(value: str) -> dict[str, str]:
    # SQS attribute values must be valid XML characters: escape the rest, and keep them short
    return {"DataType": "String", "StringValue": escaped(value)[:MAX_REASON_CHARS] or "-"}


def dead_letter_refused(outcome: BatchOutcome) -> BatchOutcome:
    """Send what was refused to the readings DLQ now, with its reason (a refused reading alone, its
    siblings stored); the message of any refusal the DLQ does not take (or of all, without a DLQ
    configured) is reported as a batch item failure instead, so none is lost."""
    if not outcome.refused:
        return outcome
    dlq_url = get_settings().readings_dead_letter_queue_url
    not_sent = set(range(len(outcome.refused)))
    if dlq_url:
        for start in range(0, len(outcome.refused), 10):
            chunk = outcome.refused[start:start + 10]
            entries = [{"Id": str(start + i), "MessageBody": refusal.dead_letter_body, "MessageAttributes": {
                "refused_code": _attribute(refusal.code), "refused_reason": _attribute(refusal.reason),
                "original_message_id": _attribute(refusal.dead_letter_id),
                "refused_on_receive": _attribute(str(refusal.record.get("attributes", {}).get(
                    "ApproximateReceiveCount", "1")))}} for i, refusal in enumerate(chunk)]
            try:
                reply = client("sqs").send_message_batch(QueueUrl=dlq_url, Entries=entries)
            except Exception:  # noqa: BLE001 - reported as failures below: SQS retries them
                logger.exception("could not dead-letter refused readings", extra={"refused": len(chunk)})
                continue
            not_sent -= {int(ok["Id"]) for ok in reply.get("Successful", [])}
    else:
        logger.warning("READINGS_DEAD_LETTER_QUEUE_URL is not set; refused readings are retried")
    for number in sorted(not_sent):
        outcome.fail(outcome.refused[number].message_id)
    outcome.refused = [refusal for number, refusal in enumerate(outcome.refused) if number not in not_sent]
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
    """The store step as the rules function runs it: store, dead-letter what can never be stored, or
    back off while PostgreSQL is down."""
    outcome = BatchOutcome()
    parsed = _parse(records, outcome)
    try:
        store_parsed(parsed, {r.get("messageId", ""): r for r in records}, outcome)
    except DatabaseUnavailable as exc:
        logger.warning("database unavailable; readings stay queued", extra={"messages": len(records), "error": str(exc)})
        # unreadable, or refused before the connection went: never storable, dead-lettered now (a
        # message of several readings still comes back for its other readings)
        refused = outcome.refused
        done = {refusal.message_id for refusal in refused if refusal.whole_message}
        outcome = retry_later([r for r in records if r.get("messageId", "") not in done])
        outcome.refused = refused
    return dead_letter_refused(outcome)
