"""Drift (daily): sensors that disagree with their redundant peers or with spot checks, found in SQL.

Peers are the active sensors of one client, location, peer_group and type. Their readings in the window
are averaged per bucket (DRIFT_BUCKET_MINUTES) to align them; in each bucket with two or more peers a
sensor's difference is its value minus the peers' median (itself included: with three peers the odd
one stands out, with two both are flagged, since either may be the one off). A sensor drifts when the
median of its differences over at least DRIFT_MIN_ALIGNED buckets is beyond its type's tolerance.

A spot check is compared with the sensor's reading nearest in time (within the match window); the
median of (reading - spot check) over the window's checks, beyond the tolerance, is drift too.

Each drift is recorded in sensor_drifts once per sensor, source and UTC day (a second run the same
day, or a concurrent one, records nothing new) and raised as a `sensor.drift` event; the run itself
is logged as `job.ran`. One statement.
"""

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hydroponics.db.sql import MOMENT, SPAN, statement
from hydroponics.jobs.spot_checks import NEAREST_READING
from hydroponics.jobs.tolerances import DriftSettings, get_drift_settings

JOB = "drift"

DETECT_DRIFT = statement(f"""
WITH tolerance AS (
    SELECT key AS sensor_type, CAST(value AS float8) AS tolerance FROM json_each_text(CAST(:tolerances AS json))
), peer AS (
    SELECT s.id, s.client_id, s.location, s.peer_group, s.sensor_type, t.tolerance
    FROM sensors s JOIN tolerance t ON t.sensor_type = s.sensor_type
    WHERE s.is_active AND s.peer_group IS NOT NULL
      AND EXISTS (SELECT 1 FROM sensors o
                  WHERE o.client_id = s.client_id AND o.sensor_type = s.sensor_type AND o.location = s.location
                    AND o.peer_group = s.peer_group AND o.id <> s.id AND o.is_active)
), bucketed AS (
    SELECT p.id AS sensor_id, p.client_id, p.location, p.peer_group, p.sensor_type, p.tolerance,
           date_bin(:bucket, r.recorded_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket, avg(r.value) AS value
    FROM peer p JOIN readings r ON r.sensor_id = p.id AND r.recorded_at >= :since AND r.recorded_at < :until
    GROUP BY p.id, p.client_id, p.location, p.peer_group, p.sensor_type, p.tolerance, bucket
), consensus AS (
    SELECT client_id, location, peer_group, sensor_type, bucket,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS median
    FROM bucketed GROUP BY client_id, location, peer_group, sensor_type, bucket
    HAVING count(*) >= 2
), peer_drift AS (
    SELECT b.client_id, b.sensor_id, 'peers' AS source, b.tolerance,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY b.value - c.median) AS median_difference,
           count(*) AS samples
    FROM bucketed b JOIN consensus c USING (client_id, location, peer_group, sensor_type, bucket)
    GROUP BY b.client_id, b.sensor_id, b.tolerance
    HAVING count(*) >= :min_aligned
), spot_drift AS (
    SELECT k.client_id, k.sensor_id, 'spot_check' AS source, t.tolerance,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY n.value - k.value) AS median_difference,
           count(*) AS samples
    FROM spot_checks k
    JOIN sensors s ON s.id = k.sensor_id AND s.is_active
    JOIN tolerance t ON t.sensor_type = s.sensor_type
    CROSS JOIN LATERAL ({NEAREST_READING.format(sensor="k.sensor_id", at="k.measured_at", gap=":gap")}) n
    WHERE k.measured_at >= :since AND k.measured_at < :until
    GROUP BY k.client_id, k.sensor_id, t.tolerance
), drifting AS (
    SELECT * FROM peer_drift WHERE abs(median_difference) > tolerance
    UNION ALL
    SELECT * FROM spot_drift WHERE abs(median_difference) > tolerance
), recorded AS (
    INSERT INTO sensor_drifts (client_id, sensor_id, source, detected_on, window_start, window_end,
                               median_difference, tolerance, samples, detected_at)
    SELECT client_id, sensor_id, source, CAST(timezone('UTC', :until) AS date), :since, :until,
           median_difference, tolerance, samples, :until
    FROM drifting
    ON CONFLICT (sensor_id, source, detected_on) DO NOTHING
    RETURNING id, client_id, sensor_id, source, median_difference, tolerance, samples
), raised AS (
    INSERT INTO events (client_id, event_type, actor, subject_type, subject_id, details, occurred_at)
    SELECT client_id, 'sensor.drift', 'scheduler', 'sensor', sensor_id::text,
           jsonb_build_object('drift_id', id, 'source', source, 'median_difference', median_difference,
                              'tolerance', tolerance, 'samples', samples, 'window_start', :since,
                              'window_end', :until), :until
    FROM recorded
    RETURNING subject_id
)
INSERT INTO events (client_id, event_type, actor, subject_type, subject_id, details, occurred_at)
SELECT NULL, 'job.ran', 'scheduler', 'job', :job,
       jsonb_build_object('job', CAST(:job AS text), 'drifts_raised', (SELECT count(*) FROM raised),
                          'drifting_sensors', (SELECT count(DISTINCT sensor_id) FROM drifting),
                          'window_start', :since, 'window_end', :until), :until
RETURNING details
""", since=MOMENT, until=MOMENT, bucket=SPAN, gap=SPAN)


def detect_drift(session: Session, now: datetime, settings: DriftSettings | None = None) -> dict[str, Any]:
    """Records and raises the drift found in the window ending at `now`: one statement."""
    settings = settings or get_drift_settings()
    details = session.execute(DETECT_DRIFT, {
        "tolerances": json.dumps(settings.tolerance_by_type()), "since": now - timedelta(hours=settings.window_hours),
        "until": now, "bucket": timedelta(minutes=settings.bucket_minutes), "min_aligned": settings.min_aligned,
        "gap": timedelta(minutes=settings.spot_check_match_minutes), "job": JOB,
    }).scalar_one()
    return {"drifts_raised": details["drifts_raised"], "drifting_sensors": details["drifting_sensors"]}
