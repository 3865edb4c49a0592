"""Shared by the AC tests (no tests here): a FIFO command queue with its DLQ, simulated units on real
HTTP servers, a Lambda-like worker draining the queue, and a test app with the AC routes."""

import json
import socket
import threading
import time
import uuid
from typing import Any, Callable, Iterator
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hydroponics.api.routes import ac
from hydroponics.climate.config import get_climate_settings
from hydroponics.climate.room import Room
from hydroponics.climate.simulator import SimulatedUnit, SimulatorServer
from hydroponics.db.engine import session_scope
from hydroponics.db.models import AcCommand
from hydroponics.records.clients import create_client
from tests.integration.conftest import reset_core_caches
from tests.lambda_events import lambda_context, load_handler
from tests.routes_app import routes_app
from tests.sealed import channel_row

CAPABILITIES = {"modes": ["cool", "heat", "fan", "dry"], "setpoint_min": 16, "setpoint_max": 30,
                "fan_speeds": ["auto", "low", "high"]}
SAFETY = {"min_off_seconds": 0, "max_commands_per_hour": 500, "state_stale_seconds": 900}
SECRET = "unit-secret-0123456789"
FINAL = {"acknowledged", "failed", "rejected"}


@pytest.fixture
def ac_queue(local_aws: dict, monkeypatch) -> Iterator[dict[str, Any]]:
    """A MiniStack FIFO command queue with a FIFO DLQ (maxReceiveCount 3, 1 s backoff, 1 s send timeout)."""
    sqs = local_aws["sqs"]
    suffix = uuid.uuid4().hex[:8]
    dlq_url = sqs.create_queue(QueueName=f"it-ac-dlq-{suffix}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"it-ac-{suffix}.fifo",
        Attributes={"FifoQueue": "true", "VisibilityTimeout": "30",
                    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})},
    )["QueueUrl"]
    for name, value in {"AC_COMMANDS_QUEUE_URL": queue_url, "AC_MAX_RECEIVES": "3", "AC_BACKOFF_SECONDS": "[1]",
                        "AC_SEND_TIMEOUT_SECONDS": "1"}.items():
        monkeypatch.setenv(name, value)
    reset_core_caches()
    get_climate_settings.cache_clear()
    yield {"sqs": sqs, "queue_url": queue_url, "dlq_url": dlq_url}
    for url in (queue_url, dlq_url):
        sqs.delete_queue(QueueUrl=url)
    get_climate_settings.cache_clear()


@pytest.fixture
def simulators() -> Iterator[Callable[..., SimulatorServer]]:
    """Start simulated units on 127.0.0.1 (stopped after the test)."""
    started: list[SimulatorServer] = []

    def start(port: int = 0, ack: str = "reply", room: Room | None = None) -> SimulatorServer:
        server = SimulatorServer(SimulatedUnit(secret=SECRET, room=room or Room(), ack=ack), port=port).start()
        started.append(server)
        return server

    yield start
    for server in started:
        try:
            server.stop()
        except OSError:
            pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _records(messages: list[dict]) -> list[dict]:
    """SQS messages as the Lambda event source mapping hands them to the function."""
    return [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": m["Attributes"], "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
             "eventSource": "aws:sqs", "awsRegion": "us-east-1"} for m in messages]


class Worker:
    """The ac_control function behind a FIFO event source mapping: receive up to 10, invoke, delete the rest."""

    def __init__(self, sqs: Any, queue_url: str):
        self.sqs, self.queue_url = sqs, queue_url
        self.handler = load_handler("ac_control").handler

    def poll_once(self) -> int:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                            AttributeNames=["All"]).get("Messages", [])
        if not messages:
            return 0
        failures = {f["itemIdentifier"] for f in
                    self.handler({"Records": _records(messages)}, lambda_context("ac_control"))["batchItemFailures"]}
        done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages) if m["MessageId"] not in failures]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)
        return len(messages)

    def drain(self, until: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "the queue was not drained in time"
            if not self.poll_once():
                time.sleep(0.2)


def statuses(command_ids: list[UUID]) -> dict[UUID, str]:
    with session_scope() as session:
        rows = session.execute(select(AcCommand.id, AcCommand.status).where(AcCommand.id.in_(command_ids)))
        return {row.id: row.status for row in rows}


def all_final(command_ids: list[UUID]) -> Callable[[], bool]:
    return lambda: set(statuses(command_ids).values()) <= FINAL


def run_concurrently(*targets: Callable[[], Any]) -> None:
    errors: list[BaseException] = []

    def guarded(target: Callable[[], Any]) -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if errors:
        raise errors[0]


@pytest.fixture
def http(platform_db) -> Iterator[TestClient]:
    with TestClient(routes_app(ac)) as client:
        yield client


@pytest.fixture
def farms(platform_db) -> tuple[UUID, UUID]:
    with session_scope() as session:
        return create_client(session, "Greenleaf Farms"), create_client(session, "Blue Basin Growers")


def add_channels(farm: UUID, *names: str) -> None:
    """Webhook channels of the farm (to a closed port: nothing here sends them)."""
    with session_scope() as session:
        session.add_all(channel_row(farm, name, "webhook", "json://127.0.0.1:9/hook") for name in names)


def as_farm(farm: UUID) -> dict[str, str]:
    return {"X-Test-Client": str(farm)}


def register(http: TestClient, farm: UUID, name: str = "AC bay A", endpoint: str | None = None, **changes) -> dict:
    body = {"name": name, "location": "bay-a", "driver": "http" if endpoint else "simulated", "endpoint": endpoint,
            "secret": SECRET if endpoint else None, "capabilities": CAPABILITIES, "safety": SAFETY} | changes
    reply = http.post("/api/ac/register", json=body, headers=as_farm(farm))
    assert reply.status_code == 201, reply.json()
    return reply.json()


def control(http: TestClient, farm: UUID, unit_id: str, **command) -> dict:
    reply = http.post("/api/ac/control", json={"ac_unit_id": unit_id, "command": command}, headers=as_farm(farm))
    assert reply.status_code == 202, reply.json()
    return reply.json()
