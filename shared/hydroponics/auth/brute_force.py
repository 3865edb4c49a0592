"""Guessing keys: failed key attempts counted per source IP, refused before any lookup once past the limit.

Each failed attempt (an unknown, revoked or expired key) is counted in the rate-limit table per
(IP, minute), like the per-IP limits. The attempt that takes an IP past `FAILURES_PER_MINUTE` gets a
429, and the container remembers the IP until the minute ends: from then on every request from it
that carries a key is answered 429 before the key is looked up. Requests with good keys add no call:
the shared counter is touched only by failures, and the block is checked in memory. So across N
containers an IP gets at most FAILURES_PER_MINUTE + N failed lookups a minute.
"""

import time

from hydroponics import ratelimit
from hydroponics.ratelimit import RateDecision

LIMIT_NAME = "key_failures"
FAILURES_PER_MINUTE = 30
_MAX_REMEMBERED = 10_000  # blocked IPs held per container; past it the expired ones are dropped first

_blocked: dict[str, RateDecision] = {}  # IP -> the refusing decision, until its window ends


def blocked(ip: str, now: float | None = None) -> RateDecision | None:
    """The decision refusing `ip` for the rest of the minute, if this container saw it go past the limit."""
    decision = _blocked.get(ip)
    if decision is None:
        return None
    if decision.reset_at <= (time.time() if now is None else now):
        _blocked.pop(ip, None)
        return None
    return decision


def failed(ip: str, now: float | None = None) -> RateDecision:
    """Count a failed key attempt from `ip` (one UpdateItem on the rate-limit table) and decide; a
    refusal is remembered until the window ends."""
    now = time.time() if now is None else now
    decision = ratelimit.hit(LIMIT_NAME, ip, FAILURES_PER_MINUTE, now=now)
    if not decision.allowed:
        if len(_blocked) >= _MAX_REMEMBERED:
            for stale in [held for held, d in _blocked.items() if d.reset_at <= now]:
                del _blocked[stale]
            if len(_blocked) >= _MAX_REMEMBERED:
                _blocked.clear()  # the shared counter still refuses each of them at its next failure
        _blocked[ip] = decision
    return decision


def forget() -> None:
    """Drop every remembered block (tests; a container starts with none)."""
    _blocked.clear()
