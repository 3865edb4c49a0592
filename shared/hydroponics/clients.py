"""Clients (the farms using the platform) and their API keys."""

from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.auth.keys import IssuedKey, hash_key, issue_key


def create_client(session: Session, name: str, contact_email: str | None = None) -> UUID:
    return session.execute(
        text("INSERT INTO clients (name, contact_email) VALUES (:name, :email) RETURNING id"),
        {"name": name, "email": contact_email},
    ).scalar_one()


def find_client_by_name(session: Session, name: str) -> UUID | None:
    return session.execute(text("SELECT id FROM clients WHERE name = :name"), {"name": name}).scalar_one_or_none()


def create_api_key(session: Session, client_id: UUID, name: str, *, is_admin: bool = False) -> IssuedKey:
    """Issue a key for `client_id`; only its hash and prefix are stored."""
    key = issue_key()
    session.execute(
        text("INSERT INTO api_keys (client_id, name, prefix, key_hash, is_admin)"
             " VALUES (:client_id, :name, :prefix, :key_hash, :is_admin)"),
        {"client_id": client_id, "name": name, "prefix": key.prefix, "key_hash": key.key_hash, "is_admin": is_admin},
    )
    return key


def active_key_client(session: Session, secret: str) -> UUID | None:
    """The client an unrevoked key belongs to, or None."""
    return session.execute(
        text("SELECT client_id FROM api_keys WHERE key_hash = :h AND revoked_at IS NULL"), {"h": hash_key(secret)}
    ).scalar_one_or_none()
