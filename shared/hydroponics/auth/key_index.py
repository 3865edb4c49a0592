"""The API-key index in DynamoDB: one call authenticates a request and counts it against its limit.

PostgreSQL's `api_keys` table is the record (who, when, revoked); this index holds one item per
active key, by hash. A key is added to the index before its row is committed and removed from it
before the row is marked revoked, so a revoked key stops working at once: every request is a
conditional UpdateItem on the key's own item (DynamoDB writes are always strongly consistent), and
the condition fails as soon as the item is gone.

The same UpdateItem counts the request: the item carries, per limit name, the start of the current
one-minute window (`rl_<limit>_window`) and the hits in it (`rl_<limit>_hits`), and returns the whole
item (the caller's identity, its limits and the new count). The first request of a minute finds an
older window and takes a second call that starts the new one.

`_USABLE` is what makes a key usable (its item exists and is active). Scopes and expiry, when
keys get them, add their terms there and in `_usable()`, e.g.
`AND (attribute_not_exists(expires_at) OR expires_at > :now) AND contains(scopes, :scope)`, and
the check stays in the same single call.
"""

import time
from dataclasses import dataclass
from uuid import UUID

from hydroponics.auth.caller import Caller
from hydroponics.auth.keys import hash_key
from hydroponics.aws import client
from hydroponics.ratelimit import WINDOW_SECONDS
from hydroponics.settings import get_settings

_USABLE = "active = :yes"
_ATTEMPTS = 3  # window roll-overs racing with other containers; each retry is a cheaper path


@dataclass(frozen=True)
class Counted:
    """An authenticated request: who it is, and its hits in the current window of the counted limit."""

    caller: Caller
    hits: int
    window_start: int  # epoch seconds


def _table() -> str:
    table = get_settings().api_keys_table
    if not table:
        raise RuntimeError("API_KEYS_TABLE is not configured")
    return table


def put_key(key_hash: str, prefix: str, client_id: UUID | None, *, is_admin: bool = False,
            rate_limits: dict[str, int] | None = None, client_alias: str | None = None) -> None:
    """Add (or refresh) an active key; its counters survive a refresh (e.g. new client limits).
    `client_alias` is another X-Client-Id its devices may send (a legacy device's integer client id)."""
    values = {":prefix": {"S": prefix}, ":admin": {"BOOL": is_admin}, ":yes": {"BOOL": True},
              ":limits": {"M": {name: {"N": str(int(v))} for name, v in (rate_limits or {}).items()}}}
    update = "SET prefix = :prefix, is_admin = :admin, rate_limits = :limits, active = :yes"
    if client_id is not None:
        values[":client"] = {"S": str(client_id)}
        update += ", client_id = :client"
    else:
        update += " REMOVE client_id"
    if client_alias is not None:
        values[":alias"] = {"S": client_alias}
        update += ", client_alias = :alias"
    client("dynamodb").update_item(TableName=_table(), Key={"key_hash": {"S": key_hash}},
                                   UpdateExpression=update, ExpressionAttributeValues=values)


def remove_key(key_hash: str) -> None:
    client("dynamodb").delete_item(TableName=_table(), Key={"key_hash": {"S": key_hash}})


def _caller(key_hash: str, item: dict) -> Caller:
    return Caller(
        key_hash=key_hash,
        prefix=item["prefix"]["S"],
        client_id=UUID(item["client_id"]["S"]) if "client_id" in item else None,
        is_admin=item.get("is_admin", {}).get("BOOL", False),
        rate_limits={name: int(v["N"]) for name, v in item.get("rate_limits", {}).get("M", {}).items()},
        client_alias=item["client_alias"]["S"] if "client_alias" in item else None,
    )


def _usable(item: dict | None) -> bool:
    """The same test as `_USABLE`, on an item DynamoDB handed back with a failed condition."""
    return bool(item) and item.get("active", {}).get("BOOL", False)


def lookup(secret: str) -> Caller | None:
    """The caller an active key stands for, or None, without counting (strongly consistent)."""
    key_hash = hash_key(secret)
    item = client("dynamodb").get_item(TableName=_table(), Key={"key_hash": {"S": key_hash}},
                                       ConsistentRead=True).get("Item")
    return _caller(key_hash, item) if _usable(item) else None


def _conditional_update(key_hash: str, update: str, condition: str, names: dict, values: dict) -> tuple[dict | None, dict | None]:
    """(the item after the update, None), or (None, the item as it was) when the condition failed."""
    dynamodb = client("dynamodb")
    try:
        reply = dynamodb.update_item(
            TableName=_table(), Key={"key_hash": {"S": key_hash}}, UpdateExpression=update,
            ConditionExpression=condition, ExpressionAttributeNames=names,
            ExpressionAttributeValues=values | {":yes": {"BOOL": True}},
            ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
    except dynamodb.exceptions.ConditionalCheckFailedException as exc:
        return None, exc.response.get("Item")
    return reply["Attributes"], None


def authenticate(secret: str, limit: str, now: float | None = None) -> Counted | None:
    """The caller behind `secret` with this request counted against `limit`, or None for a key that is
    unknown, revoked or otherwise unusable (nothing is counted then). One DynamoDB call, two at the
    first request of a window."""
    now = time.time() if now is None else now
    key_hash = hash_key(secret)
    window = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
    names = {"#w": f"rl_{limit}_window", "#h": f"rl_{limit}_hits"}
    for _ in range(_ATTEMPTS):
        item, old = _conditional_update(key_hash, "ADD #h :one", f"{_USABLE} AND #w = :window", names,
                                        {":one": {"N": "1"}, ":window": {"N": str(window)}})
        if item is None:
            if not _usable(old):
                return None
            current = int(old.get(names["#w"], {}).get("N", 0))
            if current >= window:  # another container is already counting in this (or a later) window
                window = current
                continue
            item, old = _conditional_update(key_hash, "SET #w = :window, #h = :one",
                                            f"{_USABLE} AND (attribute_not_exists(#w) OR #w < :window)", names,
                                            {":one": {"N": "1"}, ":window": {"N": str(window)}})
            if item is None:
                if not _usable(old):
                    return None
                continue  # a concurrent request started the window first: count in it
        return Counted(_caller(key_hash, item), int(item[names["#h"]]["N"]), int(item[names["#w"]]["N"]))
    raise RuntimeError(f"could not count a request against {limit} after {_ATTEMPTS} attempts")
