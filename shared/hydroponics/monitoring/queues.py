"""Queue depths: messages waiting, in flight and delayed in every work queue and dead-letter queue (SQS attributes)."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError

from hydroponics.aws import client
from hydroponics.observability import logger
from hydroponics.settings import get_settings

Role = Literal["work", "dead_letter"]
_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
               "ApproximateNumberOfMessagesDelayed"]
_pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="sqs-attributes")  # all queues in one round trip's time


@dataclass(frozen=True)
class QueueDepth:
    """One queue's messages: `queue` is the work queue's short name (readings, notifications, ac-commands)."""

    queue: str
    role: Role
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


def monitored_queues() -> list[tuple[str, Role, str]]:
    """(short name, role, URL) of every configured queue and DLQ."""
    return [(name, role, urls[key]) for name, urls in get_settings().monitored_queues.items()
            for role, key in (("work", "queue"), ("dead_letter", "dead_letter")) if urls.get(key)]


def short_name(work_queue_url: str) -> str:
    """The short name of a work queue given by URL (the URL's last part when it is not monitored)."""
    for name, urls in get_settings().monitored_queues.items():
        if urls.get("queue") == work_queue_url:
            return name
    return work_queue_url.rstrip("/").rsplit("/", 1)[-1]


def _depth(name: str, role: Role, url: str) -> QueueDepth:
    attributes = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=_ATTRIBUTES)["Attributes"]
    return QueueDepth(name, role, int(attributes.get("ApproximateNumberOfMessages", 0)),
                      int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                      int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)))


def queue_depths() -> list[QueueDepth]:
    """Every queue's depth, asked side by side (SQS has no batch call); raises if any queue cannot be read."""
    return list(_pool.map(lambda queue: _depth(*queue), monitored_queues()))


def queue_depths_or_unreadable() -> list[tuple[str, Role, QueueDepth | None]]:
    """Every queue's depth side by side, None for one that cannot be read (the others still answer)."""
    def one(name: str, role: Role, url: str) -> tuple[str, Role, QueueDepth | None]:
        try:
            return name, role, _depth(name, role, url)
        except (BotoCoreError, ClientError):
            logger.exception("queue attributes unavailable", extra={"queue": name, "role": role})
            return name, role, None
    return list(_pool.map(lambda queue: one(*queue), monitored_queues()))
