"""The FastAPI application of the api function: routes, error shape, rate limits and /docs."""

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse

from hydroponics import __version__
from hydroponics.api.deps import add_rate_limit_headers, ip_rate_limited
from hydroponics.api.errors import ERROR_RESPONSES, install_error_handlers
from hydroponics.api.routes import (
    ac,
    admin,
    alerts,
    calibrations,
    channels,
    clients,
    crops,
    dashboard,
    data,
    escalation_policies,
    events,
    keys,
    metrics,
    notifications,
    retention,
    rules,
    sensors,
    silences,
    spot_checks,
    varieties,
)
from hydroponics.auth import brute_force
from hydroponics.health import check_health
from hydroponics.http_hygiene import CrossOrigin, Hygiene
from hydroponics.settings import get_settings
from hydroponics.ingest import app as ingest
from hydroponics.monitoring.requests import RequestMetrics

DESCRIPTION = """Sensor data, farm records, alerts and climate control for commercial hydroponic farms.

Authenticate with the `X-API-Key` header (devices also send `X-Client-Id`, which must be the key's
client). A key has a scope: `device` keys may only post readings (`POST /api/data`; every other route
answers 403), `operator` keys read and manage the farm (and post readings), `admin` keys also run the
platform. An expired key is answered 401 like an unknown or revoked one; after %d failed key
attempts in a minute from one address, requests from it get 429 with `Retry-After` until the minute
ends. Every error answers `{"error": {"code", "message", "details"}}`; validation errors list
each invalid field with the reason. Rate-limited responses carry `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset`; a 429 also carries `Retry-After`.""" % brute_force.FAILURES_PER_MINUTE


def create_app() -> FastAPI:
    app = FastAPI(title="Hydroponic farm platform API", version=__version__, description=DESCRIPTION)
    install_error_handlers(app)
    add_rate_limit_headers(app)
    app.add_middleware(RequestMetrics, function="api")

    @app.get("/health", tags=["platform"], summary="Database and queue reachability, and the version",
             dependencies=[Depends(ip_rate_limited("public"))])
    def health() -> JSONResponse:
        report = check_health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    app.include_router(ingest.router, responses=ERROR_RESPONSES)  # served by the ingest function; here for /docs
    for module in (keys, data, clients, sensors, calibrations, events, varieties, crops, spot_checks,
                   rules, alerts, silences, escalation_policies, channels, notifications, admin, retention, ac,
                   metrics):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    dashboard.mount_dashboard(app, responses=ERROR_RESPONSES)
    app.add_middleware(CrossOrigin, origins=lambda: get_settings().cors_allow_origins)
    app.add_middleware(Hygiene)  # outermost: its headers go on every reply, CORS preflights and errors included
    return app
