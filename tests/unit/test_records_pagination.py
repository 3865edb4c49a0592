"""The keyset pagination helper: cursors round-trip, refuse tampering and other lists, and pages cut at limit + 1."""

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from hydroponics.errors import InvalidInput
from hydroponics.records.pagination import MAX_LIMIT, Keyset, PageRequest

def raw(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


EVENTS = Keyset("events", {"e.occurred_at": datetime, "e.id": int}, descending=True)
SENSORS = Keyset("sensors", {"s.external_id": str})


@dataclass
class Event:
    occurred_at: datetime
    id: int


def reason(exc: pytest.ExceptionInfo) -> tuple[str, str]:
    [detail] = exc.value.details
    return detail["field"], detail["reason"]


def test_a_cursor_carries_the_last_items_key_back_exactly():
    at = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)
    assert EVENTS.decode(EVENTS.cursor_of(Event(at, 42))) == (at, 42)
    assert SENSORS.decode(SENSORS.cursor_of({"external_id": "pH @ bay ü", "other": 1})) == ("pH @ bay ü",)
    ids = Keyset("x", {"c.name": str, "c.id": UUID})
    key = ("Farm", uuid4())
    assert ids.decode(ids.cursor_of({"name": key[0], "id": key[1]})) == key


@pytest.mark.parametrize("cursor, why", [
    ("not base64!", "malformed"),
    (base64.urlsafe_b64encode(b"[1, 2]").decode(), "not issued by this API"),
    (raw({"v": 1, "l": "events", "k": ["yesterday", 1]}), "malformed"),
    (raw({"v": 1, "l": "events", "k": ["2026-11-29T12:00:00", 1]}), "malformed"),  # a naive time
    (raw({"v": 1, "l": "events", "k": ["2026-11-29T12:00:00Z", "1"]}), "malformed"),
    (raw({"v": 1, "l": "events", "k": ["2026-11-29T12:00:00Z"]}), "malformed"),
    ("x" * 1025, "too long"),
])
def test_a_tampered_cursor_is_a_422_naming_the_cursor(cursor, why):
    with pytest.raises(InvalidInput) as exc:
        EVENTS.decode(cursor)
    field, text = reason(exc)
    assert field == "query.cursor" and why in text


def test_a_cursor_of_another_list_is_refused():
    with pytest.raises(InvalidInput) as exc:
        EVENTS.decode(SENSORS.cursor_of({"external_id": "ph-1"}))
    assert "another list" in reason(exc)[1]


def test_clause_without_cursor_selects_from_the_start_and_fetches_one_more():
    clause = EVENTS.clause(PageRequest(limit=20))
    assert (clause.after, clause.order_by, clause.limit) == (
        "TRUE", "e.occurred_at DESC, e.id DESC", "LIMIT :page_limit")
    assert clause.params == {"page_limit": 21}


def test_clause_after_a_cursor_compares_the_whole_key_and_bounds_the_leading_column():
    at = datetime(2026, 11, 29, tzinfo=UTC)
    clause = EVENTS.clause(PageRequest(limit=5, cursor=EVENTS.cursor_of(Event(at, 7))))
    assert clause.after == ("((e.occurred_at, e.id) < (:page_after_0, :page_after_1)"
                            " AND e.occurred_at <= :page_after_0)")
    assert clause.params == {"page_limit": 6, "page_after_0": at, "page_after_1": 7}
    ascending = SENSORS.clause(PageRequest(cursor=SENSORS.cursor_of({"external_id": "ph-1"})))
    assert (ascending.after, ascending.order_by) == ("s.external_id > :page_after_0", "s.external_id ASC")


def test_page_keeps_limit_items_and_points_the_cursor_at_the_last_kept():
    at = datetime(2026, 11, 29, tzinfo=UTC)
    rows = [Event(at, n) for n in (9, 8, 7)]
    page = EVENTS.page(rows, PageRequest(limit=2))
    assert page.items == rows[:2] and EVENTS.decode(page.next_cursor) == (at, 8)
    last = EVENTS.page(rows, PageRequest(limit=3))
    assert last.items == rows and last.next_cursor is None
    assert EVENTS.page([], PageRequest()).model_dump() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": MAX_LIMIT + 1}, {"cursor": ""}])
def test_page_request_bounds(params):
    with pytest.raises(ValidationError):
        PageRequest(**params)
    assert PageRequest().limit == 50 and PageRequest(limit=MAX_LIMIT).limit == MAX_LIMIT


def test_keys_must_be_timezone_aware_and_a_keyset_needs_columns():
    with pytest.raises(ValueError):
        EVENTS.cursor_of(Event(datetime(2026, 11, 29), 1))
    with pytest.raises(ValueError):
        Keyset("nothing", {})
