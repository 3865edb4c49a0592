"""/admin/retention over real PostgreSQL and MiniStack: dry run, starting a run, the runs and archives,
and the CLI (`python -m hydroponics.retention`) doing the same from a shell."""

import json
import os
import subprocess
import sys
import uuid

import pytest
from fastapi.testclient import TestClient

from hydroponics.api.routes import retention
from hydroponics.retention.job import run_retention
from hydroponics.retention.requests import dry_run
from tests.conftest import ROOT
from tests.integration.conftest import reset_core_caches
from tests.integration.retention_fixtures import (  # noqa: F401 - fixtures
    archive_bucket,
    farm,
    listing,
    readings_checksum,
    table_counts,
)
from tests.routes_app import routes_app

ADMIN = {"x-test-admin": "1"}



@pytest.fixture
def http(farm) -> TestClient:
    return TestClient(routes_app(retention))


def test_only_admins_reach_retention(http, farm):
    farm_key = {"x-test-client": str(farm.client)}
    for reply in (http.post("/admin/retention/run", params={"dry_run": "true"}, headers=farm_key),
                  http.post("/admin/retention/run", headers=farm_key),
                  http.get("/admin/retention/runs", headers=farm_key),
                  http.get(f"/admin/retention/runs/{uuid.uuid4()}", headers=farm_key),
                  http.get("/admin/retention/archives", headers=farm_key)):
        assert reply.status_code == 403


def test_the_dry_run_answers_the_plan_and_changes_nothing(http, farm, platform_db, archive_bucket):
    counts, objects = table_counts(platform_db), listing(archive_bucket)
    reply = http.post("/admin/retention/run", params={"dry_run": "true"}, headers=ADMIN)
    assert reply.status_code == 200
    body = reply.json()
    assert body["dry_run"] is True and body["steps"] and body["readings"]["rows"] > 0
    assert body["horizons"]["readings_days"] == 90
    assert table_counts(platform_db) == counts and listing(archive_bucket) == objects


def test_a_real_run_needs_the_retention_function(http, farm, platform_db, monkeypatch):
    monkeypatch.delenv("RETENTION_FUNCTION_NAME", raising=False)
    reset_core_caches()
    reply = http.post("/admin/retention/run", headers=ADMIN)
    assert reply.status_code == 503 and "RETENTION_FUNCTION_NAME" in reply.json()["error"]["message"]

    monkeypatch.setenv("RETENTION_FUNCTION_NAME", f"no-such-function-{uuid.uuid4().hex[:6]}")
    reset_core_caches()
    counts = table_counts(platform_db)
    reply = http.post("/admin/retention/run", headers=ADMIN)
    assert reply.status_code == 503
    run, = http.get("/admin/retention/runs", headers=ADMIN).json()["items"]
    assert run["status"] == "failed" and "could not start" in run["errors"][0]["error"]
    assert table_counts(platform_db)["readings"] == counts["readings"]


def test_a_second_run_while_one_is_queued_is_refused(http, farm, monkeypatch):
    from hydroponics.db.engine import session_scope
    from hydroponics.retention.runs import queue_run

    monkeypatch.setenv("RETENTION_FUNCTION_NAME", "hydroponics-test-retention")
    reset_core_caches()
    with session_scope() as session:
        queue_run(session, "test")
    reply = http.post("/admin/retention/run", headers=ADMIN)
    assert reply.status_code == 409


def test_runs_and_archives_are_listed(http, farm):
    first = run_retention(requested_by="test", now=farm.now)
    second = run_retention(requested_by="test", now=farm.now)
    page = http.get("/admin/retention/runs", params={"limit": 1}, headers=ADMIN).json()
    rest = http.get("/admin/retention/runs", params={"cursor": page["next_cursor"]}, headers=ADMIN).json()
    assert [r["id"] for r in page["items"] + rest["items"]] == [str(second.id), str(first.id)]
    one = http.get(f"/admin/retention/runs/{first.id}", headers=ADMIN).json()
    assert one["status"] == "succeeded" and one["partitions_dropped"] == 1 and one["readings_archived"] > 0
    assert http.get(f"/admin/retention/runs/{uuid.uuid4()}", headers=ADMIN).status_code == 404
    months = http.get("/admin/retention/archives", params={"client_id": str(farm.client)}, headers=ADMIN).json()
    assert [m["month"] for m in months] == [m.date().isoformat() for m in
                                            (farm.old_month, farm.between_month, farm.cutoff_month)]
    assert sum(m["row_count"] for m in months) == first.readings_archived
    events = http.get("/admin/retention/archives", params={"table": "events"}, headers=ADMIN).json()
    assert events and all(m["client_id"] is None for m in events)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hydroponics.retention", *args], cwd=ROOT, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=120)


def test_the_cli_dry_run_prints_the_plan_and_changes_nothing(farm, platform_db, archive_bucket):
    counts, objects = table_counts(platform_db), listing(archive_bucket)
    done = _cli("--dry-run")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["dry_run"] is True and printed["steps"] == dry_run().to_dict()["steps"]
    assert table_counts(platform_db) == counts and listing(archive_bucket) == objects


def test_the_cli_restores_a_range_and_rejects_a_bad_one(farm, platform_db):
    expired = readings_checksum(farm.client, farm.old_month, farm.cutoff)
    assert run_retention(requested_by="test", now=farm.now).status == "succeeded"
    done = _cli("restore", "--client", str(farm.client), "--from", farm.old_month.date().isoformat(),
                "--to", farm.cutoff.isoformat())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["restored"] == expired[0]
    assert readings_checksum(farm.client, farm.old_month, farm.cutoff) == expired
    bad = _cli("restore", "--client", str(farm.client), "--from", "2026-02-01", "--to", "2026-01-01")
    assert bad.returncode == 2 and "--to must be after --from" in bad.stderr


def test_an_admin_sets_a_clients_own_horizon(farm):
    from hydroponics.api.routes import clients

    http = TestClient(routes_app(clients))
    path = f"/api/clients/{farm.client}"
    assert http.patch(path, json={"retention_days": 30}, headers={"x-test-client": str(farm.client)}).status_code == 403
    too_short = http.patch(path, json={"retention_days": 3}, headers=ADMIN)
    assert too_short.status_code == 422 and too_short.json()["error"]["details"][0]["field"] == "retention_days"
    assert http.patch(path, json={"retention_days": 400}, headers=ADMIN).json()["retention_days"] == 400
    assert dry_run(now=farm.now).to_dict()["horizons"]["client_readings_days"][str(farm.client)] == 400
    assert not [s for s in dry_run(now=farm.now).steps if s.client_id == farm.client and s.table == "readings"]
    assert http.patch(path, json={"retention_days": None}, headers=ADMIN).json()["retention_days"] is None
    assert str(farm.client) not in dry_run(now=farm.now).to_dict()["horizons"]["client_readings_days"]


def test_a_run_that_never_started_does_not_block_the_next(http, farm, platform_db, monkeypatch):
    from sqlalchemy import text

    monkeypatch.setenv("RETENTION_FUNCTION_NAME", "hydroponics-test-retention")
    reset_core_caches()
    with platform_db.begin() as conn:  # queued 10 minutes ago; its function never came (nobody holds the lock)
        lost = conn.execute(text("INSERT INTO retention_runs (requested_by, requested_at)"
                                 " VALUES ('test', now() - interval '10 minutes') RETURNING id")).scalar_one()
    from hydroponics.db.engine import session_scope
    from hydroponics.retention.runs import get_run, queue_run

    with session_scope() as session:
        queued = queue_run(session, "test")
    with session_scope() as session:
        assert get_run(session, lost).status == "interrupted" and get_run(session, queued).status == "queued"
