"""API keys of the caller's client: issue (shown once), list (prefix only), revoke."""

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hydroponics.api.deps import acting_client, actor_of, current_caller, rate_limited
from hydroponics.api.session import db_session
from hydroponics.auth import api_keys
from hydroponics.auth.caller import Caller
from hydroponics.events import record_event
from hydroponics.text import display_name

api_limit = rate_limited("api")
router = APIRouter(prefix="/api/keys", tags=["api keys"], dependencies=[Depends(api_limit)])


class NewKey(BaseModel):
    name: display_name(100) = Field(description="what the key is for, e.g. 'bay A gateway'")


class KeyOut(BaseModel):
    id: UUID
    name: str
    prefix: str
    is_admin: bool
    created_at: datetime
    revoked_at: datetime | None


class IssuedKeyOut(KeyOut):
    key: str = Field(description="the key itself: shown this once, store it now")


@router.post("", status_code=201, response_model=IssuedKeyOut, summary="Issue a key (shown once)")
def issue(body: NewKey, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
          session: Session = Depends(db_session)) -> IssuedKeyOut:
    record, key = api_keys.create_api_key(session, client_id, body.name)
    record_event(session, "api_key.created", client_id=client_id, actor=actor_of(caller), subject_type="api_key",
                 subject_id=record.id, details={"name": body.name, "prefix": key.prefix})
    return IssuedKeyOut(**record.__dict__, key=key.secret)


@router.get("", response_model=list[KeyOut], summary="List the client's keys (prefix only)")
def list_keys(client_id: UUID = Depends(acting_client), session: Session = Depends(db_session)) -> list[KeyOut]:
    return [KeyOut(**k.__dict__) for k in api_keys.list_api_keys(session, client_id)]


@router.delete("/{key_id}", response_model=KeyOut, summary="Revoke a key; it stops working at once")
def revoke(key_id: UUID, client_id: UUID = Depends(acting_client), caller: Caller = Depends(current_caller),
           session: Session = Depends(db_session)) -> KeyOut:
    record = api_keys.revoke_api_key(session, client_id, key_id)
    record_event(session, "api_key.revoked", client_id=client_id, actor=actor_of(caller), subject_type="api_key",
                 subject_id=key_id, details={"prefix": record.prefix})
    return KeyOut(**record.__dict__)
