"""An unreachable AC unit's alert: one open per unit, failures counted on it, resolved when it answers.

The alert has no rule; it goes to the unit's own `alert_channels` (none: recorded, nobody told). Any
answer from the unit later (a command acknowledged or refused, a status reply) resolves it and tells
the same channels, so operators are not left with an alert about a unit that is back.
"""

from sqlalchemy import literal_column, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from hydroponics.db.models import AcCommand, AcUnit, Alert
from hydroponics.events import record_event
from hydroponics.notifications.outbox import queue_notifications

ACTOR = "ac_control"


def unit_unreachable(session: Session, unit: AcUnit, command: AcCommand, error: str) -> tuple[Alert, bool]:
    """Open the unit's critical alert, or count this failure on the one already open; (alert, opened)."""
    message = (f"AC unit {unit.name!r} ({unit.location}) is unreachable: command {command.id} "
               f"failed after {command.attempts} attempts ({error})")
    statement = (
        insert(Alert)
        .values(client_id=unit.client_id, ac_unit_id=unit.id, severity="critical", message=message)
        .on_conflict_do_update(index_elements=[Alert.ac_unit_id], index_where=Alert.status != "resolved",
                               set_={"repeat_count": Alert.repeat_count + 1, "last_seen_at": literal_column("now()")})
        .returning(Alert, literal_column("(xmax = 0)").label("opened"))
    )
    alert, opened = session.execute(statement).one()
    if not opened:
        return alert, False
    queued = queue_notifications(session, alert, kind="alert", channel_names=unit.alert_channels,
                                 subject=f"[critical] AC unit {unit.name} at {unit.location} unreachable",
                                 body=message)
    record_event(session, "alert.opened", client_id=unit.client_id, actor=ACTOR, subject_type="alert",
                 subject_id=alert.id, details={"ac_unit_id": unit.id, "ac_command_id": command.id,
                                               "severity": "critical", "message": message,
                                               "notifications": len(queued)})
    return alert, True


def unit_answered(session: Session, unit: AcUnit) -> Alert | None:
    """The unit answered: resolve its unreachable alert, if one is open (and tell its channels)."""
    alert = session.scalars(
        update(Alert)
        .where(Alert.ac_unit_id == unit.id, Alert.status != "resolved")
        .values(status="resolved", resolved_at=literal_column("now()"), resolved_by=ACTOR)
        .returning(Alert)
        .execution_options(synchronize_session=False)
    ).first()
    if alert is None:
        return None
    message = f"AC unit {unit.name!r} ({unit.location}) answers again."
    queued = queue_notifications(session, alert, kind="resolved", channel_names=unit.alert_channels,
                                 subject=f"[resolved] AC unit {unit.name} at {unit.location} reachable again",
                                 body=f"{alert.message}\n{message}")
    record_event(session, "alert.resolved", client_id=unit.client_id, actor=ACTOR, subject_type="alert",
                 subject_id=alert.id, details={"ac_unit_id": unit.id, "resolved_by": ACTOR,
                                               "notifications": len(queued)})
    return alert
