"""GET /api/data/query past the retention horizon: answered from the S3 archive as PostgreSQL answered it."""

from uuid import UUID

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from hydroponics.api.deps import acting_client
from hydroponics.api.errors import install_error_handlers
from hydroponics.api.routes import data
from hydroponics.retention.job import run_retention
from hydroponics.timeseries.postgres import PostgresTimeSeries
from tests.integration.retention_fixtures import archive_bucket, farm  # noqa: F401 - fixtures



def _as_test_client(request: Request) -> UUID:
    return UUID(request.headers["x-test-client"])


@pytest.fixture
def http(farm) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(data.router)
    app.dependency_overrides[acting_client] = _as_test_client
    app.dependency_overrides[data.query_limit] = lambda: None
    app.dependency_overrides[data.timeseries_store] = PostgresTimeSeries
    return TestClient(app)


def _all_pages(http, client, **params) -> tuple[list[dict], list[bool]]:
    points, archived, cursor = [], [], None
    while True:
        reply = http.get("/api/data/query", params=params | ({"cursor": cursor} if cursor else {}),
                         headers={"x-test-client": str(client)})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        points += body["points"]
        archived.append(body["archived"])
        cursor = body["next_cursor"]
        if cursor is None:
            return points, archived


def _approx_avg(points: list[dict]) -> list[dict]:
    return [p | {"avg": pytest.approx(p["avg"], rel=1e-12)} if "avg" in p else p for p in points]


@pytest.mark.parametrize("params", [
    {"window": "raw", "limit": "700"},
    {"window": "1h", "limit": "900", "sensor_type": "ph"},
    {"window": "1d", "limit": "40"},
    {"window": "raw", "limit": "10000", "sensor": "ec@bay-a"},
])
def test_the_archive_answers_past_the_horizon_as_postgresql_did(farm, http, params):
    span = {"start": farm.old_month.isoformat(), "end": farm.now.isoformat()} | params
    before, marked_before = _all_pages(http, farm.client, **span)
    assert len(before) > 100 and not any(marked_before)

    assert run_retention(requested_by="test", now=farm.now).status == "succeeded"

    after, marked_after = _all_pages(http, farm.client, **span)
    assert after == _approx_avg(before)
    assert marked_after[0] is True  # the first page starts in the archive


def test_a_range_wholly_in_the_archive_says_until_when(farm, http):
    run_retention(requested_by="test", now=farm.now)
    reply = http.get("/api/data/query", params={"start": farm.old_month.isoformat(), "end": farm.cutoff.isoformat(),
                                               "window": "1d"}, headers={"x-test-client": str(farm.client)})
    body = reply.json()
    assert body["archived"] is True and body["archived_until"].startswith(farm.cutoff.date().isoformat())
    assert body["points"] and all(p["bucket_start"] < body["archived_until"] for p in body["points"])


def test_another_clients_archive_is_never_read(farm, http):
    run_retention(requested_by="test", now=farm.now)
    reply = http.get("/api/data/query", params={"start": farm.old_month.isoformat(), "end": farm.cutoff.isoformat()},
                     headers={"x-test-client": str(farm.patient)})
    assert reply.json()["archived"] is False
    assert all(p["sensor"] == "ph@bay-z" for p in reply.json()["points"])
