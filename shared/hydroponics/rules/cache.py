"""Each client's enabled rules, cached in the process for at most settings.rules_cache_seconds.

The rules function loads a client's rules once per TTL instead of once per batch; the API's rule
CRUD calls `forget(client_id)` so a change made in the same process applies at once (in another
process, such as a rules function container, it applies within the TTL, at most 60 s).
"""

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hydroponics.db.models import Rule
from hydroponics.observability import logger
from hydroponics.readings.sensor_types import canonical_sensor_type
from hydroponics.rules.conditions import Condition, parse_condition
from hydroponics.settings import get_settings

MAX_CLIENTS = 4096


@dataclass(frozen=True)
class ActiveRule:
    """An enabled rule as the engine uses it: scope, parsed condition, severity, channels, action."""

    id: uuid.UUID
    client_id: uuid.UUID
    name: str
    condition: Condition
    severity: str
    channels: tuple[str, ...]
    action: dict[str, Any] | None
    sensor_id: uuid.UUID | None
    sensor_type: str | None
    location: str | None
    crop_id: uuid.UUID | None
    escalation_policy_id: uuid.UUID | None


def _active(rule: Rule) -> ActiveRule | None:
    try:
        condition = parse_condition(rule.condition)
    except (ValidationError, ValueError) as exc:  # the API validates; a bad row must not stop the others
        logger.warning("rule with an invalid condition skipped", extra={"rule_id": str(rule.id), "error": str(exc)})
        return None
    kind = canonical_sensor_type(rule.sensor_type) if rule.sensor_type else None
    return ActiveRule(id=rule.id, client_id=rule.client_id, name=rule.name, condition=condition,
                      severity=rule.severity, channels=tuple(rule.channels or ()), action=rule.action,
                      sensor_id=rule.sensor_id, sensor_type=kind.name if kind else rule.sensor_type,
                      location=rule.location, crop_id=rule.crop_id, escalation_policy_id=rule.escalation_policy_id)


def load_rules(session: Session, client_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[ActiveRule, ...]]:
    """The enabled rules of each client, straight from the database: one query for all of them."""
    wanted = list(dict.fromkeys(client_ids))
    found: dict[uuid.UUID, list[ActiveRule]] = {client_id: [] for client_id in wanted}
    if not wanted:
        return {}
    rows = session.scalars(select(Rule).where(Rule.client_id.in_(wanted), Rule.is_enabled).order_by(Rule.created_at))
    for rule in rows:
        active = _active(rule)
        if active is not None:
            found[rule.client_id].append(active)
    return {client_id: tuple(rules) for client_id, rules in found.items()}


_lock = threading.Lock()
_cache: TTLCache | None = None
_clock = time.monotonic  # tests move time forward by replacing it


def _now() -> float:
    return _clock()


def _rules_cache() -> TTLCache | None:
    """The cache for the configured TTL (made again when the setting changes); None when it is 0."""
    global _cache
    ttl = get_settings().rules_cache_seconds
    if ttl <= 0:
        return None
    if _cache is None or _cache.ttl != ttl:
        _cache = TTLCache(maxsize=MAX_CLIENTS, ttl=ttl, timer=_now)
    return _cache


def rules_for_clients(session: Session, client_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[ActiveRule, ...]]:
    """Each client's enabled rules: cached ones as they are, the others in one query (then cached)."""
    wanted = list(dict.fromkeys(client_ids))
    with _lock:
        cache = _rules_cache()
        if cache is None:
            cached: dict[uuid.UUID, tuple[ActiveRule, ...]] = {}
        else:
            cached = {client_id: cache[client_id] for client_id in wanted if client_id in cache}
    missing = [client_id for client_id in wanted if client_id not in cached]
    if not missing:
        return cached
    loaded = load_rules(session, missing)
    with _lock:
        if cache is not None:
            cache.update(loaded)
    return cached | loaded


def rules_for(session: Session, client_id: uuid.UUID) -> tuple[ActiveRule, ...]:
    """One client's enabled rules (cached)."""
    return rules_for_clients(session, [client_id])[client_id]


def forget(client_id: uuid.UUID) -> None:
    """Drop a client's cached rules (after a rule of theirs was created, changed or deleted)."""
    with _lock:
        if _cache is not None:
            _cache.pop(client_id, None)


def clear() -> None:
    """Drop every cached rule."""
    with _lock:
        if _cache is not None:
            _cache.clear()
