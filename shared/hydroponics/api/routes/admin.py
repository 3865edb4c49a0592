"""Platform operations (admin keys only): messages that ended on a dead-letter queue, redrive or discard."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hydroponics.api.deps import actor_of, rate_limited, require_admin
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.events import record_event
from hydroponics import dead_letters
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.text import identifier

api_limit = rate_limited("api")
router = APIRouter(prefix="/admin/failed-tasks", tags=["admin"], dependencies=[Depends(api_limit)])


class FailedTaskOut(BaseModel):
    id: UUID
    source_queue: str = Field(description="the work queue the message came from (where a retry sends it)")
    message_id: str | None
    body: str
    error: str | None = Field(description="the last error (a notification's last delivery error; the database's "
                                          "reason for a reading refused at once)")
    refusal_code: str | None = Field(description="set when the message was dead-lettered at once as never "
                                                  "storable: the database's SQLSTATE, or `unreadable`")
    attributes: dict[str, Any] = Field(description="SQS attributes: receive count, MessageGroupId (FIFO), the DLQ")
    failed_at: datetime
    status: str = Field(description="failed, redriven or discarded")
    resolved_at: datetime | None


def _event(session: Session, caller: Caller, task: dead_letters.FailedTaskRecord, action: str) -> None:
    record_event(session, f"failed_task.{action}", client_id=None, actor=actor_of(caller), subject_type="failed_task",
                 subject_id=task.id, details={"source_queue": task.source_queue, "message_id": task.message_id})


@router.get("", response_model=Page[FailedTaskOut], summary="Messages that ended on a dead-letter queue, newest first")
def list_failed_tasks(page: Annotated[PageRequest, Query()],
                      status: Literal["failed", "redriven", "discarded"] | None = None,
                      source_queue: Annotated[identifier(2000) | None, Query()] = None,
                      _: Caller = Depends(require_admin), session: Session = Depends(db_session)) -> Any:
    return dead_letters.list_failed_tasks(session, page, status, source_queue)


@router.get("/{task_id}", response_model=FailedTaskOut, summary="One failed task")
def get_failed_task(task_id: UUID, _: Caller = Depends(require_admin),
                    session: Session = Depends(db_session)) -> Any:
    return dead_letters.get_failed_task(session, task_id)


@router.post("/{task_id}/retry", response_model=FailedTaskOut,
             summary="Send the message back to its work queue (409 unless failed); a notification is then "
                     "delivered once")
def retry_failed_task(task_id: UUID, caller: Caller = Depends(require_admin),
                      session: Session = Depends(db_session)) -> Any:
    task = dead_letters.retry(session, task_id)
    _event(session, caller, task, "redriven")
    return task


@router.post("/{task_id}/discard", response_model=FailedTaskOut, summary="Give up on the message (409 unless failed)")
def discard_failed_task(task_id: UUID, caller: Caller = Depends(require_admin),
                        session: Session = Depends(db_session)) -> Any:
    task = dead_letters.discard(session, task_id)
    _event(session, caller, task, "discarded")
    return task
