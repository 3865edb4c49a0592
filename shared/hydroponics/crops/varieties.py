"""Varieties and their stage profiles: ordered stages, each with a duration and target ranges per metric."""

import json
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hydroponics.db.sql import statement
from hydroponics.errors import Conflict, NotFound
from hydroponics.records.pagination import Keyset, Page, PageRequest


@dataclass(frozen=True)
class StageProfile:
    """One stage of a variety's profile; its order is its position in the list."""

    name: str
    duration_days: int
    targets: dict[str, dict[str, float]]


_VARIETY = """
SELECT v.id, v.name, v.description, v.created_at,
       (SELECT coalesce(json_agg(json_build_object(
                   'id', s.id, 'name', s.name, 'stage_order', s.stage_order,
                   'duration_days', s.duration_days, 'targets', s.targets) ORDER BY s.stage_order), '[]'::json)
        FROM variety_stages s WHERE s.variety_id = v.id) AS stages,
       (SELECT count(*) FROM crops c
        WHERE c.client_id = v.client_id AND c.variety_id = v.id AND c.status = 'active') AS active_crops
FROM varieties v
"""

_GET = statement(_VARIETY + " WHERE v.client_id = :client_id AND v.id = :variety_id")

VARIETY_ORDER = Keyset("varieties", {"v.name": str, "v.id": UUID})

_CREATE = statement("""
WITH variety AS (
    INSERT INTO varieties (client_id, name, description) VALUES (:client_id, :name, :description)
    ON CONFLICT (client_id, name) DO NOTHING
    RETURNING id
), profile AS (
    INSERT INTO variety_stages (variety_id, name, stage_order, duration_days, targets)
    SELECT v.id, s.name, s.stage_order, s.duration_days, s.targets
    FROM variety v CROSS JOIN jsonb_to_recordset(CAST(:stages AS jsonb))
         AS s(name text, stage_order integer, duration_days integer, targets jsonb)
)
SELECT id FROM variety
""")

# FOR UPDATE: planting a crop of this variety (FOR SHARE, see crops.py) waits for the edit, and the
# edit waits for a planting in flight, so "no active crop" holds until the stages are replaced.
_LOCK = statement("""
SELECT EXISTS (SELECT 1 FROM crops c
               WHERE c.client_id = v.client_id AND c.variety_id = v.id AND c.status = 'active') AS in_use
FROM varieties v WHERE v.client_id = :client_id AND v.id = :variety_id
FOR UPDATE OF v
""")

_DROP_STAGES = statement("DELETE FROM variety_stages WHERE variety_id = :variety_id")

_ADD_STAGES = statement("""
INSERT INTO variety_stages (variety_id, name, stage_order, duration_days, targets)
SELECT :variety_id, s.name, s.stage_order, s.duration_days, s.targets
FROM jsonb_to_recordset(CAST(:stages AS jsonb))
     AS s(name text, stage_order integer, duration_days integer, targets jsonb)
""")


def _profile(stages: list[StageProfile]) -> str:
    return json.dumps([asdict(stage) | {"stage_order": order} for order, stage in enumerate(stages)])


def _not_found(variety_id: UUID) -> NotFound:
    return NotFound(f"variety {variety_id} not found")


def _name_taken(name: str) -> Conflict:
    return Conflict(f"a variety named {name!r} already exists",
                    details=[{"field": "name", "reason": "already used by another variety of this client"}])


def get_variety(session: Session, client_id: UUID, variety_id: UUID) -> dict[str, Any]:
    """The variety with its stage profile and its number of active crops (404 if not the client's)."""
    row = session.execute(_GET, {"client_id": client_id, "variety_id": variety_id}).mappings().first()
    if row is None:
        raise _not_found(variety_id)
    return dict(row)


def list_varieties(session: Session, client_id: UUID, request: PageRequest) -> Page[dict[str, Any]]:
    """A page of the client's varieties by name, each with its profile, in one statement."""
    page = VARIETY_ORDER.clause(request)
    rows = session.execute(statement(f"{_VARIETY} WHERE v.client_id = :client_id AND {page.after}"
                                     f" ORDER BY {page.order_by} {page.limit}"), {"client_id": client_id} | page.params)
    return VARIETY_ORDER.page([dict(row) for row in rows.mappings()], request)


def create_variety(session: Session, client_id: UUID, name: str, description: str | None,
                   stages: list[StageProfile]) -> dict[str, Any]:
    """Creates the variety and its profile; 409 when the client already has a variety of that name."""
    variety_id = session.execute(_CREATE, {"client_id": client_id, "name": name, "description": description,
                                           "stages": _profile(stages)}).scalar_one_or_none()
    if variety_id is None:
        raise _name_taken(name)
    return get_variety(session, client_id, variety_id)


def update_variety(session: Session, client_id: UUID, variety_id: UUID, changes: dict[str, Any],
                   stages: list[StageProfile] | None) -> dict[str, Any]:
    """Renames, redescribes and/or replaces the profile (409 while an active crop grows by it)."""
    in_use = session.execute(_LOCK, {"client_id": client_id, "variety_id": variety_id}).scalar_one_or_none()
    if in_use is None:
        raise _not_found(variety_id)
    if stages is not None and in_use:
        raise Conflict("the stages of a variety cannot be replaced while active crops grow by it; "
                       "harvest them first", details=[{"field": "stages", "reason": "variety has active crops"}])
    fields = {column: changes[column] for column in ("name", "description") if column in changes}
    if fields:
        assignments = ", ".join(f"{column} = :{column}" for column in fields)
        try:
            with session.begin_nested():
                session.execute(statement(f"UPDATE varieties SET {assignments} WHERE id = :variety_id"),
                                fields | {"variety_id": variety_id})
        except IntegrityError:
            raise _name_taken(fields["name"]) from None
    if stages is not None:
        session.execute(_DROP_STAGES, {"variety_id": variety_id})
        session.execute(_ADD_STAGES, {"variety_id": variety_id, "stages": _profile(stages)})
    return get_variety(session, client_id, variety_id)
