"""Shared by the notification tests (no tests here): a test app, a farm, alerts, and an SQS-driven notify loop."""

import json
import time
from typing import Any, Iterator
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hydroponics.api.routes import admin, channels, notifications
from hydroponics.db.engine import session_scope
from hydroponics.db.models import Alert
from hydroponics.notifications.outbox import queue_notifications
from hydroponics.records.clients import create_client
from tests.lambda_events import lambda_context, load_handler
from tests.routes_app import routes_app

SECRET_PASSWORD = "hunter2-Sup3rSecret"
SECRET_PATH = "T0SECRET/B0SECRET/xoxo-webhook-token-42"


@pytest.fixture
def app(platform_db) -> FastAPI:
    return routes_app(channels, notifications, admin)


@pytest.fixture
def http(app) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def farm(platform_db) -> UUID:
    with session_scope() as session:
        return create_client(session, "Greenleaf Farms")


@pytest.fixture
def notify():
    return load_handler("notify")


@pytest.fixture
def dead_letters_fn():
    return load_handler("dead_letters")


@pytest.fixture
def fast_backoff(monkeypatch):
    """Retries after 1 s instead of 1/5/15 min (settings are re-read on next use)."""
    from tests.integration.conftest import reset_core_caches

    monkeypatch.setenv("NOTIFY_BACKOFF_SECONDS", "[1,1,1]")
    reset_core_caches()


def as_farm(farm: UUID) -> dict[str, str]:
    return {"X-Test-Client": str(farm)}


ADMIN = {"X-Test-Admin": "1"}


def new_channel(http: TestClient, farm: UUID, name: str, kind: str, config: dict, **extra: Any) -> dict:
    reply = http.post("/api/channels", headers=as_farm(farm), json={"name": name, "kind": kind, "config": config}
                      | extra)
    assert reply.status_code == 201, reply.json()
    return reply.json()


def email_config(server, **extra: Any) -> dict:
    return {"to": ["grower@farm.example"], "smtp_host": server.host, "smtp_port": server.port, "security": "none",
            "from": "alerts@farm.example"} | extra


def raise_alert(farm: UUID, channel_names: list[str], message: str = "pH 7.4 above 6.5 at bay-a",
                kind: str = "alert", level: int = 0) -> tuple[UUID, list[UUID]]:
    """An open alert row and its notifications, committed (so they are queued at once)."""
    with session_scope() as session:
        alert = Alert(client_id=farm, severity="critical", message=message, value=7.4)
        session.add(alert)
        session.flush()
        ids = queue_notifications(session, alert, kind=kind, channel_names=channel_names, subject=message,
                                  body=f"{message}\nOpened just now.", level=level)
        return alert.id, ids


def lambda_records(messages: list[dict], queue_arn: str) -> list[dict]:
    """SQS ReceiveMessage output as the Lambda event source mapping hands it over."""
    return [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
             "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
             "awsRegion": "us-east-1"} for m in messages]


def queue_arn(sqs, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def poll_once(sqs, queue_url: str, handler, wait: int = 1) -> list[dict]:
    """Receive one batch and run the handler on it as Lambda would: delete what it did not report failed.

    Returns the records handed to the handler (empty when the queue had nothing visible)."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                   AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
    if not messages:
        return []
    records = lambda_records(messages, queue_arn(sqs, queue_url))
    reply = handler.handler({"Records": records}, lambda_context())
    failed = {item["itemIdentifier"] for item in reply["batchItemFailures"]}
    for record in records:
        if record["messageId"] not in failed:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"])
    return records


def drain(sqs, queue_url: str, handler, seconds: float = 10, quiet_polls: int = 2) -> int:
    """Poll until the queue stays empty `quiet_polls` times in a row (or time runs out); records handled."""
    handled, quiet, deadline = 0, 0, time.monotonic() + seconds
    while time.monotonic() < deadline and quiet < quiet_polls:
        records = poll_once(sqs, queue_url, handler)
        handled += len(records)
        quiet = 0 if records else quiet + 1
    return handled


def queue_depth(sqs, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def notification_rows(**where: Any) -> list[dict]:
    from sqlalchemy import text

    conditions = " AND ".join(f"{k} = :{k}" for k in where) or "TRUE"
    with session_scope() as session:
        return [dict(r._mapping) for r in session.execute(
            text(f"SELECT * FROM notifications WHERE {conditions} ORDER BY created_at, id"), where)]


def body_of(record: dict) -> dict:
    return json.loads(record["body"])
