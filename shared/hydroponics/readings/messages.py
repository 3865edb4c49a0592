"""The readings as they travel on the readings queue, from the ingest function to the store step.

A message holds several readings of one request (`QueuedReadings`: the client and the time the
request was received once, then the readings), up to READINGS_PER_MESSAGE of them and
MESSAGE_BYTES of body, well under SQS's 256 KiB for a message and for a SendMessageBatch call.
The store step still reads the first format, one `QueuedReading` per message: messages queued (or
dead-lettered) before several readings shared one, and what the store step dead-letters itself
(one reading it can never store, alone, so /admin/failed-tasks lists and retries it alone).
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator, Sequence
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from hydroponics.text import Identifier, identifier

READINGS_PER_MESSAGE = 50   # a 500-reading request is 10 messages: one SendMessageBatch call
MESSAGE_BYTES = 200_000     # SQS takes 262,144 (256 KiB), message attributes included
_ENTRY_FIELDS = {"sensor", "sensor_type", "location", "value", "recorded_at"}  # what differs reading to reading
_SHARED_FIELDS = {"client_id", "received_at"}                                  # what one request's readings share


class QueuedReading(BaseModel):
    """One accepted reading. `sensor` is the device's own sensor id (legacy devices: type@location)."""

    model_config = ConfigDict(frozen=True)

    client_id: UUID
    sensor: Identifier
    sensor_type: identifier(50)
    location: identifier(200, min_length=0) | None = None  # "" in messages queued before blank meant none
    value: float = Field(allow_inf_nan=False)
    recorded_at: datetime
    received_at: datetime
    # the API request that sent it: a message attribute on the queue, not part of the body
    correlation_id: identifier(128) | None = Field(None, exclude=True)  # hydroponics.correlation.acceptable


class _Envelope(BaseModel):
    """What a several-readings message says once for all its readings; each reading is checked on its own."""

    client_id: UUID
    received_at: datetime
    readings: list[Any] = Field(min_length=1)


@dataclass(frozen=True)
class UnreadableReading:
    """One reading of a several-readings message that is no reading: its place, as sent, and why."""

    index: int
    body: str       # the entry with the message's client and receive time, in the one-reading format
    reason: str


@dataclass(frozen=True)
class QueueMessage:
    """A message's readings, each with its place in the message (None: the message is one reading)."""

    readings: list[tuple[int | None, QueuedReading]]
    unreadable: list[UnreadableReading]


def parse_message(body: str) -> QueueMessage:
    """The readings of a queue message in either format; raises ValueError (a pydantic ValidationError
    among them) when the message as a whole is no reading."""
    # a body without the key is one reading (parsed once, in pydantic's own JSON parser); one with it
    # may still be one reading whose location, say, is "readings"
    document = json.loads(body) if '"readings"' in body else None
    if not isinstance(document, dict) or "readings" not in document:
        return QueueMessage([(None, QueuedReading.model_validate_json(body))], [])
    envelope = _Envelope.model_validate(document)
    shared = {"client_id": envelope.client_id, "received_at": envelope.received_at}
    readings, unreadable = [], []
    for index, entry in enumerate(envelope.readings):
        try:
            if not isinstance(entry, dict):
                raise ValueError(f"readings[{index}] is not an object")
            readings.append((index, QueuedReading.model_validate(entry | shared)))
        except ValueError as exc:
            one = (entry if isinstance(entry, dict) else {"reading": entry}) | {
                "client_id": str(envelope.client_id), "received_at": document["received_at"]}
            unreadable.append(UnreadableReading(index, json.dumps(one), f"readings[{index}]: {exc}"))
    return QueueMessage(readings, unreadable)


def _envelope_head(reading: QueuedReading) -> str:
    return reading.model_dump_json(include=_SHARED_FIELDS)[:-1] + ',"readings":['


def message_bodies(readings: Sequence[QueuedReading], per_message: int = READINGS_PER_MESSAGE,
                   max_bytes: int = MESSAGE_BYTES) -> Iterator[tuple[list[int], str]]:
    """Group readings into message bodies: (the readings' indexes, the body). Readings of one client and
    receive time share a message, up to `per_message` of them and `max_bytes` of UTF-8."""
    groups: dict[tuple[UUID, datetime], list[int]] = {}
    for index, reading in enumerate(readings):
        groups.setdefault((reading.client_id, reading.received_at), []).append(index)
    for indexes in groups.values():
        head = _envelope_head(readings[indexes[0]])
        taken: list[int] = []
        entries: list[str] = []
        size = len(head.encode()) + 2
        for index in indexes:
            entry = readings[index].model_dump_json(include=_ENTRY_FIELDS)
            entry_bytes = len(entry.encode()) + 1
            if taken and (len(taken) >= per_message or size + entry_bytes > max_bytes):
                yield taken, head + ",".join(entries) + "]}"
                taken, entries, size = [], [], len(head.encode()) + 2
            taken.append(index)
            entries.append(entry)
            size += entry_bytes
        yield taken, head + ",".join(entries) + "]}"


def legacy_sensor_id(sensor_type: str, location: str | None) -> str:
    """Legacy devices name no sensor: one sensor per type and location, as the old server kept it."""
    return f"{sensor_type}@{location or 'default'}"
