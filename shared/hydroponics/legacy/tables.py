"""What every per-table importer shares: a prepared row, the import's context (id maps between legacy
and platform ids), canonical values for checksums, and bulk insertion through one JSON parameter."""

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Iterable
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.legacy.normalise import Normaliser


@dataclass
class Prepared:
    """A legacy row ready to insert: its platform id and values, and the values its checksum covers."""

    legacy_id: str
    target_id: str
    values: dict[str, Any]
    canon: tuple
    merged: bool = False  # the platform already had this row (same natural key): mapped onto it


@dataclass
class Context:
    """The state of one import: the file, the client map asked for, and the id maps built so far."""

    source_hash: str
    client_map: dict[str, UUID]  # legacy client id -> existing platform client
    maps: dict[str, dict[str, str]] = field(default_factory=dict)  # legacy table -> {legacy id: platform id}
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    kept_as_text: list[dict[str, str]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)

    def map(self, table: str) -> dict[str, str]:
        return self.maps.setdefault(table, {})

    def reverse(self, table: str) -> dict[str, str]:
        return {target: legacy for legacy, target in self.map(table).items()}


def legacy_id(value: Any) -> str:
    """Legacy ids as text (integers as '12', never '12.0'); the ledger keys on it."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() if value is not None else ""


def new_id() -> str:
    return str(uuid.uuid4())


def canon(value: Any) -> Any:
    """One spelling per value for checksums, whichever side (legacy or PostgreSQL) it was read from."""
    if value is None or isinstance(value, (str, int)) and not isinstance(value, bool):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, Decimal)):
        return repr(float(value))
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def checksum(rows: Iterable[tuple[str, tuple]]) -> str:
    """SHA-256 over (legacy id, canonical values) lines in legacy-id order."""
    digest = hashlib.sha256()
    for key, values in sorted(rows, key=lambda r: (len(r[0]), r[0])):
        digest.update(json.dumps([key, *[canon(v) for v in values]]).encode() + b"\n")
    return digest.hexdigest()


def insert_json(session: Session, sql: str, rows: list[dict[str, Any]]) -> int:
    """Run an INSERT .. SELECT FROM json_to_recordset(CAST(:rows AS json)) with all rows at once."""
    if not rows:
        return 0
    return session.execute(text(sql), {"rows": json.dumps(rows, default=_json_default)}).rowcount


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


class TableImporter:
    """One legacy table: prepare its rows, insert them, read them back for the checksum, check its keys."""

    table: str  # the legacy table
    target: str  # the platform table
    foreign_keys: dict[str, str] = {}  # name -> SQL counting broken references among :ids (a uuid[] / text[])

    def begin(self, session: Session, ctx: Context) -> None:
        """Load what prepare() needs from PostgreSQL (existing natural keys)."""

    def prepare(self, row: dict[str, Any], n: Normaliser, ctx: Context) -> Prepared:
        raise NotImplementedError

    def insert(self, session: Session, rows: list[Prepared], ctx: Context) -> None:
        raise NotImplementedError

    def after(self, session: Session, rows: list[Prepared], ctx: Context) -> None:
        """Work done once the rows are in (derived rows: a crop's growth stages, keys in the index)."""

    def read_back(self, session: Session, ids: list[str], ctx: Context) -> dict[str, tuple]:
        """{platform id: canonical values} as PostgreSQL holds them, in the shape of Prepared.canon."""
        raise NotImplementedError

    def check_keys(self, session: Session, ids: list[str]) -> dict[str, dict[str, int]]:
        result = {}
        for name, sql in self.foreign_keys.items():
            broken = session.execute(text(sql), {"ids": ids}).scalar_one() if ids else 0
            result[name] = {"checked": len(ids), "broken": broken}
        return result


def uuids(ids: list[str]) -> list[UUID]:
    return [UUID(i) for i in ids]
