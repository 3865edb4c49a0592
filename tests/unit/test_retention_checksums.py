"""Archive checksums and horizons, without PostgreSQL or S3."""

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from hydroponics.retention.archive import READINGS, checksum, time_range
from hydroponics.retention.horizons import Horizons, cutoff, valid_days

T = datetime(2026, 3, 15, 12, 30, 1, 250_000, tzinfo=UTC)


def readings(rows: list[tuple]) -> pa.Table:
    names = ["sensor_id", "client_id", "recorded_at", "value", "raw_value", "received_at", "sensor", "sensor_type",
             "location"]
    return pa.Table.from_pylist([dict(zip(names, r)) for r in rows], schema=READINGS.schema)


ROWS = [("s1", "c", T, 6.1, None, T, "ph@a", "ph", "a"), ("s2", "c", T, 1.2, 1.0, T, "ec@a", "ec", None),
        ("s1", "c", T + timedelta(minutes=1), -0.0, 6.0, T, "ph@a", "ph", "a")]


def test_a_checksum_ignores_order_and_files_but_not_values():
    base = checksum(READINGS, readings(ROWS))
    assert checksum(READINGS, readings(list(reversed(ROWS)))) == base
    assert checksum(READINGS, pa.concat_tables([readings(ROWS[:1]), readings(ROWS[1:])])) == base
    changed = [ROWS[0][:3] + (6.1000000001,) + ROWS[0][4:]] + ROWS[1:]
    assert checksum(READINGS, readings(changed)) != base
    a_null_is_not_a_zero = [ROWS[0][:4] + (0.0,) + ROWS[0][5:]] + ROWS[1:]
    assert checksum(READINGS, readings(a_null_is_not_a_zero)) != base
    one_microsecond = [ROWS[0][:2] + (T + timedelta(microseconds=1),) + ROWS[0][3:]] + ROWS[1:]
    assert checksum(READINGS, readings(one_microsecond)) != base
    # descriptive columns (the sensor's name at archive time) are not part of the rows' identity
    renamed = [ROWS[0][:6] + ("ph@renamed",) + ROWS[0][7:]] + ROWS[1:]
    assert checksum(READINGS, readings(renamed)) == base


def test_time_range_is_iso_utc():
    assert time_range(READINGS, readings(ROWS)) == (T.isoformat(), (T + timedelta(minutes=1)).isoformat())
    assert time_range(READINGS, readings([])) == (None, None)


def test_cutoffs_are_utc_midnights_and_overrides_are_checked():
    assert cutoff(datetime(2026, 6, 1, 1, 59, tzinfo=UTC), 90) == datetime(2026, 3, 3, tzinfo=UTC)
    assert [valid_days(v) for v in (7, "30", 6, 0, -1, True, "x", 3.5, None, 36_500, 36_501)] == [
        7, 30, None, None, None, None, None, None, None, 36_500, None]
    horizons = Horizons(now=datetime(2026, 6, 1, 3, tzinfo=UTC), readings_days=90, events_days=365,
                        client_days={"slow": 200})  # type: ignore[dict-item]
    assert horizons.latest_readings_cutoff == datetime(2026, 3, 3, tzinfo=UTC)
    assert horizons.earliest_readings_cutoff == datetime(2025, 11, 13, tzinfo=UTC)
