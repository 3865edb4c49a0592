"""The legacy SQLite file: its fingerprint, the tables and columns it has (PRAGMA table_info, so no
column order is assumed), and its rows by column name whatever the legacy server called them."""

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

# For each platform field, the names legacy servers gave the column, first match wins.
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "clients": {"id": ("id", "client_id"), "name": ("name", "client_name", "farm_name"),
                "email": ("email", "contact_email"), "api_key": ("api_key", "key", "apikey"),
                "is_active": ("is_active", "active", "enabled"), "settings": ("settings", "config"),
                "created_at": ("created_at", "created", "created_on")},
    "sensor_configs": {"id": ("id",), "client_id": ("client_id",), "sensor_id": ("sensor_id", "device_id"),
                       "sensor_type": ("sensor_type", "type"), "location": ("location", "bay"),
                       "unit": ("unit", "units"), "min_threshold": ("min_threshold", "min_value", "min"),
                       "max_threshold": ("max_threshold", "max_value", "max"),
                       "interval": ("reading_interval", "interval", "expected_interval_seconds"),
                       "is_active": ("is_active", "active", "enabled"), "config": ("config", "settings"),
                       "created_at": ("created_at", "created")},
    "varieties": {"id": ("id",), "client_id": ("client_id",), "name": ("name", "variety_name"),
                  "description": ("description", "notes"), "created_at": ("created_at", "created")},
    "growth_stages": {"id": ("id",), "variety_id": ("variety_id",), "name": ("name", "stage_name", "stage"),
                      "stage_order": ("stage_order", "position", "order_index", "seq"),
                      "duration_days": ("duration_days", "days", "duration"), "targets": ("targets", "config")},
    "crops": {"id": ("id",), "client_id": ("client_id",), "variety_id": ("variety_id",),
              "location": ("location", "bay"), "batch_code": ("batch_code", "batch", "name"),
              "planted_at": ("planted_at", "planted_date", "planted", "start_date"),
              "status": ("status", "state"), "closed_at": ("closed_at", "harvested_at", "ended_at"),
              "created_at": ("created_at", "created")},
    "harvests": {"id": ("id",), "crop_id": ("crop_id",), "harvested_at": ("harvested_at", "harvest_date", "date"),
                 "yield_amount": ("yield_amount", "yield", "weight"), "yield_unit": ("yield_unit", "unit"),
                 "quality_grade": ("quality_grade", "quality", "grade"), "notes": ("notes",)},
    "calibrations": {"id": ("id",), "sensor_config_id": ("sensor_config_id", "sensor_id", "sensor"),
                     "calibrated_at": ("calibrated_at", "calibration_date", "date"), "method": ("method",),
                     "offset": ("offset", "offset_value"), "slope": ("slope", "gain"),
                     "technician": ("technician", "calibrated_by"), "next_due_at": ("next_due_at", "next_due"),
                     "notes": ("notes",), "reference_solutions": ("reference_solutions", "solutions")},
    "events": {"id": ("id",), "client_id": ("client_id",), "event_type": ("event_type", "type", "kind"),
               "actor": ("actor", "user"), "details": ("details", "data", "payload"), "message": ("message",),
               "occurred_at": ("occurred_at", "created_at", "timestamp", "time")},
    "readings": {"id": ("id", "rowid"), "client_id": ("client_id",), "sensor_config_id": ("sensor_config_id",),
                 "sensor_id": ("sensor_id", "device_id"), "sensor_type": ("sensor_type", "type"),
                 "location": ("location", "bay"), "value": ("value", "reading"),
                 "recorded_at": ("recorded_at", "timestamp", "time", "created_at")},
}
TABLES = tuple(COLUMNS)  # in import order: parents before children
REQUIRED = {"id"}  # every table needs its legacy id to be remapped and reported


@dataclass(frozen=True)
class LegacyTable:
    """A table of the legacy file: its name there and which of its columns stand for which field."""

    name: str
    fields: dict[str, str]  # platform field -> legacy column
    unknown_columns: tuple[str, ...]  # columns the import does not read (reported, not dropped silently)


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LegacyDatabase:
    """The legacy file opened read-only."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"no legacy database at {path}")
        self.path = path
        self.hash = file_hash(path)
        self.connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.tables = self._detect()

    def close(self) -> None:
        self.connection.close()

    def _detect(self) -> dict[str, LegacyTable]:
        present = {row[0].lower(): row[0] for row in
                   self.connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables = {}
        for table, fields in COLUMNS.items():
            name = present.get(table)
            if name is None:
                continue
            columns = {row[1].lower(): row[1] for row in self.connection.execute(f'PRAGMA table_info("{name}")')}
            found = {}
            for field, candidates in fields.items():
                column = next((columns[c] for c in candidates if c in columns), None)
                if column is not None:
                    found[field] = column
            if "id" not in found:
                found["id"] = "rowid"  # SQLite's own row id stands in for a missing id column
            used = {c.lower() for c in found.values()}
            tables[table] = LegacyTable(name, found, tuple(sorted(c for c in columns.values() if c.lower() not in used)))
        return tables

    def count(self, table: str) -> int:
        if table not in self.tables:
            return 0
        return self.connection.execute(f'SELECT count(*) FROM "{self.tables[table].name}"').fetchone()[0]

    def rows(self, table: str) -> Iterator[dict[str, Any]]:
        """Each row as {platform field: raw legacy value}, in legacy id order; fields it lacks are absent."""
        found = self.tables.get(table)
        if found is None:
            return iter(())
        fields = list(found.fields)
        columns = ", ".join(f'"{found.fields[f]}"' if found.fields[f] != "rowid" else "rowid" for f in fields)
        order = f'"{found.fields["id"]}"' if found.fields["id"] != "rowid" else "rowid"
        cursor = self.connection.execute(f'SELECT {columns} FROM "{found.name}" ORDER BY {order}')
        return (dict(zip(fields, row)) for row in cursor)

    def raw_rows(self, table: str) -> Iterator[tuple]:
        """The rows as tuples in the order of `self.tables[table].fields` (the fast path for readings)."""
        found = self.tables[table]
        columns = ", ".join(f'"{c}"' if c != "rowid" else "rowid" for c in found.fields.values())
        return self.connection.execute(f'SELECT {columns} FROM "{found.name}"')
