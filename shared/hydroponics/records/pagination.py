"""Keyset pagination for every list of records: a `limit` and an opaque `cursor` naming the last row seen.

A list declares its order once, as a `Keyset`: SQL columns that are NOT NULL and unique together
(end with the primary key), all ascending or all descending. A service then builds its statement
from the keyset's pieces and cuts the page:

    SENSOR_ORDER = Keyset("sensors", {"s.external_id": str})

    def list_sensors(session, client_id, request: PageRequest) -> Page[SensorRecord]:
        page = SENSOR_ORDER.clause(request)
        rows = session.execute(text(
            f"SELECT s.id, s.external_id, ... FROM sensors s WHERE s.client_id = :client_id AND {page.after}"
            f" ORDER BY {page.order_by} {page.limit}"), {"client_id": client_id} | page.params)
        return SENSOR_ORDER.page([SensorRecord(**row._mapping) for row in rows], request)

Items must expose each sort column under its unqualified name (`s.external_id` -> `item.external_id`
or `item["external_id"]`). The statement fetches one row more than asked, so `page()` knows whether
another page follows without counting. A cursor carries the list's name and the last item's key,
base64url-encoded JSON: clients treat it as opaque, and a cursor of another list, or a tampered one,
is a 422 naming `query.cursor`. In the API, take the parameters as `Annotated[PageRequest, Query()]`
and answer `Page[ItemModel]` (`{"items": [...], "next_cursor": str | null}`).
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Mapping, Sequence, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from hydroponics.errors import InvalidInput
from hydroponics.text import storable_problem, token

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR_LENGTH = 1024
_VERSION = 1

T = TypeVar("T")
KeyType = type[datetime] | type[UUID] | type[int] | type[float] | type[str]


class PageRequest(BaseModel):
    """The `limit` and `cursor` query parameters of a list."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"items per page (at most {MAX_LIMIT})")
    cursor: token(MAX_CURSOR_LENGTH) | None = Field(None,
                                                    description="next_cursor of the previous page; omit for the first page")


class Page(BaseModel, Generic[T]):
    """One page of a list; `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class KeysetClause:
    """The SQL pieces of one page: a condition (`after`), `order_by`, `limit`, and their bind parameters."""

    after: str
    order_by: str
    limit: str
    params: dict[str, Any]


def _invalid_cursor(reason: str) -> InvalidInput:
    return InvalidInput("cursor is invalid", details=[{"field": "query.cursor", "reason": reason}])


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("keyset datetimes must be timezone-aware")
        return value.isoformat()
    return str(value) if isinstance(value, UUID) else value


def _decode_value(raw: Any, kind: KeyType) -> Any:
    """One key value of a cursor, checked against its column's type (ValueError/TypeError when wrong)."""
    if kind is datetime:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return moment
    if kind is UUID:
        return UUID(raw)
    if kind is int and (isinstance(raw, bool) or not isinstance(raw, int)):
        raise TypeError("not an integer")
    if kind is float and (isinstance(raw, bool) or not isinstance(raw, (int, float))):
        raise TypeError("not a number")
    if kind is str and (not isinstance(raw, str) or storable_problem(raw)):
        raise TypeError("not a string PostgreSQL can compare")
    return kind(raw)


class Keyset:
    """How a list is ordered and resumed: NOT NULL columns unique together, all in one direction."""

    def __init__(self, name: str, columns: Mapping[str, KeyType], *, descending: bool = False):
        if not columns:
            raise ValueError("a keyset needs at least one column")
        self.name = name
        self.columns = dict(columns)
        self.descending = descending
        self.attributes = [column.rsplit(".", 1)[-1] for column in self.columns]

    @property
    def order_by(self) -> str:
        direction = "DESC" if self.descending else "ASC"
        return ", ".join(f"{column} {direction}" for column in self.columns)

    def clause(self, request: PageRequest) -> KeysetClause:
        """The condition selecting rows after the cursor (TRUE without one), the ORDER BY and the LIMIT."""
        params: dict[str, Any] = {"page_limit": request.limit + 1}
        condition = "TRUE"
        if request.cursor is not None:
            values = self.decode(request.cursor)
            names = [f"page_after_{n}" for n in range(len(values))]
            params |= dict(zip(names, values))
            columns = list(self.columns)
            beyond = "<" if self.descending else ">"
            if len(columns) == 1:
                condition = f"{columns[0]} {beyond} :{names[0]}"
            else:
                # The row comparison is exact; the bound on the leading column alone lets the planner
                # start an index scan there even when the index orders the later columns differently.
                row = f"({', '.join(columns)}) {beyond} ({', '.join(':' + n for n in names)})"
                condition = f"({row} AND {columns[0]} {beyond}= :{names[0]})"
        return KeysetClause(after=condition, order_by=self.order_by, limit="LIMIT :page_limit", params=params)

    def cursor_of(self, item: Any) -> str:
        """The cursor that resumes the list right after `item`."""
        key = [_encode_value(item[a] if isinstance(item, Mapping) else getattr(item, a)) for a in self.attributes]
        raw = json.dumps({"v": _VERSION, "l": self.name, "k": key}, separators=(",", ":"), ensure_ascii=False)
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def decode(self, cursor: str) -> tuple[Any, ...]:
        """The key a cursor carries; InvalidInput (422, field query.cursor) when it is not one of this list's."""
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise _invalid_cursor("cursor is too long")
        try:
            payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise _invalid_cursor("cursor is malformed") from None
        if not isinstance(payload, dict) or payload.get("v") != _VERSION:
            raise _invalid_cursor("cursor was not issued by this API")
        if payload.get("l") != self.name:
            raise _invalid_cursor(f"cursor belongs to another list, not to {self.name}")
        key = payload.get("k")
        if not isinstance(key, list) or len(key) != len(self.columns):
            raise _invalid_cursor("cursor is malformed")
        try:
            return tuple(_decode_value(raw, kind) for raw, kind in zip(key, self.columns.values()))
        except (TypeError, ValueError):
            raise _invalid_cursor("cursor is malformed") from None

    def page(self, fetched: Sequence[T], request: PageRequest) -> Page[T]:
        """Cut the rows a clause fetched (up to limit + 1) into a page and the cursor of the next one."""
        items = list(fetched[: request.limit])
        more = len(fetched) > request.limit
        return Page[Any](items=items, next_cursor=self.cursor_of(items[-1]) if more and items else None)
