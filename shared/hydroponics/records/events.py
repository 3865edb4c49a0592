"""Reading the audit log (writing it is hydroponics.events.record_event): a client's events, newest first."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.records.pagination import Keyset, Page, PageRequest

EVENT_ORDER = Keyset("events", {"e.occurred_at": datetime, "e.id": int}, descending=True)

_COLUMNS = "e.id, e.event_type, e.actor, e.subject_type, e.subject_id, e.details, e.occurred_at"

# The client's distinct event types, one index probe each (a "loose index scan" of
# ix_events_client_id_event_type_occurred_at): a page across every type then reads at most
# `limit` rows per type from that index instead of sorting all of the client's events.
_EVENT_TYPES = """
WITH RECURSIVE types(event_type) AS (
    SELECT min(event_type) FROM events WHERE client_id = :client_id
    UNION ALL
    SELECT (SELECT min(x.event_type) FROM events x WHERE x.client_id = :client_id AND x.event_type > t.event_type)
    FROM types t WHERE t.event_type IS NOT NULL
)"""


@dataclass(frozen=True)
class EventRecord:
    id: int
    event_type: str
    actor: str | None
    subject_type: str | None
    subject_id: str | None
    details: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class EventFilter:
    """Which events to list; None means any. `since` is inclusive, `until` exclusive."""

    event_type: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _conditions(filters: EventFilter) -> tuple[str, dict[str, Any]]:
    """Filters other than the event type, as SQL on `e` (only those given, so plans stay specific)."""
    tests = {"subject_type": "e.subject_type = :subject_type", "subject_id": "e.subject_id = :subject_id",
             "since": "e.occurred_at >= :since", "until": "e.occurred_at < :until"}
    given = {name: getattr(filters, name) for name in tests if getattr(filters, name) is not None}
    return "".join(f" AND {tests[name]}" for name in given), given


def list_events(session: Session, client_id: UUID, filters: EventFilter, request: PageRequest) -> Page[EventRecord]:
    """A page of the client's events, newest first, in one statement that reads the (client, type, time) index."""
    page = EVENT_ORDER.clause(request)
    conditions, params = _conditions(filters)
    params |= {"client_id": client_id} | page.params
    # Per type, the index's own order (time only) up to the page size, ties on the last time included;
    # the outer ORDER BY then settles ties by id and cuts the page.
    of_type = (f"SELECT {_COLUMNS} FROM events e WHERE e.client_id = :client_id AND e.event_type = t.event_type"
               f"{conditions} AND {page.after} ORDER BY e.occurred_at DESC FETCH FIRST :page_limit ROWS WITH TIES")
    if filters.event_type is not None:
        prefix, types = "", "(SELECT CAST(:event_type AS text) AS event_type) t"
        params["event_type"] = filters.event_type
    else:
        prefix, types = _EVENT_TYPES, "types t"
    rows = session.execute(text(f"{prefix} SELECT e.* FROM {types} CROSS JOIN LATERAL ({of_type}) e"
                                f" ORDER BY {page.order_by} {page.limit}"), params)
    return EVENT_ORDER.page([EventRecord(**row._mapping) for row in rows], request)


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What an update changed, as its event records it: {field: {"from": old, "to": new}}."""
    return {field: {"from": before.get(field), "to": value} for field, value in after.items()
            if before.get(field) != value}
