"""The in-process TTL cache: fresh entries with their age, expiry at the TTL, bounded size."""

from hydroponics.timeseries.cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_fresh_until_its_ttl_then_gone():
    clock = Clock()
    cache: TtlCache[str] = TtlCache(ttl_seconds=10, clock=clock)
    cache.put("greenleaf", "readings")
    clock.now += 9.9
    value, age = cache.get("greenleaf")
    assert value == "readings" and 9.89 < age < 9.91
    clock.now += 0.1
    assert cache.get("greenleaf") is None
    assert cache.get("never-stored") is None


def test_putting_again_restarts_the_clock():
    clock = Clock()
    cache: TtlCache[int] = TtlCache(ttl_seconds=10, clock=clock)
    cache.put("k", 1)
    clock.now += 8
    cache.put("k", 2)
    clock.now += 8
    assert cache.get("k") == (2, 8)


def test_the_oldest_entry_makes_room_when_full_and_clear_empties():
    cache: TtlCache[int] = TtlCache(ttl_seconds=10, max_entries=2, clock=Clock())
    for key in ("a", "b", "c"):
        cache.put(key, ord(key))
    assert cache.get("a") is None and cache.get("b") == (98, 0) and cache.get("c") == (99, 0)
    cache.clear()
    assert cache.get("c") is None
