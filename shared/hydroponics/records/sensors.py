"""Sensors (the legacy sensor_configs): registration, settings, latest reading and calibration status."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.errors import Conflict, InvalidInput, NotFound
from hydroponics.readings.sensor_types import SENSOR_TYPES, canonical_sensor_type
from hydroponics.records.calibrations import CALIBRATION_IN_FORCE, CalibrationState
from hydroponics.records.pagination import Keyset, Page, PageRequest

SENSOR_ORDER = Keyset("sensors", {"s.external_id": str})
DEFAULT_LOCATION = "default"  # where legacy devices' sensors are when they name none
EDITABLE = ("location", "unit", "expected_interval_seconds", "peer_group", "min_threshold", "max_threshold",
            "is_active")

_SENSOR_COLUMNS = ("s.id, s.external_id, s.sensor_type, s.location, s.unit, s.expected_interval_seconds,"
                   " s.peer_group, s.min_threshold, s.max_threshold, s.is_active, s.created_at, s.last_value,"
                   " s.last_recorded_at")
# The newest reading is kept on the sensors row by the store step; the calibration comes from one
# index probe per sensor of the page, in the same statement.
_SELECT = (f"SELECT {_SENSOR_COLUMNS}, cal.calibrated_at AS last_calibrated_at, cal.next_due_at"
           f" FROM sensors s LEFT JOIN {CALIBRATION_IN_FORCE} ON true")


@dataclass(frozen=True)
class SensorRecord:
    id: UUID
    external_id: str  # the sensor id the device reports
    sensor_type: str
    location: str
    unit: str | None
    expected_interval_seconds: int
    peer_group: str | None
    min_threshold: float | None
    max_threshold: float | None
    is_active: bool
    created_at: datetime
    last_value: float | None
    last_recorded_at: datetime | None
    calibration: CalibrationState


@dataclass(frozen=True)
class SensorFilter:
    """Which of the client's sensors to list; None means any. Deactivated sensors only on request."""

    sensor_type: str | None = None
    location: str | None = None
    peer_group: str | None = None
    include_inactive: bool = False


def _record(row: Any, now: datetime) -> SensorRecord:
    values = dict(row._mapping)
    last, due = values.pop("last_calibrated_at", None), values.pop("next_due_at", None)
    return SensorRecord(**values, calibration=CalibrationState.of(last, due, now))


def known_sensor_type(name: str, field: str = "sensor_type") -> str:
    """The canonical name of a sensor type (aliases accepted); 422 naming `field` when unknown."""
    kind = canonical_sensor_type(name)
    if kind is None:
        raise InvalidInput("unknown sensor type", details=[
            {"field": field, "reason": f"unknown sensor type; known types: {', '.join(SENSOR_TYPES)}"}])
    return kind.name


def _check_thresholds(minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and maximum is not None and minimum > maximum:
        raise InvalidInput("thresholds are invalid",
                           details=[{"field": "max_threshold", "reason": "must not be below min_threshold"}])


def register_sensor(session: Session, client_id: UUID, fields: dict[str, Any]) -> SensorRecord:
    """Register a sensor; its unit defaults to the type's. 409 when the client already has its external_id."""
    sensor_type = known_sensor_type(fields["sensor_type"])
    values = {"location": DEFAULT_LOCATION, "unit": None, "expected_interval_seconds": 60, "peer_group": None,
              "min_threshold": None, "max_threshold": None} | fields
    values |= {"sensor_type": sensor_type, "unit": values["unit"] or SENSOR_TYPES[sensor_type].unit,
               "client_id": client_id}
    _check_thresholds(values["min_threshold"], values["max_threshold"])
    row = session.execute(text(
        "INSERT INTO sensors AS s (client_id, external_id, sensor_type, location, unit, expected_interval_seconds,"
        " peer_group, min_threshold, max_threshold)"
        " VALUES (:client_id, :external_id, :sensor_type, :location, :unit, :expected_interval_seconds,"
        " :peer_group, :min_threshold, :max_threshold)"
        f" ON CONFLICT (client_id, external_id) DO NOTHING RETURNING {_SENSOR_COLUMNS}"), values).one_or_none()
    if row is None:
        raise Conflict(f"sensor {values['external_id']!r} is already registered",
                       details=[{"field": "external_id", "reason": "already registered for this client"}])
    return SensorRecord(**row._mapping, calibration=CalibrationState.of(None, None, datetime.now(UTC)))


def get_sensor(session: Session, client_id: UUID, sensor_id: UUID, now: datetime | None = None) -> SensorRecord:
    row = session.execute(text(f"{_SELECT} WHERE s.id = :id AND s.client_id = :client_id"),
                          {"id": sensor_id, "client_id": client_id}).one_or_none()
    if row is None:
        raise NotFound(f"sensor {sensor_id} not found")
    return _record(row, now or datetime.now(UTC))


def list_sensors(session: Session, client_id: UUID, filters: SensorFilter, request: PageRequest,
                 now: datetime | None = None) -> Page[SensorRecord]:
    """A page of the client's sensors by external_id, with latest reading and calibration status; one statement."""
    page = SENSOR_ORDER.clause(request)
    params: dict[str, Any] = {"client_id": client_id} | page.params
    conditions = ["s.client_id = :client_id", page.after]
    for field in ("sensor_type", "location", "peer_group"):
        if getattr(filters, field) is not None:
            conditions.append(f"s.{field} = :{field}")
            params[field] = getattr(filters, field)
    if not filters.include_inactive:
        conditions.append("s.is_active")
    rows = session.execute(text(f"{_SELECT} WHERE {' AND '.join(conditions)} ORDER BY {page.order_by} {page.limit}"),
                           params)
    now = now or datetime.now(UTC)
    return SENSOR_ORDER.page([_record(row, now) for row in rows], request)


def update_sensor(session: Session, client_id: UUID, sensor_id: UUID,
                  changes: dict[str, Any]) -> tuple[SensorRecord, dict[str, Any]]:
    """Change any of EDITABLE; returns the sensor and the previous values of what was given."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    before = session.execute(text(f"SELECT {', '.join(EDITABLE)} FROM sensors WHERE id = :id AND client_id = :c"
                                  " FOR UPDATE"), {"id": sensor_id, "c": client_id}).one_or_none()
    if before is None:
        raise NotFound(f"sensor {sensor_id} not found")
    merged = dict(before._mapping) | changes
    _check_thresholds(merged["min_threshold"], merged["max_threshold"])
    if changes:
        session.execute(text(f"UPDATE sensors SET {', '.join(f'{f} = :{f}' for f in changes)} WHERE id = :id"),
                        changes | {"id": sensor_id})
    previous = {field: value for field, value in before._mapping.items() if field in changes}
    return get_sensor(session, client_id, sensor_id), previous


def deactivate_sensor(session: Session, client_id: UUID, sensor_id: UUID) -> tuple[SensorRecord, bool]:
    """Stop listing the sensor as active (its history stays); returns it and whether it was active."""
    sensor, previous = update_sensor(session, client_id, sensor_id, {"is_active": False})
    return sensor, bool(previous["is_active"])
