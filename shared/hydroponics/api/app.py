"""The FastAPI application: routes, error shape and OpenAPI docs at /docs."""

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from hydroponics import __version__
from hydroponics.api.errors import install_error_handlers
from hydroponics.health import check_health


def create_app() -> FastAPI:
    app = FastAPI(
        title="Hydroponic farm platform API",
        version=__version__,
        description="Sensor data, farm records, alerts and climate control for commercial hydroponic farms.",
    )
    install_error_handlers(app)

    @app.get("/health", tags=["platform"], summary="Database and queue reachability, and the version")
    def health() -> JSONResponse:
        report = check_health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    return app
