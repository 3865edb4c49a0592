"""A retention run killed mid-way loses nothing, and the next run completes the job."""

import os
import subprocess
import sys

from sqlalchemy import text

from hydroponics.retention import archive
from hydroponics.retention.job import run_retention
from hydroponics.retention.restore import restore_readings
from tests.conftest import ROOT
from tests.integration.retention_crash import CRASHED
from tests.integration.retention_fixtures import (  # noqa: F401 - fixtures
    archive_bucket,
    farm,
    listing,
    readings_checksum,
    table_counts,
)



def crash_at(point: str, now) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.integration.retention_crash", point, now.isoformat()],
                          cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert done.returncode == CRASHED, done.stderr[-3000:]


def _statuses(db) -> list[str]:
    with db.connect() as conn:
        return list(conn.execute(text("SELECT status FROM retention_runs ORDER BY requested_at")).scalars())


def test_crash_between_archive_and_drop_loses_nothing_and_a_rerun_completes(farm, platform_db, archive_bucket):
    counts = table_counts(platform_db)
    expired = readings_checksum(farm.client, farm.old_month, farm.cutoff)

    crash_at("archived", farm.now)

    after = table_counts(platform_db)
    assert (after["readings"], after["events"], after["retention_archives"]) == (
        counts["readings"], counts["events"], 0)  # the delete/drop never committed
    assert any(k.endswith("manifest.json") for k in listing(archive_bucket))  # the archive had been written
    assert _statuses(platform_db) == ["running"]

    rerun = run_retention(requested_by="test", now=farm.now)

    assert rerun.status == "succeeded", rerun.errors
    assert _statuses(platform_db) == ["interrupted", "succeeded"]
    assert rerun.readings_archived == expired[0]  # archived once more, merged, not doubled
    assert sum(m.row_count for m in archive.list_manifests("readings", farm.client)) == expired[0]
    restore_readings(farm.client, farm.old_month, farm.cutoff)
    assert readings_checksum(farm.client, farm.old_month, farm.cutoff) == expired


def test_crash_between_drop_and_record_loses_nothing_and_a_rerun_completes(farm, platform_db, archive_bucket):
    expired = readings_checksum(farm.client, farm.old_month, farm.cutoff)

    crash_at("recorded-steps", farm.now)

    assert readings_checksum(farm.client, farm.old_month, farm.cutoff)[0] == 0  # the rows left PostgreSQL ...
    manifests = archive.list_manifests("readings", farm.client)
    assert sum(archive.read_verified(m).num_rows for m in manifests) == expired[0]  # ... into a verified archive
    assert _statuses(platform_db) == ["running"]

    rerun = run_retention(requested_by="test", now=farm.now)

    assert rerun.status == "succeeded" and rerun.readings_archived == 0
    assert _statuses(platform_db) == ["interrupted", "succeeded"]
    restore_readings(farm.client, farm.old_month, farm.cutoff)
    assert readings_checksum(farm.client, farm.old_month, farm.cutoff) == expired
