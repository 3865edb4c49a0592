"""Writes legacy SQLite databases as the legacy server kept them: a small one holding every messy case
the import must handle (each case declares what the import must make of it), and a large clean one
for the benchmark. Columns are deliberately not in the order a reader would guess.

    .venv/bin/python tests/legacy_db.py messy path/to/hydroponics.db
    .venv/bin/python tests/legacy_db.py large path/to/hydroponics.db [--readings 1000000] [--records 10000]
"""

import argparse
import random
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

SCHEMA = """
CREATE TABLE clients (api_key TEXT, name TEXT, id INTEGER PRIMARY KEY, email TEXT, settings TEXT, created_at TEXT);
CREATE TABLE sensor_configs (location TEXT, id INTEGER PRIMARY KEY, client_id INTEGER, sensor_type TEXT,
    min_threshold, max_threshold, unit TEXT, reading_interval, config TEXT, created_at TEXT);
CREATE TABLE varieties (name TEXT, id INTEGER PRIMARY KEY, client_id INTEGER, description TEXT);
CREATE TABLE growth_stages (variety_id INTEGER, id INTEGER PRIMARY KEY, stage_name TEXT, stage_order,
    duration_days, targets TEXT);
CREATE TABLE crops (id INTEGER PRIMARY KEY, variety_id INTEGER, client_id INTEGER, location TEXT, batch_code TEXT,
    planted_date, status TEXT, harvested_at);
CREATE TABLE harvests (crop_id INTEGER, id INTEGER PRIMARY KEY, harvest_date, yield, unit TEXT, quality TEXT,
    notes TEXT);
CREATE TABLE calibrations (id INTEGER PRIMARY KEY, sensor_config_id INTEGER, calibrated_at, offset, slope,
    technician TEXT, method TEXT);
CREATE TABLE events (id INTEGER PRIMARY KEY, client_id INTEGER, event_type TEXT, message TEXT, details TEXT,
    created_at);
CREATE TABLE readings (id INTEGER PRIMARY KEY, timestamp, client_id INTEGER, sensor_type TEXT, location TEXT, value);
"""


@dataclass
class Expected:
    """What the import must report for the file: per table rows, refusals (legacy id -> reason) and
    normalisations (kind -> count), as each case below declares them."""

    rows: Counter = field(default_factory=Counter)
    refused: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    normalised: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    findings: list[dict] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # legacy client id -> its key in clear
    sensors_from_readings: int = 0

    def imported(self, table: str) -> int:
        return self.rows[table] - len(self.refused[table])


class _Writer:
    def __init__(self, db: sqlite3.Connection, expected: Expected) -> None:
        self.db, self.expected = db, expected

    def row(self, table: str, refused: str | None = None, normalised: tuple[str, ...] = (), **values) -> None:
        columns = ", ".join(values)
        self.db.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(values))})",
                        tuple(values.values()))
        self.expected.rows[table] += 1
        if refused is not None:
            self.expected.refused[table][str(values["id"])] = refused
        if refused is None:  # a refused row is not imported: nothing of it is normalised
            self.expected.normalised[table].update(normalised)


def write_messy(path: Path) -> Expected:
    """The small file of messy cases; returns what the import must make of it."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    expected = Expected()
    w = _Writer(db, expected)

    # clients: trimmed, mixed-case and duplicate emails, invalid settings JSON, dates as text and epoch
    w.row("clients", id=1, name="Green Leaf Farm", email=" Ops@GreenLeaf.example ", api_key="legacy-key-green-leaf-0001",
          settings='{"timezone": "Europe/Paris"}', created_at="2024-03-01 08:00:00",
          normalised=("text_trimmed", "email_lowercased", "date_iso_with_space"))
    w.row("clients", id=2, name="Blue Water", email="ops@greenleaf.example", api_key="legacy-key-blue-water-0002",
          settings="{not json", created_at="1709280000", normalised=("invalid_json_kept", "date_from_epoch_text"))
    w.row("clients", id=3, name=None, email="nobody@example.org", api_key="legacy-key-nameless-0003",
          refused="name is missing")
    expected.keys = {"1": "legacy-key-green-leaf-0001", "2": "legacy-key-blue-water-0002"}
    expected.findings.append({"kind": "duplicate_email", "email": "ops@greenleaf.example", "legacy_ids": ["1", "2"]})

    # sensor_configs: case and whitespace in types, aliases, numbers as text, orphans, duplicates
    w.row("sensor_configs", id=10, client_id=1, sensor_type=" PH ", location="bay-a", min_threshold="5.5",
          max_threshold=6.5, reading_interval=60, config='{"peer_group": "bay-a-ph"}',
          normalised=("text_trimmed", "sensor_type_lowercased", "number_from_text"))
    w.row("sensor_configs", id=11, client_id=1, sensor_type="EC", location="bay-a", config="oops",
          normalised=("sensor_type_lowercased", "invalid_json_kept"))
    w.row("sensor_configs", id=12, client_id=2, sensor_type="water_temperature", location=None,
          normalised=("sensor_type_alias", "blank_location_as_default"))
    w.row("sensor_configs", id=13, client_id=9, sensor_type="ph", location="bay-z",
          refused="client_id 9: no such row in clients (orphaned reference)")
    w.row("sensor_configs", id=14, client_id=1, sensor_type="radiation", location="bay-a",
          refused="sensor_type is not a known sensor type: 'radiation'")
    w.row("sensor_configs", id=15, client_id=3, sensor_type="ph", location="bay-a",
          refused="client_id 3: that clients row was refused")
    w.row("sensor_configs", id=16, client_id=1, sensor_type="ph", location="bay-a",
          refused="same sensor as sensor_configs 10 (ph@bay-a)")

    # varieties and their stage profiles
    w.row("varieties", id=20, client_id=1, name="Butterhead")
    w.row("varieties", id=21, client_id=1, name="Basil Genovese ", normalised=("text_trimmed",))
    w.row("varieties", id=22, client_id=2, name="Butterhead")
    w.row("varieties", id=23, client_id=1, name="Butterhead",
          refused="same name as variety 20 of the same client ('Butterhead')")
    w.row("growth_stages", id=30, variety_id=20, stage_name="seedling", stage_order=0, duration_days=14,
          targets='{"ph": {"min": 5.5, "max": 6.5}}')
    w.row("growth_stages", id=31, variety_id=20, stage_name="vegetative", stage_order="1", duration_days=21,
          normalised=("number_from_text",))
    w.row("growth_stages", id=32, variety_id=99, stage_name="seedling", stage_order=0, duration_days=7,
          refused="variety_id 99: no such row in varieties (orphaned reference)")
    w.row("growth_stages", id=33, variety_id=21, stage_name="seedling", stage_order=0, duration_days=None,
          refused="duration_days is missing")
    w.row("growth_stages", id=34, variety_id=21, stage_name="seedling", stage_order=1, duration_days=10,
          targets="{bad", refused="targets is not a JSON object: '{bad'")

    # crops: a deleted variety, a refused one, another client's, dates as DD/MM/YYYY, a missing date
    w.row("crops", id=40, client_id=1, variety_id=20, location="bay-a", batch_code="B-001",
          planted_date="2026-09-01T08:00:00", status="active")
    w.row("crops", id=41, client_id=1, variety_id=23, location="bay-a", batch_code="B-002",
          planted_date="2026-09-01T08:00:00", refused="variety_id 23: that varieties row was refused")
    w.row("crops", id=42, client_id=1, variety_id=77, location="bay-b", batch_code="B-003",
          planted_date="2026-09-01T08:00:00", refused="variety_id 77: no such row in varieties (orphaned reference)")
    w.row("crops", id=43, client_id=2, variety_id=22, location="bay-c", batch_code=None, planted_date="15/08/2026",
          status="Harvested", harvested_at="2026-10-01",
          normalised=("batch_code_from_legacy_id", "date_from_dd_mm_yyyy", "text_lowercased", "date_without_time"))
    w.row("crops", id=44, client_id=1, variety_id=20, location="bay-a", batch_code="B-004", planted_date=None,
          refused="planted_at is missing")
    w.row("crops", id=45, client_id=1, variety_id=22, location="bay-a", batch_code="B-005",
          planted_date="2026-09-01T08:00:00", refused="variety 22 belongs to another client")

    w.row("harvests", id=50, crop_id=43, harvest_date=1759305600, **{"yield": "12.5"}, unit="kg", quality="A",
          normalised=("date_from_epoch", "number_from_text"))
    w.row("harvests", id=51, crop_id=42, harvest_date="2026-10-01T10:00:00", **{"yield": 3},
          refused="crop_id 42: that crops row was refused")
    w.row("harvests", id=52, crop_id=43, harvest_date="2026-10-02T10:00:00", **{"yield": 1},
          refused="crop 43 already has harvest 50")

    w.row("calibrations", id=60, sensor_config_id=10, calibrated_at="2026-09-02T09:00:00Z", offset="0.1", slope=1.0,
          technician="Ana", normalised=("number_from_text",))
    w.row("calibrations", id=61, sensor_config_id=13, calibrated_at="2026-09-02T09:00:00Z",
          refused="sensor_config_id 13: that sensor_configs row was refused")
    w.row("calibrations", id=62, sensor_config_id=11, calibrated_at="not a date",
          refused="calibrated_at is not a date in a known format: 'not a date'")

    # events: legacy ids 1.. collide with the platform's own event ids
    w.row("events", id=1, client_id=1, event_type="Crop.Planted", message="planted B-001", details='{"crop": 40}',
          created_at="2026-09-01 08:00:00", normalised=("text_lowercased", "date_iso_with_space"))
    w.row("events", id=2, client_id=2, event_type="sensor.alert", details="ph too high!", created_at="01/10/2026 12:30",
          normalised=("invalid_json_kept", "date_from_dd_mm_yyyy"))
    w.row("events", id=3, client_id=9, event_type="sensor.alert", created_at="2026-10-01T12:00:00",
          refused="client_id 9: no such row in clients (orphaned reference)")
    w.row("events", id=4, client_id=None, event_type="system.start", created_at=1756684800,
          normalised=("date_from_epoch",))

    # readings: no sensor id (type@location), numbers and dates as text, aliases, refusals
    base = datetime(2026, 9, 5, 8, 0, tzinfo=UTC)
    for i in range(5):
        w.row("readings", id=100 + i, client_id=1, sensor_type="ph", location="bay-a", value=6.0 + i / 10,
              timestamp=(base + timedelta(minutes=i)).isoformat())
    w.row("readings", id=105, client_id=1, sensor_type="ph", location="bay-a", value="6.2",
          timestamp="2026-09-05T09:00:00", normalised=("number_from_text",))
    w.row("readings", id=106, client_id=1, sensor_type=" Ph", location="bay-a", value=6.3,
          timestamp="2026-09-05T09:01:00", normalised=("text_trimmed", "sensor_type_lowercased"))
    w.row("readings", id=107, client_id=1, sensor_type="ec", location="bay-a", value=1.8,
          timestamp="2026-09-05 10:00:00", normalised=("date_iso_with_space",))
    w.row("readings", id=108, client_id=1, sensor_type="ec", location="bay-a", value=1.9, timestamp=1757066400,
          normalised=("date_from_epoch",))
    w.row("readings", id=109, client_id=1, sensor_type="ec", location="bay-a", value=2.0, timestamp="05/09/2026 11:00",
          normalised=("date_from_dd_mm_yyyy",))
    w.row("readings", id=110, client_id=1, sensor_type="humidity", location="bay-b", value=61.5,
          timestamp="2026-09-05T10:00:00")
    expected.sensors_from_readings = 1  # humidity@bay-b was never configured
    w.row("readings", id=111, client_id=1, sensor_type="ph", location="bay-a", value=15,
          timestamp="2026-09-05T10:05:00", refused="value 15 is outside the physical range of ph (0 to 14 pH)")
    w.row("readings", id=112, client_id=1, sensor_type="ph", location="bay-a", value=None,
          timestamp="2026-09-05T10:06:00", refused="value is missing")
    w.row("readings", id=113, client_id=9, sensor_type="ph", location="bay-a", value=6.1,
          timestamp="2026-09-05T10:07:00", refused="client_id 9: that client does not exist (orphaned reference)")
    w.row("readings", id=114, client_id=1, sensor_type="ph", location="bay-a", value=6.4,
          timestamp=(base + timedelta(minutes=2)).isoformat(),
          refused="a second reading of sensor ph@bay-a at 2026-09-05T08:02:00+00:00")
    w.row("readings", id=115, client_id=2, sensor_type="temp", location=None, value=21.5,
          timestamp="2026-09-05T10:00:00", normalised=("sensor_type_alias", "blank_location_as_default"))
    w.row("readings", id=116, client_id=2, sensor_type="temp", location="", value=21.6, timestamp=None,
          refused="recorded_at is missing")
    db.commit()
    db.close()
    return expected


def write_large(path: Path, readings: int = 1_000_000, records: int = 10_000, seed: int = 7) -> dict[str, int]:
    """A clean legacy farm of `records` farm records and `readings` readings; returns rows per table."""
    path.unlink(missing_ok=True)
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    clients = 10
    sensors = max(records // 10, 12)
    varieties = max(records // 50, 2)
    stages = varieties * 3
    crops = records // 2
    harvests = records // 10
    calibrations = records // 10
    events = max(records - (clients + sensors + varieties + stages + crops + harvests + calibrations), 0)
    types = ("ph", "ec", "temperature", "water_level", "humidity", "air_temperature")
    db.executemany("INSERT INTO clients (id, name, email, api_key, settings, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                   [(c, f"Farm {c}", f"farm{c}@example.org", f"legacy-bench-key-{c:04d}-{seed}", "{}",
                     "2024-01-01T00:00:00") for c in range(1, clients + 1)])
    configs = [(s, 1 + s % clients, types[s % len(types)], f"bay-{s // len(types)}") for s in range(1, sensors + 1)]
    db.executemany("INSERT INTO sensor_configs (id, client_id, sensor_type, location, reading_interval)"
                   " VALUES (?, ?, ?, ?, 300)", configs)
    db.executemany("INSERT INTO varieties (id, client_id, name) VALUES (?, ?, ?)",
                   [(v, 1 + v % clients, f"variety {v}") for v in range(1, varieties + 1)])
    db.executemany("INSERT INTO growth_stages (id, variety_id, stage_name, stage_order, duration_days, targets)"
                   " VALUES (?, ?, ?, ?, ?, ?)",
                   [(s, 1 + (s - 1) // 3, f"stage {(s - 1) % 3}", (s - 1) % 3, 14,
                     '{"ph": {"min": 5.5, "max": 6.5}}') for s in range(1, stages + 1)])
    planted = datetime(2026, 6, 1, tzinfo=UTC)
    db.executemany("INSERT INTO crops (id, client_id, variety_id, location, batch_code, planted_date, status)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [(c, 1 + (1 + c % varieties) % clients, 1 + c % varieties, f"bay-{c % 40}", f"B-{c}",
                     (planted + timedelta(hours=c)).isoformat(), "harvested" if c <= harvests else "active")
                    for c in range(1, crops + 1)])
    db.executemany("INSERT INTO harvests (id, crop_id, harvest_date, yield, unit) VALUES (?, ?, ?, ?, 'kg')",
                   [(h, h, (planted + timedelta(days=60, hours=h)).isoformat(), round(rng.uniform(1, 20), 2))
                    for h in range(1, harvests + 1)])
    db.executemany("INSERT INTO calibrations (id, sensor_config_id, calibrated_at, offset, slope) VALUES (?, ?, ?, 0, 1)",
                   [(k, 1 + k % sensors, (planted + timedelta(hours=k)).isoformat()) for k in range(1, calibrations + 1)])
    db.executemany("INSERT INTO events (id, client_id, event_type, details, created_at) VALUES (?, ?, ?, ?, ?)",
                   [(e, 1 + e % clients, "sensor.checked", "{}", (planted + timedelta(minutes=e)).isoformat())
                    for e in range(1, events + 1)])
    per_sensor = -(-readings // sensors)
    start = datetime(2026, 7, 1, tzinfo=UTC)
    ranges = {"ph": (5.5, 6.5), "ec": (1.0, 3.0), "temperature": (18, 24), "water_level": (40, 100),
              "humidity": (50, 80), "air_temperature": (16, 30)}
    step = timedelta(hours=2)  # a sensor's readings span three months (three partitions)

    def rows():
        n = 0
        for sensor_id, client, kind, where in configs:
            for i in range(per_sensor):
                if n == readings:
                    return
                n += 1
                yield (n, client, kind, where, round(rng.uniform(*ranges[kind]), 3),
                       (start + step * i).isoformat(timespec="seconds"))

    db.executemany("INSERT INTO readings (id, client_id, sensor_type, location, value, timestamp)"
                   " VALUES (?, ?, ?, ?, ?, ?)", rows())
    db.commit()
    db.close()
    return {"clients": clients, "sensor_configs": sensors, "varieties": varieties, "growth_stages": stages,
            "crops": crops, "harvests": harvests, "calibrations": calibrations, "events": events, "readings": readings}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("messy", "large"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=10_000)
    args = parser.parse_args()
    if args.kind == "messy":
        write_messy(args.path)
    else:
        print(write_large(args.path, args.readings, args.records))
    print(f"wrote {args.path}")
