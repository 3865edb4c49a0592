"""The InfluxDB backend without a server: synchronous writes of calibrated points, Flux it sends, answers it reads."""

import uuid
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from influxdb_client.client.write_api import WriteType

from hydroponics.readings.messages import QueuedReading
from hydroponics.readings.store import RegisteredReading
from hydroponics.timeseries import influx
from hydroponics.timeseries.base import AggregatePoint, RawPoint, SeriesPosition, SeriesQuery, Window
from hydroponics.timeseries.cursor import decode_cursor

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
CLIENT = uuid.UUID("6f1c1e8a-0000-4000-8000-000000000001")
SENSOR_ID = uuid.UUID("6f1c1e8a-0000-4000-8000-0000000000aa")


class FakeInflux:
    """Records what the store writes and the Flux it sends; answers queries with canned records."""

    def __init__(self, answer: list[dict] | None = None) -> None:
        self.writes: list[dict] = []
        self.flux: list[str] = []
        self.answer = answer or []
        self.write_options = None

    def write_api(self, write_options):
        self.write_options = write_options
        return SimpleNamespace(write=lambda **kwargs: self.writes.append(kwargs))

    def query_api(self):
        def query(flux, org=None):
            self.flux.append(flux)
            return [SimpleNamespace(records=[SimpleNamespace(values=v) for v in self.answer])]
        return SimpleNamespace(query=query)


def _store(fake: FakeInflux) -> influx.InfluxTimeSeries:
    return influx.InfluxTimeSeries(fake, bucket="readings", org="farms", session=nullcontext)


def _reading(i: int, value: float) -> QueuedReading:
    return QueuedReading(client_id=CLIENT, sensor="ph-1", sensor_type="ph", location=None, value=value,
                         recorded_at=T0 + timedelta(seconds=i, microseconds=5), received_at=T0)


def test_writes_are_synchronous_calibrated_points_tagged_like_the_registered_sensor(monkeypatch):
    fake = FakeInflux()
    monkeypatch.setattr(influx, "register_and_calibrate", lambda session, readings: [
        RegisteredReading(SENSOR_ID, "ph", "default", r.value + 1.25) for r in readings])
    assert _store(fake).write([_reading(0, 6.0), _reading(1, 6.5)]) == 2
    assert fake.write_options.write_type == WriteType.synchronous
    [call] = fake.writes
    assert (call["bucket"], call["org"]) == ("readings", "farms")
    lines = [point.to_line_protocol() for point in call["record"]]
    assert lines[0] == (f"readings,client_id={CLIENT},location=default,sensor=ph-1,sensor_id={SENSOR_ID},"
                        f"sensor_type=ph raw_value=6,value=7.25 {int(T0.timestamp()) * 10**6 + 5}")
    assert "raw_value=6.5,value=7.75" in lines[1]


def test_nothing_to_write_touches_neither_database(monkeypatch):
    monkeypatch.setattr(influx, "register_and_calibrate", lambda *_: pytest.fail("registered nothing"))
    fake = FakeInflux()
    assert _store(fake).write([]) == 0 and fake.writes == []


@pytest.mark.parametrize(("value", "literal"), [
    ('pH "north"', r'"pH \"north\""'), ("a\\b", r'"a\\b"'), ("${secret}", r'"\${secret}"'), ("$x", '"$x"')])
def test_flux_strings_are_escaped(value, literal):
    assert influx.flux_string(value) == literal


def test_flux_times_are_utc_to_the_microsecond():
    moment = datetime(2026, 11, 29, 14, 0, 0, 7, tzinfo=timezone(timedelta(hours=2)))
    assert influx.flux_time(moment) == "2026-11-29T12:00:00.000007Z"


def test_a_raw_page_is_scoped_to_the_client_sorted_and_one_longer_than_asked():
    after = SeriesPosition(at=T0 + timedelta(minutes=5), sensor="ph-1")
    flux = influx.series_flux("readings", SeriesQuery(client_id=CLIENT, start=T0, end=T0 + timedelta(hours=1),
                                                      sensor='x" or true or "', limit=10, after=after))
    assert f'r.client_id == "{CLIENT}"' in flux
    assert r'r.sensor == "x\" or true or \""' in flux  # an injected quote stays inside the string
    assert "range(start: 2026-11-29T12:05:00.000000Z, stop: 2026-11-29T13:00:00.000000Z)" in flux
    assert ('r._time > 2026-11-29T12:05:00.000000Z or (r._time == 2026-11-29T12:05:00.000000Z and r.sensor > "ph-1")'
            in flux)
    assert flux.index("group()") < flux.index("pivot(") < flux.index('sort(columns: ["_time", "sensor"])')
    assert flux.rstrip().endswith("limit(n: 11)")


def test_a_windowed_page_aggregates_four_statistics_on_the_epoch_grid():
    flux = influx.series_flux("readings", SeriesQuery(client_id=CLIENT, start=T0, end=T0 + timedelta(days=1),
                                                      window=Window.FIVE_MINUTES, location="tank-1"))
    for name, fn in (("min", "min"), ("max", "max"), ("avg", "mean"), ("count", "count")):
        assert f'aggregateWindow(every: 5m, fn: {fn}, createEmpty: false, timeSrc: "_start")' in flux
        assert f'set(key: "stat", value: "{name}")' in flux
    assert "date.truncate(t: r._time, unit: 5m)" in flux and 'r.location == "tank-1"' in flux
    assert 'r._field == "value")' in flux and "raw_value" not in flux


def test_answers_become_points_and_the_cursor_points_at_the_last_one_kept():
    answer = [{"_time": T0 + timedelta(minutes=i), "sensor": "ph-1", "sensor_type": "ph", "location": "tank-1",
               "value": 6.0 + i, "raw_value": 5.0 + i} for i in range(3)]
    fake = FakeInflux(answer)
    page = _store(fake).query(SeriesQuery(client_id=CLIENT, start=T0, end=T0 + timedelta(hours=1), limit=2))
    assert page.points == [RawPoint("ph-1", "ph", "tank-1", T0 + timedelta(minutes=i), 6.0 + i, 5.0 + i)
                           for i in range(2)]
    assert decode_cursor(page.next_cursor, Window.RAW) == SeriesPosition(T0 + timedelta(minutes=1), "ph-1")

    fake.answer = [{"_time": T0, "sensor": "ph-1", "sensor_type": "ph", "location": "tank-1",
                    "min": 5.0, "max": 7.0, "avg": 6.0, "count": 3.0}]
    page = _store(fake).query(SeriesQuery(client_id=CLIENT, start=T0, end=T0 + timedelta(hours=1), window=Window.HOUR))
    assert page.points == [AggregatePoint("ph-1", "ph", "tank-1", T0, 5.0, 7.0, 6.0, 3)] and page.next_cursor is None


def test_latest_reads_the_last_point_of_each_series():
    fake = FakeInflux([{"_time": T0, "sensor": "ph-1", "sensor_id": str(SENSOR_ID), "sensor_type": "ph",
                        "location": "tank-1", "value": 6.6, "raw_value": 6.0}])
    [latest] = _store(fake).latest(CLIENT, sensor_type="ph")
    assert (latest.sensor_id, latest.unit, latest.value, latest.raw_value) == (SENSOR_ID, "pH", 6.6, 6.0)
    assert "last()" in fake.flux[0] and 'r.sensor_type == "ph"' in fake.flux[0]
    assert "stop: 2100-01-01T00:00:00Z" in fake.flux[0]  # devices running a little ahead are still seen


def test_latest_keeps_one_reading_per_sensor_when_its_tags_changed():
    def point(sensor: str, minutes: int, location: str) -> dict:
        return {"_time": T0 + timedelta(minutes=minutes), "sensor": sensor, "sensor_id": str(SENSOR_ID),
                "sensor_type": "ph", "location": location, "value": float(minutes), "raw_value": float(minutes)}

    fake = FakeInflux([point("ph-2", 1, "tank-1"), point("ph-1", 5, "tank-1"), point("ph-1", 9, "tank-2")])
    assert [(r.sensor, r.location, r.value) for r in _store(fake).latest(CLIENT)] == [
        ("ph-1", "tank-2", 9.0), ("ph-2", "tank-1", 1.0)]


def test_an_empty_range_asks_influxdb_nothing():
    fake = FakeInflux()
    page = _store(fake).query(SeriesQuery(client_id=CLIENT, start=T0, end=T0))
    assert (page.points, fake.flux) == ([], [])
