"""AC delivery settings (environment variables AC_*), parsed once per process."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClimateSettings(BaseSettings):
    """How hard the ac_control function tries to reach a unit before giving up."""

    model_config = SettingsConfigDict(env_prefix="AC_", case_sensitive=False, extra="ignore")

    max_receives: int = Field(5, ge=1, le=20, description="The command queue's maxReceiveCount: the last attempt.")
    backoff_seconds: list[int] = Field(
        default_factory=lambda: [10, 30, 60, 120],
        description="Visibility delay before the 2nd, 3rd, ... attempt (the last value repeats).",
    )
    send_timeout_seconds: float = Field(5.0, gt=0, le=60, description="How long a driver waits for the unit.")


@lru_cache(maxsize=1)
def get_climate_settings() -> ClimateSettings:
    return ClimateSettings()
