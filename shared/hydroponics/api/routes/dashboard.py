"""The operator dashboard: the page at /dashboard, its static files, and the aggregates it reads
(who the key is, the farm overview, the health strip). Everything else the page shows comes from the REST API."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hydroponics.api.deps import acting_client, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller, Scope
from hydroponics.dashboard import files
from hydroponics.dashboard.overview import Status, farm_overview
from hydroponics.dashboard.status import platform_status

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/dashboard", tags=["dashboard"], dependencies=[Depends(api_limit)])


def mount_dashboard(app: FastAPI, responses: dict | None = None) -> None:
    """The aggregates, and the page with its files (the api function's handler serves those without FastAPI)."""
    app.include_router(router, responses=responses)
    app.router.routes.extend(files.routes())


class CallerOut(BaseModel):
    scope: Scope = Field(description="device, operator or admin (the dashboard needs operator or admin)")
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
    return CallerOut(scope=caller.scope, is_admin=caller.is_admin, client_id=caller.client_id, key_prefix=caller.prefix)


@router.get("/overview", response_model=OverviewOut,
            summary="Every location with its latest readings against the stage's band, stale sensors and open "
                    "alerts (one call instead of one per crop and profile)")
def overview(client_id: UUID = Depends(acting_client), session: Session = Depends(db_session)) -> dict[str, Any]:
    return farm_overview(session, client_id, datetime.now(UTC))


class QueueOut(BaseModel):
    queue: str
    dead_letter: bool
    visible: int | None = Field(description="messages waiting (null when the queue could not be read)")
    in_flight: int | None = Field(description="received, not yet deleted")
    delayed: int | None
    reachable: bool


class JobRunOut(BaseModel):
    job: str
    last_run: datetime | None
    every_seconds: int | None = Field(description="the schedule's period (null: not a scheduled job)")
    overdue: bool = Field(description="its last run is older than two periods (a job that has not run yet is not overdue)")


class StatusOut(BaseModel):
    generated_at: datetime
    queues: list[QueueOut]
    jobs: list[JobRunOut]
    failed_tasks: int | None = Field(description="dead-lettered messages awaiting retry or discard "
                                                 "(/admin/failed-tasks); admin keys only, else null")


@router.get("/status", response_model=StatusOut,
            summary="The health strip: queue depths, dead letters and the last run of each scheduled job")
def status(caller: Caller = Depends(current_caller), session: Session = Depends(db_session)) -> dict[str, Any]:
    return platform_status(session, datetime.now(UTC), with_failed_tasks=caller.is_admin)
