"""Operators' side of alerts: list and read them, acknowledge (stops escalation) and resolve by hand.

An alert goes open -> acknowledged -> resolved (an open alert may also be resolved directly). Resolving
by hand does what the condition clearing does: the rule's state for the sensor goes back to `ok`
(so a breach still there opens a fresh alert) and the rule's channels get one `resolved` message.
Both changes are in the events log (alert.acknowledged, alert.resolved).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hydroponics.db.models import AcUnit, Alert, Rule, RuleState
from hydroponics.db.sql import statement
from hydroponics.errors import Conflict, NotFound
from hydroponics.events import record_event
from hydroponics.notifications.outbox import queue_notifications
from hydroponics.records.pagination import Keyset, Page, PageRequest

ALERT_ORDER = Keyset("alerts", {"a.opened_at": datetime, "a.id": UUID}, descending=True)

_COLUMNS = """
a.id, a.rule_id, r.name AS rule_name, a.sensor_id, s.external_id AS sensor_external_id, s.sensor_type,
s.location, a.severity, a.status, a.message, a.value, a.opened_at, a.last_seen_at, a.repeat_count,
a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.escalation_level, a.last_escalated_at,
a.silence_id, a.ac_unit_id
"""
_FROM = "alerts a LEFT JOIN rules r ON r.id = a.rule_id LEFT JOIN sensors s ON s.id = a.sensor_id"


@dataclass(frozen=True)
class AlertFilter:
    """Which of the client's alerts to list; None means any. `since` (inclusive) bounds opened_at."""

    status: str | None = None
    severity: str | None = None
    sensor_id: UUID | None = None
    rule_id: UUID | None = None
    since: datetime | None = None


def list_alerts(session: Session, client_id: UUID, filters: AlertFilter, request: PageRequest) -> Page[dict[str, Any]]:
    """A page of the client's alerts, newest opened first, with the rule's name and the sensor's id."""
    page = ALERT_ORDER.clause(request)
    tests = {"status": "a.status = :status", "severity": "a.severity = :severity",
             "sensor_id": "a.sensor_id = :sensor_id", "rule_id": "a.rule_id = :rule_id",
             "since": "a.opened_at >= :since"}
    given = {name: getattr(filters, name) for name in tests if getattr(filters, name) is not None}
    conditions = "".join(f" AND {tests[name]}" for name in given)
    rows = session.execute(statement(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE a.client_id = :client_id{conditions} AND {page.after}"
        f" ORDER BY {page.order_by} {page.limit}"), {"client_id": client_id} | given | page.params)
    return ALERT_ORDER.page([dict(row) for row in rows.mappings()], request)


def get_alert(session: Session, client_id: UUID, alert_id: UUID) -> dict[str, Any]:
    row = session.execute(statement(f"SELECT {_COLUMNS} FROM {_FROM} WHERE a.id = :id AND a.client_id = :client_id"),
                          {"id": alert_id, "client_id": client_id}).mappings().first()
    if row is None:
        raise NotFound(f"alert {alert_id} not found")
    return dict(row)


def _locked_alert(session: Session, client_id: UUID, alert_id: UUID) -> Alert:
    alert = session.scalar(select(Alert).where(Alert.id == alert_id, Alert.client_id == client_id).with_for_update())
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    return alert


def acknowledge_alert(session: Session, client_id: UUID, alert_id: UUID, actor: str, now: datetime,
                      note: str | None = None) -> dict[str, Any]:
    """open -> acknowledged: someone is on it, escalation stops. 409 unless the alert is open."""
    alert = _locked_alert(session, client_id, alert_id)
    if alert.status != "open":
        raise Conflict(f"alert is {alert.status}, not open", details=[{"field": "status", "reason": alert.status}])
    alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", now, actor
    session.flush()
    record_event(session, "alert.acknowledged", client_id=client_id, actor=actor, subject_type="alert",
                 subject_id=alert_id, details={"escalation_level": alert.escalation_level, "note": note})
    return get_alert(session, client_id, alert_id)


def resolved_message(alert: Alert, rule: Rule | None, resolved_by: str | None, now: datetime,
                     note: str | None = None) -> tuple[str, str]:
    """Subject and body of a `resolved` notification."""
    name = rule.name if rule is not None else "alert"
    subject = f"[RESOLVED] {name}"
    who = f" by {resolved_by}" if resolved_by else ""
    body = f"{alert.message}\nResolved{who} at {now:%Y-%m-%d %H:%M:%S} UTC."
    if note:
        body += f"\nNote: {note}"
    return subject, body


def resolve_alert(session: Session, client_id: UUID, alert_id: UUID, actor: str, now: datetime,
                  note: str | None = None) -> dict[str, Any]:
    """open/acknowledged -> resolved by an operator: rule state back to ok, one `resolved` message
    to the rule's channels (suppressed if the alert was silenced). 409 if already resolved."""
    alert = _locked_alert(session, client_id, alert_id)
    if alert.status == "resolved":
        raise Conflict("alert is already resolved", details=[{"field": "status", "reason": "resolved"}])
    previous = alert.status
    alert.status, alert.resolved_at, alert.resolved_by = "resolved", now, actor
    session.flush()
    rule = session.get(Rule, alert.rule_id) if alert.rule_id is not None else None
    if alert.rule_id is not None and alert.sensor_id is not None:
        session.execute(update(RuleState).where(RuleState.rule_id == alert.rule_id,
                                                RuleState.sensor_id == alert.sensor_id)
                        .values(state="ok", pending_since=None))
    channels = rule.channels if rule is not None else []
    if alert.ac_unit_id is not None:  # an unreachable AC unit's alert: the unit's channels
        unit = session.get(AcUnit, alert.ac_unit_id)
        channels = unit.alert_channels if unit is not None else []
    queued = []
    if channels:
        subject, body = resolved_message(alert, rule, actor, now, note)
        queued = queue_notifications(session, alert, kind="resolved", channel_names=channels,
                                     subject=subject, body=body)
    record_event(session, "alert.resolved", client_id=client_id, actor=actor, subject_type="alert",
                 subject_id=alert_id, details={"from": previous, "note": note, "notifications": len(queued)})
    return get_alert(session, client_id, alert_id)
