"""Spot checks: a technician's manual reading against a sensor, the evidence the drift job weighs.

Recording one answers at once with the sensor's reading nearest in time (within the drift job's match
window) and the difference, so the technician sees on the spot whether the probe is off.
"""

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.orm import Session

from hydroponics.db.sql import MOMENT, SPAN, statement
from hydroponics.errors import NotFound
from hydroponics.jobs.tolerances import get_drift_settings
from hydroponics.records.pagination import Keyset, Page, PageRequest

# The newest reading at or before the check and the oldest after it: two primary-key probes.
NEAREST_READING = """
SELECT n.recorded_at, n.value FROM (
    (SELECT recorded_at, value FROM readings
     WHERE sensor_id = {sensor} AND recorded_at <= {at} AND recorded_at >= {at} - {gap}
     ORDER BY recorded_at DESC LIMIT 1)
    UNION ALL
    (SELECT recorded_at, value FROM readings
     WHERE sensor_id = {sensor} AND recorded_at > {at} AND recorded_at <= {at} + {gap}
     ORDER BY recorded_at LIMIT 1)
) n ORDER BY abs(extract(epoch FROM n.recorded_at - {at})) LIMIT 1
"""

_CHECK_COLUMNS = """
k.id, k.sensor_id, k.measured_at, k.value, k.technician, k.notes, k.created_at,
n.recorded_at AS reading_recorded_at, n.value AS reading_value, n.value - k.value AS difference
"""

_RECORD = statement(f"""
WITH sensor AS (
    SELECT id, client_id FROM sensors WHERE client_id = :client_id AND id = :sensor_id
), k AS (
    INSERT INTO spot_checks (client_id, sensor_id, measured_at, value, technician, notes)
    SELECT client_id, id, :measured_at, :value, :technician, :notes FROM sensor
    RETURNING *
)
SELECT {_CHECK_COLUMNS}
FROM k LEFT JOIN LATERAL ({NEAREST_READING.format(sensor="k.sensor_id", at="k.measured_at", gap=":gap")}) n ON true
""", measured_at=MOMENT, gap=SPAN)

SPOT_CHECK_ORDER = Keyset("spot_checks", {"k.measured_at": datetime, "k.id": UUID}, descending=True)

_SENSOR = statement("SELECT id FROM sensors WHERE client_id = :client_id AND id = :sensor_id")


def _gap() -> timedelta:
    return timedelta(minutes=get_drift_settings().spot_check_match_minutes)


def _sensor_not_found(sensor_id: UUID) -> NotFound:
    return NotFound(f"sensor {sensor_id} not found")


def record_spot_check(session: Session, client_id: UUID, sensor_id: UUID, measured_at: datetime, value: float,
                      technician: str | None, notes: str | None) -> dict[str, Any]:
    """Stores the check (404 if the sensor is not the client's) and compares it with the nearest reading."""
    row = session.execute(_RECORD, {"client_id": client_id, "sensor_id": sensor_id, "measured_at": measured_at,
                                    "value": value, "technician": technician, "notes": notes,
                                    "gap": _gap()}).mappings().first()
    if row is None:
        raise _sensor_not_found(sensor_id)
    return dict(row)


def list_spot_checks(session: Session, client_id: UUID, sensor_id: UUID,
                     request: PageRequest) -> Page[dict[str, Any]]:
    """A page of the sensor's spot checks, newest first, each beside its nearest reading."""
    page = SPOT_CHECK_ORDER.clause(request)
    listing = statement(f"""
        SELECT {_CHECK_COLUMNS}
        FROM spot_checks k
        LEFT JOIN LATERAL ({NEAREST_READING.format(sensor="k.sensor_id", at="k.measured_at", gap=":gap")}) n ON true
        WHERE k.client_id = :client_id AND k.sensor_id = :sensor_id AND {page.after}
        ORDER BY {page.order_by} {page.limit}""", gap=SPAN)
    rows = session.execute(listing, {"client_id": client_id, "sensor_id": sensor_id, "gap": _gap()} | page.params)
    checks = [dict(row) for row in rows.mappings()]
    if not checks and session.execute(_SENSOR, {"client_id": client_id, "sensor_id": sensor_id}).first() is None:
        raise _sensor_not_found(sensor_id)
    return SPOT_CHECK_ORDER.page(checks, request)
