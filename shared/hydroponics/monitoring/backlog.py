"""Age of the oldest message a queue's consumer has not finished: the consumers keep count of what they hand back.

SQS's own figure (ApproximateAgeOfOldestMessage) is a CloudWatch metric of AWS's, not a queue
attribute, and MiniStack does not publish it; peeking at a work queue would spend its messages'
receive counts. So each consumer records, in the monitoring table, every message it hands back
(failed, or backed off while PostgreSQL is down) with its SentTimestamp, and forgets a message once
it is done; the dead-letters function forgets those that reach a DLQ (from then on they are failed
tasks). When every message succeeds at its first receive this costs no call at all. The queue's
backlog age is now minus the oldest recorded SentTimestamp (one Query on a local index).
Messages nobody has received yet are not in it: they are the queue's `visible` depth.
"""

import functools
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hydroponics.aws import client
from hydroponics.monitoring.queues import short_name
from hydroponics.observability import logger
from hydroponics.settings import get_settings

OLDEST_INDEX = "oldest"  # local secondary index of the monitoring table on (pk, sent_at)
RETENTION_SECONDS = 14 * 24 * 3600  # the queues' longest retention: a record outliving it is dropped by TTL
_BATCH_WRITE = 25
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="backlog-age")


def _key(queue: str, message_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"backlog#{queue}"}, "sk": {"S": message_id}}


def _receive_count(record: dict[str, Any]) -> int:
    return int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))


def _sent_ms(record: dict[str, Any]) -> int:
    return int(record.get("attributes", {}).get("SentTimestamp") or time.time() * 1000)


def _write(requests: list[dict[str, Any]]) -> None:
    table = get_settings().monitoring_table
    if not table or not requests:
        return
    for start in range(0, len(requests), _BATCH_WRITE):
        chunk = requests[start:start + _BATCH_WRITE]
        try:
            unprocessed = client("dynamodb").batch_write_item(RequestItems={table: chunk}).get("UnprocessedItems", {})
            if unprocessed:  # throttled: once more, then let it be (the age is a monitoring figure)
                client("dynamodb").batch_write_item(RequestItems=unprocessed)
        except Exception:  # noqa: BLE001 - monitoring must never fail the consumer
            logger.exception("could not record the queue backlog", extra={"messages": len(chunk)})


def settle(queue: str, records: Iterable[dict[str, Any]], handed_back: set[str]) -> None:
    """After a batch: remember the messages handed back, forget those done after an earlier receive."""
    requests = []
    for record in records:
        message_id = record.get("messageId")
        if not message_id:
            continue
        if message_id in handed_back:
            sent = _sent_ms(record)
            requests.append({"PutRequest": {"Item": _key(queue, message_id) | {
                "sent_at": {"N": str(sent)}, "expires_at": {"N": str(sent // 1000 + RETENTION_SECONDS)}}}})
        elif _receive_count(record) > 1:
            requests.append({"DeleteRequest": {"Key": _key(queue, message_id)}})
    _write(requests)


def forget(queue: str, message_ids: Iterable[str]) -> None:
    """These messages left the queue for its DLQ: they no longer age the queue."""
    _write([{"DeleteRequest": {"Key": _key(queue, message_id)}} for message_id in message_ids])


def forget_dead_letters(records: Iterable[dict[str, Any]]) -> None:
    """A batch from the DLQs: each message stops aging the work queue it came from."""
    sources = get_settings().dead_letter_sources  # DLQ name -> work queue URL
    by_queue: dict[str, list[str]] = {}
    for record in records:
        dead_letter_queue = record.get("eventSourceARN", "").rsplit(":", 1)[-1]
        if dead_letter_queue in sources and record.get("messageId"):
            by_queue.setdefault(short_name(sources[dead_letter_queue]), []).append(record["messageId"])
    for queue, message_ids in by_queue.items():
        forget(queue, message_ids)


def tracked(queue: str) -> Callable:
    """Decorate an SQS consumer's handler: its batch item failures (or a crash: every message) are the hand-backs."""
    def decorate(handler: Callable[[dict, Any], dict]) -> Callable[[dict, Any], dict]:
        @functools.wraps(handler)
        def run(event: dict, context: Any) -> dict:
            records = (event or {}).get("Records", [])
            try:
                response = handler(event, context)
            except Exception:
                settle(queue, records, {record.get("messageId") for record in records})
                raise
            settle(queue, records, {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])})
            return response
        return run
    return decorate


def _oldest_sent_ms(queue: str) -> int | None:
    reply = client("dynamodb").query(
        TableName=get_settings().monitoring_table, IndexName=OLDEST_INDEX, Limit=1, ScanIndexForward=True,
        KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": f"backlog#{queue}"}})
    items = reply.get("Items", [])
    return int(items[0]["sent_at"]["N"]) if items else None


def backlog_ages(queues: Iterable[str], now: float | None = None) -> dict[str, float]:
    """Seconds since the oldest handed-back message of each queue was sent (0: nothing handed back)."""
    names = list(queues)
    if not get_settings().monitoring_table:
        return {}
    moment = time.time() if now is None else now
    oldest = dict(zip(names, _pool.map(_oldest_sent_ms, names)))
    return {name: max(0.0, moment - sent / 1000) if sent is not None else 0.0 for name, sent in oldest.items()}
