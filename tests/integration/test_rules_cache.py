"""The per-client rule cache: a busy batch sequence loads rules a fraction of the times, changes still apply."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from hydroponics.db.engine import session_scope
from hydroponics.records.clients import create_client
from hydroponics.rules import cache
from hydroponics.settings import get_settings
from tests.integration.test_rules_engine import T0, add_rule, deliver, series
from tests.sql_counter import recorded_statements

BATCHES = 40
LOADS_RULES = re.compile(r"\bFROM rules\b")


@pytest.fixture
def farms(platform_db):
    with session_scope() as session:
        farms = [create_client(session, f"Farm {n}") for n in range(3)]
    for farm in farms:
        add_rule(farm, {"kind": "above", "threshold": 6.5}, channels=[])
        add_rule(farm, {"kind": "below", "threshold": 5.5}, channels=[])
    return farms


def _cache_seconds(monkeypatch, seconds: int) -> None:
    monkeypatch.setenv("RULES_CACHE_SECONDS", str(seconds))
    get_settings.cache_clear()


def _busy_sequence(engine, farms, offset: int) -> tuple[int, int]:
    """BATCHES batches, each mixing readings of every farm: (rule-loading statements, all statements)."""
    loads = total = 0
    for n in range(BATCHES):
        start = T0 + timedelta(minutes=offset + n)
        batch = [r for i, farm in enumerate(farms)
                 for r in series(farm, [6.0 + (n % 3) / 10] * 10, start=start, every=5, sensor=f"ph-{i}")]
        with recorded_statements(engine) as statements:
            deliver(batch)
        loads += sum(1 for s in statements if LOADS_RULES.search(s))
        total += len(statements)
    return loads, total


def test_caching_cuts_rule_loading_by_more_than_80_percent(platform_db, farms, monkeypatch):
    _cache_seconds(monkeypatch, 0)  # baseline: no cache, rules loaded on every batch
    uncached_loads, uncached_total = _busy_sequence(platform_db, farms, offset=0)
    _cache_seconds(monkeypatch, 60)
    cached_loads, cached_total = _busy_sequence(platform_db, farms, offset=BATCHES)
    assert uncached_loads == BATCHES and cached_loads == 1
    assert 1 - cached_loads / uncached_loads >= 0.8
    assert uncached_total - cached_total == BATCHES - 1


def test_a_rule_change_applies_after_the_ttl_or_at_once_when_forgotten(platform_db, farms, monkeypatch):
    farm = farms[0]
    clock = [1000.0]
    monkeypatch.setattr(cache, "_clock", lambda: clock[0])
    with session_scope() as session:
        assert len(cache.rules_for(session, farm)) == 2
    add_rule(farm, {"kind": "rate_of_change", "max_change": 1, "window_seconds": 60})
    with session_scope() as session:
        assert len(cache.rules_for(session, farm)) == 2  # still cached
    clock[0] += get_settings().rules_cache_seconds + 1
    with session_scope() as session:
        assert len(cache.rules_for(session, farm)) == 3  # expired: reloaded
    add_rule(farm, {"kind": "no_data"})
    cache.forget(farm)
    with session_scope() as session:
        assert len(cache.rules_for(session, farm)) == 4  # forgotten: reloaded at once
        assert len(cache.rules_for(session, farms[1])) == 2


def test_a_cached_rule_disabled_meanwhile_does_not_fire(platform_db, farms):
    farm = farms[0]
    deliver(series(farm, [6.0], sensor="ph-x"))  # caches the farm's rules
    with session_scope() as session:
        session.execute(text("UPDATE rules SET is_enabled = false WHERE client_id = :c"), {"c": farm})
    outcome = deliver(series(farm, [7.0], start=T0 + timedelta(minutes=1), sensor="ph-x"))
    assert outcome.alerts_opened == [] and outcome.readings_evaluated == 0
