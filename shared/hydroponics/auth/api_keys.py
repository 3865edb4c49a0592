"""API-key lifecycle: issue, list, revoke (PostgreSQL is the record, the DynamoDB index the gate)."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.auth import key_index
from hydroponics.auth.keys import IssuedKey, hash_key, issue_key
from hydroponics.errors import NotFound


@dataclass(frozen=True)
class ApiKeyRecord:
    id: UUID
    name: str
    prefix: str
    is_admin: bool
    created_at: datetime
    revoked_at: datetime | None


def _client_limits(session: Session, client_id: UUID | None) -> dict[str, int]:
    if client_id is None:
        return {}
    limits = session.execute(text("SELECT settings -> 'rate_limits' FROM clients WHERE id = :c"),
                             {"c": client_id}).scalar_one_or_none()
    return {name: int(value) for name, value in (limits or {}).items()}


def create_api_key(session: Session, client_id: UUID | None, name: str, *,
                   is_admin: bool = False) -> tuple[ApiKeyRecord, IssuedKey]:
    """Issue a key; only its hash and prefix are kept. The index entry is written before the row
    commits: if the commit fails, the index holds a hash nobody has, which is harmless."""
    key = issue_key()
    row = session.execute(
        text("INSERT INTO api_keys (client_id, name, prefix, key_hash, is_admin)"
             " VALUES (:client_id, :name, :prefix, :key_hash, :is_admin)"
             " RETURNING id, name, prefix, is_admin, created_at, revoked_at"),
        {"client_id": client_id, "name": name, "prefix": key.prefix, "key_hash": key.key_hash, "is_admin": is_admin},
    ).one()
    key_index.put_key(key.key_hash, key.prefix, client_id, is_admin=is_admin,
                      rate_limits=_client_limits(session, client_id))
    return ApiKeyRecord(*row), key


def list_api_keys(session: Session, client_id: UUID) -> list[ApiKeyRecord]:
    rows = session.execute(text("SELECT id, name, prefix, is_admin, created_at, revoked_at FROM api_keys"
                                " WHERE client_id = :c ORDER BY created_at"), {"c": client_id}).all()
    return [ApiKeyRecord(*row) for row in rows]


def revoke_api_key(session: Session, client_id: UUID, key_id: UUID) -> ApiKeyRecord:
    """Revoke one of the client's keys: it leaves the index first, so it stops working at once."""
    row = session.execute(text("SELECT key_hash FROM api_keys WHERE id = :k AND client_id = :c FOR UPDATE"),
                          {"k": key_id, "c": client_id}).one_or_none()
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    key_index.remove_key(row.key_hash)
    revoked = session.execute(text("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = :k"
                                   " RETURNING id, name, prefix, is_admin, created_at, revoked_at"), {"k": key_id}).one()
    return ApiKeyRecord(*revoked)


def key_belongs_to(session: Session, secret: str, client_id: UUID | None) -> bool:
    """Whether `secret` is an active key of `client_id` (used to keep a local demo key across deploys)."""
    found = session.execute(text("SELECT client_id FROM api_keys WHERE key_hash = :h AND revoked_at IS NULL"),
                            {"h": hash_key(secret)}).one_or_none()
    return found is not None and found.client_id == client_id


def rebuild_key_index(session: Session, client_id: UUID | None = None) -> int:
    """Put active keys (every client's, or one client's) into the DynamoDB index with their client's
    current limits: after a restore, a fresh local emulator, or a change of a client's limits."""
    rows = session.execute(text(
        "SELECT k.key_hash, k.prefix, k.client_id, k.is_admin, k.client_alias, c.settings -> 'rate_limits' AS limits"
        " FROM api_keys k LEFT JOIN clients c ON c.id = k.client_id"
        " WHERE k.revoked_at IS NULL AND (CAST(:c AS uuid) IS NULL OR k.client_id = CAST(:c AS uuid))"),
        {"c": client_id}).all()
    for row in rows:
        key_index.put_key(row.key_hash, row.prefix, row.client_id, is_admin=row.is_admin,
                          rate_limits={n: int(v) for n, v in (row.limits or {}).items()},
                          client_alias=row.client_alias)
    return len(rows)
