"""Importers of the farm's own records: clients (with their legacy API keys), sensors (the legacy
sensor_configs, named as devices keep naming them), calibrations and the event log."""

import json
from collections import defaultdict
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.auth import key_index
from hydroponics.auth.keys import SHOWN_PREFIX_LENGTH, hash_key
from hydroponics.legacy.normalise import Normaliser, Refused
from hydroponics.legacy.tables import Context, Prepared, TableImporter, insert_json, legacy_id, new_id
from hydroponics.readings.messages import legacy_sensor_id
from hydroponics.readings.sensor_types import SENSOR_TYPES
from hydroponics.records.sensors import DEFAULT_LOCATION

LEGACY_KEY_NAME = "legacy key"
_IDS = "CAST(:ids AS uuid[])"


def parent(ctx: Context, table: str, raw: Any, column: str, *, required: bool = True) -> str | None:
    """The platform id of the legacy row `raw` refers to; refused when it was not carried over."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise Refused(f"{column} is missing")
        return None
    key = legacy_id(raw)
    target = ctx.map(table).get(key)
    if target is None:
        refused = ctx.maps.get(f"{table}:refused", {})
        if key in refused:
            raise Refused(f"{column} {key}: that {table} row was refused")
        raise Refused(f"{column} {key}: no such row in {table} (orphaned reference)")
    return target


def location(n: Normaliser, raw: Any) -> str:
    """Where a sensor is; none (or blank) is 'default', as on the ingest path."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        n.count("blank_location_as_default")
        return DEFAULT_LOCATION
    return n.text(raw, "location")


class Clients(TableImporter):
    table, target = "clients", "clients"

    def begin(self, session: Session, ctx: Context) -> None:
        self.emails: dict[str, list[str]] = defaultdict(list)
        self.keys: dict[str, str] = {}  # platform client id -> the legacy key in clear (never stored)
        if ctx.client_map:
            found = {str(r.id) for r in session.execute(text(f"SELECT id FROM clients WHERE id = ANY({_IDS})"),
                                                        {"ids": [str(c) for c in ctx.client_map.values()]})}
            self.existing = found
        else:
            self.existing = set()

    def prepare(self, row: dict[str, Any], n: Normaliser, ctx: Context) -> Prepared:
        legacy = legacy_id(row["id"])
        name = n.text(row.get("name"), "name", required=True)
        email = n.email(row.get("email"), "email")
        settings, raw = n.json_object(row.get("settings"), "settings")
        if raw is not None:
            settings = {"legacy_settings_text": raw}
            ctx.kept_as_text.append({"table": "clients", "legacy_id": legacy, "column": "settings",
                                     "kept_in": "clients.settings.legacy_settings_text"})
        is_active = n.flag(row.get("is_active"), "is_active", True)
        created = n.moment(row.get("created_at"), "created_at")
        key = n.text(row.get("api_key"), "api_key")
        mapped = ctx.client_map.get(legacy)
        if mapped is not None and str(mapped) not in self.existing:
            raise Refused(f"--client-map names client {mapped}, which does not exist")
        target = str(mapped) if mapped is not None else new_id()
        if email:
            self.emails[email].append(legacy)
        if key:
            self.keys[target] = key
        values = {"id": target, "name": name, "contact_email": email, "is_active": is_active,
                  "settings": settings, "created_at": created}
        return Prepared(legacy, target, values, (name, email, is_active, settings), merged=mapped is not None)

    def insert(self, session: Session, rows: list[Prepared], ctx: Context) -> None:
        insert_json(session, """
            INSERT INTO clients (id, name, contact_email, is_active, settings, created_at)
            SELECT id, name, contact_email, is_active, settings, coalesce(created_at, now())
            FROM json_to_recordset(CAST(:rows AS json)) AS t(id uuid, name text, contact_email text,
                 is_active boolean, settings jsonb, created_at timestamptz)""",
                    [r.values for r in rows if not r.merged])
        for email, ids in self.emails.items():
            if len(ids) > 1:
                ctx.findings.append({"kind": "duplicate_email", "email": email, "legacy_ids": ids,
                                     "message": f"clients {', '.join(ids)} share the email {email}: kept on each"})

    def read_back(self, session: Session, ids: list[str], ctx: Context) -> dict[str, tuple]:
        rows = session.execute(text(f"SELECT id, name, contact_email, is_active, settings FROM clients"
                                    f" WHERE id = ANY({_IDS})"), {"ids": ids})
        return {str(r.id): (r.name, r.contact_email, r.is_active, r.settings) for r in rows}


class LegacyKeys:
    """Legacy API keys (kept in clear by the legacy server) carried over as hashes, with the legacy
    client id as the alias devices send in X-Client-Id, and put into the DynamoDB key index."""

    @staticmethod
    def insert(session: Session, keys: dict[str, str], aliases: dict[str, str]) -> tuple[dict[str, int], list]:
        """Carry the keys over; returns the counts and [(legacy client id, reason)] for keys refused."""
        rows = [{"client_id": client, "prefix": _prefix(secret), "key_hash": hash_key(secret),
                 "client_alias": aliases[client]} for client, secret in keys.items()]
        counts = {"legacy_keys": len(rows), "carried_over": 0, "already_there": 0, "refused": 0}
        existing = {r.key_hash: str(r.client_id) for r in session.execute(
            text("SELECT key_hash, client_id FROM api_keys WHERE key_hash = ANY(CAST(:h AS text[]))"),
            {"h": [r["key_hash"] for r in rows]})} if rows else {}
        new, refused, taken = [], [], {}
        for row in rows:
            owner = existing.get(row["key_hash"]) or taken.get(row["key_hash"])
            if owner is None:
                new.append(row)
                taken[row["key_hash"]] = row["client_id"]
            elif owner == row["client_id"]:
                counts["already_there"] += 1
            else:
                counts["refused"] += 1
                refused.append((row["client_alias"], "api_key: the same key belongs to another client; not carried over"))
        counts["carried_over"] = insert_json(session, f"""
            INSERT INTO api_keys (client_id, name, prefix, key_hash, client_alias)
            SELECT client_id, '{LEGACY_KEY_NAME}', prefix, key_hash, client_alias
            FROM json_to_recordset(CAST(:rows AS json)) AS t(client_id uuid, prefix text, key_hash text, client_alias text)
            """, new)
        return counts, refused

    @staticmethod
    def index(session: Session, client_ids: list[str]) -> int:
        """Put the clients' legacy keys into the key index (again: harmless), with their limits and alias."""
        rows = session.execute(text(
            "SELECT k.key_hash, k.prefix, k.client_id, k.client_alias, c.settings -> 'rate_limits' AS limits"
            f" FROM api_keys k JOIN clients c ON c.id = k.client_id WHERE k.client_id = ANY({_IDS})"
            " AND k.name = :name AND k.revoked_at IS NULL"), {"ids": client_ids, "name": LEGACY_KEY_NAME}).all()
        for row in rows:
            key_index.put_key(row.key_hash, row.prefix, row.client_id,
                              rate_limits={k: int(v) for k, v in (row.limits or {}).items()},
                              client_alias=row.client_alias)
        return len(rows)


def _prefix(secret: str) -> str:
    # a short legacy key would be half shown by the usual prefix: show a quarter of it at most
    return secret[:min(SHOWN_PREFIX_LENGTH, len(secret) // 4)]


class Sensors(TableImporter):
    table, target = "sensor_configs", "sensors"
    foreign_keys = {"client_id": f"SELECT count(*) FROM sensors s LEFT JOIN clients c ON c.id = s.client_id"
                                 f" WHERE s.id = ANY({_IDS}) AND c.id IS NULL"}

    def begin(self, session: Session, ctx: Context) -> None:
        clients = list(set(ctx.map("clients").values()))
        self.known = {(str(r.client_id), r.external_id): str(r.id) for r in session.execute(
            text(f"SELECT id, client_id, external_id FROM sensors WHERE client_id = ANY({_IDS})"), {"ids": clients})}
        self.seen: dict[tuple[str, str], str] = {}

    def prepare(self, row: dict[str, Any], n: Normaliser, ctx: Context) -> Prepared:
        legacy = legacy_id(row["id"])
        client = parent(ctx, "clients", row.get("client_id"), "client_id")
        sensor_type = n.sensor_type(row.get("sensor_type"))
        where = location(n, row.get("location"))
        external = n.text(row.get("sensor_id"), "sensor_id") or legacy_sensor_id(sensor_type, where)
        config, raw = n.json_object(row.get("config"), "config")
        if raw is not None:
            ctx.kept_as_text.append({"table": "sensor_configs", "legacy_id": legacy, "column": "config",
                                     "kept_in": "this report only (sensors have no free-form settings)", "text": raw})
        minimum = n.number(row.get("min_threshold"), "min_threshold")
        maximum = n.number(row.get("max_threshold"), "max_threshold")
        if minimum is not None and maximum is not None and minimum > maximum:
            raise Refused(f"min_threshold {minimum:g} is above max_threshold {maximum:g}")
        interval = n.integer(row.get("interval", config.get("interval")), "reading_interval")
        if interval is not None and interval <= 0:
            raise Refused(f"reading_interval must be positive: {interval}")
        peer = n.text(config.get("peer_group"), "config.peer_group")
        unit = n.text(row.get("unit"), "unit") or SENSOR_TYPES[sensor_type].unit
        is_active = n.flag(row.get("is_active"), "is_active", True)
        key = (client, external)
        if key in self.seen:
            raise Refused(f"same sensor as sensor_configs {self.seen[key]} ({external})")
        self.seen[key] = legacy
        existing = self.known.get(key)
        values = {"id": existing or new_id(), "client_id": client, "external_id": external,
                  "sensor_type": sensor_type, "location": where, "unit": unit, "interval": interval or 60,
                  "peer_group": peer, "min_threshold": minimum, "max_threshold": maximum, "is_active": is_active}
        canon = (legacy_id(row.get("client_id")), external, sensor_type, where, unit, interval or 60, peer, minimum,
                 maximum, is_active)
        return Prepared(legacy, values["id"], values, canon, merged=existing is not None)

    def insert(self, session: Session, rows: list[Prepared], ctx: Context) -> None:
        insert_json(session, """
            INSERT INTO sensors (id, client_id, external_id, sensor_type, location, unit, expected_interval_seconds,
                                 peer_group, min_threshold, max_threshold, is_active)
            SELECT id, client_id, external_id, sensor_type, location, unit, interval, peer_group, min_threshold,
                   max_threshold, is_active
            FROM json_to_recordset(CAST(:rows AS json)) AS t(id uuid, client_id uuid, external_id text,
                 sensor_type text, location text, unit text, interval integer, peer_group text,
                 min_threshold float8, max_threshold float8, is_active boolean)""",
                    [r.values for r in rows if not r.merged])

    def read_back(self, session: Session, ids: list[str], ctx: Context) -> dict[str, tuple]:
        clients = ctx.reverse("clients")
        rows = session.execute(text(
            "SELECT id, client_id, external_id, sensor_type, location, unit, expected_interval_seconds, peer_group,"
            f" min_threshold, max_threshold, is_active FROM sensors WHERE id = ANY({_IDS})"), {"ids": ids})
        return {str(r.id): (clients.get(str(r.client_id)), r.external_id, r.sensor_type, r.location, r.unit,
                            r.expected_interval_seconds, r.peer_group, r.min_threshold, r.max_threshold, r.is_active)
                for r in rows}


class Calibrations(TableImporter):
    table, target = "calibrations", "calibrations"
    foreign_keys = {"sensor_id": f"SELECT count(*) FROM calibrations k LEFT JOIN sensors s ON s.id = k.sensor_id"
                                 f" AND s.client_id = k.client_id WHERE k.id = ANY({_IDS}) AND s.id IS NULL"}

    def begin(self, session: Session, ctx: Context) -> None:
        self.client_of = {str(r.id): str(r.client_id) for r in session.execute(
            text(f"SELECT id, client_id FROM sensors WHERE id = ANY({_IDS})"),
            {"ids": list(set(ctx.map("sensor_configs").values()))})}

    def prepare(self, row: dict[str, Any], n: Normaliser, ctx: Context) -> Prepared:
        legacy = legacy_id(row["id"])
        sensor = parent(ctx, "sensor_configs", row.get("sensor_config_id"), "sensor_config_id")
        at = n.moment(row.get("calibrated_at"), "calibrated_at", required=True)
        offset = n.number(row.get("offset"), "offset")
        slope = n.number(row.get("slope"), "slope")
        solutions = _json_list(n, ctx, row.get("reference_solutions"), legacy)
        values = {"id": new_id(), "sensor_id": sensor, "client_id": self.client_of[sensor], "calibrated_at": at,
                  "method": n.text(row.get("method"), "method"), "offset": 0.0 if offset is None else offset,
                  "slope": 1.0 if slope is None else slope, "technician": n.text(row.get("technician"), "technician"),
                  "next_due_at": n.moment(row.get("next_due_at"), "next_due_at"),
                  "notes": n.text(row.get("notes"), "notes"), "reference_solutions": solutions}
        canon = (legacy_id(row.get("sensor_config_id")), at, values["method"], values["offset"], values["slope"],
                 values["technician"], values["next_due_at"], values["notes"], solutions)
        return Prepared(legacy, values["id"], values, canon)

    def insert(self, session: Session, rows: list[Prepared], ctx: Context) -> None:
        insert_json(session, """
            INSERT INTO calibrations (id, sensor_id, client_id, calibrated_at, method, "offset", slope, technician,
                                      next_due_at, notes, reference_solutions)
            SELECT id, sensor_id, client_id, calibrated_at, method, "offset", slope, technician, next_due_at, notes,
                   reference_solutions
            FROM json_to_recordset(CAST(:rows AS json)) AS t(id uuid, sensor_id uuid, client_id uuid,
                 calibrated_at timestamptz, method text, "offset" float8, slope float8, technician text,
                 next_due_at timestamptz, notes text, reference_solutions jsonb)""", [r.values for r in rows])

    def read_back(self, session: Session, ids: list[str], ctx: Context) -> dict[str, tuple]:
        sensors = ctx.reverse("sensor_configs")
        rows = session.execute(text(
            'SELECT id, sensor_id, calibrated_at, method, "offset", slope, technician, next_due_at, notes,'
            f" reference_solutions FROM calibrations WHERE id = ANY({_IDS})"), {"ids": ids})
        return {str(r.id): (sensors.get(str(r.sensor_id)), r.calibrated_at, r.method, r.offset, r.slope, r.technician,
                            r.next_due_at, r.notes, r.reference_solutions) for r in rows}


def _json_list(n: Normaliser, ctx: Context, raw: Any, legacy: str) -> list:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return []
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, list):
        return parsed
    n.count("invalid_json_kept")
    ctx.kept_as_text.append({"table": "calibrations", "legacy_id": legacy, "column": "reference_solutions",
                             "kept_in": "calibrations.reference_solutions[0].legacy_text"})
    return [{"legacy_text": str(raw)}]


class Events(TableImporter):
    """The audit log; legacy integer ids collide with the platform's own event ids, so they are new ids
    (the legacy id stays in details.legacy_id)."""

    table, target = "events", "events"
    foreign_keys = {"client_id": f"SELECT count(*) FROM events e LEFT JOIN clients c ON c.id = e.client_id"
                                 " WHERE e.id = ANY(CAST(:ids AS bigint[])) AND e.client_id IS NOT NULL AND c.id IS NULL"}

    def prepare(self, row: dict[str, Any], n: Normaliser, ctx: Context) -> Prepared:
        legacy = legacy_id(row["id"])
        client = parent(ctx, "clients", row.get("client_id"), "client_id", required=False)
        event_type = n.text(row.get("event_type"), "event_type", required=True, lower=True)
        details, raw = n.json_object(row.get("details"), "details")
        if raw is not None:
            details = {"legacy_text": raw}
            ctx.kept_as_text.append({"table": "events", "legacy_id": legacy, "column": "details",
                                     "kept_in": "events.details.legacy_text"})
        message = n.text(row.get("message"), "message")
        if message is not None:
            details = details | {"message": message}
        details = details | {"legacy_id": legacy}
        at = n.moment(row.get("occurred_at"), "occurred_at", required=True)
        actor = n.text(row.get("actor"), "actor") or "legacy"
        values = {"client_id": client, "event_type": event_type, "actor": actor, "details": details,
                  "occurred_at": at}
        canon = (legacy_id(row.get("client_id")) if client else None, event_type, actor, details, at)
        return Prepared(legacy, "", values, canon)

    def insert(self, session: Session, rows: list[Prepared], ctx: Context) -> None:
        if not rows:
            return
        ids = session.execute(text("SELECT nextval(pg_get_serial_sequence('events', 'id'))"
                                   " FROM generate_series(1, :n)"), {"n": len(rows)}).scalars().all()
        for prepared, event_id in zip(rows, ids):
            prepared.target_id = str(event_id)
            prepared.values["id"] = event_id
        insert_json(session, """
            INSERT INTO events (id, client_id, event_type, actor, subject_type, details, occurred_at)
            OVERRIDING SYSTEM VALUE
            SELECT id, client_id, event_type, actor, 'legacy', details, occurred_at
            FROM json_to_recordset(CAST(:rows AS json)) AS t(id bigint, client_id uuid, event_type text, actor text,
                 details jsonb, occurred_at timestamptz)""", [r.values for r in rows])

    def read_back(self, session: Session, ids: list[str], ctx: Context) -> dict[str, tuple]:
        clients = ctx.reverse("clients")
        rows = session.execute(text("SELECT id, client_id, event_type, actor, details, occurred_at FROM events"
                                    " WHERE id = ANY(CAST(:ids AS bigint[]))"), {"ids": ids})
        return {str(r.id): (clients.get(str(r.client_id)) if r.client_id else None, r.event_type, r.actor, r.details,
                            r.occurred_at) for r in rows}


def client_of(session: Session, table: str, ids: list[str]) -> dict[str, UUID]:
    return {str(r.id): r.client_id for r in session.execute(
        text(f"SELECT id, client_id FROM {table} WHERE id = ANY({_IDS})"), {"ids": ids})}
