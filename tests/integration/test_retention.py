"""Retention against real PostgreSQL and MiniStack S3: plan, archive, drop/delete, record, restore."""

import json
from datetime import timedelta

from sqlalchemy import text

from hydroponics.retention import archive
from hydroponics.retention.job import run_retention
from hydroponics.retention.requests import dry_run
from hydroponics.retention.restore import restore_readings
from tests.sealed import channel_columns
from tests.integration.retention_fixtures import (  # noqa: F401 - fixtures
    archive_bucket,
    farm,
    listing,
    readings_checksum,
    seed_farm,
    table_counts,
)



def _partitions(db) -> set[str]:
    with db.connect() as conn:
        return set(conn.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits"
                                     " WHERE inhparent = 'readings'::regclass")).scalars())


def test_dry_run_reports_the_plan_and_changes_nothing(farm, platform_db, archive_bucket):
    counts, objects = table_counts(platform_db), listing(archive_bucket)
    expired_rows, _ = readings_checksum(farm.client, farm.old_month, farm.cutoff)

    plan = dry_run(now=farm.now).to_dict()

    assert table_counts(platform_db) == counts and listing(archive_bucket) == objects
    assert [d["partition"] for d in plan["readings"]["partitions_dropped"]] == [farm.old_partition]
    assert plan["readings"]["rows"] == expired_rows  # the patient farm keeps its rows (200 days)
    steps = {(s["partition"], s["month"], s["action"]) for s in plan["steps"] if s["table"] == "readings"}
    assert steps == {(farm.old_partition, farm.old_month.date().isoformat(), "drop partition"),
                     ("readings_default", farm.between_month.date().isoformat(), "delete rows"),
                     (f"readings_{farm.cutoff_month:%Y%m}", farm.cutoff_month.date().isoformat(), "delete rows")}
    assert plan["events"]["rows"] == 2 * 41
    assert all(s["bytes"] > 0 for s in plan["steps"])


def test_run_archives_drops_deletes_and_restore_gives_back_identical_rows(farm, platform_db, archive_bucket):
    before = readings_checksum(farm.client, farm.old_month, farm.cutoff)
    kept = readings_checksum(farm.client, farm.cutoff, farm.now)
    patient = readings_checksum(farm.patient)

    run = run_retention(requested_by="test", now=farm.now)

    assert run.status == "succeeded", run.errors
    assert farm.old_partition not in _partitions(platform_db)
    assert readings_checksum(farm.client, farm.old_month, farm.cutoff)[0] == 0
    assert readings_checksum(farm.client, farm.cutoff, farm.now) == kept
    assert readings_checksum(farm.patient) == patient
    assert (run.readings_archived, run.readings_deleted, run.partitions_dropped) == (before[0], before[0], 1)
    assert run.events_archived == run.events_deleted == 82
    with platform_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events WHERE occurred_at < :c"),
                            {"c": farm.now - timedelta(days=365)}).scalar_one() == 0
    manifests = archive.list_manifests("readings", farm.client)
    assert [m.month for m in manifests] == [f"{m:%Y-%m}" for m in (farm.old_month, farm.between_month,
                                                                     farm.cutoff_month)]
    assert sum(m.row_count for m in manifests) == before[0]
    assert manifests[-1].covered_until == farm.cutoff.isoformat()
    for m in manifests:  # each object set reads back as its manifest says
        archive.read_verified(m)
    assert len(archive.list_manifests("events", None)) >= 1

    report = restore_readings(farm.client, farm.old_month, farm.cutoff, keep_days=30)

    assert (report.restored, report.already_present, report.unknown_sensor) == (before[0], 0, 0)
    assert readings_checksum(farm.client, farm.old_month, farm.cutoff) == before
    again = restore_readings(farm.client, farm.old_month, farm.cutoff)
    assert (again.restored, again.already_present) == (0, before[0])
    # the restored range is held: the next run leaves it alone
    rerun = run_retention(requested_by="test", now=farm.now + timedelta(days=1))
    assert rerun.status == "succeeded" and readings_checksum(farm.client, farm.old_month, farm.cutoff) == before


def test_a_second_run_finds_nothing_more_and_archives_late_rows_into_the_same_month(farm, platform_db):
    first = run_retention(requested_by="test", now=farm.now)
    archived = {m.month: m.row_count for m in archive.list_manifests("readings", farm.client)}
    with platform_db.begin() as conn:  # a reading that arrives late, for an archived month
        conn.execute(text("INSERT INTO readings (sensor_id, client_id, recorded_at, value)"
                          " SELECT id, client_id, :at, 7.5 FROM sensors WHERE external_id = 'ph@bay-a'"),
                     {"at": farm.between_month + timedelta(days=3, minutes=7)})

    second = run_retention(requested_by="test", now=farm.now)

    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert second.readings_archived == 1 and second.partitions_dropped == 0
    merged = {m.month: m.row_count for m in archive.list_manifests("readings", farm.client)}
    assert merged == archived | {f"{farm.between_month:%Y-%m}": archived[f"{farm.between_month:%Y-%m}"] + 1}
    prefix = archive.prefix("readings", farm.client, farm.between_month.date())
    assert len([k for k in listing(archive.bucket()) if k.startswith(prefix)]) == 2  # data + manifest, no leftover


def test_a_client_override_below_the_minimum_is_ignored(platform_db, archive_bucket):
    farm = seed_farm(platform_db)
    with platform_db.begin() as conn:
        conn.execute(text("UPDATE clients SET settings = '{\"retention_days\": 3}' WHERE id = :c"), {"c": farm.patient})
    plan = dry_run(now=farm.now).to_dict()
    assert str(farm.patient) not in plan["horizons"]["client_readings_days"]
    assert any(s["client_id"] == str(farm.patient) for s in plan["steps"] if s["table"] == "readings")


def test_a_failed_run_is_recorded_and_alerts_the_admin_channel_then_a_good_run_resolves_it(
        farm, platform_db, archive_bucket, monkeypatch):
    from tests.integration.conftest import reset_core_caches

    with platform_db.begin() as conn:
        ops = conn.execute(text("INSERT INTO clients (name) VALUES ('Platform Operators') RETURNING id")).scalar_one()
        conn.execute(text("INSERT INTO api_keys (client_id, name, prefix, key_hash, scope)"
                          " VALUES (:c, 'ops', 'hk_ops', repeat('a', 64), 'admin')"), {"c": ops})
        channel = conn.execute(text("INSERT INTO notification_channels (id, client_id, name, kind, target_sealed,"
                                    " target_hint) VALUES (:id, :c, 'admin', 'email', CAST(:target_sealed AS jsonb),"
                                    " :target_hint) RETURNING id"),
                               {"c": ops} | channel_columns(ops, "email", "mailto://ops@example.test")).scalar_one()
    counts = table_counts(platform_db)
    monkeypatch.setenv("ARCHIVE_BUCKET", archive_bucket + "-missing")
    reset_core_caches()

    failed = run_retention(requested_by="test", now=farm.now)

    assert failed.status == "failed" and failed.errors and failed.readings_deleted == 0
    with platform_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM readings")).scalar_one() == counts["readings"]
        alert = conn.execute(text("SELECT id, client_id, severity, status, job, message FROM alerts WHERE job = 'retention'")).one()
        assert (alert.client_id, alert.severity, alert.status) == (ops, "critical", "open")
        assert failed.alert_id == alert.id and "NoSuchBucket" in alert.message
        sent = conn.execute(text("SELECT channel_id, kind, status FROM notifications WHERE alert_id = :a"),
                            {"a": alert.id}).one()
        assert (sent.channel_id, sent.kind) == (channel, "alert")

    again = run_retention(requested_by="test", now=farm.now)
    with platform_db.connect() as conn:
        assert conn.execute(text("SELECT repeat_count FROM alerts WHERE id = :a"), {"a": alert.id}).scalar_one() == 1
    assert again.status == "failed"

    monkeypatch.setenv("ARCHIVE_BUCKET", archive_bucket)
    reset_core_caches()
    good = run_retention(requested_by="test", now=farm.now)
    assert good.status == "succeeded"
    with platform_db.connect() as conn:
        assert conn.execute(text("SELECT status FROM alerts WHERE id = :a"), {"a": alert.id}).scalar_one() == "resolved"
        assert conn.execute(text("SELECT count(*) FROM notifications WHERE alert_id = :a AND kind = 'resolved'"),
                            {"a": alert.id}).scalar_one() == 1


def test_runs_are_recorded_for_monitoring(farm, platform_db):
    run = run_retention(requested_by="test", now=farm.now)
    with platform_db.connect() as conn:
        row = conn.execute(text("SELECT status, started_at, finished_at, duration_seconds, steps FROM retention_runs"
                                " WHERE id = :id"), {"id": run.id}).one()
    assert row.status == "succeeded" and row.finished_at >= row.started_at and row.duration_seconds >= 0
    actions = [s["action"] for s in row.steps]
    assert actions[0] == "create partitions" and actions.count("drop partition") == 1
    json.dumps(row.steps)
