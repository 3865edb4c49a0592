"""The store step with TIMESERIES_BACKEND=influxdb, end to end against a local InfluxDB 2 write endpoint
(tests/influx_fake.py, over real HTTP): sensors and calibrations in PostgreSQL, points in InfluxDB."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from hydroponics.db.engine import session_scope
from hydroponics.readings.batch import DatabaseUnavailable, store_sqs_batch
from hydroponics.readings.messages import QueuedReading
from hydroponics.records.clients import create_client
from hydroponics.timeseries.config import get_timeseries_settings
from hydroponics.timeseries.factory import get_store
from tests.influx_fake import TOKEN, FakeInflux

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def influx(platform_db, monkeypatch):
    with FakeInflux() as fake:
        for name, value in {"TIMESERIES_BACKEND": "influxdb", "INFLUXDB_URL": fake.url, "INFLUXDB_TOKEN": TOKEN,
                            "INFLUXDB_ORG": "farm-org", "INFLUXDB_BUCKET": "readings"}.items():
            monkeypatch.setenv(name, value)
        get_timeseries_settings.cache_clear()
        get_store.cache_clear()
        yield fake
    get_timeseries_settings.cache_clear()
    get_store.cache_clear()


@pytest.fixture
def farm(platform_db):
    with session_scope() as session:
        return create_client(session, "Greenleaf Farms")


def records(client_id, sensors: list[str], at: datetime = T0, value: float = 6.0) -> list[dict]:
    return [{"messageId": f"m-{sensor}-{at.isoformat()}", "receiptHandle": "rh", "body": QueuedReading(
        client_id=client_id, sensor=sensor, sensor_type="ph", location="tank-1", value=value, recorded_at=at,
        received_at=at).model_dump_json()} for sensor in sensors]


def test_readings_go_to_influxdb_calibrated_and_once_however_often_delivered(influx, farm, platform_db):
    store_sqs_batch(records(farm, ["ph-1"], T0 - timedelta(days=1)))  # registers the sensor
    with platform_db.begin() as conn:
        conn.execute(text('INSERT INTO calibrations (sensor_id, client_id, calibrated_at, "offset", slope)'
                          " SELECT id, client_id, :at, 0.5, 1 FROM sensors WHERE external_id = 'ph-1'"),
                     {"at": T0 - timedelta(hours=1)})
    batch = records(farm, ["ph-1", "ph-2"])
    outcome = store_sqs_batch(batch)
    assert outcome.failed_message_ids == [] and len(outcome.readings) == 2
    store_sqs_batch(batch)  # redelivered: the same measurement, tags and time overwrite
    points = {(tags["sensor"], at): fields for tags, at, fields in influx.series()}
    at = int(T0.timestamp() * 1_000_000)  # microseconds
    assert len(points) == 3 and points[("ph-1", at)] == {"value": 6.5, "raw_value": 6.0}  # calibration applied
    assert points[("ph-2", at)] == {"value": 6.0, "raw_value": 6.0}
    with platform_db.connect() as conn:  # the farm records stay in PostgreSQL, the series does not
        assert conn.execute(text("SELECT count(*) FROM sensors")).scalar() == 2
        assert conn.execute(text("SELECT count(*) FROM readings")).scalar() == 0


def test_points_influxdb_refuses_fail_their_message_alone(influx, farm):
    influx.refuse = "sensor=bad"
    outcome = store_sqs_batch(records(farm, ["ph-1", "bad", "ph-2"]))
    assert outcome.failed_message_ids == [f"m-bad-{T0.isoformat()}"]
    assert sorted(tags["sensor"] for tags, _, _ in influx.series()) == ["ph-1", "ph-2"]


def test_an_unreachable_influxdb_is_an_outage_and_stores_nothing(influx, farm):
    influx.unavailable = True
    with pytest.raises(DatabaseUnavailable):
        store_sqs_batch(records(farm, ["ph-1"]))
    assert list(influx.series()) == []
    influx.unavailable = False
    assert store_sqs_batch(records(farm, ["ph-1"])).failed_message_ids == []  # once it is back
    assert len(list(influx.series())) == 1


def test_the_fake_keys_points_as_influxdb_does():
    from tests.influx_fake import parse_line

    assert parse_line(r'readings,location=bay\ a,sensor=ph\,1 raw_value=6,value=6.5,note="a b" 17') == (
        "readings", {"location": "bay a", "sensor": "ph,1"}, {"raw_value": 6.0, "value": 6.5, "note": "a b"}, 17)
