"""API keys of the caller's client: issue (shown once; a scope, maybe an expiry), list (prefix, scope,
expiry, last use; never the key), revoke."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from hydroponics.api.deps import acting_client, actor_of, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth import api_keys
from hydroponics.auth.api_keys import MAX_LIFETIME
from hydroponics.auth.caller import Caller, Scope
from hydroponics.errors import Forbidden
from hydroponics.events import record_event
from hydroponics.text import display_name

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/keys", tags=["api keys"], dependencies=[Depends(api_limit)])


SCOPE_HELP = ("device: may only post readings (POST /api/data); operator: reads and manages the farm, and "
              "posts readings; admin: the platform too (only an admin key may issue one)")


class NewKey(BaseModel):
    name: display_name(100) = Field(description="what the key is for, e.g. 'bay A gateway'")
    scope: Literal["device", "operator", "admin"] = Field("operator", description=SCOPE_HELP)
    expires_at: AwareDatetime | None = Field(None, description=f"when the key stops working (401 after): in the "
                                                                f"future, at most {MAX_LIFETIME.days} days ahead; "
                                                                f"none: until revoked")


class KeyOut(BaseModel):
    id: UUID
    name: str
    prefix: str
    scope: Scope = Field(description=SCOPE_HELP)
    is_admin: bool = Field(description="scope is admin")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="the last request it authenticated (null: never used)")
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: api_keys.ApiKeyRecord) -> "KeyOut":
        return cls(**vars(record), is_admin=record.is_admin)


class IssuedKeyOut(KeyOut):
    key: str = Field(description="the key itself: shown this once, store it now")


@router.post("", status_code=201, response_model=IssuedKeyOut,
             summary="Issue a key (shown once) with a scope (device, operator; admin by an admin) and maybe an expiry")
def issue(body: NewKey, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
          session: Session = Depends(db_session)) -> IssuedKeyOut:
    if body.scope == "admin" and not caller.is_admin:
        raise Forbidden("only an admin key may issue an admin key")
    record, key = api_keys.create_api_key(session, client_id, body.name, scope=body.scope, expires_at=body.expires_at)
    record_event(session, "api_key.created", client_id=client_id, actor=actor_of(caller), subject_type="api_key",
                 subject_id=record.id, details={"name": body.name, "prefix": key.prefix, "scope": body.scope,
                                                "expires_at": body.expires_at and body.expires_at.isoformat()})
    return IssuedKeyOut(**KeyOut.of(record).model_dump(), key=key.secret)


@router.get("", response_model=list[KeyOut], summary="List the client's keys: prefix, scope, expiry, last use (never the key)")
def list_keys(client_id: UUID = Depends(acting_client), session: Session = Depends(db_session)) -> list[KeyOut]:
    return [KeyOut.of(k) for k in api_keys.list_api_keys(session, client_id)]


@router.delete("/{key_id}", response_model=KeyOut, summary="Revoke a key; it stops working at once")
def revoke(key_id: UUID, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
           session: Session = Depends(db_session)) -> KeyOut:
    record = api_keys.revoke_api_key(session, client_id, key_id)
    record_event(session, "api_key.revoked", client_id=client_id, actor=actor_of(caller), subject_type="api_key",
                 subject_id=key_id, details={"prefix": record.prefix})
    return KeyOut.of(record)
