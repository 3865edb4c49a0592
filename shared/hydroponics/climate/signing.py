"""HMAC-SHA256 signatures over the raw JSON body, shared by the platform and the unit controllers."""

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-AC-Signature"
_PREFIX = "sha256="


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def sign(secret: str, body: bytes) -> str:
    """The header value: `sha256=<hex digest>`."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str | None, body: bytes, signature: str | None) -> bool:
    """Whether `signature` is the body's signature under `secret` (constant-time)."""
    if not secret or not signature:
        return False
    return hmac.compare_digest(sign(secret, body), signature.strip())
