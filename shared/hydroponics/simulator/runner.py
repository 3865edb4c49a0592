"""The sending loop: readings go out as they fall due on the real clock, with a progress line now and then."""

import threading
import time
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from hydroponics.simulator.farm import Reading
from hydroponics.simulator.sender import Delivery, FarmSender

# The platform refuses timestamps more than 5 minutes ahead of its clock; stop a little before that.
AHEAD_LIMIT = timedelta(minutes=4)


@dataclass
class Tally:
    """Readings sent so far and what became of them; `skipped` ones fell too far behind to be worth sending."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    retries: int = 0
    skipped: int = 0

    def add(self, delivery: Delivery) -> None:
        for name in ("accepted", "rejected", "failed", "retries"):
            setattr(self, name, getattr(self, name) + getattr(delivery, name))

    def line(self) -> str:
        return " ".join(f"{f.name} {getattr(self, f.name)}" for f in fields(self))


def run_farm(rounds: Iterable[list[Reading]], sender: FarmSender, *, start: datetime, speed: float = 1.0,
             interval: float = 5.0, duration: float | None = None, once: bool = False, batch: bool = False,
             stop: threading.Event | None = None, progress_every: float = 30.0,
             say: Callable[[str], None] = print) -> Tally:
    """Send each reading (or each round, with `batch`) when its virtual time comes round on the real clock.

    Virtual time runs `speed` times faster than real time from `start`. Stops after `duration` real
    seconds, after the first round with `once`, or when `stop` is set. Parcels more than two intervals
    (at least 30 s) late, after the platform asked us to wait, are skipped rather than sent in a burst.
    """
    stop = stop or threading.Event()
    tally = Tally()
    began = last_progress = time.monotonic()
    stale_after = max(2 * interval, 30.0)

    def deliver(parcel: list[Reading]) -> None:
        tally.sent += len(parcel)
        tally.add(sender.post_round(parcel) if batch else sender.post_reading(parcel[0]))

    for round_ in rounds:
        parcels = [round_] if batch else [[reading] for reading in round_]
        for parcel in filter(None, parcels):
            if stop.is_set():
                return tally
            if not once:
                due = began + (parcel[-1].time - start).total_seconds() / speed
                if duration is not None and due - began > duration:
                    stop.wait(max(0.0, began + duration - time.monotonic()))  # run the full duration
                    return tally
                if stop.wait(max(0.0, due - time.monotonic())):
                    return tally
                if time.monotonic() - due > stale_after:
                    tally.skipped += len(parcel)
                    continue
                if parcel[-1].time > datetime.now(timezone.utc) + AHEAD_LIMIT:
                    say("simulate: the farm's clock has run ahead of the wall clock (the platform refuses "
                        "future timestamps); stopping")
                    return tally
            deliver(parcel)
            if time.monotonic() - last_progress >= progress_every:
                say(f"simulate: {datetime.now(timezone.utc):%H:%M:%S} {tally.line()}")
                last_progress = time.monotonic()
        if once:
            return tally
    return tally
