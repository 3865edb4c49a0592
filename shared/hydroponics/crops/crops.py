"""Crops (batches): planting one opens its growth stages; lists show each crop's current stage."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import TextClause
from sqlalchemy.orm import Session

from hydroponics.db.sql import MOMENT, statement
from hydroponics.errors import NotFound
from hydroponics.records.pagination import Keyset, KeysetClause, Page, PageRequest

# FOR SHARE: a profile edit (FOR UPDATE in varieties.py) cannot slip between reading the profile and
# the crop becoming active.
_LOCK_VARIETY = statement("SELECT id FROM varieties WHERE client_id = :client_id AND id = :variety_id FOR SHARE")

# Stage i starts when the stages before it add up, planted_at + sum(durations before i). Stages whose
# time has already come are recorded too (a batch entered after planting lands in the stage it is in
# now, with its history); the one running at :now stays open, a future planting opens the first one.
_PLANT = statement("""
WITH crop AS (
    INSERT INTO crops (client_id, variety_id, location, batch_code, planted_at)
    VALUES (:client_id, :variety_id, :location, :batch_code, :planted_at)
    RETURNING id, planted_at
), schedule AS (
    SELECT s.id, s.name, s.stage_order,
           c.planted_at + make_interval(days => (coalesce(sum(s.duration_days) OVER before, 0))::integer) AS started_at,
           c.planted_at + make_interval(days => (sum(s.duration_days) OVER upto)::integer) AS due_at,
           c.id AS crop_id
    FROM variety_stages s CROSS JOIN crop c
    WHERE s.variety_id = :variety_id
    WINDOW before AS (ORDER BY s.stage_order ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
           upto AS (ORDER BY s.stage_order ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), opened AS (
    INSERT INTO growth_stages (crop_id, variety_stage_id, stage_name, stage_order, started_at, due_at, completed_at)
    SELECT crop_id, id, name, stage_order, started_at, due_at, CASE WHEN due_at <= :now THEN due_at END
    FROM schedule
    WHERE stage_order = (SELECT min(stage_order) FROM schedule) OR started_at <= :now
)
SELECT id FROM crop
""", planted_at=MOMENT, now=MOMENT)

# The crop's latest stage: the open one, or the last completed when the profile has run out.
_CROP_COLUMNS = """
c.id, c.variety_id, v.name AS variety_name, c.location, c.batch_code, c.planted_at, c.status,
c.created_at, c.closed_at,
CASE WHEN g.crop_id IS NOT NULL THEN json_build_object(
    'name', g.stage_name, 'stage_order', g.stage_order, 'started_at', g.started_at, 'due_at', g.due_at,
    'completed_at', g.completed_at,
    'days_in_stage', greatest(0, floor(extract(epoch FROM coalesce(g.completed_at, :now) - g.started_at)
                                       / 86400))::integer) END AS current_stage,
c.status = 'active' AND g.completed_at IS NOT NULL AS awaiting_harvest
"""

_CROP_SOURCE = """
FROM crops c
JOIN varieties v ON v.id = c.variety_id
LEFT JOIN LATERAL (
    SELECT crop_id, stage_name, stage_order, started_at, due_at, completed_at FROM growth_stages
    WHERE crop_id = c.id ORDER BY stage_order DESC LIMIT 1
) g ON true
"""

_HISTORY = """
SELECT coalesce(json_agg(json_build_object(
           'id', h.id, 'name', h.stage_name, 'stage_order', h.stage_order, 'started_at', h.started_at,
           'due_at', h.due_at, 'completed_at', h.completed_at) ORDER BY h.stage_order), '[]'::json)
FROM growth_stages h WHERE h.crop_id = c.id
"""

_HARVEST = """
SELECT json_build_object('id', hv.id, 'harvested_at', hv.harvested_at, 'yield_amount', hv.yield_amount,
                         'yield_unit', hv.yield_unit, 'quality_grade', hv.quality_grade, 'notes', hv.notes)
FROM harvests hv WHERE hv.crop_id = c.id
"""

_GET = statement(f"""
SELECT {_CROP_COLUMNS}, ({_HISTORY}) AS stages, ({_HARVEST}) AS harvest
{_CROP_SOURCE} WHERE c.client_id = :client_id AND c.id = :crop_id
""", now=MOMENT)

_FILTERS = {
    "status": "c.status = :status",
    "variety_id": "c.variety_id = :variety_id",
    "location": "c.location = :location",
}


def plant_crop(session: Session, client_id: UUID, variety_id: UUID, location: str, batch_code: str,
               planted_at: datetime, now: datetime) -> dict[str, Any]:
    """Records the batch and opens its growth stage(s); 404 naming variety_id when it is not the client's."""
    if session.execute(_LOCK_VARIETY, {"client_id": client_id, "variety_id": variety_id}).first() is None:
        raise NotFound(f"variety {variety_id} not found",
                       details=[{"field": "variety_id", "reason": "no such variety for this client"}])
    crop_id = session.execute(_PLANT, {"client_id": client_id, "variety_id": variety_id, "location": location,
                                       "batch_code": batch_code, "planted_at": planted_at, "now": now}).scalar_one()
    return get_crop(session, client_id, crop_id, now)


def get_crop(session: Session, client_id: UUID, crop_id: UUID, now: datetime) -> dict[str, Any]:
    """The crop, its current stage, stage history and harvest, in one statement (404 if not the client's)."""
    row = session.execute(_GET, {"client_id": client_id, "crop_id": crop_id, "now": now}).mappings().first()
    if row is None:
        raise NotFound(f"crop {crop_id} not found")
    return dict(row)


CROP_ORDER = Keyset("crops", {"c.planted_at": datetime, "c.id": UUID}, descending=True)


def crop_listing(filters: set[str], page: KeysetClause) -> TextClause:
    """The list statement for the given filters and page: fixed clauses only."""
    where = " AND ".join(["c.client_id = :client_id", *(_FILTERS[name] for name in sorted(filters)), page.after])
    return statement(f"SELECT {_CROP_COLUMNS} {_CROP_SOURCE} WHERE {where} ORDER BY {page.order_by} {page.limit}",
                     now=MOMENT)


def list_crops(session: Session, client_id: UUID, filters: dict[str, Any], request: PageRequest,
               now: datetime) -> Page[dict[str, Any]]:
    """A page of the client's crops, newest planting first, each with its current stage: one statement."""
    given = {name: value for name, value in filters.items() if value is not None}
    page = CROP_ORDER.clause(request)
    rows = session.execute(crop_listing(set(given), page), given | page.params | {"client_id": client_id, "now": now})
    return CROP_ORDER.page([dict(row) for row in rows.mappings()], request)
