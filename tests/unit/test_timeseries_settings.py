"""Backend choice: PostgreSQL unless TIMESERIES_BACKEND=influxdb, which needs the whole InfluxDB address."""

import pytest
from pydantic import ValidationError

from hydroponics.timeseries import factory
from hydroponics.timeseries.base import TimeSeriesStore, Window
from hydroponics.timeseries.config import TimeSeriesSettings, get_timeseries_settings
from hydroponics.timeseries.postgres import PostgresTimeSeries

INFLUXDB = {"TIMESERIES_BACKEND": "influxdb", "INFLUXDB_URL": "http://127.0.0.1:8086", "INFLUXDB_TOKEN": "t0ken",
            "INFLUXDB_ORG": "farms", "INFLUXDB_BUCKET": "readings"}


@pytest.fixture
def environment(monkeypatch):
    for name in INFLUXDB:
        monkeypatch.delenv(name, raising=False)
    get_timeseries_settings.cache_clear()
    factory.get_store.cache_clear()
    yield monkeypatch
    get_timeseries_settings.cache_clear()
    factory.get_store.cache_clear()


def test_postgres_is_the_default(environment):
    store = factory.get_store()
    assert isinstance(store, PostgresTimeSeries) and isinstance(store, TimeSeriesStore)
    assert factory.get_store() is store  # one per process


def test_influxdb_needs_url_token_org_and_bucket(environment):
    environment.setenv("TIMESERIES_BACKEND", "influxdb")
    environment.setenv("INFLUXDB_URL", "http://127.0.0.1:8086")
    with pytest.raises(ValidationError, match="INFLUXDB_TOKEN, INFLUXDB_ORG, INFLUXDB_BUCKET"):
        TimeSeriesSettings()


def test_an_unknown_backend_is_refused(environment):
    environment.setenv("TIMESERIES_BACKEND", "sqlite")
    with pytest.raises(ValidationError):
        TimeSeriesSettings()


def test_influxdb_backend_is_built_from_the_environment(environment):
    for name, value in INFLUXDB.items():
        environment.setenv(name, value)
    from hydroponics.timeseries.influx import InfluxTimeSeries

    store = factory.get_store()
    assert isinstance(store, InfluxTimeSeries) and isinstance(store, TimeSeriesStore)
    assert "t0ken" not in repr(get_timeseries_settings())


def test_windows_are_fixed_widths():
    assert [w.value for w in Window] == ["raw", "1m", "5m", "1h", "1d"]
    assert Window.RAW.width is None
    assert [w.width.total_seconds() for w in list(Window)[1:]] == [60, 300, 3600, 86400]
