"""PostgreSQL's list of the archive's object sets (`retention_archives`), kept with the rows' deletion.

The S3 manifests are the archive's own description (enough to restore without PostgreSQL); this
table is what the API reads to know, without listing S3, which months of a client are archived and
up to when (`archive_boundary`: before it, readings are answered from the archive).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING
from datetime import date, datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.db.sql import MOMENT, statement

if TYPE_CHECKING:  # the archive module needs pyarrow, which the api function loads only when it reads archives
    from hydroponics.retention.archive import Manifest

NO_CLIENT = "'00000000-0000-0000-0000-000000000000'::uuid"

_RECORD = statement(f"""
INSERT INTO retention_archives (table_name, client_id, month, object_key, manifest_key, row_count, min_at, max_at,
                                checksum, bytes, covered_until, run_id)
VALUES (:table_name, :client_id, :month, :object_key, :manifest_key, :row_count, :min_at, :max_at, :checksum,
        :bytes, :covered_until, :run_id)
ON CONFLICT (table_name, (coalesce(client_id, {NO_CLIENT})), month) DO UPDATE SET
    object_key = EXCLUDED.object_key, manifest_key = EXCLUDED.manifest_key, row_count = EXCLUDED.row_count,
    min_at = EXCLUDED.min_at, max_at = EXCLUDED.max_at, checksum = EXCLUDED.checksum, bytes = EXCLUDED.bytes,
    covered_until = EXCLUDED.covered_until, run_id = EXCLUDED.run_id, updated_at = now()""",
                    min_at=MOMENT, max_at=MOMENT, covered_until=MOMENT)


@dataclass(frozen=True)
class ArchivedMonth:
    table_name: str
    client_id: UUID | None
    month: date
    object_key: str
    row_count: int
    min_at: datetime | None
    max_at: datetime | None
    checksum: str
    bytes: int
    covered_until: datetime


def record_archive(session: Session, manifest: "Manifest", run_id: UUID | None) -> None:
    session.execute(_RECORD, {
        "table_name": manifest.table, "client_id": UUID(manifest.client_id) if manifest.client_id else None,
        "month": date.fromisoformat(manifest.month + "-01"), "object_key": manifest.object_key,
        "manifest_key": manifest.key, "row_count": manifest.row_count,
        "min_at": datetime.fromisoformat(manifest.min_at) if manifest.min_at else None,
        "max_at": datetime.fromisoformat(manifest.max_at) if manifest.max_at else None,
        "checksum": manifest.checksum, "bytes": manifest.bytes,
        "covered_until": datetime.fromisoformat(manifest.covered_until), "run_id": run_id})


_COLUMNS = "table_name, client_id, month, object_key, row_count, min_at, max_at, checksum, bytes, covered_until"


def archived_months(session: Session, table: str, client_id: UUID | None, start: datetime | None = None,
                    end: datetime | None = None) -> list[ArchivedMonth]:
    """The client's archived months of `table` that overlap [start, end), oldest first."""
    rows = session.execute(statement(
        f"SELECT {_COLUMNS} FROM retention_archives WHERE table_name = :t AND client_id IS NOT DISTINCT FROM :c"
        " AND (CAST(:end AS timestamptz) IS NULL OR month < :end)"
        " AND (CAST(:start AS timestamptz) IS NULL OR (month + interval '1 month') > :start) ORDER BY month",
        start=MOMENT, end=MOMENT), {"t": table, "c": client_id, "start": start, "end": end}).all()
    return [ArchivedMonth(**row._mapping) for row in rows]


def archive_boundary(session: Session, client_id: UUID) -> datetime | None:
    """The moment before which the client's readings are in the archive (None: nothing archived)."""
    return session.execute(text("SELECT max(covered_until) FROM retention_archives"
                                " WHERE table_name = 'readings' AND client_id = :c"), {"c": client_id}).scalar()
