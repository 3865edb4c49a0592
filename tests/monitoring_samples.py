"""A scrape with every section filled, as the sources would answer it (for exposition and dashboard tests)."""

import re
import uuid

from hydroponics.monitoring.queues import QueueDepth
from hydroponics.monitoring.requests import BUCKETS, RequestCounter
from hydroponics.monitoring.scrape import Scrape
from hydroponics.monitoring.state import (
    Connections, FailedTasks, IngestLag, JobRun, NotificationCount, PlatformState, ReadingsStored,
)

FARM = uuid.UUID("00000000-0000-0000-0000-00000000f001")
HOOK = uuid.UUID("00000000-0000-0000-0000-00000000c001")
READINGS_URL = "http://127.0.0.1:4566/000000000000/hydroponics-local-readings"
MONITORED = {"readings": {"queue": READINGS_URL, "dead_letter": READINGS_URL + "-dlq"}}
METRIC_NAME = re.compile(r"\b(hydroponics_[a-z0-9_]+|up)\b(?!\s*\()")


def full_scrape() -> Scrape:
    one_fast, one_slow = [0] * (len(BUCKETS) + 1), [0] * (len(BUCKETS) + 1)
    one_fast[0], one_slow[-1] = 3, 1
    return Scrape(
        taken_at=1_800_000_000.0,
        state=PlatformState(
            connections=Connections({"active": 2, "idle": 3, "waiting": 1}, server=12, limit=97),
            clients={FARM: "Greenhouse A"},
            readings=[ReadingsStored(FARM, "ph", 1200), ReadingsStored(FARM, "ec", 800)],
            ingest_lag=[IngestLag(FARM, 4.5)],
            alerts={("critical", "open"): 2},
            notifications=[NotificationCount(HOOK, "ops-hook", "webhook", "retrying", 1),
                           NotificationCount(HOOK, "ops-hook", "webhook", "sent", 7)],
            ac_commands={"acknowledged": 5, "rejected": 2},
            refusals={"minimum_off_time": 2},
            failed_tasks=[FailedTasks(READINGS_URL, "failed", 3, 120.0), FailedTasks(READINGS_URL, "redriven", 1, 900.0)],
            jobs=[JobRun("escalation", 60, 1_799_999_990.0, 1_799_999_990.0, 0.4, True),
                  JobRun("drift", 86400, None, None, None, None)],
            partitions={"readings_202612": 65536, "readings_default": 8192},
        ),
        queues=[QueueDepth("readings", "work", 4, 2, 0), QueueDepth("readings", "dead_letter", 1, 0, 0)],
        backlog={"readings": 42.0},
        requests=[RequestCounter("ingest", "POST", "/api/data", 202, 3, 0.012, one_fast),
                  RequestCounter("ingest", "POST", "/api/data", 503, 1, 12.5, one_slow)],
        up={"postgres": True, "sqs": True, "backlog": True, "requests": True},
        durations={"postgres": 0.004, "sqs": 0.006, "backlog": 0.003, "requests": 0.002},
    )


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads (not its functions or label names)."""
    without_strings = re.sub(r'"[^"]*"', '""', expression)
    without_labels = re.sub(r"\{[^}]*\}", "", without_strings)
    without_groupings = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_labels)
    return set(METRIC_NAME.findall(without_groupings))
