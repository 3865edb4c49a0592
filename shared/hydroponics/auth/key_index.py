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

`_USABLE` is what makes a key usable: its item exists, is active and has not expired
(`expires_at`, epoch seconds, compared to the request's `:now`), and `_refusal()` is the same test
on the item a failed condition hands back (ReturnValuesOnConditionCheckFailure), so telling an
expired key from an unknown one, or a new window from a refused key, needs no further call. The
same UpdateItem records the key's last use (`last_used`, epoch seconds); the keys listing reads it
from here, and revoking copies it to PostgreSQL. The key's scope (device, operator, admin) comes
back with the item and is enforced by the caller (api/deps.py), which answers 403, not 401, for a
valid key that may not do this.
"""

import time
from dataclasses import dataclass
from uuid import UUID

from hydroponics.auth.caller import Caller, Scope
from hydroponics.auth.keys import hash_key
from hydroponics.aws import client
from hydroponics.ratelimit import WINDOW_SECONDS
from hydroponics.settings import get_settings

_USABLE = "active = :yes AND (attribute_not_exists(expires_at) OR expires_at > :now)"
_ATTEMPTS = 3  # window roll-overs racing with other containers; each retry is a cheaper path


@dataclass(frozen=True)
class Counted:
    """An authenticated request: who it is, and its hits in the current window of the counted limit."""

    caller: Caller
    hits: int
    window_start: int  # epoch seconds


class KeyRefused(Exception):
    """The key is unknown, revoked or expired: `reason` says which, for the 401's message."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


UNKNOWN = "invalid or revoked API key"
EXPIRED = "API key expired"


def _table() -> str:
    table = get_settings().api_keys_table
    if not table:
        raise RuntimeError("API_KEYS_TABLE is not configured")
    return table


def put_key(key_hash: str, prefix: str, client_id: UUID | None, *, scope: Scope = "operator",
            expires_at: float | None = None, rate_limits: dict[str, int] | None = None,
            last_used: float | None = None, client_alias: str | None = None) -> None:
    """Add (or refresh) an active key; its counters and last use survive a refresh (e.g. new client
    limits); `last_used` (from PostgreSQL, when the index is rebuilt) is kept only if the item has none;
    `client_alias` is another X-Client-Id its devices may send (a legacy device's integer client id)."""
    values = {":prefix": {"S": prefix}, ":scope": {"S": scope}, ":yes": {"BOOL": True},
              ":limits": {"M": {name: {"N": str(int(v))} for name, v in (rate_limits or {}).items()}}}
    sets = ["prefix = :prefix", "#scope = :scope", "rate_limits = :limits", "active = :yes"]
    removes = ["is_admin"]  # items written before keys had scopes said admin with it
    for attribute, value, kind in (("client_id", client_id and str(client_id), "S"),
                                   ("expires_at", expires_at and _epoch(expires_at), "N"),
                                   ("client_alias", client_alias, "S")):
        if value is None:
            removes.append(attribute)
        else:
            values[f":{attribute}"] = {kind: value}
            sets.append(f"{attribute} = :{attribute}")
    if last_used is not None:
        values[":last_used"] = {"N": _epoch(last_used)}
        sets.append("last_used = if_not_exists(last_used, :last_used)")
    client("dynamodb").update_item(TableName=_table(), Key={"key_hash": {"S": key_hash}},
                                   UpdateExpression=f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
                                   ExpressionAttributeNames={"#scope": "scope"}, ExpressionAttributeValues=values)


def _epoch(seconds: float) -> str:
    return f"{seconds:.3f}"


def remove_key(key_hash: str) -> float | None:
    """Take a key out of the index; its last use (epoch seconds), read from the deleted item, or None."""
    old = client("dynamodb").delete_item(TableName=_table(), Key={"key_hash": {"S": key_hash}},
                                         ReturnValues="ALL_OLD").get("Attributes", {})
    return last_used_of(old)


def last_used_of(item: dict) -> float | None:
    return float(item["last_used"]["N"]) if "last_used" in item else None


def last_uses(key_hashes: list[str]) -> dict[str, float]:
    """Each key's last use (epoch seconds) by hash, for the keys that have been used (strongly
    consistent; one BatchGetItem per 100 keys)."""
    dynamodb, found = client("dynamodb"), {}
    for start in range(0, len(key_hashes), 100):
        pending = {_table(): {"Keys": [{"key_hash": {"S": h}} for h in key_hashes[start:start + 100]],
                              "ProjectionExpression": "key_hash, last_used", "ConsistentRead": True}}
        while pending:
            reply = dynamodb.batch_get_item(RequestItems=pending)
            for item in reply.get("Responses", {}).get(_table(), []):
                if (used := last_used_of(item)) is not None:
                    found[item["key_hash"]["S"]] = used
            pending = reply.get("UnprocessedKeys") or {}
    return found


def _scope(item: dict) -> Scope:
    if "scope" in item:
        return item["scope"]["S"]
    return "admin" if item.get("is_admin", {}).get("BOOL", False) else "operator"  # items from before scopes


def _caller(key_hash: str, item: dict) -> Caller:
    return Caller(
        key_hash=key_hash,
        prefix=item["prefix"]["S"],
        client_id=UUID(item["client_id"]["S"]) if "client_id" in item else None,
        scope=_scope(item),
        rate_limits={name: int(v["N"]) for name, v in item.get("rate_limits", {}).get("M", {}).items()},
        client_alias=item["client_alias"]["S"] if "client_alias" in item else None,
    )


def _refusal(item: dict | None, now: float) -> str | None:
    """The same test as `_USABLE`, on an item DynamoDB handed back with a failed condition: why the
    key may not be used, or None if it may."""
    if not item or not item.get("active", {}).get("BOOL", False):
        return UNKNOWN
    if "expires_at" in item and float(item["expires_at"]["N"]) <= now:
        return EXPIRED
    return None


def lookup(secret: str, now: float | None = None) -> Caller:
    """The caller a usable key stands for, without counting (strongly consistent); KeyRefused otherwise."""
    key_hash = hash_key(secret)
    item = client("dynamodb").get_item(TableName=_table(), Key={"key_hash": {"S": key_hash}},
                                       ConsistentRead=True).get("Item")
    if reason := _refusal(item, time.time() if now is None else now):
        raise KeyRefused(reason)
    return _caller(key_hash, item)


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


def authenticate(secret: str, limit: str, now: float | None = None) -> Counted:
    """The caller behind `secret` with this request counted against `limit` and its last use set to
    now; KeyRefused for a key that is unknown, revoked or expired (nothing is counted or written then).
    One DynamoDB call, two at the first request of a window."""
    now = time.time() if now is None else now
    key_hash = hash_key(secret)
    window = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
    names = {"#w": f"rl_{limit}_window", "#h": f"rl_{limit}_hits"}
    for _ in range(_ATTEMPTS):
        values = {":one": {"N": "1"}, ":window": {"N": str(window)}, ":now": {"N": _epoch(now)}}
        item, old = _conditional_update(key_hash, "SET last_used = :now ADD #h :one", f"{_USABLE} AND #w = :window",
                                        names, values)
        if item is None:
            if reason := _refusal(old, now):
                raise KeyRefused(reason)
            current = int(old.get(names["#w"], {}).get("N", 0))
            if current >= window:  # another container is already counting in this (or a later) window
                window = current
                continue
            item, old = _conditional_update(key_hash, "SET #w = :window, #h = :one, last_used = :now",
                                            f"{_USABLE} AND (attribute_not_exists(#w) OR #w < :window)", names, values)
            if item is None:
                if reason := _refusal(old, now):
                    raise KeyRefused(reason)
                continue  # a concurrent request started the window first: count in it
        return Counted(_caller(key_hash, item), int(item[names["#h"]]["N"]), int(item[names["#w"]]["N"]))
    raise RuntimeError(f"could not count a request against {limit} after {_ATTEMPTS} attempts")
