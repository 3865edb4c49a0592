"""A bay's probes: what each sensor type measures within, how noisy it is, and how it fails."""

import random

from hydroponics.readings.sensor_types import SENSOR_TYPES

# The sensors every bay carries, in the platform's names.
SENSORS = ("ph", "ec", "temperature", "water_level", "air_temperature", "humidity")

# The platform refuses values outside these; a probe never reports one, not even in a spike.
PHYSICAL_RANGES = {name: (SENSOR_TYPES[name].minimum, SENSOR_TYPES[name].maximum) for name in SENSORS}

NOISE = {"ph": 0.02, "ec": 0.02, "temperature": 0.05, "water_level": 0.3, "air_temperature": 0.15, "humidity": 0.8}
DECIMALS = {"ph": 2, "ec": 3, "temperature": 2, "water_level": 1, "air_temperature": 2, "humidity": 1}

# Absurd for a healthy bay but physically possible, so the platform accepts them and rules must judge.
SPIKES = {"ph": [(1.5, 3.0), (10.0, 12.5)], "ec": [(8.0, 15.0)], "temperature": [(45.0, 58.0)],
          "water_level": [(0.0, 0.0), (100.0, 100.0)], "air_temperature": [(-15.0, -5.0), (50.0, 65.0)],
          "humidity": [(0.0, 3.0), (99.5, 100.0)]}

STUCK, DROPOUT, SPIKE = "stuck", "dropout", "spike"
FAULT_WEIGHTS = {STUCK: 4, DROPOUT: 3, SPIKE: 3}
STUCK_READINGS = (12, 60)    # a stuck probe repeats its last value for this many readings
DROPOUT_READINGS = (6, 36)   # a silent probe misses this many readings


def finish(sensor: str, value: float) -> float:
    """A value as the probe reports it: inside the physical range, rounded to the probe's resolution."""
    low, high = PHYSICAL_RANGES[sensor]
    return round(min(high, max(low, value)), DECIMALS[sensor])


class Probe:
    """One sensor: measures with a little Gaussian noise, and now and then gets stuck, goes silent or spikes."""

    def __init__(self, sensor: str, location: str, seed: int, fault_rate: float):
        self.sensor = sensor
        self.fault_rate = fault_rate
        self._noise = random.Random(f"{seed}:{location}:{sensor}:noise")
        self._faults = random.Random(f"{seed}:{location}:{sensor}:faults")
        self._fault: str | None = None
        self._remaining = 0
        self._stuck_value = 0.0
        self._taken = 0

    def measure(self, true_value: float) -> tuple[float | None, str | None]:
        """(the reported value, or None when silent; the fault in progress, or None when healthy)."""
        value = finish(self.sensor, true_value + self._noise.gauss(0.0, NOISE[self.sensor]))
        self._taken += 1
        if self._remaining > 0:
            self._remaining -= 1
            return (self._stuck_value if self._fault == STUCK else None), self._fault
        if self._taken == 1 or self._faults.random() >= self.fault_rate:
            return value, None  # a probe is healthy when the farm starts
        self._fault = self._faults.choices(list(FAULT_WEIGHTS), weights=list(FAULT_WEIGHTS.values()))[0]
        if self._fault == SPIKE:
            low, high = self._faults.choice(SPIKES[self.sensor])
            return finish(self.sensor, self._faults.uniform(low, high)), SPIKE
        if self._fault == STUCK:
            self._stuck_value, self._remaining = value, self._faults.randint(*STUCK_READINGS) - 1
            return value, STUCK
        self._remaining = self._faults.randint(*DROPOUT_READINGS) - 1
        return None, DROPOUT
