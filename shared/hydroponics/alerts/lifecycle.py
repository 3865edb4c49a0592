"""Alerts as rules open and resolve them: one unresolved alert per rule and sensor, repeats counted on it.

Opening is one INSERT .. ON CONFLICT on the partial unique index (one unresolved alert per rule and
sensor): a new alert is recorded with its silence (if one is active), logged as `alert.opened`, and
its `alert` notifications queued on the rule's channels (suppressed when silenced); an alert already
open only has its repeat count, last_seen_at and value bumped, and nobody is notified again.
Resolving (the condition cleared) marks it resolved by 'rule', logs `alert.resolved` and queues the
`resolved` notifications. The notification rows commit with the alert change (the outbox).
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal_column, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from hydroponics.alerts.silencing import active_silence, matching_silence
from hydroponics.db.models import Alert, Silence
from hydroponics.db.sql import statement
from hydroponics.events import record_event
from hydroponics.notifications.outbox import queue_notifications
from hydroponics.rules.cache import ActiveRule

ACTOR = "rules"


@dataclass(frozen=True)
class Notice:
    """The human message of an alert change: a one-line subject and the body sent to channels."""

    subject: str
    body: str


@dataclass(frozen=True)
class AlertChange:
    """An alert a rule touched, whether it was newly opened, and the notifications queued for it."""

    alert: Alert
    opened: bool
    notifications: tuple[uuid.UUID, ...] = ()


def open_or_repeat(session: Session, rule: ActiveRule, *, sensor_id: uuid.UUID, location: str | None,
                   value: float | None, seen_at: datetime | None, notice: Notice, now: datetime,
                   repeats: int = 0, silences: Sequence[Silence] | None = None) -> AlertChange:
    """Open the rule's alert for this sensor, or count a repeat on the one already open.

    `repeats` are further breaching readings seen after this one (counted on the alert either way).
    `silences`: the clients' active silences when the caller loaded them already, else one query.
    """
    silence = (matching_silence(silences, rule.client_id, rule.id, sensor_id, location, now) if silences is not None
               else active_silence(session, rule.client_id, rule.id, sensor_id, location, now))
    statement = (
        insert(Alert)
        .values(client_id=rule.client_id, rule_id=rule.id, sensor_id=sensor_id, severity=rule.severity,
                message=notice.body, value=value, repeat_count=repeats, last_seen_at=seen_at,
                silence_id=silence.id if silence else None)
        .on_conflict_do_update(
            index_elements=[Alert.rule_id, Alert.sensor_id],
            index_where=Alert.status != "resolved",
            set_={"repeat_count": Alert.repeat_count + 1 + repeats,
                  "last_seen_at": func.greatest(Alert.last_seen_at, insert(Alert).excluded.last_seen_at),
                  "value": insert(Alert).excluded.value})
        .returning(Alert, literal_column("(xmax = 0)").label("opened"))
    )
    alert, opened = session.execute(statement).one()
    if not opened:
        return AlertChange(alert, opened=False)
    record_event(session, "alert.opened", client_id=rule.client_id, actor=ACTOR, subject_type="alert",
                 subject_id=alert.id, details={"rule_id": rule.id, "rule": rule.name, "sensor_id": sensor_id,
                                               "severity": rule.severity, "value": value, "seen_at": seen_at,
                                               "silence_id": alert.silence_id, "message": notice.body})
    queued = queue_notifications(session, alert, kind="alert", channel_names=rule.channels,
                                 subject=notice.subject, body=notice.body)
    return AlertChange(alert, opened=True, notifications=tuple(queued))


@dataclass(frozen=True)
class Repeats:
    """Further breaches of a rule already firing for a sensor: counted on its open alert, nobody notified."""

    rule_id: uuid.UUID
    sensor_id: uuid.UUID
    count: int
    value: float | None
    seen_at: datetime | None


_COUNT_REPEATS = statement("""
UPDATE alerts a SET repeat_count = a.repeat_count + t.count, value = t.value,
                    last_seen_at = greatest(a.last_seen_at, t.seen_at)
FROM json_to_recordset(CAST(:repeats AS json)) AS t(rule_id uuid, sensor_id uuid, count integer, value float8,
                                                     seen_at timestamptz)
WHERE a.rule_id = t.rule_id AND a.sensor_id = t.sensor_id AND a.status <> 'resolved'
""")


def count_repeats(session: Session, repeats: Sequence[Repeats]) -> int:
    """Count further breaches on the open alerts, all pairs in one statement; returns the alerts bumped."""
    if not repeats:
        return 0
    rows = [{"rule_id": str(r.rule_id), "sensor_id": str(r.sensor_id), "count": r.count, "value": r.value,
             "seen_at": r.seen_at.isoformat() if r.seen_at else None} for r in repeats]
    return session.execute(_COUNT_REPEATS, {"repeats": json.dumps(rows)}).rowcount


def resolve_automatically(session: Session, rule: ActiveRule, *, sensor_id: uuid.UUID, value: float | None,
                          cleared_at: datetime | None, notice: Notice) -> AlertChange | None:
    """Resolve the rule's unresolved alert for this sensor (the condition cleared); None if none was open."""
    alert = session.scalars(
        update(Alert)
        .where(Alert.rule_id == rule.id, Alert.sensor_id == sensor_id, Alert.status != "resolved")
        .values(status="resolved", resolved_at=func.now(), resolved_by="rule")
        .returning(Alert)
        .execution_options(synchronize_session=False)
    ).first()
    if alert is None:
        return None
    record_event(session, "alert.resolved", client_id=rule.client_id, actor=ACTOR, subject_type="alert",
                 subject_id=alert.id, details={"rule_id": rule.id, "rule": rule.name, "sensor_id": sensor_id,
                                               "resolved_by": "rule", "value": value, "cleared_at": cleared_at})
    queued = queue_notifications(session, alert, kind="resolved", channel_names=rule.channels,
                                 subject=notice.subject, body=notice.body)
    return AlertChange(alert, opened=False, notifications=tuple(queued))
