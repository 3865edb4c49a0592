"""Query benchmark: latest-per-sensor and one sensor's day as 1-minute averages, on 10 million readings.

Creates a throwaway database on the DATABASE_URL server (from the environment or .local/db.env),
migrates it, loads sensors x per-sensor readings in SQL (generate_series, time-major as ingest
writes them), and times both queries through PostgresTimeSeries as the data API runs them (the JSON
body, `latest_body` / `query_body`) next to baselines measured in the same run: a `SELECT 1` and a
primary-key lookup of one reading in a unit of work (`session_scope`, the baselines of earlier runs),
and the floor, a `SELECT 1` in one round trip (`read_one`). Also timed: the same queries built into
dataclasses (`latest` / `query`, what Python callers get).

    .venv/bin/python bench/query_bench.py [--sensors 1000] [--per-sensor 10000] [--explain]
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, text  # noqa: E402

from hydroponics.db import migrate  # noqa: E402
from tests.databases import throwaway_database  # noqa: E402
from hydroponics.db.engine import _session_factory, get_engine, read_one, session_scope  # noqa: E402
from hydroponics.db.sql import statement  # noqa: E402
from hydroponics.settings import get_settings  # noqa: E402
from hydroponics.timeseries.base import SeriesQuery, Window  # noqa: E402
from hydroponics.timeseries.postgres import PostgresTimeSeries  # noqa: E402

SENSOR_TYPES = ("ph", "ec", "temperature", "humidity", "water_level")


def point_core_at(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("DB_SECRET_ARN", None)
    for cached in (get_settings, get_engine, _session_factory):
        cached.cache_clear()


def step(label: str) -> Callable[[], None]:
    began = time.perf_counter()
    print(f"  {label} ...", end="", flush=True)
    return lambda: print(f" {time.perf_counter() - began:.1f} s", flush=True)


def ensure_partitions(conn, first: datetime, last: datetime) -> None:
    """Monthly partitions covering the loaded range (the migration makes this month and the next two)."""
    month = first.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while month <= last:
        following = (month + timedelta(days=32)).replace(day=1)
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS readings_{month:%Y%m} PARTITION OF readings "
                          f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')"))
        month = following


def load(engine: Engine, sensors: int, per_sensor: int, interval: int, now: datetime) -> uuid.UUID:
    """Sensors x per_sensor readings up to `now`, every `interval` s, in time-major order; then ANALYZE."""
    with engine.begin() as conn:
        client_id = conn.execute(text("INSERT INTO clients (name) VALUES ('Bench Farms') RETURNING id")).scalar_one()
        conn.execute(text(
            "INSERT INTO sensors (client_id, external_id, sensor_type, location, unit) "
            "SELECT :c, 'sensor-' || lpad(g::text, 5, '0'), (CAST(:types AS text[]))[1 + mod(g, :ntypes)], "
            "'bay-' || mod(g, 25), NULL FROM generate_series(1, :n) g"),
            {"c": client_id, "types": list(SENSOR_TYPES), "ntypes": len(SENSOR_TYPES), "n": sensors})
        ensure_partitions(conn, now - timedelta(seconds=interval * per_sensor), now)
    done = step(f"loading {sensors * per_sensor:,} readings")
    with engine.begin() as conn:
        # Constraints and indexes are rebuilt after the load: far faster than maintaining them row by row.
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        conn.execute(text("ALTER TABLE readings DROP CONSTRAINT fk_readings_sensor_id_sensors"))
        conn.execute(text("ALTER TABLE readings DROP CONSTRAINT pk_readings"))
        conn.execute(text("DROP INDEX ix_readings_client_id_recorded_at"))
        conn.execute(text(
            "WITH farm AS MATERIALIZED (SELECT id, row_number() OVER (ORDER BY id) AS n FROM sensors) "
            "INSERT INTO readings (sensor_id, client_id, recorded_at, value, raw_value) "
            "SELECT s.id, :c, CAST(:now AS timestamptz) - make_interval(secs => g * :interval), v.value, v.value "
            "FROM generate_series(:per - 1, 0, -1) g "
            "CROSS JOIN LATERAL (SELECT id, n FROM farm WHERE g >= 0) s "  # g outer: time-major, as ingested
            "CROSS JOIN LATERAL (SELECT 6 + sin(g / 90.0 + s.n) + mod(g, 7) / 20.0 AS value) v"),
            {"c": client_id, "now": now, "interval": interval, "per": per_sensor})
        conn.execute(text("ALTER TABLE readings ADD CONSTRAINT pk_readings PRIMARY KEY (sensor_id, recorded_at)"))
        conn.execute(text("CREATE INDEX ix_readings_client_id_recorded_at ON readings (client_id, recorded_at)"))
        conn.execute(text("ALTER TABLE readings ADD CONSTRAINT fk_readings_sensor_id_sensors FOREIGN KEY (sensor_id) "
                          "REFERENCES sensors (id) ON DELETE CASCADE"))
        # What the store statement keeps current on every write (migration 0002's backfill, verbatim).
        conn.execute(text(
            "UPDATE sensors s SET (last_value, last_raw_value, last_recorded_at) = ("
            " SELECT r.value, r.raw_value, r.recorded_at FROM readings r"
            " WHERE r.sensor_id = s.id ORDER BY r.recorded_at DESC LIMIT 1)"))
    done()
    done = step("VACUUM ANALYZE")
    autocommit = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn:
        conn.execute(text("VACUUM ANALYZE readings"))
        conn.execute(text("VACUUM ANALYZE sensors"))
    autocommit.dispose()
    done()
    return client_id


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(measurements: dict[str, Callable[[], object]], iterations: int, warmup: int) -> dict[str, list[float]]:
    """Round-robin over the measurements, so machine noise hits them all alike; ms per call."""
    samples: dict[str, list[float]] = {name: [] for name in measurements}
    for i in range(warmup + iterations):
        for name, call in measurements.items():
            began = time.perf_counter()
            call()
            if i >= warmup:
                samples[name].append((time.perf_counter() - began) * 1000)
    return samples


def explain(engine: Engine, sql: str, params: dict) -> str:
    with engine.connect() as conn:
        return "\n".join(conn.execute(text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql), params).scalars())


LATERAL_LATEST = """
SELECT s.external_id, r.value, r.raw_value, r.recorded_at FROM sensors s
CROSS JOIN LATERAL (SELECT value, raw_value, recorded_at FROM readings
                    WHERE sensor_id = s.id ORDER BY recorded_at DESC LIMIT 1) r
WHERE s.client_id = :c ORDER BY s.external_id
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--per-sensor", type=int, default=10_000)
    parser.add_argument("--interval", type=int, default=60, help="seconds between a sensor's readings")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of both queries")
    args = parser.parse_args()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    print(f"query bench: {args.sensors:,} sensors x {args.per_sensor:,} readings, one every {args.interval} s")
    with throwaway_database("hydroponics_bench") as url:
        done = step("migrating")
        migrate.upgrade(url)
        done()
        point_core_at(url)
        engine = get_engine()
        loader = create_engine(url)  # the core's engine gives up on a statement after 5 s
        client_id = load(loader, args.sensors, args.per_sensor, args.interval, now)
        loader.dispose()
        store = PostgresTimeSeries()
        with engine.connect() as conn:
            sensor_id, external_id, at = conn.execute(text(
                "SELECT s.id, s.external_id, s.last_recorded_at - interval '1 hour' FROM sensors s "
                "ORDER BY external_id LIMIT 1 OFFSET :n"), {"n": args.sensors // 2}).one()
        day = SeriesQuery(client_id=client_id, sensor=external_id, start=now - timedelta(hours=24), end=now,
                          window=Window.MINUTE, limit=10_000)

        def select_one() -> None:
            with session_scope() as session:
                session.execute(text("SELECT 1")).scalar_one()

        def pk_lookup() -> None:
            with session_scope() as session:
                session.execute(text("SELECT value FROM readings WHERE sensor_id = :s AND recorded_at = :t"),
                                {"s": sensor_id, "t": at}).scalar_one()

        select_one_floor = statement("SELECT 1")

        def lateral_latest() -> None:
            with session_scope() as session:
                session.execute(text(LATERAL_LATEST), {"c": client_id}).all()

        assert len(store.latest(client_id)) == args.sensors
        buckets = len(store.query(day).points)
        print(f"  latest answers {args.sensors} sensors; the day answers {buckets} one-minute buckets")
        done = step(f"timing ({args.iterations} calls each, round-robin)")
        samples = timed({
            "SELECT 1 in a unit of work (baseline)": select_one,
            "PK lookup of one reading (baseline)": pk_lookup,
            "SELECT 1, one round trip (floor)": lambda: read_one(select_one_floor, {}),
            f"latest, all {args.sensors} sensors (API body)": lambda: store.latest_body(client_id),
            "one sensor, 24 h as 1m averages (API body)": lambda: store.query_body(day),
            f"latest, all {args.sensors} sensors (dataclasses)": lambda: store.latest(client_id),
            "one sensor, 24 h as 1m averages (dataclasses)": lambda: store.query(day),
            "(not used) latest via LATERAL per sensor": lateral_latest,
        }, args.iterations, warmup=20)
        done()
        base_one = statistics.median(samples["SELECT 1 in a unit of work (baseline)"])
        base_pk = statistics.median(samples["PK lookup of one reading (baseline)"])
        floor = statistics.median(samples["SELECT 1, one round trip (floor)"])
        print(f"\n{'query':50} {'p50 ms':>8} {'p95 ms':>8} {'p50/SELECT 1':>13} {'p50/PK':>8} {'p50/floor':>10}")
        for name, values in samples.items():
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            print(f"{name:50} {p50:8.2f} {p95:8.2f} {p50 / base_one:12.1f}x {p50 / base_pk:7.1f}x {p50 / floor:9.1f}x")
        if args.explain:
            from hydroponics.timeseries import postgres

            latest_sql = postgres._LATEST.format(filters="")
            print("\nEXPLAIN latest:\n" + explain(engine, latest_sql, {"client_id": client_id,
                                                                         "units": postgres._UNITS}))
            sql = postgres._AGGREGATED.format(filters=" AND s.external_id = :sensor", after_readings="",
                                              after_buckets="")
            print("\nEXPLAIN one sensor, 24 h as 1m averages:\n" + explain(engine, sql, {
                "client_id": client_id, "sensor": external_id, "start": day.start, "end": day.end,
                "rows": day.limit + 1, "page_size": day.limit, "width": "60 seconds"}))
            print("\nEXPLAIN (not used) latest via LATERAL:\n" + explain(engine, LATERAL_LATEST, {"c": client_id}))
        engine.dispose()


if __name__ == "__main__":
    main()
