"""HTTP hygiene of the api and ingest apps and the dashboard's file server: security headers on every
reply (errors included), the body limit on every route, CORS only for configured origins, and no
stack trace or SQL in any error."""

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import ProgrammingError

from hydroponics.api.app import create_app
from hydroponics.dashboard.files import static_app
from hydroponics.http_hygiene import API_BODY_LIMIT, DASHBOARD_POLICY, HSTS, INGEST_BODY_LIMIT, Hygiene
from hydroponics.ingest.app import create_ingest_app
from hydroponics.settings import get_settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "hydroponics"


@pytest.fixture
def settings_env(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1:1/unused")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture
def api(settings_env) -> TestClient:
    app = create_app()

    @app.get("/boom")
    def boom():  # an unexpected failure carrying SQL, as a driver error does
        raise ProgrammingError("SELECT key_hash FROM api_keys WHERE id = 1", {}, Exception("syntax error"))

    return TestClient(app, raise_server_exceptions=False)


def _headers_ok(reply, policy: str = "default-src 'none'; frame-ancestors 'none'") -> None:
    assert reply.headers["content-security-policy"] == policy, reply.headers
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in reply.headers  # locally: plain HTTP


def test_every_reply_carries_the_security_headers(api):
    for reply in (api.get("/openapi.json"), api.get("/nowhere"), api.get("/api/keys"),
                  api.post("/api/keys", content=b"{", headers={"X-API-Key": ""}), api.get("/boom"),
                  api.post("/api/keys", content=b"x" * (API_BODY_LIMIT + 1))):
        _headers_ok(reply)
    _headers_ok(api.get("/docs"), "frame-ancestors 'none'")  # Swagger UI loads from its CDN
    _headers_ok(api.get("/dashboard"), DASHBOARD_POLICY)


def test_the_dashboards_file_server_has_the_same_headers(settings_env):
    files = TestClient(static_app())
    for reply in (files.get("/dashboard"), files.get("/dashboard/static/app.css"), files.get("/dashboard/static/nope")):
        _headers_ok(reply, DASHBOARD_POLICY)


def test_hsts_on_aws_only(settings_env):
    settings_env.delenv("AWS_ENDPOINT_URL")
    get_settings.cache_clear()
    reply = TestClient(create_app()).get("/openapi.json")
    assert reply.headers["strict-transport-security"] == HSTS


def test_no_stack_trace_or_sql_in_an_error(api):
    reply = api.get("/boom")
    assert reply.status_code == 500
    assert reply.json() == {"error": {"code": "internal_error", "message": "internal error", "details": []}}
    assert not re.search(r"(?i)select|traceback|api_keys|sqlalchemy", reply.text)


def test_bodies_over_the_limit_are_413_before_the_app_reads_them(api, settings_env):
    for body in (b"x" * (API_BODY_LIMIT + 1), b'{"name": "' + b"x" * API_BODY_LIMIT + b'"}'):
        reply = api.post("/api/keys", content=body, headers={"Content-Type": "application/json"})
        assert reply.status_code == 413 and reply.json()["error"]["code"] == "payload_too_large"
    ingest = TestClient(create_ingest_app())
    assert ingest.post("/api/data", content=b"[" + b" " * INGEST_BODY_LIMIT + b"]").status_code == 413


def test_a_body_without_content_length_is_counted(settings_env):
    seen = []

    async def app(scope, receive, send):
        seen.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    chunks = iter([{"type": "http.request", "body": b"x" * 600, "more_body": True},
                   {"type": "http.request", "body": b"x" * 600, "more_body": False}])
    sent = []

    async def receive():
        return next(chunks)

    async def send(message):
        sent.append(message)

    import asyncio
    # not asyncio.run: it leaves the main thread without an event loop, and Mangum (the ingest tests that
    # run later in the same session) asks for the current one
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(Hygiene(app, max_body=1000)({"type": "http", "path": "/", "headers": []}, receive, send))
    finally:
        loop.close()
    assert sent[0]["status"] == 413 and seen == []


def test_cors_only_for_configured_origins_and_never_with_credentials(settings_env):
    preflight = {"Origin": "https://farm.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "X-API-Key"}
    closed = TestClient(create_app()).options("/api/keys", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    settings_env.setenv("CORS_ALLOW_ORIGINS", "https://farm.example")
    get_settings.cache_clear()
    app = TestClient(create_app())
    opened = app.options("/api/keys", headers=preflight)
    assert opened.headers["access-control-allow-origin"] == "https://farm.example"
    assert "access-control-allow-credentials" not in opened.headers
    _headers_ok(opened)
    other = app.options("/api/keys", headers=preflight | {"Origin": "https://evil.example"})
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"


@pytest.mark.parametrize("origins", ["*", "https://*.farm.example", "https://farm.example/path", "farm.example"])
def test_a_wildcard_or_a_malformed_origin_is_refused(settings_env, origins):
    settings_env.setenv("CORS_ALLOW_ORIGINS", origins)
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="not an origin"):
        get_settings()


def test_secrets_are_compared_in_constant_time_only():
    """Key hashes, signatures and secrets are never compared with == (hmac.compare_digest, or an exact
    lookup by hash); this scan fails on a new comparison that could leak timing."""
    pattern = re.compile(r"(key_hash|signature|secret|digest)\w*\s*(==|!=)|(==|!=)\s*\w*(key_hash|signature|secret)")
    found = [f"{path.relative_to(SHARED)}:{number}: {line.strip()}"
             for path in SHARED.rglob("*.py") for number, line in enumerate(path.read_text().splitlines(), 1)
             if pattern.search(line) and "compare_digest" not in line]
    assert found == []
