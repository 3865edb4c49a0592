"""Silences (maintenance windows): time-boxed mutes of a sensor, a location or a rule, with a reason.

A silence is active while starts_at <= now < ends_at, and matches an alert when its sensor_id is the
alert's sensor, or its location the sensor's location, or its rule_id the alert's rule, or when all
three are empty (the whole client). A silenced alert is still recorded (with silence_id) and its
messages are `suppressed`, never sent; it does not escalate. Windows last at most MAX_WINDOW.
Ending one early: an active silence ends now; one not yet started is removed. Every change is an
event (silence.created / silence.updated / silence.ended / silence.removed).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.orm import Session, aliased

from hydroponics.db.models import Silence
from hydroponics.errors import Conflict, InvalidInput, NotFound
from hydroponics.events import record_event
from hydroponics.records.events import changes
from hydroponics.records.pagination import Keyset, Page, PageRequest
from hydroponics.rules.records import client_rule, client_sensor

MAX_WINDOW = timedelta(days=30)
SILENCE_ORDER = Keyset("silences", {"si.starts_at": datetime, "si.id": UUID}, descending=True)
SILENCE_COLUMNS = ("id", "sensor_id", "location", "rule_id", "reason", "starts_at", "ends_at", "created_by")
EDITABLE = ("starts_at", "ends_at", "reason")  # the scope is fixed: silence something else with a new one

# An active silence `si` of alert `a`'s client matching it at :now (`s` is the alert's sensor, may be NULL);
# the SQL twin of hydroponics.alerts.silencing.active_silence, for statements over many alerts.
MATCHES_ALERT = """
si.client_id = a.client_id AND si.starts_at <= :now AND :now < si.ends_at
AND (si.sensor_id = a.sensor_id OR si.location = s.location OR si.rule_id = a.rule_id
     OR (si.sensor_id IS NULL AND si.location IS NULL AND si.rule_id IS NULL))
"""

@dataclass(frozen=True)
class SilenceFilter:
    """Which silences to list: `state` active|scheduled|ended at `now` (None: all), or by scope."""

    state: str | None = None
    sensor_id: UUID | None = None
    location: str | None = None
    rule_id: UUID | None = None


def state_of(silence: Silence, now: datetime) -> str:
    if now < silence.starts_at:
        return "scheduled"
    return "active" if now < silence.ends_at else "ended"


def _as_dict(silence: Silence, now: datetime) -> dict[str, Any]:
    return {column: getattr(silence, column) for column in SILENCE_COLUMNS} | {"state": state_of(silence, now)}


def _window_problems(starts_at: datetime, ends_at: datetime | None, reason: Any, now: datetime) -> list[dict]:
    problems = []
    if ends_at is None:
        problems.append({"field": "ends_at", "reason": "required: a silence is time-boxed"})
    elif ends_at <= starts_at:
        problems.append({"field": "ends_at", "reason": "must be after starts_at"})
    elif ends_at - starts_at > MAX_WINDOW:
        problems.append({"field": "ends_at", "reason": f"a silence lasts at most {MAX_WINDOW.days} days"})
    elif ends_at <= now:
        problems.append({"field": "ends_at", "reason": "must be in the future"})
    if not isinstance(reason, str) or not reason.strip():
        problems.append({"field": "reason", "reason": "required: say why alerts are muted"})
    return problems


def _locked(session: Session, client_id: UUID, silence_id: UUID) -> Silence:
    silence = session.scalar(select(Silence).where(Silence.id == silence_id, Silence.client_id == client_id)
                             .with_for_update())
    if silence is None:
        raise NotFound(f"silence {silence_id} not found")
    return silence


def create_silence(session: Session, client_id: UUID, fields: dict[str, Any], actor: str,
                   now: datetime) -> dict[str, Any]:
    """Store a validated silence (starts_at defaults to now); event silence.created."""
    values = {"sensor_id": None, "location": None, "rule_id": None, "starts_at": None, "ends_at": None,
              "reason": None} | fields
    values["starts_at"] = values["starts_at"] or now
    problems = _window_problems(values["starts_at"], values["ends_at"], values["reason"], now)
    if values["location"] is not None and not values["location"].strip():
        problems.append({"field": "location", "reason": "must not be empty"})
    if problems:
        raise InvalidInput("silence is invalid", details=problems)
    if values["sensor_id"] is not None:
        client_sensor(session, client_id, values["sensor_id"])
    if values["rule_id"] is not None:
        client_rule(session, client_id, values["rule_id"], field="rule_id")
    silence = Silence(client_id=client_id, created_by=actor, **(values | {"reason": values["reason"].strip()}))
    session.add(silence)
    session.flush()
    created = _as_dict(silence, now)
    record_event(session, "silence.created", client_id=client_id, actor=actor, subject_type="silence",
                 subject_id=silence.id, details={k: created[k] for k in SILENCE_COLUMNS if k != "id"})
    return created


def get_silence(session: Session, client_id: UUID, silence_id: UUID, now: datetime) -> dict[str, Any]:
    silence = session.scalar(select(Silence).where(Silence.id == silence_id, Silence.client_id == client_id))
    if silence is None:
        raise NotFound(f"silence {silence_id} not found")
    return _as_dict(silence, now)


def list_silences(session: Session, client_id: UUID, filters: SilenceFilter, request: PageRequest,
                  now: datetime) -> Page[dict[str, Any]]:
    """A page of the client's silences, latest start first."""
    page = SILENCE_ORDER.clause(request)
    si = aliased(Silence, name="si")  # the keyset's columns are written on `si`
    query = select(si).where(si.client_id == client_id, text(page.after))
    if filters.state == "active":
        query = query.where(si.starts_at <= now, si.ends_at > now)
    elif filters.state == "scheduled":
        query = query.where(si.starts_at > now)
    elif filters.state == "ended":
        query = query.where(si.ends_at <= now)
    for field in ("sensor_id", "location", "rule_id"):
        if getattr(filters, field) is not None:
            query = query.where(getattr(si, field) == getattr(filters, field))
    query = query.order_by(text(page.order_by)).limit(request.limit + 1)
    rows = session.scalars(query, {k: v for k, v in page.params.items() if k != "page_limit"})
    return SILENCE_ORDER.page([_as_dict(silence, now) for silence in rows], request)


def update_silence(session: Session, client_id: UUID, silence_id: UUID, fields: dict[str, Any], actor: str,
                   now: datetime) -> dict[str, Any]:
    """Move the window or change the reason (an ended silence is history: 409); event silence.updated."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    silence = _locked(session, client_id, silence_id)
    if state_of(silence, now) == "ended":
        raise Conflict("silence has ended; create a new one")
    before = {field: getattr(silence, field) for field in EDITABLE}
    merged = before | fields
    problems = _window_problems(merged["starts_at"], merged["ends_at"], merged["reason"], now)
    if problems:
        raise InvalidInput("silence is invalid", details=problems)
    for field, value in fields.items():
        setattr(silence, field, value.strip() if field == "reason" else value)
    session.flush()
    changed = changes(before, {field: getattr(silence, field) for field in EDITABLE})
    if changed:
        record_event(session, "silence.updated", client_id=client_id, actor=actor, subject_type="silence",
                     subject_id=silence_id, details={"changes": changed})
    return _as_dict(silence, now)


def end_silence(session: Session, client_id: UUID, silence_id: UUID, actor: str, now: datetime) -> dict[str, Any]:
    """End a silence early: an active one ends now (silence.ended), one not yet begun is removed
    (silence.removed). 409 if it has already ended. Returns the silence as it was left."""
    silence = _locked(session, client_id, silence_id)
    state = state_of(silence, now)
    if state == "ended":
        raise Conflict("silence has already ended")
    if silence.starts_at < now:
        ends_at = silence.ends_at
        silence.ends_at = now
        session.flush()
        record_event(session, "silence.ended", client_id=client_id, actor=actor, subject_type="silence",
                     subject_id=silence_id, details={"changes": changes({"ends_at": ends_at}, {"ends_at": now})})
        return _as_dict(silence, now)
    removed = _as_dict(silence, now)
    session.delete(silence)
    session.flush()
    record_event(session, "silence.removed", client_id=client_id, actor=actor, subject_type="silence",
                 subject_id=silence_id, details={k: removed[k] for k in SILENCE_COLUMNS if k != "id"})
    return removed | {"state": "removed"}
