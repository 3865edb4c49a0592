"""A simulated AC unit and its room: power, mode, setpoint, fan, and a temperature that drifts."""

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

FAN_ONLY_MODES = frozenset({"fan", "fan_only"})


def compressor_running(state: dict[str, Any]) -> bool:
    """Whether a unit in `state` may run its compressor: on, in any mode but fan (an unknown mode counts)."""
    return state.get("power") == "on" and state.get("mode") not in FAN_ONLY_MODES


@dataclass
class Room:
    """The unit's settings and the room it conditions; time is `clock()` seconds times `speed`."""

    temperature: float = 28.0
    ambient: float = 30.0
    power: str = "off"
    mode: str = "cool"
    setpoint: float = 24.0
    fan: str = "auto"
    drift_seconds: float = 1800.0  # time constant toward ambient with the compressor off
    cooling_seconds: float = 600.0  # time constant toward the setpoint while conditioning
    speed: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _at: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._at = self.clock()

    def _advance(self) -> None:
        now = self.clock()
        elapsed = (now - self._at) * self.speed
        self._at = now
        if elapsed <= 0:
            return
        target, tau = self.ambient, self.drift_seconds
        if compressor_running(self._settings()):
            wants = {"cool": self.temperature > self.setpoint, "heat": self.temperature < self.setpoint}
            if wants.get(self.mode, True):
                target, tau = self.setpoint, self.cooling_seconds
        self.temperature = target + (self.temperature - target) * math.exp(-elapsed / tau)

    def _settings(self) -> dict[str, Any]:
        return {"power": self.power, "mode": self.mode, "setpoint": self.setpoint, "fan": self.fan}

    def state(self) -> dict[str, Any]:
        with self._lock:
            self._advance()
            return self._settings() | {"room_temperature": round(self.temperature, 2)}

    def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        """Apply the fields of `command` that are set; the new state."""
        with self._lock:
            self._advance()
            for name in ("power", "mode", "setpoint", "fan"):
                if command.get(name) is not None:
                    setattr(self, name, command[name])
        return self.state()
