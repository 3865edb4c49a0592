"""Which time-series backend this process uses, and how to reach InfluxDB (read from the environment)."""

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class TimeSeriesSettings(BaseSettings):
    """TIMESERIES_BACKEND and, for InfluxDB 2.x, INFLUXDB_URL/TOKEN/ORG/BUCKET (names are upper-case)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    timeseries_backend: Literal["postgres", "influxdb"] = "postgres"
    influxdb_url: str | None = None
    influxdb_token: SecretStr | None = None
    influxdb_org: str | None = None
    influxdb_bucket: str | None = None
    influxdb_timeout_ms: int = Field(10_000, ge=100, le=60_000, description="Per-request timeout.")

    @model_validator(mode="after")
    def _influxdb_is_complete(self) -> "TimeSeriesSettings":
        if self.timeseries_backend == "influxdb":
            missing = [name.upper() for name in ("influxdb_url", "influxdb_token", "influxdb_org", "influxdb_bucket")
                       if not getattr(self, name)]
            if missing:
                raise ValueError(f"TIMESERIES_BACKEND=influxdb needs {', '.join(missing)}")
        return self


@lru_cache(maxsize=1)
def get_timeseries_settings() -> TimeSeriesSettings:
    """Settings of this process, parsed on first use."""
    return TimeSeriesSettings()
