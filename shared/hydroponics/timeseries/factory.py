"""The process's time-series store, picked by TIMESERIES_BACKEND (postgres by default)."""

from functools import lru_cache

from hydroponics.timeseries.base import TimeSeriesStore
from hydroponics.timeseries.config import get_timeseries_settings
from hydroponics.timeseries.postgres import PostgresTimeSeries


@lru_cache(maxsize=1)
def get_store() -> TimeSeriesStore:
    """The configured backend, built on first use (InfluxDB's client is imported only when chosen)."""
    settings = get_timeseries_settings()
    if settings.timeseries_backend == "influxdb":
        from hydroponics.timeseries.influx import InfluxTimeSeries

        return InfluxTimeSeries.from_settings(settings)
    return PostgresTimeSeries()
