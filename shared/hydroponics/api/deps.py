"""FastAPI dependencies: the authenticated caller, the client it acts for, and rate limits.

No PostgreSQL here: the ingest function uses these and must not import the database layer.
The dependencies that call DynamoDB are `async def` on purpose: FastAPI runs a plain `def`
dependency in a worker thread, and those hops cost ~0.9 ms a request on the ingest path (three
dependencies); a Lambda container serves one request at a time, so the call may block the loop.
"""

from typing import Callable
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import Depends, FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hydroponics import ratelimit
from hydroponics.auth import key_index
from hydroponics.auth.caller import Caller
from hydroponics.errors import Forbidden, RateLimited, ServiceUnavailable, Unauthorized
from hydroponics.observability import logger


def _secret(request: Request) -> str:
    secret = request.headers.get("x-api-key")
    if not secret:
        raise Unauthorized("missing X-API-Key header")
    return secret


def _key_index_down() -> ServiceUnavailable:
    logger.exception("API key index unavailable")
    return ServiceUnavailable("authentication is unavailable; try again", headers={"Retry-After": "5"})


def _admitted(request: Request, caller: Caller | None) -> Caller:
    """X-Client-Id, when sent, must be the key's client (legacy devices send both; a key carried over
    from the legacy server also accepts the legacy client id its devices send, its `client_alias`)."""
    if caller is None:
        raise Unauthorized("invalid or revoked API key")
    claimed = request.headers.get("x-client-id")
    if claimed and not caller.is_admin and claimed != str(caller.client_id) and claimed != caller.client_alias:
        raise Forbidden("X-Client-Id does not match the API key's client")
    request.state.caller = caller
    return caller


async def current_caller(request: Request) -> Caller:
    """The caller behind X-API-Key. Every authenticated route has a `rate_limited` dependency (FastAPI
    resolves a route's and router's `dependencies` before its parameters), which authenticated and
    counted the request in one call; a route without one looks the key up."""
    caller = getattr(request.state, "caller", None)
    if caller is not None:
        return caller
    try:
        found = key_index.lookup(_secret(request))
    except (BotoCoreError, ClientError):
        raise _key_index_down() from None
    return _admitted(request, found)


async def acting_client(request: Request, caller: Caller = Depends(current_caller)) -> UUID:
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


def _enforce(request: Request, decision: ratelimit.RateDecision) -> None:
    request.state.rate_limit_headers = decision.headers()
    if not decision.allowed:
        raise RateLimited(f"rate limit of {decision.limit} requests per minute exceeded",
                          headers=decision.headers())


def rate_limited(name: str) -> Callable[..., None]:
    """Authenticate the API key and count the request against its limit `name` (the caller's client
    may override it): one DynamoDB call on the key's own item (auth/key_index.py)."""
    async def dependency(request: Request) -> None:
        try:
            counted = key_index.authenticate(_secret(request), name)
        except (BotoCoreError, ClientError):
            raise _key_index_down() from None
        caller = _admitted(request, counted and counted.caller)
        _enforce(request, ratelimit.decide(counted.hits, ratelimit.limit_for(name, caller.rate_limits),
                                           counted.window_start))
    return dependency


def _count_in_table(request: Request, name: str, identity: str, overrides: dict[str, int] | None) -> None:
    """Count the request against limit `name` for `identity` in the rate-limit table (not a key's own item)."""
    try:
        decision = ratelimit.hit(name, identity, ratelimit.limit_for(name, overrides))
    except (BotoCoreError, ClientError):
        # Fail open: a hiccup of the limits table must not stop the public endpoints.
        logger.exception("rate limit store unavailable; request allowed", extra={"limit": name})
        return
    _enforce(request, decision)


def client_rate_limited(name: str) -> Callable[..., None]:
    """Per-client limit `name`, counted over all of the client's keys (the client may override it)."""
    def dependency(request: Request, caller: Caller = Depends(current_caller),
                   client_id: UUID = Depends(acting_client)) -> None:
        _count_in_table(request, name, f"client:{client_id}", caller.rate_limits)
    return dependency


def ip_rate_limited(name: str) -> Callable[..., None]:
    """Per-source-IP limit `name`, for public and sign-up endpoints."""
    def dependency(request: Request) -> None:
        _count_in_table(request, name, request.client.host if request.client else "unknown", None)
    return dependency


class _RateLimitHeaders:
    """Pure ASGI, not @app.middleware("http"): that runs each request through a task group and
    memory streams, which cost as much as the rest of the framework on the ingest path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for header, value in scope.get("state", {}).get("rate_limit_headers", {}).items():
                    headers.setdefault(header, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_rate_limit_headers(app: FastAPI) -> None:
    """Copy the limit's headers onto every response of a limited request, errors included."""
    app.add_middleware(_RateLimitHeaders)


def actor_of(caller: Caller) -> str:
    """How the audit log names the caller: the key's prefix (never the key)."""
    return f"api-key:{caller.prefix}"


def require_admin(caller: Caller = Depends(current_caller)) -> Caller:
    """Platform operators only (cross-client operations such as creating clients)."""
    if not caller.is_admin:
        raise Forbidden("this operation needs an admin key")
    return caller
