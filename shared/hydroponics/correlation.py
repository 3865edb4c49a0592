"""The correlation id: which API request a piece of work came from, in every log line it causes.

It starts at the API request (the caller's `X-Request-Id`, else API Gateway's request id), travels
with the readings as a queue message attribute, is written on the notification and AC command rows
the rules open (so the minute sweep's requeue keeps it), and is set again by the notify and
ac_control workers for each message they handle. The Powertools Logger prints it as
`correlation_id`; it is kept per thread and task (context variables), so concurrent work in one
container never logs another's id.
"""

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from hydroponics.observability import logger

_SAFE = re.compile(r"^[A-Za-z0-9._:/=+-]{1,128}$")
_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def current_correlation_id() -> str | None:
    """The id of the request the running code works for, if any."""
    return _current.get()


def acceptable(candidate: str | None) -> str | None:
    """A caller's id when it is safe to log and store (short, printable), else None."""
    return candidate if candidate and _SAFE.match(candidate) else None


def of_sqs_record(record: dict) -> str | None:
    """The correlation id a queue message carries (its `correlation_id` message attribute)."""
    attribute = (record.get("messageAttributes") or {}).get("correlation_id") or {}
    return acceptable(attribute.get("stringValue"))


def new_correlation_id() -> str:
    return str(uuid.uuid4())


@contextmanager
def correlated(correlation_id: str | None) -> Iterator[None]:
    """Inside: the id is current and on every log line of this thread or task (None: no id)."""
    token = _current.set(correlation_id)
    previous = logger.thread_safe_get_current_keys().get("correlation_id")
    logger.thread_safe_append_keys(correlation_id=correlation_id)
    try:
        yield
    finally:
        _current.reset(token)
        if previous is None:
            logger.thread_safe_remove_keys(["correlation_id"])
        else:
            logger.thread_safe_append_keys(correlation_id=previous)
