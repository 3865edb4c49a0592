"""Sensor calibrations: each sensor's history, the calibration in force, its status, and what falls due."""

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.errors import InvalidInput, NotFound
from hydroponics.records.pagination import Keyset, Page, PageRequest

DUE_SOON = timedelta(days=7)  # a calibration due within this is "due_soon"
FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew allowed on calibrated_at

HISTORY_ORDER = Keyset("calibrations", {"c.calibrated_at": datetime, "c.id": UUID}, descending=True)
DUE_ORDER = Keyset("calibrations_due", {"cal.next_due_at": datetime, "cal.id": UUID})


def _columns(alias: str) -> str:
    names = ("id", "sensor_id", "calibrated_at", "method", "reference_solutions", '"offset"', "slope", "technician",
             "next_due_at", "notes")
    return ", ".join(f"{alias}.{name}" for name in names)


_COLUMNS = _columns("c")

# The calibration in force on each sensor `s` (its newest, as the store step applies it), through
# ix_calibrations_sensor_id_calibrated_at. Alias `cal`: calibrated_at, next_due_at and the rest.
CALIBRATION_IN_FORCE = (
    f"LATERAL (SELECT {_COLUMNS} FROM calibrations c WHERE c.sensor_id = s.id"
    " ORDER BY c.calibrated_at DESC LIMIT 1) cal")


def calibration_status(last_calibrated_at: datetime | None, next_due_at: datetime | None, now: datetime) -> str:
    """"never" calibrated, "overdue", "due_soon" (within DUE_SOON) or "ok" (also when no due date was set)."""
    if last_calibrated_at is None:
        return "never"
    if next_due_at is None or next_due_at > now + DUE_SOON:
        return "ok"
    return "overdue" if next_due_at <= now else "due_soon"


@dataclass(frozen=True)
class CalibrationState:
    """Where a sensor stands: its calibration in force and when the next one is due."""

    status: str
    last_calibrated_at: datetime | None
    next_due_at: datetime | None

    @classmethod
    def of(cls, last_calibrated_at: datetime | None, next_due_at: datetime | None, now: datetime) -> "CalibrationState":
        return cls(calibration_status(last_calibrated_at, next_due_at, now), last_calibrated_at, next_due_at)


@dataclass(frozen=True)
class CalibrationRecord:
    id: UUID
    sensor_id: UUID
    calibrated_at: datetime
    method: str | None
    reference_solutions: list[Any]
    offset: float
    slope: float
    technician: str | None
    next_due_at: datetime | None
    notes: str | None


@dataclass(frozen=True)
class DueCalibration(CalibrationRecord):
    """A sensor's calibration in force that falls due, with the sensor it belongs to."""

    external_id: str
    sensor_type: str
    location: str
    status: str


def _check(fields: dict[str, Any], now: datetime) -> None:
    """Domain rules a calibration must meet (types are the API's business): 422 naming each field."""
    problems = []
    calibrated_at = fields.get("calibrated_at") or now
    if calibrated_at > now + FUTURE_TOLERANCE:
        problems.append({"field": "calibrated_at", "reason": "must not be in the future"})
    if fields.get("next_due_at") is not None and fields["next_due_at"] <= calibrated_at:
        problems.append({"field": "next_due_at", "reason": "must be after calibrated_at"})
    slope = fields.get("slope", 1.0)
    if not math.isfinite(slope) or slope <= 0:
        problems.append({"field": "slope", "reason": "must be a positive number"})
    if not math.isfinite(fields.get("offset", 0.0)):
        problems.append({"field": "offset", "reason": "must be a finite number"})
    if problems:
        raise InvalidInput("calibration is invalid", details=problems)


def record_calibration(session: Session, client_id: UUID, sensor_id: UUID, fields: dict[str, Any],
                       now: datetime | None = None) -> CalibrationRecord:
    """Record a calibration of one of the client's sensors; readings stored from calibrated_at on use it."""
    _check(fields, now or datetime.now(UTC))
    params = {"method": None, "technician": None, "next_due_at": None, "notes": None, "calibrated_at": None,
              "offset": 0.0, "slope": 1.0} | fields
    params |= {"reference_solutions": json.dumps(fields.get("reference_solutions") or []),
               "client_id": client_id, "sensor_id": sensor_id}
    row = session.execute(text(
        'INSERT INTO calibrations AS c (sensor_id, client_id, calibrated_at, method, reference_solutions, "offset",'
        " slope, technician, next_due_at, notes)"
        " SELECT s.id, s.client_id, coalesce(CAST(:calibrated_at AS timestamptz), now()), :method,"
        " CAST(:reference_solutions AS jsonb), :offset, :slope, :technician, CAST(:next_due_at AS timestamptz), :notes"
        " FROM sensors s WHERE s.id = :sensor_id AND s.client_id = :client_id"
        f" RETURNING {_COLUMNS}"), params).one_or_none()
    if row is None:
        raise NotFound(f"sensor {sensor_id} not found")
    return CalibrationRecord(**row._mapping)


def list_calibrations(session: Session, client_id: UUID, sensor_id: UUID,
                      request: PageRequest) -> Page[CalibrationRecord]:
    """A page of one sensor's calibrations, newest first (404 when the sensor is not the client's)."""
    if session.execute(text("SELECT 1 FROM sensors WHERE id = :s AND client_id = :c"),
                       {"s": sensor_id, "c": client_id}).first() is None:
        raise NotFound(f"sensor {sensor_id} not found")
    page = HISTORY_ORDER.clause(request)
    rows = session.execute(text(
        f"SELECT {_COLUMNS} FROM calibrations c WHERE c.sensor_id = :s AND c.client_id = :c AND {page.after}"
        f" ORDER BY {page.order_by} {page.limit}"), {"s": sensor_id, "c": client_id} | page.params)
    return HISTORY_ORDER.page([CalibrationRecord(**row._mapping) for row in rows], request)


def calibrations_due(session: Session, client_id: UUID, due_before: datetime, request: PageRequest,
                     now: datetime | None = None) -> Page[DueCalibration]:
    """The client's active sensors whose calibration in force falls due before `due_before`, soonest first;
    one statement. Sensors never calibrated have nothing due (the sensors list shows them as "never")."""
    now = now or datetime.now(UTC)
    page = DUE_ORDER.clause(request)
    rows = session.execute(text(
        f"SELECT {_columns('cal')}, s.external_id, s.sensor_type, s.location"
        f" FROM sensors s CROSS JOIN {CALIBRATION_IN_FORCE}"
        " WHERE s.client_id = :client_id AND s.is_active AND cal.next_due_at < :due_before"
        f" AND {page.after} ORDER BY {page.order_by} {page.limit}"),
        {"client_id": client_id, "due_before": due_before} | page.params)
    return DUE_ORDER.page([
        DueCalibration(**row._mapping, status=calibration_status(row.calibrated_at, row.next_due_at, now))
        for row in rows], request)
