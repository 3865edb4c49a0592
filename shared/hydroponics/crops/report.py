"""Per-crop report: for each growth stage, the hours each target metric spent below or above its band.

Time-weighted, in SQL: a reading's value holds until that sensor's next reading, the end of the stage,
or HOLD_INTERVALS of the sensor's expected reporting interval, whichever comes first (a silent sensor
does not stretch its last value over the gap). The readings are those of the sensors at the crop's
location whose type is the metric; with several such sensors (redundant peers) the hours are their
mean, so a pair of probes does not count the same hour twice. An open stage is measured up to now.

Targets come from the variety's profile through each stage's variety_stage_id; a stage whose profile
was since replaced has none (`targets: null`) and reports no metrics.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.orm import Session

from hydroponics.crops.crops import get_crop
from hydroponics.db.sql import MOMENT, statement

HOLD_INTERVALS = 5

_STAGE_METRICS = statement("""
WITH stage AS (
    SELECT g.id, g.stage_name, g.stage_order, g.started_at, g.due_at, g.completed_at,
           greatest(g.started_at, least(coalesce(g.completed_at, :now), :now)) AS ended_at, s.targets
    FROM growth_stages g LEFT JOIN variety_stages s ON s.id = g.variety_stage_id
    WHERE g.crop_id = :crop_id
), target AS (
    SELECT st.id AS stage_id, t.metric, CAST(t.band ->> 'min' AS float8) AS low,
           CAST(t.band ->> 'max' AS float8) AS high, st.started_at, st.ended_at
    FROM stage st CROSS JOIN LATERAL jsonb_each(coalesce(st.targets, '{}'::jsonb)) AS t(metric, band)
), held AS (
    SELECT t.stage_id, t.metric, r.sensor_id, r.value, t.low, t.high,
           extract(epoch FROM least(
               lead(r.recorded_at) OVER (PARTITION BY t.stage_id, r.sensor_id ORDER BY r.recorded_at),
               t.ended_at,
               r.recorded_at + make_interval(secs => se.expected_interval_seconds * :hold_intervals)
           ) - r.recorded_at)::float8 AS seconds
    FROM target t
    JOIN sensors se ON se.client_id = :client_id AND se.location = :location AND se.sensor_type = t.metric
    JOIN readings r ON r.sensor_id = se.id AND r.recorded_at >= t.started_at AND r.recorded_at < t.ended_at
), measured AS (
    SELECT stage_id, metric, count(DISTINCT sensor_id) AS sensors, sum(seconds) AS seconds,
           coalesce(sum(seconds) FILTER (WHERE value < low), 0) AS below,
           coalesce(sum(seconds) FILTER (WHERE value > high), 0) AS above
    FROM held GROUP BY stage_id, metric
)
SELECT st.id AS stage_id, st.stage_name, st.stage_order, st.started_at, st.due_at, st.completed_at, st.ended_at,
       st.targets, t.metric, t.low, t.high, coalesce(m.sensors, 0) AS sensors,
       coalesce(m.seconds / m.sensors / 3600, 0) AS hours_measured,
       coalesce(m.below / m.sensors / 3600, 0) AS hours_below,
       coalesce(m.above / m.sensors / 3600, 0) AS hours_above
FROM stage st
LEFT JOIN target t ON t.stage_id = st.id
LEFT JOIN measured m ON m.stage_id = t.stage_id AND m.metric = t.metric
ORDER BY st.stage_order, t.metric
""", now=MOMENT)


def _hours(seconds_as_hours: float) -> float:
    return round(float(seconds_as_hours), 3)


def crop_report(session: Session, client_id: UUID, crop_id: UUID, now: datetime) -> dict[str, Any]:
    """The crop with its harvest, and per stage the hours each metric spent outside its target range."""
    crop = get_crop(session, client_id, crop_id, now)
    rows = session.execute(_STAGE_METRICS, {"client_id": client_id, "crop_id": crop_id, "location": crop["location"],
                                            "now": now, "hold_intervals": HOLD_INTERVALS}).mappings()
    stages: dict[UUID, dict[str, Any]] = {}
    for row in rows:
        stage = stages.setdefault(row["stage_id"], {
            "name": row["stage_name"], "stage_order": row["stage_order"], "started_at": row["started_at"],
            "due_at": row["due_at"], "completed_at": row["completed_at"], "measured_until": row["ended_at"],
            "targets": row["targets"], "metrics": [],
        })
        if row["metric"] is not None:
            below, above = _hours(row["hours_below"]), _hours(row["hours_above"])
            stage["metrics"].append({
                "metric": row["metric"], "min": row["low"], "max": row["high"], "sensors": row["sensors"],
                "hours_measured": _hours(row["hours_measured"]), "hours_below": below, "hours_above": above,
                "hours_outside": round(below + above, 3),
            })
    return {"crop": {key: value for key, value in crop.items() if key not in ("stages", "harvest")},
            "harvest": crop["harvest"], "stages": list(stages.values())}
