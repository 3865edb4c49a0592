"""The one place for what every HTTP reply carries and every request may be: security headers, the body
size limit. Pure ASGI middleware, used by the api app, the ingest app and the dashboard's file server
(so it imports nothing of the core: the file server must stay light)."""

import json
import logging
import os
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
_log = logging.getLogger("hydroponics")  # the Powertools logger of hydroponics.observability
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]

# JSON answers load nothing and are never framed.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# FastAPI's /docs and /redoc load Swagger UI and ReDoc from their CDN: only framing is refused there.
DOCS_POLICY = "frame-ancestors 'none'"
DOCS_PATHS = ("/docs", "/redoc")
# The dashboard loads only its own files and talks only to its own origin; no inline script or style.
DASHBOARD_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
                    "form-action 'none'; frame-ancestors 'none'")
COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
          "Cross-Origin-Opener-Policy": "same-origin"}
# Two years, subdomains included: API Gateway answers over HTTPS only. Not sent locally (plain HTTP).
HSTS = "max-age=63072000; includeSubDomains"

API_BODY_LIMIT = 256 * 1024  # the largest api body (a variety's 30 stages, a channel's config) is a few KiB
INGEST_BODY_LIMIT = 1024 * 1024  # a batch of 500 readings


def policy_for(path: str, default: str = API_POLICY) -> str:
    """The content security policy of a path: the dashboard's page and files, the docs, or `default`."""
    if path == "/dashboard" or path.startswith("/dashboard/"):
        return DASHBOARD_POLICY
    return DOCS_POLICY if path in DOCS_PATHS else default


def on_aws() -> bool:
    """Whether this runs on AWS: AWS_ENDPOINT_URL (settings.aws_endpoint_url) points at MiniStack locally.
    Read from the environment here so the dashboard's file server does not load the settings module."""
    return not os.environ.get("AWS_ENDPOINT_URL")


def security_headers(policy: str, *, hsts: bool) -> dict[str, str]:
    """The headers of a reply under the content security policy `policy`."""
    return {"Content-Security-Policy": policy} | COMMON | ({"Strict-Transport-Security": HSTS} if hsts else {})


class CrossOrigin:
    """CORS for the configured origins only (none by default: the dashboard is served from the API's own
    origin). Keys travel in X-API-Key, never in cookies, so credentials are never allowed. The origins
    are read on the first request (`origins` is called then), not when the app is built."""

    def __init__(self, app: ASGIApp, *, origins: Callable[[], list[str]]) -> None:
        self.app, self.origins, self.handler = app, origins, None

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if self.handler is None:
            from starlette.middleware.cors import CORSMiddleware

            allowed = self.origins()
            self.handler = self.app if not allowed else CORSMiddleware(
                self.app, allow_origins=allowed, allow_credentials=False,
                allow_methods=["GET", "POST", "PATCH", "DELETE"],
                allow_headers=["X-API-Key", "X-Client-Id", "Content-Type", "X-Request-Id"],
                expose_headers=["Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"],
                max_age=600)
        await self.handler(scope, receive, send)


def _error(status: int, code: str, message: str) -> tuple[dict, bytes]:
    body = json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()
    return {"type": "http.response.start", "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}, body


class Hygiene:
    """Adds the security headers to every reply (errors included; a header the app set is kept) and
    refuses a body over `max_body` bytes with a 413 (by Content-Length, or counted as it arrives)."""

    def __init__(self, app: ASGIApp, *, policy: str = API_POLICY, max_body: int = API_BODY_LIMIT,
                 hsts: bool | None = None) -> None:
        self.app, self.policy, self.max_body = app, policy, max_body
        self.hsts = on_aws() if hsts is None else hsts

    def _headers(self, path: str) -> list[tuple[bytes, bytes]]:
        return [(name.lower().encode(), value.encode())
                for name, value in security_headers(policy_for(path, self.policy), hsts=self.hsts).items()]

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._headers(scope.get("path", ""))

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message = message | {"headers": list(message.get("headers", []))
                                     + [(name, value) for name, value in extra if name not in present]}
            await send(message)

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self._too_large(send_with_headers)
            return
        # The whole body is read first (Mangum holds it in memory anyway), so a body without a
        # Content-Length is held to the limit too, before the app sees any of it.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_body:
                await self._too_large(send_with_headers)
                return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, replay, tracked)
        except Exception:
            # The one answer to an unexpected failure: logged with its trace, answered with nothing of
            # it (no stack trace, no SQL). FastAPI's own 500 handler would sit outside this layer.
            _log.exception("unhandled error", extra={"path": scope.get("path")})
            if started:
                raise
            start, body = _error(500, "internal_error", "internal error")
            await tracked(start)
            await tracked({"type": "http.response.body", "body": body})

    async def _too_large(self, send: Callable) -> None:
        start, body = _error(413, "payload_too_large", f"request body is larger than {self.max_body} bytes")
        await send(start)
        await send({"type": "http.response.body", "body": body})
