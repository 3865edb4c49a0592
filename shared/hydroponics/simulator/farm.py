"""The farm model: bays whose reservoirs and climate evolve on a virtual clock, read round after round."""

import itertools
import math
import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

from hydroponics.simulator.probes import SENSORS, Probe

BAYS_PER_GREENHOUSE = 4
MAX_SUBSTEP = timedelta(minutes=10)  # the reservoir is integrated in steps no longer than this
PH_TARGET, PH_DOSE_AT = 5.8, 6.5     # the doser brings pH back to ~5.8 once it passes 6.5
EC_TOP_UP_BELOW = 0.35               # nutrients are topped up when EC falls this far below target
LEVEL_REFILL_AT = 55.0               # the reservoir is refilled when it falls to this %


@dataclass(frozen=True)
class Reading:
    """One reading as a probe reports it; `fault` names the injected fault it belongs to, if any."""

    time: datetime
    location: str
    sensor_type: str
    value: float
    fault: str | None = None


def location_names(count: int) -> list[str]:
    """`greenhouse-1/bay-a`, `greenhouse-1/bay-b`, ... four bays to a greenhouse."""
    return [f"greenhouse-{i // BAYS_PER_GREENHOUSE + 1}/bay-{string.ascii_lowercase[i % BAYS_PER_GREENHOUSE]}"
            for i in range(count)]


def hour_of_day(moment: datetime) -> float:
    utc = moment.astimezone(timezone.utc)
    return utc.hour + utc.minute / 60 + utc.second / 3600


def daylight(moment: datetime) -> float:
    """0 at night, rising to 1 at noon (06:00-18:00 UTC)."""
    return max(0.0, math.sin(math.pi * (hour_of_day(moment) - 6) / 12))


def daily_cycle(moment: datetime, peak_hour: float) -> float:
    """A 24-hour cosine: +1 at `peak_hour`, -1 twelve hours later."""
    return math.cos(2 * math.pi * (hour_of_day(moment) - peak_hour) / 24)


class Bay:
    """One grow bay: a reservoir the plants slowly change and the controller restores, under a daily climate."""

    def __init__(self, name: str, seed: int, start: datetime):
        rng = self._controller = random.Random(f"{seed}:{name}:bay")
        self.name = name
        self.air_mean, self.air_swing = rng.uniform(21.0, 25.0), rng.uniform(3.0, 6.0)
        self.water_mean, self.water_swing = rng.uniform(19.0, 22.0), rng.uniform(0.8, 1.8)
        self.humidity_mean = rng.uniform(60.0, 72.0)
        self.ph_rise = rng.uniform(0.05, 0.10)      # pH per hour at rest; faster under light
        self.ec_target = rng.uniform(1.8, 2.2)      # mS/cm
        self.ec_uptake = rng.uniform(0.01, 0.02)    # mS/cm per hour at rest
        self.water_use = rng.uniform(0.8, 1.5)      # % of the reservoir per hour at rest
        self.ph = rng.uniform(PH_TARGET, 6.4)
        self.ec = rng.uniform(self.ec_target - 0.3, self.ec_target)
        self.level = rng.uniform(70.0, 95.0)
        self.clock = start

    def advance(self, until: datetime) -> None:
        """Let the plants feed and drink until `until`, dosing, topping up and refilling as the controller would."""
        while self.clock < until:
            moment = min(until, self.clock + MAX_SUBSTEP)
            hours = (moment - self.clock).total_seconds() / 3600
            activity = 0.5 + daylight(moment)  # plants feed and transpire more under light
            self.ph += self.ph_rise * activity * hours
            self.ec -= self.ec_uptake * activity * hours
            self.level -= self.water_use * activity * hours
            self.clock = moment
            self._control()

    def _control(self) -> None:
        rng = self._controller
        if self.ph >= PH_DOSE_AT:  # pH-down dosing step
            self.ph = PH_TARGET + rng.uniform(-0.05, 0.05)
        if self.ec <= self.ec_target - EC_TOP_UP_BELOW:  # nutrient top-up
            self.ec = self.ec_target + rng.uniform(-0.05, 0.05)
        if self.level <= LEVEL_REFILL_AT:  # refill with solution mixed at the target EC
            full = rng.uniform(92.0, 97.0)
            self.ec = (self.ec * self.level + self.ec_target * (full - self.level)) / full
            self.level = full

    def true_value(self, sensor: str, moment: datetime) -> float:
        """What a perfect probe would read now (call `advance(moment)` first)."""
        air = self.air_mean + self.air_swing * daily_cycle(moment, peak_hour=15)
        match sensor:
            case "ph":
                return self.ph
            case "ec":
                return self.ec
            case "water_level":
                return self.level
            case "temperature":  # the reservoir lags the air and swings less
                return self.water_mean + self.water_swing * daily_cycle(moment, peak_hour=17)
            case "air_temperature":
                return air
            case "humidity":  # relative humidity falls as the air warms
                return min(95.0, max(25.0, self.humidity_mean - 2.5 * (air - self.air_mean)))
        raise ValueError(f"no such sensor: {sensor}")


def farm_rounds(seed: int = 42, start: datetime | None = None, step: float = 5.0, locations: int = 3,
                fault_rate: float = 0.001, jitter: float = 0.2) -> Iterator[list[Reading]]:
    """Endless rounds `step` virtual seconds apart: every probe of every bay once (silent ones skipped), in time order.

    Pure: the same arguments give the same readings. Each probe reports at a jittered offset of up to
    `jitter` x `step` into its round.
    """
    if start is None or start.tzinfo is None:
        raise ValueError("start must be a timezone-aware datetime")
    bays = [Bay(name, seed, start) for name in location_names(locations)]
    probes = {(bay.name, sensor): Probe(sensor, bay.name, seed, fault_rate) for bay in bays for sensor in SENSORS}
    timing = random.Random(f"{seed}:timing")
    for number in itertools.count():
        at = start + timedelta(seconds=number * step)
        slots = sorted((at + timedelta(seconds=timing.uniform(0.0, jitter * step)), index, bay, sensor)
                       for index, (bay, sensor) in enumerate(itertools.product(bays, SENSORS)))
        round_ = []
        for moment, _, bay, sensor in slots:
            bay.advance(moment)
            value, fault = probes[bay.name, sensor].measure(bay.true_value(sensor, moment))
            if value is not None:
                round_.append(Reading(moment, bay.name, sensor, value, fault))
        yield round_


def farm_readings(**kwargs) -> Iterator[Reading]:
    """The readings of `farm_rounds(**kwargs)`, one by one: (time, location, sensor_type, value[, fault])."""
    for round_ in farm_rounds(**kwargs):
        yield from round_
