"""A client's alert rules: create, list, read, change and delete them, each change validated and audited.

A rule watches one scope of the client's sensors:
- a sensor (`sensor_id`; then sensor_type, location and crop_id stay empty: the sensor fixes them),
- a crop (`crop_id`, optionally narrowed to a `sensor_type`; the crop's location is used, so `location`
  stays empty),
- a sensor type and/or a location (`sensor_type`, `location`).
A rule with no scope at all is refused, and a threshold condition (above, below, rate_of_change)
needs one sensor type: a threshold in pH means nothing to an EC probe. Referenced ids that are not
the client's answer 404 naming the field (another client's id is never told apart from a missing one);
channels are the client's channel names. An `action` is an AC command to request when the rule fires
(rules/actions.py): its unit must be the client's (404 naming action.ac_unit_id) and able to do it.
Every change forgets the client's cached rules and goes in the events log (rule.created /
rule.updated / rule.deleted).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, aliased

from hydroponics.db.models import Alert, Crop, EscalationPolicy, Rule, Sensor
from hydroponics.errors import InvalidInput, NotFound
from hydroponics.events import record_event
from hydroponics.notifications.outbox import unknown_channels
from hydroponics.readings.sensor_types import SENSOR_TYPES, canonical_sensor_type
from hydroponics.records.events import changes
from hydroponics.records.pagination import Keyset, Page, PageRequest
from hydroponics.rules import cache
from hydroponics.rules.actions import RuleAction, check_rule_action, parse_rule_action
from hydroponics.rules.conditions import KINDS, parse_condition

SEVERITIES = ("info", "warning", "critical")
THRESHOLD_KINDS = ("above", "below", "rate_of_change")  # compare one sensor type's values
EDITABLE = ("name", "sensor_id", "sensor_type", "location", "crop_id", "condition", "severity", "channels",
            "action", "escalation_policy_id", "is_enabled")
RULE_ORDER = Keyset("rules", {"r.created_at": datetime, "r.id": UUID}, descending=True)
RULE_COLUMNS = ("id", "name", "sensor_id", "sensor_type", "location", "crop_id", "condition", "severity",
                "channels", "action", "escalation_policy_id", "is_enabled", "created_at", "updated_at")


@dataclass(frozen=True)
class RuleFilter:
    """Which of the client's rules to list; None means any."""

    severity: str | None = None
    sensor_id: UUID | None = None
    crop_id: UUID | None = None
    escalation_policy_id: UUID | None = None
    is_enabled: bool | None = None


def _as_dict(rule: Rule) -> dict[str, Any]:
    return {column: getattr(rule, column) for column in RULE_COLUMNS}


def _forget_cached_rules(client_id: UUID) -> None:
    """The rules engine caches each client's rules (<= 60 s); drop this process's copy after a change."""
    cache.forget(client_id)


def _condition_problems(condition: Any) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """The condition as stored (parsed and normalised) or the problems, each naming `condition.<field>`."""
    if not isinstance(condition, dict):
        return None, [{"field": "condition", "reason": "must be an object with a kind"}]
    if condition.get("kind") not in KINDS:
        return None, [{"field": "condition.kind", "reason": f"one of {', '.join(KINDS)}"}]
    try:
        parsed = parse_condition(condition)
    except ValidationError as exc:
        kind = condition.get("kind")
        problems = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            if loc and loc[0] == kind:  # the discriminated union names the kind first
                loc = loc[1:]
            problems.append({"field": ".".join(["condition", *loc]), "reason": error["msg"]})
        return None, problems or [{"field": "condition", "reason": "is invalid"}]
    except (ValueError, TypeError) as exc:
        return None, [{"field": "condition", "reason": str(exc) or "is invalid"}]
    stored = parsed.model_dump(mode="json")
    return stored, []


def _action_problems(action: Any, condition: dict[str, Any] | None) -> tuple[RuleAction | None, list[dict[str, str]]]:
    """The AC command the rule requests when it fires (parsed), or the problems, each naming `action.<field>`."""
    if action is None:
        return None, []
    try:
        parsed = parse_rule_action(action)
    except InvalidInput as exc:
        return None, exc.details
    if condition is not None and condition["kind"] == "no_data":
        return None, [{"field": "action", "reason": "a no_data rule fires from the minute check, which requests no "
                                                    "AC commands"}]
    return parsed, []


def _scope_problems(values: dict[str, Any]) -> list[dict[str, str]]:
    problems = []
    if values["sensor_id"] is not None:
        problems += [{"field": field, "reason": "leave empty when sensor_id is given: the sensor fixes it"}
                     for field in ("sensor_type", "location", "crop_id") if values[field] is not None]
    elif values["crop_id"] is not None:
        if values["location"] is not None:
            problems.append({"field": "location", "reason": "leave empty when crop_id is given: the crop's "
                                                            "location is watched"})
    elif values["sensor_type"] is None and values["location"] is None:
        problems.append({"field": "sensor_id", "reason": "name a scope: sensor_id, crop_id, sensor_type and/or "
                                                         "location"})
    kind = (values["condition"] or {}).get("kind") if isinstance(values["condition"], dict) else None
    if kind in THRESHOLD_KINDS and values["sensor_id"] is None and values["sensor_type"] is None \
            and not any(p["field"] == "sensor_id" for p in problems):
        problems.append({"field": "sensor_type", "reason": f"a {kind} condition compares one kind of value: give "
                                                           "sensor_id or sensor_type"})
    return problems


def client_sensor(session: Session, client_id: UUID, sensor_id: UUID, field: str = "sensor_id") -> Sensor:
    """The client's sensor; 404 naming `field` otherwise (another client's is not told apart)."""
    sensor = session.scalar(select(Sensor).where(Sensor.id == sensor_id, Sensor.client_id == client_id))
    if sensor is None:
        raise NotFound(f"sensor {sensor_id} not found", details=[{"field": field, "reason": "no such sensor"}])
    return sensor


def client_rule(session: Session, client_id: UUID, rule_id: UUID, field: str | None = None,
                for_update: bool = False) -> Rule:
    """The client's rule; 404 (naming `field` when it came in a body) otherwise."""
    query = select(Rule).where(Rule.id == rule_id, Rule.client_id == client_id)
    rule = session.scalar(query.with_for_update() if for_update else query)
    if rule is None:
        details = [{"field": field, "reason": "no such rule"}] if field else None
        raise NotFound(f"rule {rule_id} not found", details=details)
    return rule


def _check_references(session: Session, client_id: UUID, values: dict[str, Any]) -> None:
    """404 naming the field for a sensor, crop or escalation policy that is not the client's."""
    if values["sensor_id"] is not None:
        client_sensor(session, client_id, values["sensor_id"])
    if values["crop_id"] is not None:
        crop = session.scalar(select(Crop).where(Crop.id == values["crop_id"], Crop.client_id == client_id))
        if crop is None:
            raise NotFound(f"crop {values['crop_id']} not found", details=[{"field": "crop_id",
                                                                              "reason": "no such crop"}])
        if crop.status != "active":
            raise InvalidInput("rule is invalid", details=[{"field": "crop_id", "reason": f"the crop is "
                                                                                          f"{crop.status}"}])
    policy_id = values["escalation_policy_id"]
    if policy_id is not None and session.scalar(select(EscalationPolicy.id).where(
            EscalationPolicy.id == policy_id, EscalationPolicy.client_id == client_id)) is None:
        raise NotFound(f"escalation policy {policy_id} not found",
                       details=[{"field": "escalation_policy_id", "reason": "no such escalation policy"}])


def _validated(session: Session, client_id: UUID, values: dict[str, Any]) -> dict[str, Any]:
    """The rule's values as stored; 422 listing every broken field, then 404 for ids not the client's."""
    values = dict(values)
    problems: list[dict[str, str]] = []
    if not isinstance(values.get("name"), str) or not values["name"].strip():
        problems.append({"field": "name", "reason": "must not be empty"})
    else:
        values["name"] = values["name"].strip()
    condition, condition_problems = _condition_problems(values["condition"])
    problems += condition_problems
    if values["severity"] not in SEVERITIES:
        problems.append({"field": "severity", "reason": f"one of {', '.join(SEVERITIES)}"})
    if values["sensor_type"] is not None:
        kind = canonical_sensor_type(values["sensor_type"])
        if kind is None:
            problems.append({"field": "sensor_type",
                             "reason": f"unknown sensor type; known types: {', '.join(SENSOR_TYPES)}"})
        else:
            values["sensor_type"] = kind.name
    problems += _scope_problems(values)
    channels = values["channels"]
    if not isinstance(channels, list) or not all(isinstance(name, str) for name in channels):
        problems.append({"field": "channels", "reason": "must be a list of channel names"})
    else:
        problems += unknown_channels(session, client_id, channels, "channels")
    action, action_problems = _action_problems(values["action"], condition)
    problems += action_problems
    if problems:
        raise InvalidInput("rule is invalid", details=problems)
    _check_references(session, client_id, values)
    if action is not None:
        check_rule_action(session, client_id, action)
    return values | {"condition": condition, "action": action.stored() if action is not None else None}


def create_rule(session: Session, client_id: UUID, fields: dict[str, Any], actor: str) -> dict[str, Any]:
    """Store a validated rule; event rule.created."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not rule fields: {', '.join(sorted(unknown))}")
    values = {"sensor_id": None, "sensor_type": None, "location": None, "crop_id": None, "severity": "warning",
              "channels": [], "action": None, "escalation_policy_id": None, "is_enabled": True} | fields
    values = _validated(session, client_id, values)
    rule = Rule(client_id=client_id, **values)
    session.add(rule)
    session.flush()
    session.refresh(rule)
    created = _as_dict(rule)
    record_event(session, "rule.created", client_id=client_id, actor=actor, subject_type="rule", subject_id=rule.id,
                 details={field: created[field] for field in EDITABLE})
    _forget_cached_rules(client_id)
    return created


def get_rule(session: Session, client_id: UUID, rule_id: UUID) -> dict[str, Any]:
    return _as_dict(client_rule(session, client_id, rule_id))


def list_rules(session: Session, client_id: UUID, filters: RuleFilter, request: PageRequest) -> Page[dict[str, Any]]:
    """A page of the client's rules, newest first."""
    page = RULE_ORDER.clause(request)
    r = aliased(Rule, name="r")  # the keyset's columns are written on `r`
    query = select(r).where(r.client_id == client_id, text(page.after))
    for field in ("severity", "sensor_id", "crop_id", "escalation_policy_id", "is_enabled"):
        if getattr(filters, field) is not None:
            query = query.where(getattr(r, field) == getattr(filters, field))
    query = query.order_by(text(page.order_by)).limit(request.limit + 1)
    rows = session.scalars(query, {k: v for k, v in page.params.items() if k != "page_limit"})
    return RULE_ORDER.page([_as_dict(rule) for rule in rows], request)


def update_rule(session: Session, client_id: UUID, rule_id: UUID, fields: dict[str, Any],
                actor: str) -> dict[str, Any]:
    """Change any of EDITABLE; the merged rule is validated as a whole; event rule.updated with the changes."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    rule = client_rule(session, client_id, rule_id, for_update=True)
    before = _as_dict(rule)
    values = _validated(session, client_id, {field: before[field] for field in EDITABLE} | fields)
    for field, value in values.items():
        setattr(rule, field, value)
    session.flush()
    session.refresh(rule)
    after = _as_dict(rule)
    changed = changes({f: before[f] for f in EDITABLE}, {f: after[f] for f in EDITABLE})
    if changed:
        record_event(session, "rule.updated", client_id=client_id, actor=actor, subject_type="rule",
                     subject_id=rule_id, details={"changes": changed})
        _forget_cached_rules(client_id)
    return after


def delete_rule(session: Session, client_id: UUID, rule_id: UUID, actor: str, now: datetime) -> dict[str, Any]:
    """Delete the rule; its unresolved alerts are resolved by `actor` (nothing more could ever resolve them)."""
    rule = client_rule(session, client_id, rule_id, for_update=True)
    resolved = list(session.scalars(
        update(Alert).where(Alert.rule_id == rule_id, Alert.status != "resolved")
        .values(status="resolved", resolved_at=now, resolved_by=actor).returning(Alert.id)))
    for alert_id in resolved:
        record_event(session, "alert.resolved", client_id=client_id, actor=actor, subject_type="alert",
                     subject_id=alert_id, details={"rule_id": rule_id, "reason": "rule deleted"})
    record_event(session, "rule.deleted", client_id=client_id, actor=actor, subject_type="rule", subject_id=rule_id,
                 details={"name": rule.name, "condition": rule.condition, "resolved_alerts": len(resolved)})
    session.delete(rule)
    session.flush()
    _forget_cached_rules(client_id)
    return {"id": rule_id, "resolved_alerts": [str(alert_id) for alert_id in resolved]}
