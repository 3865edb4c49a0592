"""How far a sensor may disagree with its peers or a spot check before it counts as drifting.

Defaults per sensor type, in the type's unit; DRIFT_TOLERANCES (JSON, e.g. {"ph": 0.1}) overrides
some of them. Types without a tolerance (light, PAR, flow: they differ by position) are not checked.
"""

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hydroponics.readings.sensor_types import canonical_sensor_type

DEFAULT_TOLERANCES: dict[str, float] = {
    "ph": 0.2, "ec": 0.2, "temperature": 1.0, "air_temperature": 1.0, "humidity": 5.0, "water_level": 5.0,
    "dissolved_oxygen": 0.5, "co2": 100.0, "tds": 100.0, "orp": 25.0, "vpd": 0.2,
}


class DriftSettings(BaseSettings):
    """The drift job's knobs, from the environment."""

    model_config = SettingsConfigDict(env_prefix="DRIFT_", case_sensitive=False, extra="ignore")

    tolerances: dict[str, float] = Field(default_factory=dict, description="overrides of DEFAULT_TOLERANCES")
    window_hours: float = Field(24.0, gt=0, le=24 * 31, description="how far back each run looks")
    bucket_minutes: int = Field(5, ge=1, le=240, description="peer readings are averaged per bucket to align them")
    min_aligned: int = Field(3, ge=1, description="aligned buckets a peer comparison needs")
    spot_check_match_minutes: int = Field(30, ge=1, le=24 * 60,
                                          description="farthest reading a spot check is compared with")

    @field_validator("tolerances")
    @classmethod
    def _known_types(cls, overrides: dict[str, float]) -> dict[str, float]:
        canonical = {}
        for name, tolerance in overrides.items():
            kind = canonical_sensor_type(name)
            if kind is None:
                raise ValueError(f"DRIFT_TOLERANCES names an unknown sensor type: {name!r}")
            if not tolerance > 0:
                raise ValueError(f"DRIFT_TOLERANCES[{name!r}] must be positive")
            canonical[kind.name] = tolerance
        return canonical

    def tolerance_by_type(self) -> dict[str, float]:
        return DEFAULT_TOLERANCES | self.tolerances


@lru_cache(maxsize=1)
def get_drift_settings() -> DriftSettings:
    return DriftSettings()
