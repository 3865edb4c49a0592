"""API keys: issued once in clear text, stored only as a SHA-256 hash, listed by prefix."""

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "hk_"
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 8


@dataclass(frozen=True)
class IssuedKey:
    """A freshly generated key: `secret` is shown to the caller once and never stored."""

    secret: str
    prefix: str
    key_hash: str


def hash_key(secret: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough (no password-style stretching).
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key() -> IssuedKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return IssuedKey(secret=secret, prefix=secret[:SHOWN_PREFIX_LENGTH], key_hash=hash_key(secret))
