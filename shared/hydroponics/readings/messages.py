"""The reading as it travels on the readings queue, from the ingest function to the store step."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from hydroponics.text import Identifier, identifier


class QueuedReading(BaseModel):
    """One accepted reading. `sensor` is the device's own sensor id (legacy devices: type@location)."""

    model_config = ConfigDict(frozen=True)

    client_id: UUID
    sensor: Identifier
    sensor_type: identifier(50)
    location: identifier(200, min_length=0) | None = None  # "" in messages queued before blank meant none
    value: float = Field(allow_inf_nan=False)
    recorded_at: datetime
    received_at: datetime
    # the API request that sent it: a message attribute on the queue, not part of the body
    correlation_id: identifier(128) | None = Field(None, exclude=True)  # hydroponics.correlation.acceptable


def legacy_sensor_id(sensor_type: str, location: str | None) -> str:
    """Legacy devices name no sensor: one sensor per type and location, as the old server kept it."""
    return f"{sensor_type}@{location or 'default'}"
