"""The api function, invoked in-process with API Gateway v2 events, against real PostgreSQL and MiniStack SQS."""

import json

from tests.lambda_events import http_event, lambda_context, load_handler


def _call(event: dict) -> tuple[int, dict]:
    reply = load_handler("api").handler(event, lambda_context("api"))
    return reply["statusCode"], json.loads(reply["body"])


def test_health_reports_database_and_queue(platform_db, local_aws):
    status, body = _call(http_event("GET", "/health"))
    assert status == 200
    assert body["checks"] == {"database": True, "readings_queue": True}


def test_health_is_503_when_the_database_is_down(platform_db, local_aws, monkeypatch):
    from tests.integration.conftest import reset_core_caches
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://nobody@127.0.0.1:1/none")
    reset_core_caches()
    status, body = _call(http_event("GET", "/health"))
    assert status == 503
    assert body["checks"]["database"] is False and body["status"] == "degraded"
