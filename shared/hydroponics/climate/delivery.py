"""The ac_control worker: claim each command once, check the interlocks, send it through the unit's driver,
settle it from the unit's answer, and retry an unreachable unit with backoff until it fails (alert, DLQ).

The failure alert (climate/unit_alerts.py) has no rule: it goes to the unit's own `alert_channels`,
and any later answer from the unit resolves it. A unit whose endpoint the outbound policy refuses
(hydroponics/outbound.py) fails its command at once, with the policy's reason and the same alert:
that is no outage, so it is neither retried nor sent to the DLQ.

Each queue message names one command. Its first delivery claims the row (queued -> sent, or
-> rejected by an interlock, never sent) and records the message id; the same message again is a
retry of the send, any other message for that command is a duplicate and does nothing. A unit's
messages share a FIFO group: once one of them is not done, it and the group's later messages in the
batch are reported as failures (with the same visibility delay), so they come back in order.
"""

import json
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from hydroponics.aws import client
from hydroponics.climate import interlocks
from hydroponics.climate.config import get_climate_settings
from hydroponics.climate.drivers import Reply, Unreachable, driver_for, message
from hydroponics.climate.signing import SIGNATURE_HEADER, verify
from hydroponics.climate.unit_alerts import unit_answered, unit_unreachable
from hydroponics.climate.units import apply_state
from hydroponics.correlation import correlated
from hydroponics.db.engine import session_scope
from hydroponics.db.models import AcCommand, AcUnit
from hydroponics.envelope import SecretUnreadable
from hydroponics.errors import Conflict, InvalidInput, NotFound, Unauthorized
from hydroponics.events import record_event
from hydroponics.observability import logger
from hydroponics.outbound import OutboundRefused
from hydroponics.sealed_secrets import unit_secret
from hydroponics.settings import get_settings

ACTOR = "ac_control"
_GROUP_WORKERS = 4  # units handled in parallel within one batch (the engine's pool is 2 + 2 overflow)


class Outcome(Enum):
    DONE = "done"          # settled, rejected, duplicate, or waiting for a callback: delete the message
    RETRY = "retry"        # the unit did not answer: try again after the backoff
    GIVE_UP = "give_up"    # the last attempt failed: the message goes to the DLQ


def _now(session: Session) -> datetime:
    return session.scalar(text("SELECT clock_timestamp()"))


def _locked(session: Session, command_id: uuid.UUID) -> tuple[AcUnit, AcCommand] | None:
    """The command and its unit, locked (unit first, as everywhere), or None if the command is gone."""
    unit_id = session.scalar(select(AcCommand.ac_unit_id).where(AcCommand.id == command_id))
    if unit_id is None:
        return None
    unit = session.scalar(select(AcUnit).where(AcUnit.id == unit_id).with_for_update())
    command = session.scalar(select(AcCommand).where(AcCommand.id == command_id).with_for_update())
    return (unit, command) if unit is not None and command is not None else None


def _facts(session: Session, unit: AcUnit, command: AcCommand, now: datetime) -> interlocks.UnitFacts:
    sent_last_hour = session.scalar(
        select(func.count()).select_from(AcCommand).where(
            AcCommand.ac_unit_id == unit.id, AcCommand.id != command.id, AcCommand.sent_at > now - timedelta(hours=1))
    )
    return interlocks.UnitFacts(safety=unit.safety, state=unit.state or {}, state_updated_at=unit.state_updated_at,
                                registered_at=unit.created_at, last_off_at=unit.last_off_at,
                                sent_last_hour=sent_last_hour or 0)


def _event(session: Session, event_type: str, row: AcCommand, **details: Any) -> None:
    record_event(session, event_type, client_id=row.client_id, actor=ACTOR, subject_type="ac_command",
                 subject_id=row.id, details={"ac_unit_id": row.ac_unit_id} | details)


def _probe_state(session: Session, unit: AcUnit, command: AcCommand, now: datetime) -> None:
    """Ask a unit whose state is stale for its state (a status query, not a command); silent if unreachable."""
    body = message(unit, command.id, "status")
    try:
        reply = driver_for(unit).send(unit, body, str(command.id), get_climate_settings().send_timeout_seconds)
    except (Unreachable, OutboundRefused, SecretUnreadable) as exc:
        logger.info("stale AC unit did not answer the status query", extra={"unit": str(unit.id), "error": str(exc)})
        return
    unit_answered(session, unit)
    if reply.outcome == "acknowledged" and reply.state:
        apply_state(session, unit, reply.state, now, ACTOR)


def _claim(session: Session, command_id: uuid.UUID, message_id: str) -> tuple[AcUnit, AcCommand] | None:
    """Lock the command; claim it for this message (queued -> sent, after the interlocks) or take the next
    attempt of this message's retry. None when there is nothing to send (rejected, duplicate, gone)."""
    locked = _locked(session, command_id)
    if locked is None:
        logger.warning("AC command not found; message dropped", extra={"command_id": str(command_id)})
        return None
    unit, command = locked
    if command.status == "sent" and command.message_id == message_id:
        command.attempts += 1
        return unit, command
    if command.status != "queued":
        logger.info("duplicate AC command message ignored",
                    extra={"command_id": str(command_id), "status": command.status})
        return None
    now = _now(session)
    facts = _facts(session, unit, command, now)
    if interlocks.state_freshness(facts, command.command, now):
        _probe_state(session, unit, command, now)
        facts = _facts(session, unit, command, now)
    reason = interlocks.refusal(facts, command.command, now)
    if reason:
        command.status, command.reason = "rejected", reason
        _event(session, "ac.command.rejected", command, reason=reason, command=command.command)
        return None
    command.status, command.sent_at, command.message_id, command.attempts = "sent", now, message_id, 1
    _event(session, "ac.command.sent", command, command=command.command, driver=unit.driver)
    return unit, command


def settle(session: Session, unit: AcUnit, command: AcCommand, reply: Reply, actor: str = ACTOR) -> None:
    """Record the unit's answer to a sent command: acknowledged (and the unit's new state), or refused."""
    now = _now(session)
    unit_answered(session, unit)
    if reply.outcome == "acknowledged":
        command.status, command.acknowledged_at = "acknowledged", now
        _event(session, "ac.command.acknowledged", command, state=reply.state)
        if reply.state:
            apply_state(session, unit, reply.state, now, actor)
    elif reply.outcome == "refused":
        command.status, command.reason = "failed", f"refused by the unit: {reply.reason or 'no reason given'}"
        _event(session, "ac.command.failed", command, reason=command.reason)
    else:
        _event(session, "ac.command.accepted", command, note="the unit will acknowledge by callback")


def _unreachable(command_id: uuid.UUID, error: str, last_try: bool, refused: bool = False) -> Outcome:
    """Record a failed send; on the last try (or a refusal by the outbound policy) fail the command and alert."""
    with session_scope() as session:
        locked = _locked(session, command_id)
        if locked is None or locked[1].status != "sent":
            return Outcome.DONE
        unit, command = locked
        _event(session, "ac.command.attempt_failed", command, attempt=command.attempts, error=error,
               last_attempt=last_try or refused)
        if not (last_try or refused):
            return Outcome.RETRY
        command.status = "failed"
        command.reason = error if refused else f"unit unreachable after {command.attempts} attempts: {error}"
        _event(session, "ac.command.failed", command, reason=command.reason)
        unit_unreachable(session, unit, command, error)
        return Outcome.DONE if refused else Outcome.GIVE_UP


def deliver(command_id: uuid.UUID, message_id: str, receive_count: int) -> Outcome:
    """Process one queue message: claim, send, settle; what to do with the message."""
    settings = get_climate_settings()
    with session_scope() as session:
        claimed = _claim(session, command_id, message_id)
    if claimed is None:
        return Outcome.DONE
    unit, command = claimed
    with correlated(command.correlation_id):  # the request (or reading) that asked for it
        return _send(unit, command, settings, receive_count)


def _send(unit: AcUnit, command: AcCommand, settings: Any, receive_count: int) -> Outcome:
    command_id = command.id
    logger.info("sending AC command", extra={"command_id": str(command_id), "unit": str(unit.id),
                                             "attempt": command.attempts})
    body = message(unit, command.id, "command", command.command)
    try:
        reply = driver_for(unit).send(unit, body, str(command.id), settings.send_timeout_seconds)
    except (OutboundRefused, SecretUnreadable) as exc:  # no retry changes either: failed at once
        return _unreachable(command_id, str(exc), last_try=True, refused=True)
    except Unreachable as exc:
        return _unreachable(command_id, str(exc), receive_count >= settings.max_receives)
    with session_scope() as session:
        locked = _locked(session, command_id)
        if locked is not None and locked[1].status == "sent":
            settle(session, *locked, reply)
    return Outcome.DONE


def give_up_deferred(command_id: uuid.UUID) -> None:
    """A message held back behind a failing command of its unit ran out of receives: it goes to the DLQ
    unsent, so its command is failed too."""
    with session_scope() as session:
        locked = _locked(session, command_id)
        if locked is None or locked[1].status not in ("queued", "sent"):
            return
        command = locked[1]
        command.status = "failed"
        command.reason = "not delivered: an earlier command of the unit kept failing until this one's last attempt"
        _event(session, "ac.command.failed", command, reason=command.reason)


def _readable_secret(unit: AcUnit) -> str | None:
    """The unit's secret; None when its sealed value does not open (nothing can verify against it)."""
    try:
        return unit_secret(unit)
    except SecretUnreadable:
        logger.error("the AC unit's sealed secret does not open; register the unit again", extra={"unit": str(unit.id)})
        return None


def record_callback(session: Session, command_id: uuid.UUID, body: bytes, signature: str | None) -> AcCommand:
    """A controller's late acknowledgement (signed with the unit's secret) of a command it accepted."""
    if not signature:
        raise Unauthorized(f"the callback must be signed with the unit's secret ({SIGNATURE_HEADER})")
    locked = _locked(session, command_id)
    # A signature that does not verify is answered as an unknown command: a caller without the unit's
    # secret cannot tell another client's command ids from ids nobody has.
    if locked is None or not verify(_readable_secret(locked[0]), body, signature):
        raise NotFound("AC command not found")
    unit, command = locked
    try:
        payload = json.loads(body)
        reply = Reply.parse(payload) if isinstance(payload, dict) else None
    except (ValueError, Unreachable):
        reply = None
    if reply is None or reply.outcome == "accepted" or payload.get("command_id") != str(command_id):
        raise InvalidInput("the callback is invalid", details=[
            {"field": "body", "reason": 'expected {"command_id", "status": "acknowledged"|"refused", "state"}'}])
    if command.status == "acknowledged" and reply.outcome == "acknowledged":
        return command  # the same callback again
    if command.status != "sent":
        raise Conflict(f"the command is {command.status}, not awaiting an acknowledgement")
    settle(session, unit, command, reply, actor=f"ac_unit:{unit.id}")
    return command


# --- the batch ------------------------------------------------------------------------------------


def _receive_count(record: dict[str, Any]) -> int:
    return int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))


def _command_id(record: dict[str, Any]) -> uuid.UUID | None:
    try:
        return uuid.UUID(json.loads(record["body"])["command_id"])
    except (ValueError, KeyError, TypeError):
        return None


def _backoff(receive_count: int) -> int:
    delays = get_climate_settings().backoff_seconds or [0]
    return delays[min(receive_count - 1, len(delays) - 1)]


def _delay(records: list[dict[str, Any]], seconds: int) -> None:
    """Make the messages visible again after `seconds` (failures are logged: the queue's timeout applies)."""
    queue_url = get_settings().ac_commands_queue_url
    if not queue_url or not records:
        return
    entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": seconds}
               for i, r in enumerate(records)]
    try:
        client("sqs").change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    except Exception:  # noqa: BLE001 - the visibility timeout brings them back anyway
        logger.exception("could not change the AC messages' visibility")


def _process(record: dict[str, Any]) -> Outcome:
    command_id = _command_id(record)
    if command_id is None:
        logger.error("malformed AC command message; sent to the DLQ", extra={"body": record.get("body")})
        return Outcome.GIVE_UP
    try:
        return deliver(command_id, record["messageId"], _receive_count(record))
    except Exception:  # noqa: BLE001 - database or queue trouble: try the message again later
        logger.exception("AC command delivery failed", extra={"command_id": str(command_id)})
        return Outcome.RETRY


def drain_group(records: list[dict[str, Any]]) -> list[str]:
    """One unit's messages, in order; the ids of those to report as failures (the first one not done and
    every later one, each delayed by that one's backoff)."""
    max_receives = get_climate_settings().max_receives
    for position, record in enumerate(records):
        outcome = _process(record)
        if outcome is Outcome.DONE:
            continue
        held = records[position:]
        for later in held[1:]:
            command_id = _command_id(later)
            if command_id is not None and _receive_count(later) >= max_receives:
                give_up_deferred(command_id)
        _delay(held, 0 if outcome is Outcome.GIVE_UP else _backoff(_receive_count(record)))
        return [r["messageId"] for r in held]
    return []


def handle_batch(records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """A Lambda SQS batch (FIFO, ReportBatchItemFailures): units in parallel, each unit's messages in order."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[record.get("attributes", {}).get("MessageGroupId", record["messageId"])].append(record)
    with ThreadPoolExecutor(max_workers=max(1, min(_GROUP_WORKERS, len(groups)))) as pool:
        failed = {message_id for ids in pool.map(drain_group, groups.values()) for message_id in ids}
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if r["messageId"] in failed]}
