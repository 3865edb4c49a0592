"""Retention on the deployed stack: the API starts the retention function, which archives to the stack's
S3 bucket (pyarrow from the archive layer), and the api function answers the old range from there."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.e2e.conftest import wait_for


def test_an_admin_dry_runs_then_runs_retention_and_old_readings_are_answered_from_the_archive(
        api, stack, stack_db, make_client):
    farm = make_client("Archive Farm")
    old = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=200)
    with stack_db.begin() as conn:
        sensor = conn.execute(text("INSERT INTO sensors (client_id, external_id, sensor_type, location)"
                                   " VALUES (:c, 'ph@vault', 'ph', 'vault') RETURNING id"),
                              {"c": farm["client_id"]}).scalar_one()
        conn.execute(text("INSERT INTO readings (sensor_id, client_id, recorded_at, value)"
                          " SELECT :s, :c, CAST(:t AS timestamptz) + n * interval '1 hour', 6 + n / 100.0"
                          " FROM generate_series(0, 47) n"), {"s": sensor, "c": farm["client_id"], "t": old})
    admin = {"X-API-Key": stack["ADMIN_KEY"]}
    span = {"start": (old - timedelta(days=1)).isoformat(), "end": (old + timedelta(days=3)).isoformat()}
    live = api.get("/api/data/query", params=span, headers=farm["headers"]).json()
    assert len(live["points"]) == 48 and live["archived"] is False

    plan = api.post("/admin/retention/run", params={"dry_run": "true"}, headers=admin)
    assert plan.status_code == 200
    assert any(s["client_id"] == farm["client_id"] and s["rows"] == 48 for s in plan.json()["steps"])
    assert api.post("/admin/retention/run", params={"dry_run": "true"}, headers=farm["headers"]).status_code == 403

    started = api.post("/admin/retention/run", headers=admin)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]

    def finished():
        run = api.get(f"/admin/retention/runs/{run_id}", headers=admin).json()
        return run if run["status"] not in ("queued", "running") else None
    run = wait_for(finished, timeout=90, interval=1)
    assert run and run["status"] == "succeeded", run
    assert run["readings_archived"] >= 48
    with stack_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM readings WHERE sensor_id = :s"), {"s": sensor}).scalar_one() == 0

    archived = api.get("/api/data/query", params=span, headers=farm["headers"]).json()
    assert archived["archived"] is True
    assert archived["points"] == live["points"]
