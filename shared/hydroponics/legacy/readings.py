"""The legacy readings, in bulk: each row resolved to its sensor as devices name it (the sensor_config
it points at, its own sensor id, else `<type>@<location>` as the ingest path names a legacy reading),
checked as ingest checks a reading, then COPY'd into a staging table and moved into the partitioned
`readings` table in one statement. Keyed by (sensor, time): a reading already there is left alone.

The checksum is order-independent (a sum of per-row MD5 prefixes over external id, epoch microseconds
and the value in millionths), so PostgreSQL computes the target side itself over the rows it holds.
"""

import hashlib
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.legacy.normalise import Normaliser, Refused
from hydroponics.legacy.source import LegacyDatabase
from hydroponics.legacy.farm import location
from hydroponics.legacy.tables import Context, insert_json, legacy_id, new_id
from hydroponics.readings.incoming import FUTURE_TOLERANCE
from hydroponics.readings.messages import legacy_sensor_id
from hydroponics.readings.partitions import ensure_month_partition
from hydroponics.readings.sensor_types import SENSOR_TYPES

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_IDS = "CAST(:ids AS uuid[])"

_STAGE = text("CREATE TEMP TABLE legacy_readings (sensor_id uuid, client_id uuid, recorded_at timestamptz,"
              " value float8) ON COMMIT DROP")
# New rows only; the store statement's bookkeeping too: each sensor's newest reading, counts per type.
_MOVE = text("""
WITH stored AS (
    INSERT INTO readings (sensor_id, client_id, recorded_at, value, raw_value)
    SELECT sensor_id, client_id, recorded_at, value, value FROM legacy_readings
    ON CONFLICT (sensor_id, recorded_at) DO NOTHING
    RETURNING sensor_id
), per_sensor AS (
    SELECT sensor_id, count(*) AS n FROM stored GROUP BY sensor_id
), counted AS (
    INSERT INTO reading_counts AS rc (client_id, sensor_type, stored)
    SELECT s.client_id, s.sensor_type, sum(p.n) FROM per_sensor p JOIN sensors s ON s.id = p.sensor_id
    GROUP BY s.client_id, s.sensor_type ORDER BY s.client_id, s.sensor_type
    ON CONFLICT (client_id, sensor_type) DO UPDATE SET stored = rc.stored + EXCLUDED.stored
)
SELECT coalesce(sum(n), 0) FROM per_sensor""")
_NEWEST = text("""
UPDATE sensors s SET last_value = m.value, last_raw_value = m.value, last_recorded_at = m.recorded_at
FROM (SELECT DISTINCT ON (sensor_id) sensor_id, recorded_at, value FROM legacy_readings
      ORDER BY sensor_id, recorded_at DESC) m
WHERE s.id = m.sensor_id AND (s.last_recorded_at IS NULL OR s.last_recorded_at < m.recorded_at)""")
_ROW_HASH = ("('x' || substr(md5(s.external_id || '|' || (EXTRACT(EPOCH FROM r.recorded_at) * 1000000)::bigint"
             " || '|' || round(r.value * 1000000)::bigint), 1, 15))::bit(60)::bigint")
# Rows, checksum and broken keys (a reading whose sensor is missing or another client's) in one pass.
_TARGET = (f"SELECT count(*), coalesce(sum({_ROW_HASH}), 0), count(*) FILTER (WHERE s.id IS NULL"
           " OR s.client_id <> r.client_id)")
_TARGET_STAGED = text(f"{_TARGET} FROM legacy_readings t"
                      " JOIN readings r ON r.sensor_id = t.sensor_id AND r.recorded_at = t.recorded_at"
                      " LEFT JOIN sensors s ON s.id = r.sensor_id")
_TARGET_RANGE = text(f"{_TARGET} FROM readings r LEFT JOIN sensors s ON s.id = r.sensor_id"
                     f" WHERE r.sensor_id = ANY({_IDS}) AND r.recorded_at BETWEEN :first AND :last")


def _memo(cache: dict, raw: Any, n: Normaliser, read) -> Any:
    """read(normaliser, raw) once per distinct raw value; its counts are added for every row."""
    hit = cache.get(raw)
    if hit is None:
        probe = Normaliser()
        try:
            hit = (read(probe, raw), None, dict(probe.counts))
        except Refused as refusal:
            hit = (None, str(refusal), {})
        cache[raw] = hit
    value, error, counts = hit
    if error is not None:
        raise Refused(error)
    for kind, times in counts.items():
        for _ in range(times):
            n.count(kind)
    return value


def row_hash(external_id: str, micros: int, value: float) -> int:
    line = f"{external_id}|{micros}|{round(value * 1000000)}".encode()
    return int(hashlib.md5(line, usedforsecurity=False).hexdigest()[:15], 16)


@dataclass
class ReadingsOutcome:
    source_rows: int = 0
    imported: int = 0
    already_present: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (legacy id, reason)
    sensors_registered: int = 0
    partitions_created: int = 0
    checksum: int = 0
    target_rows: int = 0
    target_checksum: int = 0
    broken: int = 0
    sensor_ids: list[str] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None


class _Sensors:
    """Legacy reading -> platform sensor, registering sensors devices reported but never configured."""

    def __init__(self, session: Session, ctx: Context) -> None:
        self.ctx = ctx
        clients = list(set(ctx.map("clients").values()))
        rows = session.execute(text(f"SELECT id, client_id, external_id, sensor_type FROM sensors"
                                    f" WHERE client_id = ANY({_IDS})"), {"ids": clients}).all()
        self.by_name = {(str(r.client_id), r.external_id): (str(r.id), r.sensor_type, r.external_id) for r in rows}
        self.by_id = {str(r.id): (str(r.id), r.sensor_type, r.external_id, str(r.client_id)) for r in rows}
        self.new: list[dict[str, Any]] = []

    def configured(self, raw: Any, client: str) -> tuple[str, str, str]:
        key = legacy_id(raw)
        target = self.ctx.map("sensor_configs").get(key)
        if target is None:
            why = "was refused" if key in self.ctx.maps.get("sensor_configs:refused", {}) else "does not exist"
            raise Refused(f"sensor_config_id {key}: that sensor {why}")
        sensor_id, sensor_type, external, owner = self.by_id[target]
        if owner != client:
            raise Refused(f"sensor_config_id {key} belongs to another client")
        return sensor_id, sensor_type, external

    def named(self, client: str, external: str, sensor_type: str, location: str) -> tuple[str, str, str]:
        found = self.by_name.get((client, external))
        if found is None:
            found = (new_id(), sensor_type, external)
            self.by_name[(client, external)] = found
            self.new.append({"id": found[0], "client_id": client, "external_id": external,
                             "sensor_type": sensor_type, "location": location, "unit": SENSOR_TYPES[sensor_type].unit})
        elif found[1] != sensor_type:
            raise Refused(f"sensor {external} is a {found[1]} sensor, not {sensor_type}")
        return found


def import_readings(session: Session, source: LegacyDatabase, ctx: Context, n: Normaliser) -> ReadingsOutcome:
    """Carry the readings over in the caller's transaction."""
    table = source.tables["readings"]
    fields = list(table.fields)
    at = {name: fields.index(name) if name in fields else None for name in
          ("id", "client_id", "sensor_config_id", "sensor_id", "sensor_type", "location", "value", "recorded_at")}
    sensors = _Sensors(session, ctx)
    clients = ctx.map("clients")
    refused_clients = ctx.maps.get("clients:refused", {})
    outcome = ReadingsOutcome()
    buffer = io.StringIO()
    seen: dict[str, set[int]] = defaultdict(set)
    months: set[tuple[int, int]] = set()
    types: dict[Any, str] = {}
    places: dict[Any, str] = {}
    latest = ctx.now + FUTURE_TOLERANCE
    total = 0
    for row in source.raw_rows("readings"):
        outcome.source_rows += 1
        raw_id = row[at["id"]]
        legacy = str(raw_id) if type(raw_id) is int else legacy_id(raw_id)
        n.next_row()
        try:
            raw_client = row[at["client_id"]] if at["client_id"] is not None else None
            raw_client = str(raw_client) if type(raw_client) is int else legacy_id(raw_client)
            client = clients.get(raw_client)
            if client is None:
                why = "was refused" if raw_client in refused_clients else "does not exist (orphaned reference)"
                raise Refused(f"client_id {raw_client or '(missing)'}: that client {why}")
            config = row[at["sensor_config_id"]] if at["sensor_config_id"] is not None else None
            if config is not None:
                sensor_id, sensor_type, external = sensors.configured(config, client)
            else:
                raw_type = row[at["sensor_type"]] if at["sensor_type"] is not None else None
                sensor_type = _memo(types, raw_type, n, lambda probe, raw: probe.sensor_type(raw))
                raw_place = row[at["location"]] if at["location"] is not None else None
                place = _memo(places, raw_place, n, location)
                own = row[at["sensor_id"]] if at["sensor_id"] is not None else None
                external = (n.text(own, "sensor_id") if own is not None else None) or legacy_sensor_id(sensor_type, place)
                sensor_id, _, external = sensors.named(client, external, sensor_type, place)
            value = row[at["value"]]
            if type(value) is not float:
                value = n.number(value, "value", required=True)
            kind = SENSOR_TYPES[sensor_type]
            if not kind.minimum <= value <= kind.maximum:
                raise Refused(f"value {value:g} is outside the physical range of {kind.name} "
                              f"({kind.minimum:g} to {kind.maximum:g} {kind.unit})")
            raw_at = row[at["recorded_at"]]
            moment = None
            if type(raw_at) is str and len(raw_at) > 10 and raw_at[10] == "T":
                try:
                    moment = datetime.fromisoformat(raw_at)
                except ValueError:
                    moment = None
                else:
                    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
                    if moment.year < 2000:
                        moment = None
            if moment is None:
                moment = n.moment(raw_at, "recorded_at", required=True)
            if moment > latest:
                raise Refused("recorded_at is more than 5 minutes in the future")
            micros = (moment - _EPOCH) // _MICROSECOND
            taken = seen[sensor_id]
            if micros in taken:
                raise Refused(f"a second reading of sensor {external} at {moment.isoformat()}")
            taken.add(micros)
        except Refused as refusal:
            n.refuse_row()
            outcome.refused.append((legacy, str(refusal)))
            continue
        total += row_hash(external, micros, value)
        months.add((moment.year, moment.month))
        if outcome.first is None or moment < outcome.first:
            outcome.first = moment
        if outcome.last is None or moment > outcome.last:
            outcome.last = moment
        buffer.write(f"{sensor_id}\t{client}\t{moment.isoformat()}\t{value!r}\n")
    outcome.checksum = total
    outcome.sensors_registered = len(sensors.new)
    if sensors.new:
        insert_json(session, """
            INSERT INTO sensors (id, client_id, external_id, sensor_type, location, unit)
            SELECT id, client_id, external_id, sensor_type, location, unit
            FROM json_to_recordset(CAST(:rows AS json)) AS t(id uuid, client_id uuid, external_id text,
                 sensor_type text, location text, unit text)""", sensors.new)
    for year, month in sorted(months):
        outcome.partitions_created += ensure_month_partition(session, datetime(year, month, 1).date())
    session.execute(_STAGE)
    cursor = session.connection().connection.dbapi_connection.cursor()
    try:
        buffer.seek(0)
        cursor.execute("COPY legacy_readings (sensor_id, client_id, recorded_at, value) FROM STDIN", stream=buffer)
        staged = cursor.rowcount
    finally:
        cursor.close()
    outcome.imported = int(session.execute(_MOVE).scalar_one())
    outcome.already_present = staged - outcome.imported
    session.execute(_NEWEST)
    outcome.target_rows, target, outcome.broken = session.execute(_TARGET_STAGED).one()
    outcome.target_checksum = int(target)
    outcome.sensor_ids = sorted(seen)
    return outcome


def verify_readings(session: Session, sensor_ids: list[str], first: str | None,
                    last: str | None) -> tuple[int, int, int]:
    """(rows, checksum, broken keys) of the readings PostgreSQL holds for these sensors over the imported range."""
    if not sensor_ids or first is None:
        return 0, 0, 0
    rows, total, broken = session.execute(_TARGET_RANGE, {"ids": sensor_ids, "first": datetime.fromisoformat(first),
                                                          "last": datetime.fromisoformat(last)}).one()
    return rows, int(total), broken
