"""The platform's secrets at rest: which columns are sealed, the context binding each to its record, and re-sealing.

Sealed (hydroponics/envelope.py): a notification channel's target (`notification_channels.target_sealed`:
the Apprise URL with its SMTP password or webhook token, or the SMS phone number) and an AC unit's
controller secret (`ac_units.secret_sealed`: the HMAC key its commands and callbacks are signed with).
Each is bound to its client and its record, so a sealed value moved to another row does not open.
"""

import argparse
import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from hydroponics import envelope


def channel_target_context(client_id: uuid.UUID | str, channel_id: uuid.UUID | str) -> dict[str, str]:
    return {"record": "notification_channels.target", "client_id": str(client_id), "channel_id": str(channel_id)}


def unit_secret_context(client_id: uuid.UUID | str, unit_id: uuid.UUID | str) -> dict[str, str]:
    return {"record": "ac_units.secret", "client_id": str(client_id), "ac_unit_id": str(unit_id)}


def seal_channel_target(client_id: uuid.UUID | str, channel_id: uuid.UUID | str, target: str) -> dict[str, Any]:
    return envelope.seal(target, channel_target_context(client_id, channel_id))


def channel_target(client_id: uuid.UUID | str, channel_id: uuid.UUID | str, sealed: dict[str, Any]) -> str:
    """The channel's secret target (for delivery only: never logged, never returned)."""
    return envelope.unseal(sealed, channel_target_context(client_id, channel_id))


def seal_unit_secret(client_id: uuid.UUID | str, unit_id: uuid.UUID | str, secret: str | None) -> dict[str, Any] | None:
    return None if secret is None else envelope.seal(secret, unit_secret_context(client_id, unit_id))


def unit_secret(unit: Any) -> str | None:
    """The controller secret of an AC unit row (`client_id`, `id`, `secret_sealed`); None for a unit without one."""
    if unit.secret_sealed is None:
        return None
    return envelope.unseal(unit.secret_sealed, unit_secret_context(unit.client_id, unit.id))


# (table, sealed column, id column of the context, context builder)
SEALED_COLUMNS = (
    ("notification_channels", "target_sealed", channel_target_context),
    ("ac_units", "secret_sealed", unit_secret_context),
)


def reseal(connection: Connection, key_id: str) -> dict[str, int]:
    """Seal again, under the configured key, every secret whose data key another key wrapped (`key_id` is
    the configured key's ARN); rows already under it are left alone. Rows per table re-sealed."""
    counts = {}
    for table, column, context in SEALED_COLUMNS:
        rows = connection.execute(text(
            f"SELECT id, client_id, {column} AS sealed FROM {table}"
            f" WHERE {column} IS NOT NULL AND {column}->>'key_id' IS DISTINCT FROM :key_id FOR UPDATE"),
            {"key_id": key_id}).all()
        for row in rows:
            bound = context(row.client_id, row.id)
            connection.execute(text(f"UPDATE {table} SET {column} = CAST(:sealed AS jsonb) WHERE id = :id"),
                               {"id": row.id, "sealed": json.dumps(envelope.seal(envelope.unseal(row.sealed, bound), bound))})
        counts[table] = len(rows)
    return counts


def main(argv: list[str] | None = None) -> None:
    """`python -m hydroponics.sealed_secrets reseal`: after SECRETS_KEY_ID names a new key."""
    parser = argparse.ArgumentParser(prog="python -m hydroponics.sealed_secrets", description=main.__doc__)
    parser.add_argument("command", choices=["reseal"])
    parser.parse_args(argv)
    from hydroponics.aws import client
    from hydroponics.db.engine import get_engine
    from hydroponics.settings import get_settings

    key = get_settings().secrets_key_id
    if not key:
        raise SystemExit("set SECRETS_KEY_ID to the KMS key new secrets are sealed with")
    key_arn = client("kms").describe_key(KeyId=key)["KeyMetadata"]["Arn"]
    with get_engine().begin() as connection:
        print(reseal(connection, key_arn))


if __name__ == "__main__":
    main()
