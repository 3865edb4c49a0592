"""The one queue publisher for readings: several to a message, SendMessageBatch, every entry checked, before any 202."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from hydroponics.aws import client
from hydroponics.observability import logger
from hydroponics.readings.messages import QueuedReading, message_bodies
from hydroponics.settings import get_settings

SQS_BATCH = 10          # SendMessageBatch's limit of entries
CALL_BYTES = 250_000    # and of their bodies and attributes together: 262,144
_PARALLEL_CALLS = 8     # a request of large readings may need a few calls; run them side by side
_ATTEMPTS = 3           # entries SQS refused are sent again, up to this many times in all
_pool = ThreadPoolExecutor(max_workers=_PARALLEL_CALLS, thread_name_prefix="sqs-send")


@dataclass(frozen=True)
class PublishResult:
    """Indexes (into the published sequence) of the readings SQS accepted durably, and of those it did not."""

    queued: frozenset[int]
    failed: frozenset[int]


def _send_call(queue_url: str, call: list[tuple[int, str]], attributes: dict) -> set[int]:
    """One SendMessageBatch of (message number, body) entries; returns the numbers queued. Retries refused entries."""
    pending = dict(call)
    for attempt in range(_ATTEMPTS):
        entries = [{"Id": str(i), "MessageBody": body, "MessageAttributes": attributes} for i, body in pending.items()]
        try:
            reply = client("sqs").send_message_batch(QueueUrl=queue_url, Entries=entries)
        except (BotoCoreError, ClientError) as exc:
            logger.warning("readings queue refused a batch", extra={"attempt": attempt + 1, "error": str(exc)})
            continue
        for ok in reply.get("Successful", []):
            pending.pop(int(ok["Id"]), None)
        for failed in reply.get("Failed", []):
            logger.warning("readings queue refused an entry", extra={"code": failed.get("Code"),
                                                                      "sender_fault": failed.get("SenderFault")})
        if not pending:
            break
    return {i for i, _ in call} - pending.keys()


def _calls(bodies: list[str], overhead: int) -> list[list[tuple[int, str]]]:
    """Messages into calls: at most SQS_BATCH entries and CALL_BYTES (bodies and attributes) each."""
    calls: list[list[tuple[int, str]]] = []
    size = 0
    for number, body in enumerate(bodies):
        length = len(body.encode()) + overhead
        if not calls or len(calls[-1]) >= SQS_BATCH or size + length > CALL_BYTES:
            calls.append([])
            size = 0
        calls[-1].append((number, body))
        size += length
    return calls


def publish_readings(readings: Sequence[QueuedReading], correlation_id: str | None = None) -> PublishResult:
    """Queue every reading, several to a message; a reading counts as accepted only once SQS confirmed
    its message (a message SQS kept refusing fails all its readings)."""
    queue_url = get_settings().readings_queue_url
    if not queue_url:
        raise RuntimeError("READINGS_QUEUE_URL is not configured")
    attributes = {"correlation_id": {"DataType": "String", "StringValue": correlation_id}} if correlation_id else {}
    overhead = sum(len(name) + len(a["DataType"]) + len(a["StringValue"].encode()) for name, a in attributes.items())
    messages = list(message_bodies(readings))
    calls = _calls([body for _, body in messages], overhead)
    if len(calls) == 1:
        sent = _send_call(queue_url, calls[0], attributes)
    else:
        sent = set().union(*_pool.map(lambda call: _send_call(queue_url, call, attributes), calls))
    queued = {index for number in sent for index in messages[number][0]}
    return PublishResult(queued=frozenset(queued), failed=frozenset(range(len(readings))) - queued)
