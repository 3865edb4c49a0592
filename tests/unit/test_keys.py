"""API keys are random, shown once, stored only as a hash; their scopes, expiry bounds and the brute-force block."""

from datetime import UTC, datetime, timedelta

import pytest

from hydroponics.auth import brute_force
from hydroponics.auth.api_keys import MAX_LIFETIME, check_expiry
from hydroponics.auth.caller import SCOPES, Caller, scope_covers
from hydroponics.auth.keys import SHOWN_PREFIX_LENGTH, hash_key, issue_key
from hydroponics.errors import InvalidInput
from hydroponics.ratelimit import RateDecision


def test_issued_key_hash_matches_and_prefix_is_its_start():
    key = issue_key()
    assert key.key_hash == hash_key(key.secret)
    assert key.secret.startswith(key.prefix) and len(key.prefix) == SHOWN_PREFIX_LENGTH
    assert key.secret not in key.key_hash


def test_keys_differ():
    assert len({issue_key().secret for _ in range(100)}) == 100




def test_each_scope_covers_itself_and_the_ones_before_it():
    assert [needed for needed in SCOPES if scope_covers("device", needed)] == ["device"]
    assert [needed for needed in SCOPES if scope_covers("operator", needed)] == ["device", "operator"]
    assert [needed for needed in SCOPES if scope_covers("admin", needed)] == list(SCOPES)
    assert not scope_covers("root", "device")  # an unknown scope may do nothing
    assert Caller("h", "p", None, scope="admin").is_admin and not Caller("h", "p", None).is_admin


@pytest.mark.parametrize("expires_at, reason", [
    (datetime(2026, 12, 3, 12, 0, tzinfo=UTC), "must be in the future"),
    (datetime(2026, 12, 3, 11, 0, tzinfo=UTC), "must be in the future"),
    (datetime(2026, 12, 3, 12, 0, tzinfo=UTC) + MAX_LIFETIME + timedelta(seconds=1), "days ahead"),
    (datetime(2027, 1, 1), "UTC offset"),
])
def test_an_expiry_must_be_ahead_and_bounded(expires_at, reason):
    with pytest.raises(InvalidInput) as refused:
        check_expiry(expires_at, now=datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    assert refused.value.details[0]["field"] == "expires_at" and reason in refused.value.details[0]["reason"]


def test_an_expiry_within_the_bound_or_none_is_accepted():
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    for expires_at in (None, now + timedelta(seconds=1), now + MAX_LIFETIME):
        check_expiry(expires_at, now=now)


@pytest.fixture
def counted(monkeypatch) -> dict[str, int]:
    """The shared failure counter, in memory: (ip) -> hits in the one window of these tests."""
    hits: dict[str, int] = {}

    def hit(name, identity, limit, now=None):
        hits[identity] = hits.get(identity, 0) + 1
        return RateDecision(allowed=hits[identity] <= limit, limit=limit, remaining=max(0, limit - hits[identity]),
                            reset_at=1_000_020)
    monkeypatch.setattr(brute_force.ratelimit, "hit", hit)
    brute_force.forget()
    yield hits
    brute_force.forget()


def test_an_address_past_the_limit_is_blocked_until_its_window_ends(counted):
    decisions = [brute_force.failed("203.0.113.9", now=1_000_000) for _ in range(brute_force.FAILURES_PER_MINUTE + 1)]
    assert [d.allowed for d in decisions] == [True] * brute_force.FAILURES_PER_MINUTE + [False]
    assert brute_force.blocked("203.0.113.9", now=1_000_019).headers(now=1_000_019)["Retry-After"] == "1"
    assert brute_force.blocked("203.0.113.10", now=1_000_019) is None  # only that address
    assert brute_force.blocked("203.0.113.9", now=1_000_020) is None  # the window is over


def test_the_blocked_addresses_held_are_bounded(counted, monkeypatch):
    monkeypatch.setattr(brute_force, "_MAX_REMEMBERED", 3)
    monkeypatch.setattr(brute_force, "FAILURES_PER_MINUTE", 0)  # every failure blocks
    for n in range(7):
        brute_force.failed(f"203.0.113.{n}", now=1_000_000)
        assert len(brute_force._blocked) <= 3
    assert brute_force.blocked("203.0.113.6", now=1_000_001) is not None  # the newest is held
