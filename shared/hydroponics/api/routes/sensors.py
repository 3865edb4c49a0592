"""The caller's sensors: register, list with latest reading and calibration status, read, update, deactivate."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hydroponics.api.changes import Changes
from hydroponics.api.deps import acting_client, actor_of, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.events import record_event
from hydroponics.records import sensors
from hydroponics.records.events import changes
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.text import Identifier, identifier

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/sensors", tags=["sensors"], dependencies=[Depends(api_limit)])

Label = Identifier
Unit = identifier(20)
SensorType = identifier(50)
Interval = Annotated[int, Field(ge=1, le=7 * 86400, description="how often the sensor reports, in seconds")]
Threshold = Annotated[float, Field(allow_inf_nan=False)]


class NewSensor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: Label = Field(description="the sensor id the device reports")
    sensor_type: SensorType = Field(description="e.g. ph, ec, temperature (aliases accepted)")
    location: Label = sensors.DEFAULT_LOCATION
    unit: Unit | None = Field(None, description="defaults to the sensor type's unit")
    expected_interval_seconds: Interval = 60
    peer_group: Label | None = Field(None, description="sensors redundantly measuring the same thing")
    min_threshold: Threshold | None = None
    max_threshold: Threshold | None = None


class SensorChanges(Changes):
    """Only the fields sent change; location, expected_interval_seconds and is_active cannot be null."""

    location: Label = None
    unit: Unit | None = None
    expected_interval_seconds: Interval = None
    peer_group: Label | None = None
    min_threshold: Threshold | None = None
    max_threshold: Threshold | None = None
    is_active: bool = None


class CalibrationStateOut(BaseModel):
    status: Literal["ok", "due_soon", "overdue", "never"]
    last_calibrated_at: datetime | None
    next_due_at: datetime | None


class SensorOut(BaseModel):
    id: UUID
    external_id: str
    sensor_type: str
    location: str
    unit: str | None
    expected_interval_seconds: int
    peer_group: str | None
    min_threshold: float | None
    max_threshold: float | None
    is_active: bool
    created_at: datetime
    last_value: float | None = Field(description="the newest reading's calibrated value")
    last_recorded_at: datetime | None = Field(description="when the newest reading was taken")
    calibration: CalibrationStateOut


@router.post("", status_code=201, response_model=SensorOut, summary="Register a sensor (409 if its id is taken)")
def register(body: NewSensor, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
             session: Session = Depends(db_session)) -> sensors.SensorRecord:
    sensor = sensors.register_sensor(session, client_id, body.model_dump())
    record_event(session, "sensor.registered", client_id=client_id, actor=actor_of(caller), subject_type="sensor",
                 subject_id=sensor.id, details={"external_id": sensor.external_id, "sensor_type": sensor.sensor_type,
                                                "location": sensor.location})
    return sensor


@router.get("", response_model=Page[SensorOut],
            summary="List sensors by id, with the latest reading time and calibration status")
def list_sensors(
    page: Annotated[PageRequest, Query()],
    client_id: UUID = Depends(acting_client),
    sensor_type: Annotated[SensorType | None, Query(description="aliases accepted")] = None,
    location: Annotated[Label | None, Query()] = None,
    peer_group: Annotated[Label | None, Query()] = None,
    include_inactive: bool = False,
    session: Session = Depends(db_session),
) -> Page:
    kind = sensors.known_sensor_type(sensor_type, field="query.sensor_type") if sensor_type is not None else None
    filters = sensors.SensorFilter(kind, location, peer_group, include_inactive)
    return sensors.list_sensors(session, client_id, filters, page)


@router.get("/{sensor_id}", response_model=SensorOut, summary="A sensor")
def get_sensor(sensor_id: UUID, client_id: UUID = Depends(acting_client),
               session: Session = Depends(db_session)) -> sensors.SensorRecord:
    return sensors.get_sensor(session, client_id, sensor_id)


@router.patch("/{sensor_id}", response_model=SensorOut, summary="Change a sensor's settings")
def update_sensor(sensor_id: UUID, body: SensorChanges, client_id: UUID = Depends(acting_client),
                  caller: Caller = Depends(current_caller),
                  session: Session = Depends(db_session)) -> sensors.SensorRecord:
    sensor, previous = sensors.update_sensor(session, client_id, sensor_id, body.model_dump(exclude_unset=True))
    now = {field: getattr(sensor, field) for field in previous}
    record_event(session, "sensor.updated", client_id=client_id, actor=actor_of(caller), subject_type="sensor",
                 subject_id=sensor_id, details={"changes": changes(previous, now)})
    return sensor


@router.delete("/{sensor_id}", response_model=SensorOut, summary="Deactivate a sensor (its history stays)")
def deactivate_sensor(sensor_id: UUID, client_id: UUID = Depends(acting_client),
                      caller: Caller = Depends(current_caller),
                      session: Session = Depends(db_session)) -> sensors.SensorRecord:
    sensor, was_active = sensors.deactivate_sensor(session, client_id, sensor_id)
    if was_active:
        record_event(session, "sensor.deactivated", client_id=client_id, actor=actor_of(caller),
                     subject_type="sensor", subject_id=sensor_id, details={"external_id": sensor.external_id})
    return sensor
