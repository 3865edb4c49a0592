"""Notification channels: CRUD per client (secrets in, masked hints out) and a synchronous test send."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.api.changes import Changes
from hydroponics.api.deps import acting_client, actor_of, client_rate_limited, current_caller, rate_limited
from hydroponics.api.errors import error_body
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.events import record_event
from hydroponics.notifications import channels
from hydroponics.notifications.delivery import deliver
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.text import JsonObject, display_name, free_text, identifier

api_limit = rate_limited("api")
test_limit = client_rate_limited("channel_test")  # each test connects out at once: a few a minute per client
router = APIRouter(prefix="/api/channels", tags=["notification channels"], dependencies=[Depends(api_limit)])

Name = identifier(100)
Kind = Literal["email", "slack", "teams", "webhook", "sms"]
CONFIG_HELP = ("kind-specific; secrets (SMTP password, webhook URLs, headers, phone number) are stored and never "
               "returned. email: {to: [..], smtp_host, smtp_port?, security: starttls|ssl|none, username?, "
               "password?, from?}; slack: {url}; teams: {url} (a Teams Workflows webhook); webhook: {url, headers?} "
               "(JSON POST); sms: {phone_number} (E.164)")
CAP_HELP = "at most this many messages an hour; the rest are held and sent as one digest (null: no cap)"


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": f"ops-{kind}", "kind": kind, "config": example} for kind, example in channels.EXAMPLES.items()]})

    name: Name = Field(description="what rules and escalation levels call it (unique per client)")
    kind: Kind
    config: JsonObject = Field(description=CONFIG_HELP)
    hourly_cap: int | None = Field(None, ge=1, le=100_000, description=CAP_HELP)
    is_enabled: bool = True


class ChannelChanges(Changes):
    """Only the fields sent change; `config` replaces the whole config (secrets included) of the same kind."""

    not_null = ("name", "config", "is_enabled")

    name: Name = None
    config: JsonObject = Field(None, description=CONFIG_HELP)
    hourly_cap: int | None = Field(None, ge=1, le=100_000, description=CAP_HELP)
    is_enabled: bool = None


class ChannelOut(BaseModel):
    id: UUID
    name: str
    kind: str
    config: dict[str, Any] = Field(description="the non-secret part of the config (recipients, SMTP host, ...)")
    target_hint: str = Field(description="the secret target, masked", examples=["mailto://***@smtp.example.com"])
    is_enabled: bool
    hourly_cap: int | None
    created_at: datetime
    updated_at: datetime


class TestMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: display_name(200) = "Test notification"
    body: free_text(2000, min_length=1) = "This is a test message from the hydroponics platform."


class TestResultOut(BaseModel):
    notification_id: UUID = Field(description="the `test` row in the delivery log")
    status: Literal["sent"]
    sent_at: datetime


@router.post("", status_code=201, response_model=ChannelOut,
             summary="Create a channel (the config is checked by Apprise; secrets are never returned)")
def create_channel(body: Annotated[ChannelIn, Body()], client_id: UUID = Depends(acting_client),
                   caller: Caller = Depends(current_caller), session: Session = Depends(db_session)) -> Any:
    channel = channels.create_channel(session, client_id, body.name, body.kind, body.config, body.hourly_cap,
                                      body.is_enabled)
    record_event(session, "channel.created", client_id=client_id, actor=actor_of(caller), subject_type="channel",
                 subject_id=channel.id, details={"name": channel.name, "kind": channel.kind, "config": channel.config,
                                                 "target_hint": channel.target_hint,
                                                 "hourly_cap": channel.hourly_cap, "is_enabled": channel.is_enabled})
    return channel


@router.get("", response_model=Page[ChannelOut], summary="The client's channels by name")
def list_channels(page: Annotated[PageRequest, Query()], kind: Kind | None = None,
                  client_id: UUID = Depends(acting_client), session: Session = Depends(db_session)) -> Any:
    return channels.list_channels(session, client_id, page, kind)


@router.get("/{channel_id}", response_model=ChannelOut, summary="One channel")
def get_channel(channel_id: UUID, client_id: UUID = Depends(acting_client),
                session: Session = Depends(db_session)) -> Any:
    return channels.get_channel(session, client_id, channel_id)


@router.patch("/{channel_id}", response_model=ChannelOut,
              summary="Rename, enable/disable, change the cap, or replace the config (kind cannot change)")
def update_channel(channel_id: UUID, body: ChannelChanges, client_id: UUID = Depends(acting_client),
                   caller: Caller = Depends(current_caller), session: Session = Depends(db_session)) -> Any:
    channel, changed = channels.update_channel(session, client_id, channel_id, body.model_dump(exclude_unset=True))
    if changed:
        record_event(session, "channel.updated", client_id=client_id, actor=actor_of(caller),
                     subject_type="channel", subject_id=channel_id, details={"changes": changed})
    return channel


@router.delete("/{channel_id}", status_code=204, response_class=Response,
               summary="Delete a channel and its delivery log (rules naming it skip it)")
def delete_channel(channel_id: UUID, client_id: UUID = Depends(acting_client),
                   caller: Caller = Depends(current_caller), session: Session = Depends(db_session)) -> Response:
    channel = channels.delete_channel(session, client_id, channel_id)
    record_event(session, "channel.deleted", client_id=client_id, actor=actor_of(caller), subject_type="channel",
                 subject_id=channel_id, details={"name": channel.name, "kind": channel.kind})
    return Response(status_code=204)


@router.post("/{channel_id}/test", response_model=TestResultOut, dependencies=[Depends(test_limit)],
             responses={502: {"description": "the channel refused or could not be reached, or the outbound policy "
                                             "refused its target; the reason is given (and recorded on the `test` "
                                             "row)"}},
             summary="Send a test message now, through the channel (recorded in the delivery log)")
def test_channel(channel_id: UUID, body: TestMessageIn | None = None, client_id: UUID = Depends(acting_client),
                 caller: Caller = Depends(current_caller), session: Session = Depends(db_session)) -> Any:
    message = body or TestMessageIn()
    channel = channels.load_channel(session, client_id, channel_id)
    result = deliver(channel.kind, channels.open_target(channel), message.subject, message.body)
    row = session.execute(text("""
        INSERT INTO notifications (client_id, channel_id, idempotency_key, kind, status, attempts, last_error,
                                   subject, body, sent_at)
        VALUES (:client_id, :channel_id, :key, 'test', :status, 1, :error, :subject, :body,
                CASE WHEN :ok THEN now() END)
        RETURNING id, sent_at"""), {
        "client_id": client_id, "channel_id": channel_id, "key": f"test:{channel_id}:{uuid.uuid4()}",
        "status": "sent" if result.ok else "failed", "error": result.error, "subject": message.subject,
        "body": message.body, "ok": result.ok}).one()
    record_event(session, "channel.tested", client_id=client_id, actor=actor_of(caller), subject_type="channel",
                 subject_id=channel_id, details={"notification_id": row.id, "ok": result.ok, "error": result.error})
    if not result.ok:  # answered, not raised: the test row and the event are kept
        return JSONResponse(error_body("channel_failed", "the channel did not accept the test message",
                                       [{"field": "channel", "reason": result.error}]), 502)
    return {"notification_id": row.id, "status": "sent", "sent_at": row.sent_at}
