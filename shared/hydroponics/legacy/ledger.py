"""The import ledger in PostgreSQL: which legacy rows of a file became which platform rows (or were
refused), and which tables of the file are finished. It is what makes the import resumable."""

import json
from typing import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

_RECORD = text(
    "INSERT INTO legacy_import_ids (source_hash, table_name, legacy_id, target_id, reason)"
    " SELECT :source, :table, t.legacy_id, t.target_id, t.reason"
    " FROM json_to_recordset(CAST(:rows AS json)) AS t(legacy_id text, target_id text, reason text)"
    " ON CONFLICT (source_hash, table_name, legacy_id) DO NOTHING")
_DONE = text("INSERT INTO legacy_import_tables (source_hash, table_name, counts)"
             " VALUES (:source, :table, CAST(:counts AS jsonb)) ON CONFLICT DO NOTHING")


def finished_tables(session: Session, source: str) -> dict[str, dict]:
    """{table: the counts reported when it was imported} for the tables of this file already done."""
    rows = session.execute(text("SELECT table_name, counts FROM legacy_import_tables WHERE source_hash = :s"),
                           {"s": source})
    return {row.table_name: row.counts for row in rows}


def id_map(session: Session, source: str, table: str) -> dict[str, str]:
    """{legacy id: platform id} of the rows of `table` carried over from this file."""
    rows = session.execute(text("SELECT legacy_id, target_id FROM legacy_import_ids WHERE source_hash = :s"
                                " AND table_name = :t AND target_id IS NOT NULL"), {"s": source, "t": table})
    return {row.legacy_id: row.target_id for row in rows}


def refusals(session: Session, source: str) -> list[dict[str, str]]:
    rows = session.execute(text("SELECT table_name, legacy_id, reason FROM legacy_import_ids WHERE source_hash = :s"
                                " AND target_id IS NULL ORDER BY table_name, legacy_id"), {"s": source})
    return [{"table": r.table_name, "legacy_id": r.legacy_id, "reason": r.reason} for r in rows]


def record(session: Session, source: str, table: str, rows: Iterable[tuple[str, str | None, str | None]]) -> None:
    """Write (legacy id, platform id or None, reason or None) rows to the ledger."""
    batch = [{"legacy_id": legacy, "target_id": target, "reason": reason} for legacy, target, reason in rows]
    if batch:
        session.execute(_RECORD, {"source": source, "table": table, "rows": json.dumps(batch)})


def finish(session: Session, source: str, table: str, counts: dict) -> None:
    session.execute(_DONE, {"source": source, "table": table, "counts": json.dumps(counts)})
