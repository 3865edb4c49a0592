"""A small in-process cache whose entries expire after a fixed time (thread-safe, bounded)."""

import threading
import time
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class TtlCache(Generic[T]):
    """Keeps up to `max_entries` values for `ttl_seconds` each; the oldest entry goes first when full."""

    def __init__(self, ttl_seconds: float, max_entries: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[T, float] | None:
        """(value, its age in seconds) while fresh, else None."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, value = entry
            if now - stored_at >= self.ttl_seconds:
                del self._entries[key]
                return None
            return value, now - stored_at

    def put(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (self._clock(), value)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
