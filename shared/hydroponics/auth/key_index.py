"""The API-key index in DynamoDB: ingest authenticates against it without touching PostgreSQL.

PostgreSQL's `api_keys` table is the record (who, when, revoked); this index holds only the
hashes of active keys. A key is added to the index before its row is committed and removed from
it before the row is marked revoked, so a revoked key stops working at once.
"""

from uuid import UUID

from hydroponics.auth.caller import Caller
from hydroponics.auth.keys import hash_key
from hydroponics.aws import client
from hydroponics.settings import get_settings


def _table() -> str:
    table = get_settings().api_keys_table
    if not table:
        raise RuntimeError("API_KEYS_TABLE is not configured")
    return table


def put_key(key_hash: str, prefix: str, client_id: UUID | None, *, is_admin: bool = False,
            rate_limits: dict[str, int] | None = None) -> None:
    item = {"key_hash": {"S": key_hash}, "prefix": {"S": prefix}, "is_admin": {"BOOL": is_admin},
            "rate_limits": {"M": {name: {"N": str(int(v))} for name, v in (rate_limits or {}).items()}}}
    if client_id is not None:
        item["client_id"] = {"S": str(client_id)}
    client("dynamodb").put_item(TableName=_table(), Item=item)


def remove_key(key_hash: str) -> None:
    client("dynamodb").delete_item(TableName=_table(), Key={"key_hash": {"S": key_hash}})


def lookup(secret: str) -> Caller | None:
    """The caller an active key stands for, or None (strongly consistent: revocation is immediate)."""
    key_hash = hash_key(secret)
    item = client("dynamodb").get_item(TableName=_table(), Key={"key_hash": {"S": key_hash}},
                                       ConsistentRead=True).get("Item")
    if not item:
        return None
    return Caller(
        key_hash=key_hash,
        prefix=item["prefix"]["S"],
        client_id=UUID(item["client_id"]["S"]) if "client_id" in item else None,
        is_admin=item.get("is_admin", {}).get("BOOL", False),
        rate_limits={name: int(v["N"]) for name, v in item.get("rate_limits", {}).get("M", {}).items()},
    )
