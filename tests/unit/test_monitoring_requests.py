"""The request-metrics middleware: route templates (never ids), statuses, 500s, latency buckets, the
correlation id (X-Request-Id) and its reach into sync endpoints; the recorder's counts per container."""

import io
import json
import logging

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from hydroponics.correlation import current_correlation_id
from hydroponics.monitoring import requests as request_metrics
from hydroponics.monitoring.requests import BUCKETS, RequestCounter, RequestMetrics, RequestRecorder
from hydroponics.settings import get_settings


@pytest.fixture
def recorder(monkeypatch) -> RequestRecorder:
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1/unused")
    monkeypatch.delenv("MONITORING_TABLE", raising=False)
    get_settings.cache_clear()
    fresh = RequestRecorder()
    monkeypatch.setattr(request_metrics, "recorder", fresh)
    yield fresh
    get_settings.cache_clear()


@pytest.fixture
def app(recorder) -> TestClient:
    api = FastAPI()

    @api.get("/api/crops/{crop_id}")
    def crop(crop_id: str) -> dict:  # a sync endpoint: runs in the thread pool
        return {"crop": crop_id, "correlation_id": current_correlation_id()}

    @api.post("/api/data", status_code=202)
    async def data() -> dict:
        return {"correlation_id": current_correlation_id()}

    @api.get("/missing")
    def missing() -> None:
        raise HTTPException(404, "nope")

    @api.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    api.add_middleware(RequestMetrics, function="api")
    return TestClient(api, raise_server_exceptions=False)


def counts(recorder: RequestRecorder) -> dict[tuple, int]:
    return {key: counter.count for key, counter in recorder._take().items()}


def test_routes_are_counted_by_template_and_status_never_by_id(app, recorder):
    for crop in ("c1", "c2", "c3"):
        assert app.get(f"/api/crops/{crop}").status_code == 200
    app.post("/api/data")
    app.get("/missing")
    app.get("/no/such/path/12345")
    app.get("/boom")
    assert counts(recorder) == {
        ("api", "GET", "/api/crops/{crop_id}", 200): 3,
        ("api", "POST", "/api/data", 202): 1,
        ("api", "GET", "/missing", 404): 1,
        ("api", "GET", "unmatched", 404): 1,
        ("api", "GET", "/boom", 500): 1,
    }


def test_an_unknown_method_is_one_label():
    assert request_metrics._METHODS >= {"GET", "POST", "PATCH", "DELETE"}


def test_the_callers_request_id_is_the_correlation_id_even_in_sync_endpoints(app):
    reply = app.get("/api/crops/c1", headers={"X-Request-Id": "req-123"})
    assert reply.json()["correlation_id"] == "req-123"
    assert reply.headers["x-request-id"] == "req-123"
    assert app.post("/api/data", headers={"X-Request-Id": "req-456"}).json()["correlation_id"] == "req-456"


def test_without_a_usable_request_id_one_is_made_and_returned(app):
    made = app.get("/api/crops/c1", headers={"X-Request-Id": "bad id\twith spaces"})
    assert made.json()["correlation_id"] == made.headers["x-request-id"] != "bad id\twith spaces"
    assert len(made.headers["x-request-id"]) == 36
    other = app.get("/api/crops/c1")
    assert other.headers["x-request-id"] != made.headers["x-request-id"]
    assert current_correlation_id() is None  # nothing leaks out of the request


def test_api_gateways_request_id_is_used_when_the_caller_sends_none():
    scope = {"headers": [], "aws.event": {"requestContext": {"requestId": "Abc123="}}}
    assert request_metrics._request_id(scope) == "Abc123="


def test_log_lines_of_a_request_carry_its_correlation_id(app):
    from hydroponics.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)  # the JSON lines the functions print
    api = app.app

    @api.get("/logs")
    def logs() -> dict:
        logger.info("inside the request")
        return {}

    logger._logger.addHandler(handler)
    try:
        app.get("/logs", headers={"X-Request-Id": "req-log"})
        logger.info("after the request")
    finally:
        logger._logger.removeHandler(handler)
    inside, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inside["message"], inside["correlation_id"]) == ("inside the request", "req-log")
    assert "correlation_id" not in after


def test_latencies_fall_into_their_buckets_and_add_up():
    counter = RequestCounter("ingest", "POST", "/api/data", 202)
    for seconds in (0.001, 0.005, 0.007, 0.3, 11.0):
        counter.add(seconds)
    assert counter.count == 5 and counter.seconds == pytest.approx(11.313)
    assert counter.buckets[0] == 2  # <= 5 ms (the bound is inclusive, as Prometheus' le)
    assert counter.buckets[BUCKETS.index(0.01)] == 1
    assert counter.buckets[BUCKETS.index(0.5)] == 1
    assert counter.buckets[-1] == 1  # +Inf


def test_a_failed_flush_keeps_the_counts_for_the_next(recorder, monkeypatch):
    monkeypatch.setenv("MONITORING_TABLE", "monitoring")
    get_settings.cache_clear()
    calls = []

    def flaky(table, counter):
        calls.append(counter.count)
        if len(calls) == 1:
            raise OSError("DynamoDB unreachable")

    monkeypatch.setattr(request_metrics, "_add_to_table", flaky)
    for _ in range(3):
        recorder.record("ingest", "POST", "/api/data", 202, 0.01)
    logging.disable(logging.CRITICAL)
    try:
        assert recorder.flush() == 0
    finally:
        logging.disable(logging.NOTSET)
    recorder.record("ingest", "POST", "/api/data", 202, 0.01)
    assert recorder.flush() == 1
    assert calls == [3, 4]
    assert recorder.flush() == 0  # nothing pending
