"""Harvesting: records the yield and closes the crop and its open growth stage."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy.orm import Session

from hydroponics.crops.crops import get_crop
from hydroponics.db.sql import MOMENT, statement
from hydroponics.errors import Conflict, InvalidInput, NotFound


@dataclass(frozen=True)
class HarvestRecord:
    harvested_at: datetime
    yield_amount: Decimal | None
    yield_unit: str | None
    quality_grade: str | None
    notes: str | None


# FOR UPDATE: of two harvests of one crop in flight, the second waits and then finds it closed.
_LOCK = statement("SELECT status, planted_at FROM crops WHERE client_id = :client_id AND id = :crop_id FOR UPDATE")

# The open stage ends at the harvest (never before it started: a late-recorded harvest of a crop
# whose stage opened later still leaves a well-formed stage).
_CLOSE = statement("""
WITH crop AS (
    UPDATE crops SET status = 'harvested', closed_at = :harvested_at WHERE id = :crop_id RETURNING id, client_id
), stage AS (
    UPDATE growth_stages SET completed_at = greatest(started_at, :harvested_at)
    WHERE crop_id = :crop_id AND completed_at IS NULL
)
INSERT INTO harvests (crop_id, client_id, harvested_at, yield_amount, yield_unit, quality_grade, notes)
SELECT id, client_id, :harvested_at, :yield_amount, :yield_unit, :quality_grade, :notes FROM crop
RETURNING id
""", harvested_at=MOMENT)


def harvest_crop(session: Session, client_id: UUID, crop_id: UUID, harvest: HarvestRecord,
                 now: datetime) -> dict[str, Any]:
    """Closes an active crop with its harvest: 404 if not the client's, 409 if already closed."""
    crop = session.execute(_LOCK, {"client_id": client_id, "crop_id": crop_id}).first()
    if crop is None:
        raise NotFound(f"crop {crop_id} not found")
    if crop.status != "active":
        raise Conflict(f"crop {crop_id} is already closed ({crop.status})")
    if harvest.harvested_at < crop.planted_at:
        raise InvalidInput("harvested_at is before the crop was planted",
                           details=[{"field": "harvested_at", "reason": f"before planted_at {crop.planted_at}"}])
    session.execute(_CLOSE, {"crop_id": crop_id, "harvested_at": harvest.harvested_at,
                             "yield_amount": harvest.yield_amount, "yield_unit": harvest.yield_unit,
                             "quality_grade": harvest.quality_grade, "notes": harvest.notes}).scalar_one()
    return get_crop(session, client_id, crop_id, now)
