"""Clients: register (admin; with a first API key, shown once), list with counts, read, update, deactivate."""

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hydroponics.api.changes import Changes
from hydroponics.api.deps import actor_of, current_caller, ip_rate_limited, rate_limited, require_admin
from hydroponics.api.routes.keys import IssuedKeyOut, KeyOut
from hydroponics.api.session import db_session
from hydroponics.auth.caller import Caller
from hydroponics.errors import Forbidden, NotFound
from hydroponics.events import record_event
from hydroponics.records import clients
from hydroponics.records.events import changes
from hydroponics.records.pagination import Page, PageRequest
from hydroponics.retention.horizons import MAX_DAYS, MIN_DAYS
from hydroponics.text import display_name, identifier

api_limit = rate_limited("api")
signup_limit = ip_rate_limited("create_client")
router = APIRouter(prefix="/api/clients", tags=["clients"], dependencies=[Depends(api_limit)])

Name = display_name(200)
Email = identifier(254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LimitName = identifier(50)
LIMITS_HELP = "per-minute overrides of the default rate limits by name (api, ingest, query, ...)"


class NewClient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    contact_email: Email | None = None
    rate_limits: dict[LimitName, int] = Field(default_factory=dict, description=LIMITS_HELP)


class ClientChanges(Changes):
    """Only the fields sent change; name and rate_limits cannot be null (a null limit drops that override)."""

    name: Name = None
    contact_email: Email | None = None
    rate_limits: dict[LimitName, int | None] = Field(None, description=LIMITS_HELP + "; null drops one (admin only)")
    retention_days: int | None = Field(None, ge=MIN_DAYS, le=MAX_DAYS,
                                       description="days its readings stay in PostgreSQL before they are archived "
                                                   "(admin only; null: the platform's horizon, 90 by default)")


class ClientOut(BaseModel):
    id: UUID
    name: str
    contact_email: str | None
    is_active: bool
    rate_limits: dict[str, int]
    created_at: datetime
    updated_at: datetime
    sensor_count: int = Field(description="active sensors")
    active_crop_count: int
    retention_days: int | None = Field(None, description="its own readings horizon in days (null: the platform's)")


class RegisteredClientOut(ClientOut):
    api_key: IssuedKeyOut = Field(description="the client's first API key: its `key` is shown this once")


def visible(caller: Caller, client_id: UUID) -> None:
    """Admins see every client, a client only itself (others' ids are 404, as if they did not exist)."""
    if not caller.is_admin and caller.client_id != client_id:
        raise NotFound(f"client {client_id} not found")


@router.post("", status_code=201, response_model=RegisteredClientOut, dependencies=[Depends(signup_limit)],
             summary="Register a client and issue its first API key (admin; the key is shown once)")
def register(body: NewClient, caller: Caller = Depends(require_admin),
             session: Session = Depends(db_session)) -> dict[str, Any]:
    client, key_record, key = clients.register_client(session, body.name, body.contact_email, body.rate_limits)
    actor = actor_of(caller)
    record_event(session, "client.created", client_id=client.id, actor=actor, subject_type="client",
                 subject_id=client.id, details={"name": client.name, "rate_limits": client.rate_limits})
    record_event(session, "api_key.created", client_id=client.id, actor=actor, subject_type="api_key",
                 subject_id=key_record.id, details={"name": key_record.name, "prefix": key.prefix})
    return asdict(client) | {"api_key": KeyOut.of(key_record).model_dump() | {"key": key.secret}}


@router.get("", response_model=Page[ClientOut],
            summary="List clients by name, with sensor and active-crop counts (admin)")
def list_clients(page: Annotated[PageRequest, Query()], is_active: bool | None = None,
                 _: Caller = Depends(require_admin), session: Session = Depends(db_session)) -> Page:
    return clients.list_clients(session, page, is_active=is_active)


@router.get("/{client_id}", response_model=ClientOut, summary="A client (admin, or the client itself)")
def get_client(client_id: UUID, caller: Caller = Depends(current_caller),
               session: Session = Depends(db_session)) -> clients.ClientRecord:
    visible(caller, client_id)
    return clients.get_client(session, client_id)


@router.patch("/{client_id}", response_model=ClientOut,
              summary="Change name, contact email or rate limits (limits: admin only; the key index follows at once)")
def update_client(client_id: UUID, body: ClientChanges, caller: Caller = Depends(current_caller),
                  session: Session = Depends(db_session)) -> clients.ClientRecord:
    visible(caller, client_id)
    given = body.model_dump(exclude_unset=True)
    if "rate_limits" in given and not caller.is_admin:
        raise Forbidden("changing rate limits needs an admin key")
    if "retention_days" in given and not caller.is_admin:
        raise Forbidden("changing the retention horizon needs an admin key")
    client, previous = clients.update_client(session, client_id, given)
    now = {field: getattr(client, field) for field in previous}
    record_event(session, "client.updated", client_id=client_id, actor=actor_of(caller), subject_type="client",
                 subject_id=client_id, details={"changes": changes(previous, now)})
    return client


@router.delete("/{client_id}", response_model=ClientOut,
               summary="Deactivate a client (admin); its API keys are revoked at once")
def deactivate_client(client_id: UUID, caller: Caller = Depends(require_admin),
                      session: Session = Depends(db_session)) -> clients.ClientRecord:
    client, revoked = clients.deactivate_client(session, client_id)
    record_event(session, "client.deactivated", client_id=client_id, actor=actor_of(caller), subject_type="client",
                 subject_id=client_id, details={"revoked_key_prefixes": revoked})
    return client
