"""Retention operations (admin keys only): dry run or start a run, the record of runs, the archive's months."""

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hydroponics.api.deps import actor_of, rate_limited, require_admin
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.retention import catalogue, requests, runs

api_limit = rate_limited("api")
router = APIRouter(prefix="/admin/retention", tags=["admin"], dependencies=[Depends(api_limit)])

RunStatus = Literal["queued", "running", "succeeded", "failed", "interrupted", "skipped"]


class RunOut(BaseModel):
    id: UUID
    status: RunStatus
    requested_by: str = Field(description="scheduler, cli, or the admin key's prefix")
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    readings_archived: int
    readings_deleted: int = Field(description="readings that left PostgreSQL (deleted, or with their partition)")
    events_archived: int
    events_deleted: int
    partitions_created: int
    partitions_dropped: int
    objects_written: int = Field(description="S3 objects written (data objects and manifests)")
    bytes_written: int = Field(description="bytes of the data objects written")
    steps: list[dict[str, Any]] = Field(description="each step done, in order")
    errors: list[dict[str, Any]]
    alert_id: UUID | None = Field(description="the critical alert a failed run opened (or counted on)")


class StepOut(BaseModel):
    table: Literal["readings", "events"]
    action: Literal["drop partition", "delete rows"]
    client_id: UUID | None
    month: date
    start: datetime
    end: datetime = Field(description="rows in [start, end) are archived, then removed")
    rows: int
    bytes: int = Field(description="their space in PostgreSQL (exact for a dropped partition, else estimated)")
    partition: str | None
    whole_partition: bool


class PlanOut(BaseModel):
    dry_run: Literal[True] = True
    horizons: dict[str, Any] = Field(description="days kept, cutoffs, and clients' own readings horizons")
    readings: dict[str, Any] = Field(description="rows, bytes, rows_deleted and the partitions that would be dropped")
    events: dict[str, Any]
    steps: list[StepOut]


class ArchivedMonthOut(BaseModel):
    table_name: str
    client_id: UUID | None
    month: date
    object_key: str
    row_count: int
    min_at: datetime | None
    max_at: datetime | None
    checksum: str
    bytes: int
    covered_until: datetime = Field(description="the month's rows before this moment are in the archive")


@router.post("/run", status_code=202, response_model=RunOut | PlanOut,
             responses={200: {"model": PlanOut, "description": "dry run: what a run would do now"},
                        202: {"model": RunOut, "description": "the run, queued for the retention function"},
                        409: {"description": "a run is already queued or running"}},
             summary="Dry run (dry_run=true: what would be archived and deleted, nothing changed) or start a run")
def run(dry_run: bool = Query(False, description="report only, change nothing"),
        caller: Caller = Depends(require_admin)) -> Any:
    if dry_run:
        return JSONResponse(PlanOut(**requests.dry_run().to_dict()).model_dump(mode="json"), status_code=200)
    return requests.request_run(actor_of(caller))


@router.get("/runs", response_model=Page[RunOut], summary="Retention runs, newest first")
def list_runs(page: Annotated[PageRequest, Query()], status: RunStatus | None = None,
              _: Caller = Depends(require_admin), session: Session = Depends(db_session)) -> Any:
    return runs.list_runs(session, page, status)


@router.get("/runs/{run_id}", response_model=RunOut, summary="One retention run")
def get_run(run_id: UUID, _: Caller = Depends(require_admin), session: Session = Depends(db_session)) -> Any:
    return runs.get_run(session, run_id)


@router.get("/archives", response_model=list[ArchivedMonthOut],
            summary="The archive's months of one client (readings) or of the platform's events without a client")
def list_archives(table: Literal["readings", "events"] = "readings",
                  client_id: Annotated[UUID | None, Query(description="omit for events without a client")] = None,
                  _: Caller = Depends(require_admin), session: Session = Depends(db_session)) -> Any:
    return catalogue.archived_months(session, table, client_id)
