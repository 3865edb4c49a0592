"""One scrape: every source asked side by side (one round trip each), a failing source reported, not fatal.

Sources: `postgres` (the platform state, one statement), `sqs` (queue depths), `backlog` (the oldest
handed-back message per queue) and `requests` (request counters), the last two from the monitoring
table. While PostgreSQL is down the other figures still come, and `postgres` is reported down.
Answers are reused for METRICS_CACHE_SECONDS, so several Prometheus servers (or a dashboard
refreshing) cost one scrape.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hydroponics.db.engine import session_scope
from hydroponics.monitoring.backlog import backlog_ages
from hydroponics.monitoring.queues import QueueDepth, queue_depths
from hydroponics.monitoring.requests import RequestCounter, request_counters
from hydroponics.monitoring.state import PlatformState, platform_state
from hydroponics.observability import logger
from hydroponics.settings import get_settings

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="scrape")


@dataclass
class Scrape:
    """What each source said, when, and which sources answered (with their time)."""

    taken_at: float
    state: PlatformState = field(default_factory=PlatformState)
    queues: list[QueueDepth] = field(default_factory=list)
    backlog: dict[str, float] = field(default_factory=dict)
    requests: list[RequestCounter] = field(default_factory=list)
    up: dict[str, bool] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)


def _read_state() -> PlatformState:
    with session_scope() as session:
        return platform_state(session)


SOURCES: dict[str, tuple[str, Callable[[], Any]]] = {
    "postgres": ("state", _read_state),
    "sqs": ("queues", queue_depths),
    "backlog": ("backlog", lambda: backlog_ages(get_settings().monitored_queues)),
    "requests": ("requests", request_counters),
}


def _timed(name: str, read: Callable[[], Any]) -> tuple[Any, bool, float]:
    started = time.perf_counter()
    try:
        return read(), True, time.perf_counter() - started
    except Exception:  # noqa: BLE001 - one source down must not hide the others
        logger.exception("metrics source failed", extra={"source": name})
        return None, False, time.perf_counter() - started


def scrape() -> Scrape:
    """Ask every source now, in parallel."""
    result = Scrape(taken_at=time.time())
    futures = {name: _pool.submit(_timed, name, read) for name, (_, read) in SOURCES.items()}
    for name, future in futures.items():
        value, ok, seconds = future.result()
        result.up[name], result.durations[name] = ok, seconds
        if ok:
            setattr(result, SOURCES[name][0], value)
    return result


class CachedScrape:
    """The latest scrape's rendering, reused for metrics_cache_seconds (one scrape at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._value: Any = None

    def get(self, render: Callable[[Scrape], Any]) -> Any:
        with self._lock:
            if time.monotonic() - self._at >= get_settings().metrics_cache_seconds:
                self._value = render(scrape())
                self._at = time.monotonic()
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._at = float("-inf")


cached = CachedScrape()
