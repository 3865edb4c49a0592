"""The one queue publisher for readings: SendMessageBatch, checking every entry, before any 202."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from hydroponics.aws import client
from hydroponics.observability import logger
from hydroponics.readings.messages import QueuedReading
from hydroponics.settings import get_settings

SQS_BATCH = 10          # SendMessageBatch's limit
_PARALLEL_CALLS = 8     # a 500-reading request is 50 calls; run them side by side
_ATTEMPTS = 3           # entries SQS refused are sent again, up to this many times in all
_pool = ThreadPoolExecutor(max_workers=_PARALLEL_CALLS, thread_name_prefix="sqs-send")


@dataclass(frozen=True)
class PublishResult:
    """Indexes (into the published sequence) that SQS accepted durably, and those it did not."""

    queued: frozenset[int]
    failed: frozenset[int]


def _send_chunk(queue_url: str, chunk: list[tuple[int, QueuedReading]], correlation_id: str | None) -> set[int]:
    """Send one chunk (<= 10); returns the indexes that are queued. Retries refused entries."""
    pending = dict(chunk)
    attributes = {"correlation_id": {"DataType": "String", "StringValue": correlation_id}} if correlation_id else {}
    for attempt in range(_ATTEMPTS):
        entries = [{"Id": str(i), "MessageBody": r.model_dump_json(), "MessageAttributes": attributes}
                   for i, r in pending.items()]
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
    return {i for i, _ in chunk} - pending.keys()


def publish_readings(readings: Sequence[QueuedReading], correlation_id: str | None = None) -> PublishResult:
    """Queue every reading; a reading counts as accepted only once SQS confirmed its entry."""
    queue_url = get_settings().readings_queue_url
    if not queue_url:
        raise RuntimeError("READINGS_QUEUE_URL is not configured")
    indexed = list(enumerate(readings))
    chunks = [indexed[i:i + SQS_BATCH] for i in range(0, len(indexed), SQS_BATCH)]
    if len(chunks) == 1:
        queued = _send_chunk(queue_url, chunks[0], correlation_id)
    else:
        queued = set().union(*_pool.map(lambda c: _send_chunk(queue_url, c, correlation_id), chunks))
    return PublishResult(queued=frozenset(queued), failed=frozenset(range(len(readings))) - queued)
