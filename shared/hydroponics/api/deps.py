"""FastAPI dependencies: the authenticated caller, the client it acts for, and rate limits.

No PostgreSQL here: the ingest function uses these and must not import the database layer.
"""

from typing import Callable
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import Depends, Request

from hydroponics import ratelimit
from hydroponics.auth import key_index
from hydroponics.auth.caller import Caller
from hydroponics.errors import Forbidden, RateLimited, Unauthorized
from hydroponics.observability import logger


def current_caller(request: Request) -> Caller:
    """The caller behind X-API-Key; X-Client-Id, when sent, must be the key's client (legacy devices send both)."""
    secret = request.headers.get("x-api-key")
    if not secret:
        raise Unauthorized("missing X-API-Key header")
    caller = key_index.lookup(secret)
    if caller is None:
        raise Unauthorized("invalid or revoked API key")
    claimed = request.headers.get("x-client-id")
    if claimed and not caller.is_admin and claimed != str(caller.client_id):
        raise Forbidden("X-Client-Id does not match the API key's client")
    request.state.caller = caller
    return caller


def acting_client(request: Request, caller: Caller = Depends(current_caller)) -> UUID:
    """The client whose data a request reads or writes: the key's own; admins name one with X-Client-Id."""
    if caller.is_admin:
        claimed = request.headers.get("x-client-id")
        if not claimed:
            raise Forbidden("admin keys must name the client with X-Client-Id")
        try:
            return UUID(claimed)
        except ValueError:
            raise Forbidden("X-Client-Id is not a client id") from None
    assert caller.client_id is not None
    return caller.client_id


def _enforce(request: Request, name: str, identity: str, overrides: dict[str, int] | None) -> None:
    try:
        decision = ratelimit.hit(name, identity, ratelimit.limit_for(name, overrides))
    except (BotoCoreError, ClientError):
        # Fail open: a hiccup of the limits table must not stop sensors reporting.
        logger.exception("rate limit store unavailable; request allowed", extra={"limit": name})
        return
    request.state.rate_limit_headers = decision.headers()
    if not decision.allowed:
        raise RateLimited(f"rate limit of {decision.limit} requests per minute exceeded",
                          headers=decision.headers())


def rate_limited(name: str) -> Callable[..., None]:
    """Per-API-key limit `name` (the caller's client may override it)."""
    def dependency(request: Request, caller: Caller = Depends(current_caller)) -> None:
        _enforce(request, name, caller.key_hash[:32], caller.rate_limits)
    return dependency


def client_rate_limited(name: str) -> Callable[..., None]:
    """Per-client limit `name`, counted over all of the client's keys (the client may override it)."""
    def dependency(request: Request, caller: Caller = Depends(current_caller),
                   client_id: UUID = Depends(acting_client)) -> None:
        _enforce(request, name, f"client:{client_id}", caller.rate_limits)
    return dependency


def ip_rate_limited(name: str) -> Callable[..., None]:
    """Per-source-IP limit `name`, for public and sign-up endpoints."""
    def dependency(request: Request) -> None:
        _enforce(request, name, request.client.host if request.client else "unknown", None)
    return dependency


def add_rate_limit_headers(app) -> None:
    """Copy the limit's headers onto every response of a limited request, errors included."""
    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        for header, value in getattr(request.state, "rate_limit_headers", {}).items():
            response.headers.setdefault(header, value)
        return response


def actor_of(caller: Caller) -> str:
    """How the audit log names the caller: the key's prefix (never the key)."""
    return f"api-key:{caller.prefix}"


def require_admin(caller: Caller = Depends(current_caller)) -> Caller:
    """Platform operators only (cross-client operations such as creating clients)."""
    if not caller.is_admin:
        raise Forbidden("this operation needs an admin key")
    return caller
