"""AC commands: validated against the unit's capabilities, recorded `queued`, published to the FIFO queue
after the commit (grouped by unit, deduplicated by command id); followed by id; the rules' entry point.

Should the publish fail (SQS unreachable, a crash after the commit), the row stays `queued` and
`requeue_stale_queued` (for the minute job) finds it to publish again; the queue's deduplication
and the worker's claim make a command published twice apply once.
"""

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from hydroponics.aws import client
from hydroponics.correlation import current_correlation_id
from hydroponics.climate.units import SETTINGS, get_unit
from hydroponics.db.models import AcCommand
from hydroponics.errors import InvalidInput, NotFound
from hydroponics.events import record_event
from hydroponics.observability import logger
from hydroponics.records.pagination import Keyset, Page, PageRequest
from hydroponics.settings import get_settings
from hydroponics.text import identifier

Source = Literal["operator", "rule"]
STALE_QUEUED = timedelta(minutes=2)  # a queued command this old has probably lost its queue message
COMMAND_ORDER = Keyset("ac_commands", {"c.created_at": datetime, "c.id": uuid.UUID}, descending=True)
_SQS_BATCH = 10
_STAGED = "ac_commands_to_publish"


class Command(BaseModel):
    """What to change on the unit; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    power: Literal["on", "off"] | None = None
    mode: identifier(30) | None = None
    setpoint: float | None = Field(None, allow_inf_nan=False, description="degrees Celsius")
    fan: identifier(30) | None = None

    @model_validator(mode="after")
    def _something(self) -> "Command":
        if all(getattr(self, name) is None for name in SETTINGS):
            raise ValueError("set at least one of power, mode, setpoint, fan")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def capability_problems(capabilities: dict[str, Any], command: Command) -> list[dict[str, str]]:
    """Where the command asks for something the unit cannot do."""
    problems = []
    if command.mode is not None and command.mode not in capabilities.get("modes", []):
        problems.append({"field": "command.mode", "reason": f"the unit's modes are {capabilities.get('modes')}"})
    if command.fan is not None and command.fan not in capabilities.get("fan_speeds", []):
        problems.append({"field": "command.fan",
                         "reason": f"the unit's fan speeds are {capabilities.get('fan_speeds')}"})
    low, high = capabilities.get("setpoint_min"), capabilities.get("setpoint_max")
    if command.setpoint is not None and not low <= command.setpoint <= high:
        problems.append({"field": "command.setpoint", "reason": f"the unit's setpoint range is {low}..{high}"})
    return problems


def _parsed(command: Command | dict[str, Any]) -> Command:
    if isinstance(command, Command):
        return command
    try:
        return Command.model_validate(command)
    except ValidationError as exc:
        details = [{"field": ".".join(["command", *(str(p) for p in err["loc"])]), "reason": err["msg"]}
                   for err in exc.errors()]
        raise InvalidInput("the command is invalid", details=details) from None


def request_command(session: Session, client_id: uuid.UUID, unit_id: uuid.UUID, command: Command | dict[str, Any],
                    source: Source, requested_by: str | None) -> AcCommand:
    """Record a command `queued` for the unit (404 another client's; 422 beyond its capabilities); it is
    published to the unit's FIFO group once the session commits. The interlocks run at delivery."""
    unit = get_unit(session, client_id, unit_id)
    parsed = _parsed(command)
    problems = capability_problems(unit.capabilities, parsed)
    if problems:
        raise InvalidInput("the unit cannot do that", details=problems)
    row = AcCommand(client_id=client_id, ac_unit_id=unit.id, source=source, requested_by=requested_by,
                    command=parsed.changes(), status="queued", correlation_id=current_correlation_id())
    session.add(row)
    session.flush()
    session.refresh(row)
    record_event(session, "ac.command.requested", client_id=client_id, actor=requested_by or source,
                 subject_type="ac_command", subject_id=row.id,
                 details={"ac_unit_id": unit.id, "unit": unit.name, "source": source, "command": row.command})
    stage(session, [(row.id, unit.id)])
    return row


def request_rule_action(session: Session, client_id: uuid.UUID, rule_id: uuid.UUID,
                        action: dict[str, Any]) -> AcCommand | None:
    """The closed loop's entry point: a rule's action {"ac_unit_id", "command"} as a `rule` command.

    None when it would change nothing: the unit's last known state already matches and no earlier
    command of the unit is still on its way (so a firing rule does not spend the unit's hourly budget).
    """
    try:
        unit_id = uuid.UUID(str(action["ac_unit_id"]))
    except (KeyError, ValueError):
        raise InvalidInput("the action is invalid",
                           details=[{"field": "action.ac_unit_id", "reason": "must be an AC unit id"}]) from None
    parsed = _parsed(action.get("command") or {})
    unit = get_unit(session, client_id, unit_id)
    pending = session.scalar(select(AcCommand.id).where(AcCommand.ac_unit_id == unit.id,
                                                        AcCommand.status.in_(("queued", "sent"))).limit(1))
    if pending is None and all(unit.state.get(key) == value for key, value in parsed.changes().items()):
        return None
    return request_command(session, client_id, unit.id, parsed, "rule", f"rule:{rule_id}")


def get_command(session: Session, client_id: uuid.UUID, command_id: uuid.UUID) -> AcCommand:
    row = session.scalar(select(AcCommand).where(AcCommand.id == command_id, AcCommand.client_id == client_id))
    if row is None:
        raise NotFound("AC command not found")
    return row


def list_unit_commands(session: Session, client_id: uuid.UUID, unit_id: uuid.UUID,
                       request: PageRequest) -> Page[dict[str, Any]]:
    """The unit's commands, newest first."""
    get_unit(session, client_id, unit_id)
    page = COMMAND_ORDER.clause(request)
    rows = session.execute(
        text(f"SELECT c.* FROM ac_commands c WHERE c.ac_unit_id = :unit_id AND {page.after}"
             f" ORDER BY {page.order_by} {page.limit}"),
        {"unit_id": unit_id} | page.params,
    )
    return COMMAND_ORDER.page([dict(row._mapping) for row in rows], request)


def stage(session: Session, commands: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """Remember (command id, unit id) pairs to publish once this session's transaction commits."""
    session.info.setdefault(_STAGED, []).extend(commands)


def publish(commands: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> int:
    """Send {"command_id"} messages to the FIFO queue, grouped by unit and deduplicated by command id,
    in the order given; returns how many were queued. Failures are logged (the sweep queues them again)."""
    queue_url = get_settings().ac_commands_queue_url
    if not commands:
        return 0
    if not queue_url:
        logger.warning("AC_COMMANDS_QUEUE_URL is not set; commands wait for the sweep", extra={"count": len(commands)})
        return 0
    queued = 0
    for start in range(0, len(commands), _SQS_BATCH):
        chunk = commands[start:start + _SQS_BATCH]
        entries = [{"Id": str(i), "MessageBody": json.dumps({"command_id": str(command_id)}),
                    "MessageGroupId": str(unit_id), "MessageDeduplicationId": str(command_id)}
                   for i, (command_id, unit_id) in enumerate(chunk)]
        try:
            reply = client("sqs").send_message_batch(QueueUrl=queue_url, Entries=entries)
            queued += len(reply.get("Successful", []))
            for failure in reply.get("Failed", []):
                logger.error("AC command not queued; the sweep will retry", extra={"failure": failure})
        except Exception:  # noqa: BLE001 - the sweep will queue them again
            logger.exception("could not queue AC commands; the sweep will retry", extra={"count": len(chunk)})
    return queued


def requeue_stale_queued(session: Session, now: datetime | None = None) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(command id, unit id) of queued commands old enough that their message was probably lost, oldest first."""
    moment = now if now is not None else session.scalar(text("SELECT now()"))
    rows = session.execute(
        select(AcCommand.id, AcCommand.ac_unit_id)
        .where(AcCommand.status == "queued", AcCommand.created_at < moment - STALE_QUEUED)
        .order_by(AcCommand.created_at)
        .limit(500)
    )
    return [(row.id, row.ac_unit_id) for row in rows]


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the transaction has not committed yet
        return
    commands = session.info.pop(_STAGED, None)
    if commands:
        publish(commands)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint rolled back: what the transaction staged before stays
        return
    session.info.pop(_STAGED, None)

