"""Calibration due (daily): sensors whose calibration is overdue or due within a week, as events.

A sensor's calibration in force is its newest; when its next_due_at has passed the sensor gets a
`calibration.overdue` event, when it falls within SOON it gets `calibration.due` (alerts take these
over with the alerting issue). Sensors never calibrated, or calibrated without a due date, are not
reported. At most one event per sensor and type per UTC day: a second run the same day finds them
and adds nothing; concurrent runs queue on an advisory lock, so the second sees the first's events.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hydroponics.db.sql import MOMENT, statement

JOB = "calibration_due"
SOON = timedelta(days=7)

_SERIALISE = statement("SELECT pg_advisory_xact_lock(hashtext('hydroponics.jobs.calibration_due'))")

RAISE_CALIBRATIONS_DUE = statement("""
WITH due AS (
    SELECT s.client_id, s.id AS sensor_id, s.external_id, c.id AS calibration_id, c.calibrated_at, c.next_due_at,
           CASE WHEN c.next_due_at <= :now THEN 'calibration.overdue' ELSE 'calibration.due' END AS event_type
    FROM sensors s
    CROSS JOIN LATERAL (
        SELECT id, calibrated_at, next_due_at FROM calibrations
        WHERE sensor_id = s.id ORDER BY calibrated_at DESC LIMIT 1
    ) c
    WHERE s.is_active AND c.next_due_at <= :horizon
), raised AS (
    INSERT INTO events (client_id, event_type, actor, subject_type, subject_id, details, occurred_at)
    SELECT d.client_id, d.event_type, 'scheduler', 'sensor', d.sensor_id::text,
           jsonb_build_object('sensor', d.external_id, 'calibration_id', d.calibration_id,
                              'calibrated_at', d.calibrated_at, 'next_due_at', d.next_due_at,
                              'days_left', floor(extract(epoch FROM d.next_due_at - :now) / 86400)), :now
    FROM due d
    WHERE NOT EXISTS (
        SELECT 1 FROM events e
        WHERE e.client_id = d.client_id AND e.event_type = d.event_type
          AND e.occurred_at >= date_trunc('day', :now, 'UTC')
          AND e.subject_type = 'sensor' AND e.subject_id = d.sensor_id::text)
    RETURNING event_type
)
INSERT INTO events (client_id, event_type, actor, subject_type, subject_id, details, occurred_at)
SELECT NULL, 'job.ran', 'scheduler', 'job', :job,
       jsonb_build_object('job', CAST(:job AS text),
                          'overdue', (SELECT count(*) FROM raised WHERE event_type = 'calibration.overdue'),
                          'due_soon', (SELECT count(*) FROM raised WHERE event_type = 'calibration.due')), :now
RETURNING details
""", now=MOMENT, horizon=MOMENT)


def raise_calibrations_due(session: Session, now: datetime) -> dict[str, Any]:
    """Turns today's overdue and soon-due calibrations into events (once a day each): one query finds them."""
    session.execute(_SERIALISE)
    details = session.execute(RAISE_CALIBRATIONS_DUE, {"now": now, "horizon": now + SOON, "job": JOB}).scalar_one()
    return {"overdue": details["overdue"], "due_soon": details["due_soon"]}
