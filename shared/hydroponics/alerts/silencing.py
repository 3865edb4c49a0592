"""Silences (maintenance windows): which one, if any, mutes an alert about to open.

A silence matches when it is active (starts_at <= at < ends_at) and names the alert's sensor, its
sensor's location or its rule, or names none of them (the whole client). A silenced alert is still
recorded, with its silence_id; its notifications are `suppressed`, not sent.
"""

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from hydroponics.db.models import Silence


def _scope_matches(rule_id: uuid.UUID | None, sensor_id: uuid.UUID | None, location: str | None):
    return or_(
        and_(Silence.sensor_id.is_not(None), Silence.sensor_id == sensor_id),
        and_(Silence.location.is_not(None), Silence.location == location),
        and_(Silence.rule_id.is_not(None), Silence.rule_id == rule_id),
        and_(Silence.sensor_id.is_(None), Silence.location.is_(None), Silence.rule_id.is_(None)),
    )


def active_silence(session: Session, client_id: uuid.UUID, rule_id: uuid.UUID | None, sensor_id: uuid.UUID | None,
                   location: str | None, at: datetime) -> Silence | None:
    """The silence muting this rule and sensor at `at` (the one ending last), or None; one query."""
    return session.scalars(
        select(Silence)
        .where(Silence.client_id == client_id, Silence.starts_at <= at, Silence.ends_at > at,
               _scope_matches(rule_id, sensor_id, location))
        .order_by(Silence.ends_at.desc())
        .limit(1)
    ).first()


def active_silences(session: Session, client_ids: Iterable[uuid.UUID], at: datetime) -> list[Silence]:
    """Every silence of these clients active at `at`: one query, for matching many alerts at once."""
    wanted = list(dict.fromkeys(client_ids))
    if not wanted:
        return []
    return list(session.scalars(
        select(Silence).where(Silence.client_id.in_(wanted), Silence.starts_at <= at, Silence.ends_at > at)))


def matching_silence(silences: Sequence[Silence], client_id: uuid.UUID, rule_id: uuid.UUID | None,
                     sensor_id: uuid.UUID | None, location: str | None, at: datetime) -> Silence | None:
    """The same match as active_silence, among silences already loaded (pure)."""
    def matches(silence: Silence) -> bool:
        if silence.client_id != client_id or not silence.starts_at <= at < silence.ends_at:
            return False
        if silence.sensor_id is None and silence.location is None and silence.rule_id is None:
            return True
        return ((silence.sensor_id is not None and silence.sensor_id == sensor_id)
                or (silence.location is not None and silence.location == location)
                or (silence.rule_id is not None and silence.rule_id == rule_id))

    found = [silence for silence in silences if matches(silence)]
    return max(found, key=lambda silence: silence.ends_at) if found else None
