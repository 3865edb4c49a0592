"""Escalation policies, and the minute job that escalates alerts nobody has acknowledged.

A policy is a list of levels, `[{"after_seconds": 300, "channels": ["on-call"]}, ...]`. A rule naming a
policy has its unacknowledged alerts escalated one level at a time: level N+1 is reached once its
`after_seconds` have passed since level N was reached; for the first level, since the alert opened.
So `[{"after_seconds": 300}, {"after_seconds": 900}]` escalates 5 minutes after opening, then 15
minutes after that (20 after opening). Levels must have ascending delays.

Only `open` alerts escalate: acknowledging stops it, resolving ends it, and a silenced alert (opened
under a silence, or matched by an active silence now) is left alone. Each escalation raises
escalation_level, stamps last_escalated_at, queues one `escalation` message per channel of the level
(kind "escalation", escalation_level = the new level) and is an `alert.escalated` event. Alerts are
claimed with FOR UPDATE SKIP LOCKED, so concurrent runs escalate each alert once; the outbox's
idempotency key (alert, channel, kind, level) would refuse a second message anyway.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from hydroponics.alerts.silences import MATCHES_ALERT
from hydroponics.db.models import Alert, EscalationPolicy, Rule
from hydroponics.db.sql import MOMENT, statement
from hydroponics.errors import Conflict, InvalidInput, NotFound
from hydroponics.events import record_event
from hydroponics.notifications.outbox import queue_notifications, unknown_channels
from hydroponics.records.events import changes
from hydroponics.rules import cache

JOB_ACTOR = "scheduler"
MAX_LEVELS = 10
MAX_DELAY_SECONDS = 7 * 86400
BATCH = 500  # alerts escalated per run at most; the next minute takes the rest
POLICY_COLUMNS = ("id", "name", "levels", "created_at", "updated_at")

# Open, unsilenced alerts of rules with a policy whose next level is due, claimed for this run.
_DUE = statement(f"""
SELECT a.id, a.escalation_level + 1 AS level, p.levels -> a.escalation_level -> 'channels' AS channels,
       r.name AS rule_name
FROM alerts a
JOIN rules r ON r.id = a.rule_id
JOIN escalation_policies p ON p.id = r.escalation_policy_id
LEFT JOIN sensors s ON s.id = a.sensor_id
WHERE a.status = 'open' AND a.silence_id IS NULL
  AND a.escalation_level < jsonb_array_length(p.levels)
  AND coalesce(a.last_escalated_at, a.opened_at)
      + make_interval(secs => (p.levels -> a.escalation_level ->> 'after_seconds')::double precision) <= :now
  AND NOT EXISTS (SELECT 1 FROM silences si WHERE {MATCHES_ALERT})
ORDER BY a.opened_at, a.id
LIMIT :batch
FOR UPDATE OF a SKIP LOCKED
""", now=MOMENT)


def _as_dict(policy: EscalationPolicy) -> dict[str, Any]:
    return {column: getattr(policy, column) for column in POLICY_COLUMNS}


def _level_problems(session: Session, client_id: UUID, levels: Any) -> list[dict[str, str]]:
    if not isinstance(levels, list) or not levels:
        return [{"field": "levels", "reason": "must list at least one level"}]
    if len(levels) > MAX_LEVELS:
        return [{"field": "levels", "reason": f"at most {MAX_LEVELS} levels"}]
    problems: list[dict[str, str]] = []
    previous = 0
    for n, level in enumerate(levels):
        where = f"levels.{n}"
        if not isinstance(level, dict) or set(level) != {"after_seconds", "channels"}:
            problems.append({"field": where, "reason": "must be {after_seconds, channels}"})
            continue
        delay, channels = level["after_seconds"], level["channels"]
        if isinstance(delay, bool) or not isinstance(delay, int) or not 0 < delay <= MAX_DELAY_SECONDS:
            problems.append({"field": f"{where}.after_seconds",
                             "reason": f"a whole number of seconds, 1 to {MAX_DELAY_SECONDS}"})
        elif delay <= previous:
            problems.append({"field": f"{where}.after_seconds", "reason": "must be more than the previous level's"})
        else:
            previous = delay
        if not isinstance(channels, list) or not channels or not all(isinstance(c, str) for c in channels):
            problems.append({"field": f"{where}.channels", "reason": "must name at least one channel"})
        else:
            problems += unknown_channels(session, client_id, channels, f"{where}.channels")
    return problems


def _checked(session: Session, client_id: UUID, name: Any, levels: Any) -> str:
    problems = []
    if not isinstance(name, str) or not name.strip():
        problems.append({"field": "name", "reason": "must not be empty"})
    problems += _level_problems(session, client_id, levels)
    if problems:
        raise InvalidInput("escalation policy is invalid", details=problems)
    return name.strip()


def _name_taken(name: str) -> Conflict:
    return Conflict(f"an escalation policy named {name!r} exists",
                    details=[{"field": "name", "reason": "already used by another policy"}])


def client_policy(session: Session, client_id: UUID, policy_id: UUID, for_update: bool = False) -> EscalationPolicy:
    query = select(EscalationPolicy).where(EscalationPolicy.id == policy_id, EscalationPolicy.client_id == client_id)
    policy = session.scalar(query.with_for_update() if for_update else query)
    if policy is None:
        raise NotFound(f"escalation policy {policy_id} not found")
    return policy


def create_policy(session: Session, client_id: UUID, name: str, levels: list[dict[str, Any]],
                  actor: str) -> dict[str, Any]:
    """Store a validated policy (409 if the name is taken); event escalation_policy.created."""
    name = _checked(session, client_id, name, levels)
    policy_id = session.scalar(insert(EscalationPolicy).values(client_id=client_id, name=name, levels=levels)
                               .on_conflict_do_nothing(index_elements=["client_id", "name"])
                               .returning(EscalationPolicy.id))
    if policy_id is None:
        raise _name_taken(name)
    record_event(session, "escalation_policy.created", client_id=client_id, actor=actor,
                 subject_type="escalation_policy", subject_id=policy_id, details={"name": name, "levels": levels})
    return _as_dict(client_policy(session, client_id, policy_id))


def get_policy(session: Session, client_id: UUID, policy_id: UUID) -> dict[str, Any]:
    return _as_dict(client_policy(session, client_id, policy_id))


def list_policies(session: Session, client_id: UUID) -> list[dict[str, Any]]:
    """All of the client's policies by name (a farm has a handful: no pages)."""
    policies = session.scalars(select(EscalationPolicy).where(EscalationPolicy.client_id == client_id)
                               .order_by(EscalationPolicy.name, EscalationPolicy.id))
    return [_as_dict(policy) for policy in policies]


def update_policy(session: Session, client_id: UUID, policy_id: UUID, fields: dict[str, Any],
                  actor: str) -> dict[str, Any]:
    """Rename it or replace its levels; alerts already escalated keep their level. Event escalation_policy.updated."""
    unknown = set(fields) - {"name", "levels"}
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    policy = client_policy(session, client_id, policy_id, for_update=True)
    before = {"name": policy.name, "levels": policy.levels}
    merged = before | fields
    name = _checked(session, client_id, merged["name"], merged["levels"])
    if name != policy.name and session.scalar(select(EscalationPolicy.id).where(
            EscalationPolicy.client_id == client_id, EscalationPolicy.name == name)) is not None:
        raise _name_taken(name)
    policy.name, policy.levels = name, merged["levels"]
    session.flush()
    changed = changes(before, {"name": policy.name, "levels": policy.levels})
    if changed:
        record_event(session, "escalation_policy.updated", client_id=client_id, actor=actor,
                     subject_type="escalation_policy", subject_id=policy_id, details={"changes": changed})
    session.refresh(policy)
    return _as_dict(policy)


def delete_policy(session: Session, client_id: UUID, policy_id: UUID, actor: str) -> None:
    """Delete it; rules naming it no longer escalate. Event escalation_policy.deleted (with those rules)."""
    policy = client_policy(session, client_id, policy_id, for_update=True)
    rules = [str(rule_id) for rule_id in session.scalars(select(Rule.id).where(Rule.escalation_policy_id == policy_id))]
    record_event(session, "escalation_policy.deleted", client_id=client_id, actor=actor,
                 subject_type="escalation_policy", subject_id=policy_id,
                 details={"name": policy.name, "levels": policy.levels, "rules": rules})
    session.delete(policy)
    session.flush()
    if rules:
        cache.forget(client_id)  # the rules lost their policy: drop the cached copies


def escalation_message(alert: Alert, rule_name: str, level: int, now: datetime) -> tuple[str, str]:
    """Subject and body of an `escalation` notification."""
    subject = f"[ESCALATED L{level}] [{alert.severity.upper()}] {rule_name}"
    body = (f"{alert.message}\nOpen since {alert.opened_at:%Y-%m-%d %H:%M:%S} UTC and not acknowledged"
            f" (escalation level {level}, at {now:%Y-%m-%d %H:%M:%S} UTC).")
    return subject, body


def escalate_unacknowledged(session: Session, now: datetime) -> dict[str, Any]:
    """The minute job: escalate every due, open, unsilenced alert by one level (see the module's docstring)."""
    due = session.execute(_DUE, {"now": now, "batch": BATCH}).all()
    if not due:
        return {"escalated": 0, "notifications": 0}
    alerts = {alert.id: alert for alert in session.scalars(select(Alert).where(Alert.id.in_([row.id for row in due])))}
    queued = 0
    for row in due:
        alert = alerts[row.id]
        alert.escalation_level, alert.last_escalated_at = row.level, now
        session.flush()
        channels = row.channels if isinstance(row.channels, list) else []
        subject, body = escalation_message(alert, row.rule_name, row.level, now)
        sent = queue_notifications(session, alert, kind="escalation", channel_names=channels, subject=subject,
                                   body=body, level=row.level)
        queued += len(sent)
        record_event(session, "alert.escalated", client_id=alert.client_id, actor=JOB_ACTOR, subject_type="alert",
                     subject_id=alert.id, details={"level": row.level, "channels": channels,
                                                   "notifications": len(sent)})
    return {"escalated": len(due), "notifications": queued}
