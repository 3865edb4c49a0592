"""The operator dashboard: the page at /dashboard, its static files, and the aggregates it reads
(who the key is, the farm overview). Everything else the page shows comes from the REST API."""

from datetime import UTC, datetime
from importlib.resources import files
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.staticfiles import StaticFiles

from hydroponics.api.deps import acting_client, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.dashboard.overview import Status, farm_overview

STATIC = files("hydroponics.dashboard") / "static"

# The page loads only its own files and talks only to its own origin; no inline script or style.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                    "Cross-Origin-Opener-Policy": "same-origin"}
# Vendored libraries live under a versioned path and never change there; the page's own files are
# revalidated (ETag) on every load, so a deploy shows at once.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

page = APIRouter(include_in_schema=False)
api_limit = rate_limited("api")
router = APIRouter(prefix="/api/dashboard", tags=["dashboard"], dependencies=[Depends(api_limit)])


class DashboardFiles(StaticFiles):
    """The page's static files, with the page's security headers and cache rules."""

    def file_response(self, full_path, stat_result, scope, status_code=200):
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = IMMUTABLE if "/vendor/" in scope["path"] else REVALIDATE
        return response


@page.get("/dashboard/")
def dashboard_redirect() -> RedirectResponse:
    # The page's relative links assume /dashboard; relative, so it holds behind any path prefix
    # (MiniStack serves the API under /_aws/execute-api/{id}, and passes /dashboard/ as /dashboard).
    return RedirectResponse("../dashboard", status_code=308)


@page.get("/dashboard")
def dashboard_page() -> FileResponse:
    return FileResponse(str(STATIC / "index.html"), media_type="text/html; charset=utf-8",
                        headers=SECURITY_HEADERS | {"Cache-Control": REVALIDATE})


def mount_dashboard(app: FastAPI) -> None:
    app.include_router(page)
    app.include_router(router)
    app.mount("/dashboard/static", DashboardFiles(directory=str(STATIC)), name="dashboard-static")


class CallerOut(BaseModel):
    is_admin: bool = Field(description="admin keys pick the client they act for with X-Client-Id")
    client_id: UUID | None = Field(description="the key's own client (null for a platform operator's key)")
    key_prefix: str


class BandOut(BaseModel):
    min: float | None
    max: float | None


class SensorTileOut(BaseModel):
    sensor_id: UUID
    sensor: str = Field(description="the sensor id the device reports")
    sensor_type: str
    unit: str | None
    value: float | None = Field(description="the latest reading (calibrated); null before the first")
    recorded_at: datetime | None
    age_seconds: float | None
    stale: bool = Field(description="no reading for 3 expected intervals")
    band: BandOut | None = Field(description="the current growth stage's target band for this sensor type")
    status: Status = Field(description="in_band; near_edge (within 10% of the band's width of a limit); "
                                       "out_of_band; no_band (the stage sets none); no_reading")


class StageOut(BaseModel):
    name: str
    stage_order: int
    started_at: datetime
    due_at: datetime
    completed_at: datetime | None
    targets: dict[str, dict[str, float]] | None = Field(description="null once the profile's stage was removed")


class BayCropOut(BaseModel):
    id: UUID
    batch_code: str
    variety: str
    planted_at: datetime
    stage: str | None
    stage_started_at: datetime | None
    stage_due_at: datetime | None
    stages: list[StageOut] = Field(description="the crop's stages so far, with their targets (the charts' bands)")


class LocationOut(BaseModel):
    location: str
    crop: BayCropOut | None = Field(description="the newest active crop there")
    open_alerts: int = Field(description="open or acknowledged alerts of the location's sensors and AC units")
    critical_alerts: int
    sensors: list[SensorTileOut]


class OverviewOut(BaseModel):
    generated_at: datetime
    locations: list[LocationOut]


@router.get("/caller", response_model=CallerOut, summary="Who the API key is (the dashboard's sign-in check)")
def who_is_calling(caller: Caller = Depends(current_caller)) -> CallerOut:
    return CallerOut(is_admin=caller.is_admin, client_id=caller.client_id, key_prefix=caller.prefix)


@router.get("/overview", response_model=OverviewOut,
            summary="Every location with its latest readings against the stage's band, stale sensors and open "
                    "alerts (one call instead of one per crop and profile)")
def overview(client_id: UUID = Depends(acting_client), session: Session = Depends(db_session)) -> dict[str, Any]:
    return farm_overview(session, client_id, datetime.now(UTC))
