"""Writes batches of queued readings to PostgreSQL in one statement, idempotently.

Sensors a device reports for the first time are registered on the way (legacy devices never
registered theirs), the calibration in force at the reading's time is applied, and the raw value
is kept. Re-delivery is harmless: readings are keyed by (sensor, recorded_at). The same statement
keeps each sensor's newest reading on its `sensors` row (last_value, last_raw_value,
last_recorded_at), only ever moving it forward in time, so "latest per sensor" reads no readings,
and counts the new rows per client and sensor type in `reading_counts` (what /metrics reports as
readings stored; counter rows are taken in (client, type) order, like the sensors).

Sensors are upserted (ON CONFLICT DO UPDATE), not inserted-or-skipped: the upsert returns the row
even when a concurrent batch registered the same sensor after this statement's snapshot was taken,
so no reading is dropped in that race. Rows are taken in (client, sensor) order, so concurrent
batches lock sensors in the same order and cannot deadlock on them. A reading without a location
registers its sensor at location 'default', as legacy_sensor_id names it (sensors.location is
NOT NULL).
"""

import json
from dataclasses import dataclass
from typing import Sequence
from uuid import UUID

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from hydroponics.db.sql import statement
from hydroponics.readings.messages import QueuedReading
from hydroponics.readings.sensor_types import SENSOR_TYPES

# The batch travels as one JSON parameter: pg8000 escapes array parameters element by element in
# Python, which cost more than the statement itself (unnest of eight arrays: 3.1 ms per 100 readings
# to encode, against 1.1 ms for the JSON, bench/README.md).
_INCOMING = """
incoming AS (
    SELECT * FROM json_to_recordset(CAST(:batch AS json)) AS t(
        n integer, client_id uuid, external_id text, sensor_type text, location text, unit text,
        raw_value float8, recorded_at timestamptz)
)"""

# Calibration looked up through the sensor row this statement's snapshot sees; a sensor that is
# new in this batch (or registered concurrently, a moment ago) has no calibration yet.
_CALIBRATED = """
calibrated AS (
    SELECT i.*, i.raw_value * coalesce(c.slope, 1) + coalesce(c."offset", 0) AS value
    FROM incoming i
    LEFT JOIN sensors known ON known.client_id = i.client_id AND known.external_id = i.external_id
    LEFT JOIN LATERAL (
        SELECT slope, "offset" FROM calibrations
        WHERE sensor_id = known.id AND calibrated_at <= i.recorded_at
        ORDER BY calibrated_at DESC LIMIT 1
    ) c ON true
)"""

_STORE_BATCH = statement(f"""
WITH {_INCOMING}, {_CALIBRATED}, newest AS (
    SELECT DISTINCT ON (client_id, external_id)
           client_id, external_id, sensor_type, location, unit, value, raw_value, recorded_at
    FROM calibrated ORDER BY client_id, external_id, recorded_at DESC
), batch_sensors AS (
    INSERT INTO sensors AS s (client_id, external_id, sensor_type, location, unit,
                              last_value, last_raw_value, last_recorded_at)
    SELECT client_id, external_id, sensor_type, coalesce(location, 'default'), unit, value, raw_value, recorded_at
    FROM newest ORDER BY client_id, external_id
    ON CONFLICT (client_id, external_id) DO UPDATE SET
        last_value = CASE WHEN s.last_recorded_at >= EXCLUDED.last_recorded_at
                          THEN s.last_value ELSE EXCLUDED.last_value END,
        last_raw_value = CASE WHEN s.last_recorded_at >= EXCLUDED.last_recorded_at
                              THEN s.last_raw_value ELSE EXCLUDED.last_raw_value END,
        last_recorded_at = greatest(s.last_recorded_at, EXCLUDED.last_recorded_at)
    RETURNING s.id, s.client_id, s.external_id, s.sensor_type
), stored AS (
    INSERT INTO readings (sensor_id, client_id, recorded_at, value, raw_value)
    SELECT s.id, c.client_id, c.recorded_at, c.value, c.raw_value
    FROM calibrated c JOIN batch_sensors s USING (client_id, external_id)
    ORDER BY s.id, c.recorded_at
    ON CONFLICT (sensor_id, recorded_at) DO NOTHING
    RETURNING sensor_id
), counted AS (
    INSERT INTO reading_counts AS rc (client_id, sensor_type, stored)
    SELECT s.client_id, s.sensor_type, count(*) FROM stored JOIN batch_sensors s ON s.id = stored.sensor_id
    GROUP BY s.client_id, s.sensor_type ORDER BY s.client_id, s.sensor_type
    ON CONFLICT (client_id, sensor_type) DO UPDATE SET stored = rc.stored + EXCLUDED.stored
)
SELECT count(*) FROM stored
""").execution_options(prepared=True)  # constant text: parsed once per connection (db/engine.py)

# For backends that keep the series elsewhere (InfluxDB): PostgreSQL still owns sensors and
# calibrations, so register the sensors and return each reading's sensor id and calibrated value.
_REGISTER_AND_CALIBRATE = statement(f"""
WITH {_INCOMING}, {_CALIBRATED}, batch_sensors AS (
    INSERT INTO sensors AS s (client_id, external_id, sensor_type, location, unit)
    SELECT DISTINCT ON (client_id, external_id) client_id, external_id, sensor_type, coalesce(location, 'default'), unit
    FROM incoming ORDER BY client_id, external_id
    ON CONFLICT (client_id, external_id) DO UPDATE SET external_id = EXCLUDED.external_id
    RETURNING s.id, s.client_id, s.external_id, s.sensor_type, s.location
)
SELECT s.id, s.sensor_type, s.location, c.value
FROM calibrated c JOIN batch_sensors s USING (client_id, external_id) ORDER BY c.n
""")


@dataclass(frozen=True)
class RegisteredReading:
    """A reading's sensor as PostgreSQL registered it, and the reading's calibrated value."""

    sensor_id: UUID
    sensor_type: str
    location: str
    value: float


def _parameters(readings: Sequence[QueuedReading]) -> dict[str, str]:
    return {"batch": json.dumps([
        {"n": n, "client_id": str(r.client_id), "external_id": r.sensor, "sensor_type": r.sensor_type,
         "location": r.location, "unit": _unit(r.sensor_type), "raw_value": r.value,
         "recorded_at": r.recorded_at.isoformat()}
        for n, r in enumerate(readings)])}


def _unit(sensor_type: str) -> str | None:
    kind = SENSOR_TYPES.get(sensor_type)
    return kind.unit if kind else None


def store_readings(session: Session | Connection, readings: Sequence[QueuedReading]) -> int:
    """Store `readings` in one statement; returns how many were new (duplicates are skipped)."""
    if not readings:
        return 0
    return session.execute(_STORE_BATCH, _parameters(readings)).scalar_one()


def register_and_calibrate(session: Session, readings: Sequence[QueuedReading]) -> list[RegisteredReading]:
    """Each reading's registered sensor and calibrated value, in order, registering unknown sensors; one statement."""
    if not readings:
        return []
    return [RegisteredReading(*row) for row in session.execute(_REGISTER_AND_CALIBRATE, _parameters(readings))]
