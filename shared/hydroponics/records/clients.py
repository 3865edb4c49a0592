"""Clients: the farms using the platform, their rate-limit overrides, counts, and their keys in the key index."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.auth.api_keys import ApiKeyRecord, create_api_key, rebuild_key_index, revoke_keys
from hydroponics.auth.keys import IssuedKey
from hydroponics.errors import Conflict, InvalidInput, NotFound
from hydroponics.ratelimit import DEFAULT_LIMITS
from hydroponics.records.pagination import Keyset, Page, PageRequest

CLIENT_ORDER = Keyset("clients", {"c.name": str, "c.id": UUID})
MAX_RATE_LIMIT = 1_000_000  # requests per minute
FIRST_KEY_NAME = "first key"

# The client's readings horizon (hydroponics/retention/horizons.py), when it has its own.
RETENTION_DAYS = ("CASE WHEN jsonb_typeof(c.settings -> 'retention_days') = 'number'"
                  " THEN (c.settings ->> 'retention_days')::int END")

# Counts come from correlated subqueries evaluated for the page's rows only, inside the one
# statement: sensors through uq (client_id, external_id), crops through the partial index of active crops.
_SELECT = """
SELECT c.id, c.name, c.contact_email, c.is_active, c.settings -> 'rate_limits' AS rate_limits,
       c.created_at, c.updated_at, {RETENTION_DAYS} AS retention_days,
       (SELECT count(*) FROM sensors s WHERE s.client_id = c.id AND s.is_active) AS sensor_count,
       (SELECT count(*) FROM crops cr WHERE cr.client_id = c.id AND cr.status = 'active') AS active_crop_count
FROM clients c""".replace("{RETENTION_DAYS}", RETENTION_DAYS)


@dataclass(frozen=True)
class ClientRecord:
    id: UUID
    name: str
    contact_email: str | None
    is_active: bool
    rate_limits: dict[str, int]  # overrides of ratelimit.DEFAULT_LIMITS, requests per minute
    created_at: datetime
    updated_at: datetime
    sensor_count: int  # active sensors
    active_crop_count: int
    retention_days: int | None = None  # its own readings horizon (None: the platform's)


def _record(row: Any) -> ClientRecord:
    values = dict(row._mapping)
    values["rate_limits"] = {name: int(limit) for name, limit in (values["rate_limits"] or {}).items()}
    return ClientRecord(**values)


def create_client(session: Session, name: str, contact_email: str | None = None,
                  settings: dict | None = None) -> UUID:
    return session.execute(
        text("INSERT INTO clients (name, contact_email, settings) VALUES (:name, :email, CAST(:settings AS jsonb))"
             " RETURNING id"),
        {"name": name, "email": contact_email, "settings": json.dumps(settings or {})},
    ).scalar_one()


def find_client_by_name(session: Session, name: str) -> UUID | None:
    return session.execute(text("SELECT id FROM clients WHERE name = :name ORDER BY created_at LIMIT 1"),
                           {"name": name}).scalar_one_or_none()


def set_rate_limits(session: Session, client_id: UUID, limits: dict[str, int]) -> None:
    """Override some of the client's per-minute limits (see ratelimit.DEFAULT_LIMITS). The key index
    carries them, so re-put the client's keys afterwards (reindex_client_keys)."""
    session.execute(
        text("UPDATE clients SET settings = jsonb_set(settings, '{rate_limits}',"
             " coalesce(settings -> 'rate_limits', '{}'::jsonb) || CAST(:limits AS jsonb)) WHERE id = :c"),
        {"c": client_id, "limits": json.dumps(limits)},
    )


def check_rate_limits(limits: dict[str, int | None], *, removable: bool = False) -> None:
    """Limit names must be known and values whole requests per minute (None removes an override, if allowed)."""
    problems = []
    for name, limit in limits.items():
        if name not in DEFAULT_LIMITS:
            problems.append({"field": f"rate_limits.{name}",
                             "reason": f"unknown limit; known: {', '.join(DEFAULT_LIMITS)}"})
        elif limit is None and not removable:
            problems.append({"field": f"rate_limits.{name}", "reason": "must be a number of requests per minute"})
        elif limit is not None and not 1 <= limit <= MAX_RATE_LIMIT:
            problems.append({"field": f"rate_limits.{name}", "reason": f"must be between 1 and {MAX_RATE_LIMIT}"})
    if problems:
        raise InvalidInput("rate limits are invalid", details=problems)


def _ensure_name_free(session: Session, name: str, *, other_than: UUID | None = None) -> None:
    """409 when another client already has this name (any case); serialised, as no constraint backs it."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('clients.name'))"))
    sql = "SELECT 1 FROM clients WHERE lower(name) = lower(:name)" + (" AND id <> :other" if other_than else "")
    if session.execute(text(sql + " LIMIT 1"), {"name": name, "other": other_than}).first():
        raise Conflict(f"a client named {name!r} already exists",
                       details=[{"field": "name", "reason": "already taken"}])


def get_client(session: Session, client_id: UUID) -> ClientRecord:
    row = session.execute(text(f"{_SELECT} WHERE c.id = :id"), {"id": client_id}).one_or_none()
    if row is None:
        raise NotFound(f"client {client_id} not found")
    return _record(row)


def list_clients(session: Session, request: PageRequest, *, is_active: bool | None = None) -> Page[ClientRecord]:
    """A page of every client by name, with its sensor and active-crop counts, in one statement."""
    page = CLIENT_ORDER.clause(request)
    active = "" if is_active is None else " AND c.is_active = :is_active"
    rows = session.execute(text(f"{_SELECT} WHERE {page.after}{active} ORDER BY {page.order_by} {page.limit}"),
                           {"is_active": is_active} | page.params)
    return CLIENT_ORDER.page([_record(row) for row in rows], request)


def register_client(session: Session, name: str, contact_email: str | None = None,
                    rate_limits: dict[str, int] | None = None) -> tuple[ClientRecord, ApiKeyRecord, IssuedKey]:
    """A new client and its first API key (the key's secret is in the IssuedKey, to show once)."""
    check_rate_limits(rate_limits or {})
    _ensure_name_free(session, name)
    client_id = create_client(session, name, contact_email, {"rate_limits": rate_limits} if rate_limits else None)
    key_record, key = create_api_key(session, client_id, FIRST_KEY_NAME)
    return get_client(session, client_id), key_record, key


def update_client(session: Session, client_id: UUID, changes: dict[str, Any]) -> tuple[ClientRecord, dict[str, Any]]:
    """Change name, contact_email, rate_limits ({name: n, or None to drop the override}) and/or
    retention_days (None: back to the platform's horizon); returns the client and the previous values
    of what was given. New limits reach the key index at once."""
    before = session.execute(
        text("SELECT c.name, c.contact_email, coalesce(c.settings -> 'rate_limits', '{}'::jsonb) AS rate_limits,"
             f" {RETENTION_DAYS} AS retention_days FROM clients c WHERE c.id = :id FOR UPDATE"),
        {"id": client_id}).one_or_none()
    if before is None:
        raise NotFound(f"client {client_id} not found")
    assignments, params = ["updated_at = now()"], {"id": client_id}
    for field in ("name", "contact_email"):
        if field in changes:
            assignments.append(f"{field} = :{field}")
            params[field] = changes[field]
    if "name" in changes:
        _ensure_name_free(session, changes["name"], other_than=client_id)
    limits = changes.get("rate_limits")
    if limits:
        check_rate_limits(limits, removable=True)
        assignments.append("settings = jsonb_set(settings, '{rate_limits}', (coalesce(settings -> 'rate_limits',"
                           " '{}'::jsonb) || CAST(:set_limits AS jsonb)) - CAST(:unset_limits AS text[]))")
        params["set_limits"] = json.dumps({n: v for n, v in limits.items() if v is not None})
        params["unset_limits"] = [n for n, v in limits.items() if v is None]
    if "retention_days" in changes:
        assignments.append("settings = CASE WHEN CAST(:retention_days AS integer) IS NULL"
                           " THEN settings - 'retention_days'"
                           " ELSE jsonb_set(settings, '{retention_days}', to_jsonb(CAST(:retention_days AS integer))) END")
        params["retention_days"] = changes["retention_days"]
    session.execute(text(f"UPDATE clients SET {', '.join(assignments)} WHERE id = :id"), params)
    if limits:
        reindex_client_keys(session, client_id)
    previous = {field: value for field, value in before._mapping.items() if field in changes}
    return get_client(session, client_id), previous


def reindex_client_keys(session: Session, client_id: UUID) -> int:
    """Re-put the client's active keys into the key index with its current limits; returns how many."""
    return rebuild_key_index(session, client_id)


def deactivate_client(session: Session, client_id: UUID) -> tuple[ClientRecord, list[str]]:
    """Deactivate a client and revoke its keys at once (out of the index first); returns the revoked prefixes."""
    if session.execute(text("UPDATE clients SET is_active = false, updated_at = now() WHERE id = :c RETURNING id"),
                       {"c": client_id}).first() is None:
        raise NotFound(f"client {client_id} not found")
    keys = session.execute(text("SELECT id, key_hash, prefix FROM api_keys WHERE client_id = :c"
                                " AND revoked_at IS NULL ORDER BY created_at FOR UPDATE"), {"c": client_id}).all()
    revoke_keys(session, [(key.id, key.key_hash) for key in keys])
    return get_client(session, client_id), [key.prefix for key in keys]
