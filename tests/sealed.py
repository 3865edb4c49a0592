"""Channel rows for tests that write them directly: the target sealed as the platform seals it (needs the key)."""

import json
import uuid
from typing import Any

from hydroponics.db.models import NotificationChannel
from hydroponics.notifications.channels import target_hint
from hydroponics.sealed_secrets import seal_channel_target


def channel_columns(client_id: Any, kind: str, target: str) -> dict[str, Any]:
    """id, target_sealed (as JSON text, for `CAST(:target_sealed AS jsonb)`) and target_hint of a new channel."""
    channel_id = uuid.uuid4()
    return {"id": channel_id, "target_sealed": json.dumps(seal_channel_target(client_id, channel_id, target)),
            "target_hint": target_hint(kind, target)}


def channel_row(client_id: Any, name: str, kind: str, target: str, **columns: Any) -> NotificationChannel:
    values = channel_columns(client_id, kind, target)
    return NotificationChannel(id=values["id"], client_id=client_id, name=name, kind=kind,
                               target_sealed=json.loads(values["target_sealed"]), target_hint=values["target_hint"],
                               **columns)
