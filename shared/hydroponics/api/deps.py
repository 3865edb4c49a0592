"""FastAPI dependencies: the authenticated caller, what its key's scope allows, the client it acts
for, and rate limits.

Scopes are enforced here and nowhere else: `rate_limited(name)` (every authenticated route has one)
and `current_caller` admit operator and admin keys only; the ingest route alone asks for `needs=
"device"`. Failed key attempts are counted per source IP (auth/brute_force.py).

No PostgreSQL here: the ingest function uses these and must not import the database layer.
The dependencies that call DynamoDB are `async def` on purpose: FastAPI runs a plain `def`
dependency in a worker thread, and those hops cost ~0.9 ms a request on the ingest path (three
dependencies); a Lambda container serves one request at a time, so the call may block the loop.
"""

from typing import Callable, TypeVar
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import Depends, FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as ASGIScope

from hydroponics import ratelimit
from hydroponics.auth import brute_force, key_index
from hydroponics.auth.caller import Caller, Scope, scope_covers
from hydroponics.errors import DomainError, Forbidden, RateLimited, ServiceUnavailable, Unauthorized
from hydroponics.observability import logger

T = TypeVar("T")


def _secret(request: Request) -> str:
    secret = request.headers.get("x-api-key")
    if not secret:
        raise Unauthorized("missing X-API-Key header")
    return secret


def _key_index_down() -> ServiceUnavailable:
    logger.exception("API key index unavailable")
    return ServiceUnavailable("authentication is unavailable; try again", headers={"Retry-After": "5"})


def _source_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _not_guessing(request: Request) -> None:
    """429 before any lookup for an address this container saw go past the failed-attempt limit."""
    if decision := brute_force.blocked(_source_ip(request)):
        raise RateLimited("too many failed API key attempts from this address; try again later",
                          headers=decision.headers())


def _refused(request: Request, refused: key_index.KeyRefused) -> DomainError:
    """A 401 for an unknown, revoked or expired key, counted against the caller's address (a 429 past the limit)."""
    try:
        decision = brute_force.failed(_source_ip(request))
    except (BotoCoreError, ClientError):
        logger.exception("rate limit store unavailable; failed key attempt not counted")
        return Unauthorized(refused.reason)
    if not decision.allowed:
        logger.warning("failed API key attempts past the limit; address refused for the minute",
                       extra={"source_ip": _source_ip(request), "limit": decision.limit})
        return RateLimited("too many failed API key attempts from this address; try again later",
                           headers=decision.headers())
    return Unauthorized(refused.reason)


def _admitted(request: Request, caller: Caller, needs: Scope) -> Caller:
    """The key's scope must cover what the route needs; X-Client-Id, when sent, must be the key's
    client (legacy devices send both)."""
    if not scope_covers(caller.scope, needs):
        raise Forbidden(f"a {caller.scope} key may not do this" + (" (device keys may only post readings)"
                                                                  if caller.scope == "device" else ""))
    claimed = request.headers.get("x-client-id")
    if claimed and not caller.is_admin and claimed != str(caller.client_id) and claimed != caller.client_alias:
        raise Forbidden("X-Client-Id does not match the API key's client")
    request.state.caller = caller
    return caller


def _ask_key_index(request: Request, call: Callable[[str], T]) -> T:
    """`call` with the request's key, unless its address is blocked for guessing: a refused key is a
    401 counted against the address (a 429 past the limit), an unreachable index a 503."""
    secret = _secret(request)
    _not_guessing(request)
    try:
        return call(secret)
    except key_index.KeyRefused as refused:
        raise _refused(request, refused) from None
    except (BotoCoreError, ClientError):
        raise _key_index_down() from None


async def current_caller(request: Request) -> Caller:
    """The caller behind X-API-Key. Every authenticated route has a `rate_limited` dependency (FastAPI
    resolves a route's and router's `dependencies` before its parameters), which authenticated and
    counted the request in one call; a route without one looks the key up."""
    caller = getattr(request.state, "caller", None)
    if caller is not None:
        return caller
    return _admitted(request, _ask_key_index(request, key_index.lookup), "operator")


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


def rate_limited(name: str, needs: Scope = "operator") -> Callable[..., None]:
    """Authenticate the API key, check its scope covers `needs`, and count the request against its
    limit `name` (the caller's client may override it): one DynamoDB call on the key's own item
    (auth/key_index.py)."""
    async def dependency(request: Request) -> None:
        counted = _ask_key_index(request, lambda secret: key_index.authenticate(secret, name))
        caller = _admitted(request, counted.caller, needs)
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
        _count_in_table(request, name, _source_ip(request), None)
    return dependency


class _RateLimitHeaders:
    """Pure ASGI, not @app.middleware("http"): that runs each request through a task group and
    memory streams, which cost as much as the rest of the framework on the ingest path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
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
