"""A farm with readings on both sides of the retention horizon, and a fresh MiniStack archive bucket."""

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Iterator

import boto3
import pytest
from sqlalchemy import Engine, text

from hydroponics.db.bulk import copy_out, epoch_us
from hydroponics.db.engine import session_scope
from hydroponics.readings.partitions import ensure_month_partition
from hydroponics.retention.archive import READINGS, checksum
from hydroponics.retention.horizons import month_start
from tests.integration.conftest import reset_core_caches


def s3_client():
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    return boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                 region_name="us-east-1").client("s3", endpoint_url=endpoint)


def listing(bucket: str) -> dict[str, str]:
    """Every object of the bucket with its ETag."""
    pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


@pytest.fixture
def archive_bucket(monkeypatch) -> Iterator[str]:
    s3 = s3_client()
    name = f"it-archive-{uuid.uuid4().hex[:10]}"
    try:
        s3.create_bucket(Bucket=name)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"MiniStack is not reachable (scripts/ministack-up): {exc}")
    for key, value in {"ARCHIVE_BUCKET": name, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")}.items():
        monkeypatch.setenv(key, value)
    reset_core_caches()
    yield name
    keys = [{"Key": k} for k in listing(name)]
    for start in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=name, Delete={"Objects": keys[start:start + 1000]})
    s3.delete_bucket(Bucket=name)


@dataclass(frozen=True)
class Farm:
    """Two clients; `now` puts the 90-day cutoff on the 15th of a month (`cutoff`)."""

    now: datetime
    cutoff: datetime
    client: uuid.UUID  # default horizon (90 days)
    patient: uuid.UUID  # settings.retention_days = 200
    old_month: datetime  # two months before the cutoff's: its own partition, wholly expired
    between_month: datetime  # the month before the cutoff's: in readings_default, wholly expired
    cutoff_month: datetime  # its own partition, expired up to the cutoff only

    @property
    def old_partition(self) -> str:
        return f"readings_{self.old_month:%Y%m}"


def _series(session, sensor: uuid.UUID, client: uuid.UUID, start: datetime, end: datetime, step: str) -> None:
    session.execute(text(
        "INSERT INTO readings (sensor_id, client_id, recorded_at, value, raw_value)"
        " SELECT :s, :c, t, 6 + mod(extract(epoch FROM t)::bigint, 97) / 100.0,"
        "        CASE WHEN extract(hour FROM t) = 3 THEN NULL ELSE 6.1 END"
        " FROM generate_series(CAST(:a AS timestamptz), CAST(:b AS timestamptz) - interval '1 second',"
        " CAST(:step AS interval)) t"), {"s": sensor, "c": client, "a": start, "b": end, "step": step})


def seed_farm(db: Engine) -> Farm:
    today = datetime.now(UTC)
    cutoff = datetime(today.year, today.month, 15, tzinfo=UTC)
    for _ in range(4):
        cutoff = datetime(cutoff.year - (cutoff.month == 1), (cutoff.month - 2) % 12 + 1, 15, tzinfo=UTC)
    now = cutoff + timedelta(days=90, hours=3)
    cutoff_month = month_start(cutoff)
    between = month_start(cutoff_month - timedelta(days=1))
    old = month_start(between - timedelta(days=1))
    with session_scope() as session:
        client = session.execute(text("INSERT INTO clients (name) VALUES ('Old Farm') RETURNING id")).scalar_one()
        patient = session.execute(text("INSERT INTO clients (name, settings) VALUES ('Patient Farm',"
                                       " '{\"retention_days\": 200}') RETURNING id")).scalar_one()
        for month in (old, cutoff_month):
            ensure_month_partition(session, month.date())
        sensors = {}
        for owner, name in ((client, "ph@bay-a"), (client, "ec@bay-a"), (patient, "ph@bay-z")):
            sensors[name] = session.execute(text(
                "INSERT INTO sensors (client_id, external_id, sensor_type, location) VALUES (:c, :e, :t, :l)"
                " RETURNING id"), {"c": owner, "e": name, "t": name.split("@")[0], "l": name.split("@")[1]}).scalar_one()
        for name in ("ph@bay-a", "ec@bay-a"):
            _series(session, sensors[name], client, old, now - timedelta(days=1), "3 hours")
        _series(session, sensors["ph@bay-z"], patient, between + timedelta(days=10), now - timedelta(days=1), "6 hours")
        for owner in (client, None):
            session.execute(text(
                "INSERT INTO events (client_id, event_type, actor, details, occurred_at)"
                " SELECT :c, 'sensor.updated', 'tester', jsonb_build_object('n', n, 'note', 'a \"quoted\", text'),"
                "        CAST(:at AS timestamptz) - n * interval '1 day' FROM generate_series(0, 40) n"),
                {"c": owner, "at": now - timedelta(days=380)})
    return Farm(now, cutoff, client, patient, old, between, cutoff_month)


def readings_of(client: uuid.UUID, start: datetime | None = None, end: datetime | None = None):
    """The client's readings in [start, end) as an Arrow table of the archive's columns."""
    where = f"r.client_id = '{client}'"
    if start is not None:
        where += f" AND r.recorded_at >= '{start.isoformat()}' AND r.recorded_at < '{end.isoformat()}'"
    with session_scope() as session:
        return copy_out(session, f"SELECT r.sensor_id, r.client_id, {epoch_us('r.recorded_at')}, r.value, r.raw_value,"
                                 f" {epoch_us('r.received_at')}, s.external_id, s.sensor_type, s.location"
                                 f" FROM readings r JOIN sensors s ON s.id = r.sensor_id WHERE {where}", READINGS.schema)


def readings_checksum(client: uuid.UUID, start: datetime | None = None, end: datetime | None = None) -> tuple[int, str]:
    rows = readings_of(client, start, end)
    return rows.num_rows, checksum(READINGS, rows)


def table_counts(db: Engine) -> dict[str, int]:
    with db.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("readings", "events", "retention_runs", "retention_archives", "alerts")}


@pytest.fixture
def farm(platform_db, archive_bucket) -> Farm:
    return seed_farm(platform_db)
