"""The api function, invoked in-process with API Gateway v2 events, against real PostgreSQL and MiniStack SQS."""

import json

import boto3
import pytest

from tests.conftest import local_env
from tests.lambda_events import http_event, lambda_context, load_handler


@pytest.fixture
def readings_queue(monkeypatch):
    endpoint = "http://127.0.0.1:4566"
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    try:
        url = sqs.create_queue(QueueName="it-health-readings")["QueueUrl"]
    except Exception as exc:  # noqa: BLE001 - the reason is in the skip message
        pytest.fail(f"MiniStack is not reachable on {endpoint}: {exc}")
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test",
                        "AWS_SECRET_ACCESS_KEY": "test", "READINGS_QUEUE_URL": url}.items():
        monkeypatch.setenv(name, value)
    from tests.integration.conftest import reset_core_caches
    reset_core_caches()
    yield url


def _call(event: dict) -> tuple[int, dict]:
    reply = load_handler("api").handler(event, lambda_context("api"))
    return reply["statusCode"], json.loads(reply["body"])


def test_health_reports_database_and_queue(platform_db, readings_queue):
    status, body = _call(http_event("GET", "/health"))
    assert status == 200
    assert body["checks"] == {"database": True, "readings_queue": True}


def test_health_is_503_when_the_database_is_down(platform_db, readings_queue, monkeypatch):
    from tests.integration.conftest import reset_core_caches
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://nobody@127.0.0.1:1/none")
    reset_core_caches()
    status, body = _call(http_event("GET", "/health"))
    assert status == 503
    assert body["checks"]["database"] is False and body["status"] == "degraded"
