"""API-key lifecycle: issue, list, revoke (PostgreSQL is the record, the DynamoDB index the gate)."""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.auth import key_index
from hydroponics.auth.caller import Scope
from hydroponics.auth.keys import IssuedKey, hash_key, issue_key
from hydroponics.errors import InvalidInput, NotFound

MAX_LIFETIME = timedelta(days=730)  # a key may be issued to expire at most this far ahead

_COLUMNS = "id, name, prefix, scope, created_at, expires_at, last_used_at, revoked_at"


@dataclass(frozen=True)
class ApiKeyRecord:
    id: UUID
    name: str
    prefix: str
    scope: Scope
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"


def _client_limits(session: Session, client_id: UUID | None) -> dict[str, int]:
    if client_id is None:
        return {}
    limits = session.execute(text("SELECT settings -> 'rate_limits' FROM clients WHERE id = :c"),
                             {"c": client_id}).scalar_one_or_none()
    return {name: int(value) for name, value in (limits or {}).items()}


def check_expiry(expires_at: datetime | None, now: datetime | None = None) -> None:
    """A key's expiry must be in the future and at most MAX_LIFETIME ahead (422 naming expires_at)."""
    if expires_at is None:
        return
    now = now or datetime.now(UTC)
    if expires_at.tzinfo is None:
        reason = "must carry a UTC offset, e.g. 2027-01-31T00:00:00Z"
    elif expires_at <= now:
        reason = "must be in the future"
    elif expires_at > now + MAX_LIFETIME:
        reason = f"must be at most {MAX_LIFETIME.days} days ahead"
    else:
        return
    raise InvalidInput("request is invalid", details=[{"field": "expires_at", "reason": reason}])


def create_api_key(session: Session, client_id: UUID | None, name: str, *, scope: Scope = "operator",
                   expires_at: datetime | None = None) -> tuple[ApiKeyRecord, IssuedKey]:
    """Issue a key; only its hash and prefix are kept. The index entry is written before the row
    commits: if the commit fails, the index holds a hash nobody has, which is harmless."""
    check_expiry(expires_at)
    key = issue_key()
    row = session.execute(
        text("INSERT INTO api_keys (client_id, name, prefix, key_hash, scope, expires_at)"
             " VALUES (:client_id, :name, :prefix, :key_hash, :scope, :expires_at)"
             f" RETURNING {_COLUMNS}"),
        {"client_id": client_id, "name": name, "prefix": key.prefix, "key_hash": key.key_hash, "scope": scope,
         "expires_at": expires_at},
    ).one()
    key_index.put_key(key.key_hash, key.prefix, client_id, scope=scope,
                      expires_at=expires_at.timestamp() if expires_at else None,
                      rate_limits=_client_limits(session, client_id))
    return ApiKeyRecord(*row), key


def _as_time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def list_api_keys(session: Session, client_id: UUID) -> list[ApiKeyRecord]:
    """The client's keys; an active key's last use is read from the index (every request sets it there),
    a revoked key's is the one copied to PostgreSQL when it was revoked."""
    rows = session.execute(text(f"SELECT {_COLUMNS}, key_hash FROM api_keys WHERE client_id = :c"
                                " ORDER BY created_at"), {"c": client_id}).all()
    active = [row.key_hash for row in rows if row.revoked_at is None]
    used = key_index.last_uses(active) if active else {}
    records = []
    for *columns, key_hash in rows:
        record = ApiKeyRecord(*columns)
        if key_hash in used and (record.last_used_at is None or used[key_hash] > record.last_used_at.timestamp()):
            record = replace(record, last_used_at=_as_time(used[key_hash]))
        records.append(record)
    return records


def revoke_api_key(session: Session, client_id: UUID, key_id: UUID) -> ApiKeyRecord:
    """Revoke one of the client's keys: it leaves the index first, so it stops working at once; its
    last use, read from the deleted index item, is kept in PostgreSQL."""
    row = session.execute(text("SELECT key_hash FROM api_keys WHERE id = :k AND client_id = :c FOR UPDATE"),
                          {"k": key_id, "c": client_id}).one_or_none()
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    [revoked] = revoke_keys(session, [(key_id, row.key_hash)])
    return revoked


def revoke_keys(session: Session, keys: list[tuple[UUID, str]]) -> list[ApiKeyRecord]:
    """Revoke keys given as (id, key hash) (already locked by the caller): out of the index first, then
    marked revoked with their last use, read from each deleted index item, kept in PostgreSQL."""
    records = []
    for key_id, key_hash in keys:
        last_used = _as_time(key_index.remove_key(key_hash))
        records.append(ApiKeyRecord(*session.execute(text(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()),"
            " last_used_at = greatest(last_used_at, CAST(:used AS timestamptz))"
            f" WHERE id = :k RETURNING {_COLUMNS}"), {"k": key_id, "used": last_used}).one()))
    return records


def key_belongs_to(session: Session, secret: str, client_id: UUID | None) -> bool:
    """Whether `secret` is an active key of `client_id` (used to keep a local demo key across deploys)."""
    found = session.execute(text("SELECT client_id FROM api_keys WHERE key_hash = :h AND revoked_at IS NULL"
                                 " AND (expires_at IS NULL OR expires_at > now())"),
                            {"h": hash_key(secret)}).one_or_none()
    return found is not None and found.client_id == client_id


def rebuild_key_index(session: Session, client_id: UUID | None = None) -> int:
    """Put active keys (every client's, or one client's) into the DynamoDB index with their client's
    current limits: after a restore, a fresh local emulator, or a change of a client's limits."""
    rows = session.execute(text(
        "SELECT k.key_hash, k.prefix, k.client_id, k.scope, k.expires_at, k.last_used_at, k.client_alias,"
        " c.settings -> 'rate_limits' AS limits"
        " FROM api_keys k LEFT JOIN clients c ON c.id = k.client_id"
        " WHERE k.revoked_at IS NULL AND (CAST(:c AS uuid) IS NULL OR k.client_id = CAST(:c AS uuid))"),
        {"c": client_id}).all()
    for row in rows:
        key_index.put_key(row.key_hash, row.prefix, row.client_id, scope=row.scope,
                          expires_at=row.expires_at.timestamp() if row.expires_at else None,
                          rate_limits={n: int(v) for n, v in (row.limits or {}).items()},
                          last_used=row.last_used_at.timestamp() if row.last_used_at else None,
                          client_alias=row.client_alias)
    return len(rows)
