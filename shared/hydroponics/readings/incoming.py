"""Readings as devices send them (the legacy shape and its extensions), validated into queued readings."""

import math
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints, ValidationError, ValidationInfo,
    field_validator,
)

from hydroponics.readings.messages import QueuedReading, legacy_sensor_id
from hydroponics.readings.sensor_types import SENSOR_TYPES, canonical_sensor_type
from hydroponics.text import IDENTIFIER_MAX, Identifier, TextRule, identifier

MAX_BATCH = 500
FUTURE_TOLERANCE = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
_EPOCH_MS_THRESHOLD = 1e11  # numbers above this are epoch milliseconds, below it seconds


def _string_or_number(raw: Any) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float, type(None))):
        raise ValueError("must be ISO-8601 text or a number of epoch seconds or milliseconds")
    return raw


# The shape check and the text rule on the whole union: one error naming `timestamp`, not one per member.
Timestamp = Annotated[Annotated[str, StringConstraints(max_length=64)] | Annotated[float, Strict()] | None,
                      TextRule("identifier"), BeforeValidator(_string_or_number)]


class IncomingReading(BaseModel):
    """One reading in a device's request. Unknown extra fields are ignored (old firmware sends some)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    sensor_type: identifier(50) = Field(description=f"one of: {', '.join(SENSOR_TYPES)}")
    value: Annotated[float, Strict()] = Field(description="the measurement, in the type's unit")
    timestamp: Timestamp = Field(
        None, description="ISO-8601, or epoch seconds/milliseconds; defaults to the time it arrived")
    location: identifier(200, min_length=0) | None = Field(None, description="blank is the same as none: 'default'")
    sensor_id: Identifier | None = Field(None, description="the device's own sensor id; defaults to type@location")

    @field_validator("sensor_type")
    @classmethod
    def _known_type(cls, name: str) -> str:
        known = canonical_sensor_type(name)
        if known is None:
            raise ValueError(f"unknown sensor type {name!r}; known types: {', '.join(SENSOR_TYPES)}")
        return known.name

    @field_validator("location")
    @classmethod
    def _blank_is_none(cls, location: str | None) -> str | None:
        return location or None

    @field_validator("value")
    @classmethod
    def _finite_and_physical(cls, value: float, info: ValidationInfo) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number (not NaN or Infinity)")
        kind = SENSOR_TYPES.get(info.data.get("sensor_type", ""))
        if kind and not kind.minimum <= value <= kind.maximum:
            raise ValueError(f"value {value:g} is outside the physical range of {kind.name} "
                             f"({kind.minimum:g} to {kind.maximum:g} {kind.unit})")
        return value


def parse_timestamp(raw: str | float | None, received_at: datetime) -> datetime:
    """When the reading was taken: ISO-8601 (naive means UTC) or epoch s/ms; refuses the far future."""
    if raw is None:
        return received_at
    if isinstance(raw, str) and raw.replace(".", "", 1).isdigit():
        raw = float(raw)  # some firmware sends epoch seconds as a string
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw):
            raise ValueError("timestamp must be a finite number")
        seconds = raw / 1000 if raw > _EPOCH_MS_THRESHOLD else raw
        try:
            moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValueError("timestamp is not a valid epoch time") from None
    else:
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
        except ValueError:
            raise ValueError("timestamp is not ISO-8601 (e.g. 2026-11-29T12:00:00Z) or epoch seconds") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    if moment > received_at + FUTURE_TOLERANCE:
        raise ValueError("timestamp is more than 5 minutes in the future")
    if moment < EARLIEST:
        raise ValueError("timestamp is before 2000-01-01")
    return moment


def _field_errors(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    """One error per field of the reading (a reading is flat: what pydantic adds to a location names a
    union member, not a field)."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        errors.setdefault(prefix + (str(err["loc"][0]) if err["loc"] else "reading"),
                          err["msg"].removeprefix("Value error, "))
    return [{"field": field, "reason": reason} for field, reason in errors.items()]


def validate_reading(raw: Any, client_id: UUID, received_at: datetime,
                     prefix: str = "") -> tuple[QueuedReading | None, list[dict[str, str]]]:
    """(the reading ready for the queue, None) or (None, [{field, reason}, ...])."""
    if not isinstance(raw, dict):
        return None, [{"field": prefix.rstrip(".") or "body", "reason": "a reading must be a JSON object"}]
    try:
        reading = IncomingReading.model_validate(raw)
    except ValidationError as exc:
        return None, _field_errors(exc, prefix)
    try:
        recorded_at = parse_timestamp(reading.timestamp, received_at)
    except ValueError as exc:
        return None, [{"field": f"{prefix}timestamp", "reason": str(exc)}]
    sensor = reading.sensor_id or legacy_sensor_id(reading.sensor_type, reading.location)
    if len(sensor) > IDENTIFIER_MAX:  # type@location can outgrow a sensor id
        room = IDENTIFIER_MAX - len(reading.sensor_type) - 1
        return None, [{"field": f"{prefix}location", "reason": f"must have at most {room} characters without a "
                       f"sensor_id: the sensor is named {reading.sensor_type}@<location>, at most {IDENTIFIER_MAX}"}]
    return QueuedReading(
        client_id=client_id,
        sensor=sensor,
        sensor_type=reading.sensor_type,
        location=reading.location,
        value=reading.value,
        recorded_at=recorded_at,
        received_at=received_at,
    ), []
