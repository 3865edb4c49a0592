"""Writes batches of queued readings to PostgreSQL in one statement, idempotently.

Sensors a device reports for the first time are registered on the way (legacy devices never
registered theirs), the calibration in force at the reading's time is applied, and the raw value
is kept. Re-delivery is harmless: readings are keyed by (sensor, recorded_at).
"""

from typing import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.readings.messages import QueuedReading

_STORE_BATCH = text("""
WITH incoming AS (
    SELECT * FROM unnest(
        CAST(:client_ids AS uuid[]), CAST(:sensors AS text[]), CAST(:sensor_types AS text[]),
        CAST(:locations AS text[]), CAST(:values AS float8[]), CAST(:recorded_at AS timestamptz[])
    ) AS t(client_id, external_id, sensor_type, location, raw_value, recorded_at)
), registered AS (
    INSERT INTO sensors (client_id, external_id, sensor_type, location)
    SELECT DISTINCT ON (client_id, external_id) client_id, external_id, sensor_type, location FROM incoming
    ON CONFLICT (client_id, external_id) DO NOTHING
    RETURNING id, client_id, external_id
), batch_sensors AS (
    SELECT id, client_id, external_id FROM registered
    UNION ALL
    SELECT s.id, s.client_id, s.external_id
    FROM sensors s JOIN (SELECT DISTINCT client_id, external_id FROM incoming) i USING (client_id, external_id)
)
INSERT INTO readings (sensor_id, client_id, recorded_at, value, raw_value)
SELECT s.id, i.client_id, i.recorded_at,
       i.raw_value * coalesce(c.slope, 1) + coalesce(c."offset", 0), i.raw_value
FROM incoming i
JOIN batch_sensors s USING (client_id, external_id)
LEFT JOIN LATERAL (
    SELECT slope, "offset" FROM calibrations
    WHERE sensor_id = s.id AND calibrated_at <= i.recorded_at
    ORDER BY calibrated_at DESC LIMIT 1
) c ON true
ON CONFLICT (sensor_id, recorded_at) DO NOTHING
""")


def store_readings(session: Session, readings: Sequence[QueuedReading]) -> int:
    """Store `readings` in one statement; returns how many were new (duplicates are skipped)."""
    if not readings:
        return 0
    result = session.execute(_STORE_BATCH, {
        "client_ids": [str(r.client_id) for r in readings],
        "sensors": [r.sensor for r in readings],
        "sensor_types": [r.sensor_type for r in readings],
        "locations": [r.location for r in readings],
        "values": [r.value for r in readings],
        "recorded_at": [r.recorded_at for r in readings],
    })
    return result.rowcount
