"""Store benchmark: readings/s of the store step (SQS batches of 100) against raw COPY of the same rows.

Creates a throwaway database on the DATABASE_URL server (from the environment or .local/db.env),
migrates it, registers and calibrates the sensors, then alternates rounds of
  - the store step: `store_sqs_batch` on SQS-shaped records (JSON bodies), one call per 100, and
  - the baseline: COPY of the same rows (sensor ids resolved, calibration applied, CSV prepared
    before the clock starts) into the same table, one COPY and commit per 100, and all in one COPY,
emptying `readings` between runs, and prints each rate next to the baselines as a ratio, with the
round trips to PostgreSQL each path takes per batch of 100 (the core's engine sets TCP_NODELAY, runs
the store statement prepared and outside a transaction: see hydroponics/db/engine.py).

    .venv/bin/python bench/store_bench.py [--readings 30000] [--sensors 200] [--rounds 3]
"""

import argparse
import io
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
from hydroponics.db.engine import _session_factory, get_engine  # noqa: E402
from hydroponics.readings.batch import store_sqs_batch  # noqa: E402
from hydroponics.readings.messages import QueuedReading  # noqa: E402
from hydroponics.settings import get_settings  # noqa: E402
from tests.sql_counter import counted_round_trips  # noqa: E402

BATCH = 100  # records per SQS batch, as the rules function receives them
SLOPE, OFFSET = 1.02, -0.05  # every sensor's calibration


def point_core_at(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("DB_SECRET_ARN", None)
    for cached in (get_settings, get_engine, _session_factory):
        cached.cache_clear()


def readings_for(client_id: uuid.UUID, sensors: int, count: int, start: datetime) -> list[QueuedReading]:
    """`count` readings, time-major over `sensors` sensors, ten seconds apart per sensor."""
    return [QueuedReading(client_id=client_id, sensor=f"ph-{i % sensors:04d}", sensor_type="ph",
                          location=f"bay-{i % sensors % 20}", value=5.5 + (i % 97) / 100,
                          recorded_at=start + timedelta(seconds=10 * (i // sensors)), received_at=start)
            for i in range(count)]


def sqs_batches(readings: list[QueuedReading]) -> list[list[dict]]:
    records = [{"messageId": str(uuid.uuid4()), "receiptHandle": f"r{i}", "body": r.model_dump_json(),
                "attributes": {"ApproximateReceiveCount": "1"}} for i, r in enumerate(readings)]
    return [records[i:i + BATCH] for i in range(0, len(records), BATCH)]


def copy_payloads(engine: Engine, readings: list[QueuedReading]) -> list[str]:
    """The same rows as CSV, a payload per 100: sensor ids resolved, calibration applied."""
    with engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT external_id, id FROM sensors")).all())
    lines = [f"{ids[r.sensor]},{r.client_id},{r.recorded_at.isoformat()},{r.value * SLOPE + OFFSET!r},{r.value!r}\n"
             for r in readings]
    return ["".join(lines[i:i + BATCH]) for i in range(0, len(lines), BATCH)]


def empty_readings(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE readings"))
    autocommit = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn:
        conn.execute(text("VACUUM ANALYZE sensors"))
    autocommit.dispose()


def copy_rows(engine: Engine, payloads: list[str], per_batch: bool) -> None:
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        sql = "COPY readings (sensor_id, client_id, recorded_at, value, raw_value) FROM STDIN WITH (FORMAT csv)"
        if per_batch:
            for payload in payloads:
                cursor.execute(sql, stream=io.StringIO(payload))
                connection.commit()
        else:
            cursor.execute(sql, stream=io.StringIO("".join(payloads)))
            connection.commit()
    finally:
        connection.close()


def store_step(batches: list[list[dict]]) -> None:
    for batch in batches:
        outcome = store_sqs_batch(batch)
        assert outcome.stored == len(batch) and not outcome.failed_message_ids, outcome


def rate(engine: Engine, rows: int, run: Callable[[], None]) -> float:
    """Readings per second of one run into an empty readings table; checks every row landed."""
    empty_readings(engine)
    began = time.perf_counter()
    run()
    elapsed = time.perf_counter() - began
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM readings")).scalar_one() == rows
    return rows / elapsed


def compare(engine: Engine, readings: list[QueuedReading], batches: list[list[dict]], payloads: list[str],
            rounds: int, label: str) -> None:
    """Alternating rounds of the three paths; prints the median rates and their ratios."""
    print(f"\n{label}")
    rates: dict[str, list[float]] = {"store step (store_sqs_batch)": [], "COPY per 100 (baseline)": [],
                                     "COPY all at once (baseline)": []}
    for round_number in range(rounds):
        rates["COPY per 100 (baseline)"].append(rate(engine, len(readings), lambda: copy_rows(engine, payloads, True)))
        rates["COPY all at once (baseline)"].append(
            rate(engine, len(readings), lambda: copy_rows(engine, payloads, False)))
        rates["store step (store_sqs_batch)"].append(rate(engine, len(readings), lambda: store_step(batches)))
        print(f"  round {round_number + 1}: " + ", ".join(f"{name.split(' (')[0]} {v[-1]:,.0f}/s"
                                                          for name, v in rates.items()), flush=True)
    with engine.connect() as conn:  # the store step ran last: it calibrated like the baseline
        stored = conn.execute(text("SELECT value, raw_value FROM readings LIMIT 1")).one()
    assert abs(stored[0] - (stored[1] * SLOPE + OFFSET)) < 1e-9, stored
    per_batch = statistics.median(rates["COPY per 100 (baseline)"])
    bulk = statistics.median(rates["COPY all at once (baseline)"])
    print(f"{'path':32} {'readings/s':>11} {'/ COPY per 100':>15} {'/ COPY at once':>15}")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:32} {median:11,.0f} {median / per_batch:14.2f}x {median / bulk:14.2f}x")
    empty_readings(engine)
    with counted_round_trips() as store_trips:
        store_step(batches[:10])
    empty_readings(engine)
    with counted_round_trips() as copy_trips:
        copy_rows(engine, payloads[:10], True)
    print(f"round trips per batch of {BATCH}: store step {store_trips[0] / 10:.1f}, COPY per 100 {copy_trips[0] / 10:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=30_000)
    parser.add_argument("--sensors", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"store bench: {args.readings:,} readings from {args.sensors} sensors, SQS batches of {BATCH}, "
          f"{args.rounds} rounds")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with throwaway_database("hydroponics_bench") as url:
        migrate.upgrade(url)
        point_core_at(url)
        engine = get_engine()
        with engine.begin() as conn:
            client_id = conn.execute(text("INSERT INTO clients (name) VALUES ('Bench Farms') RETURNING id")).scalar()
        store_step(sqs_batches(readings_for(client_id, args.sensors, args.sensors, start - timedelta(days=1))))
        with engine.begin() as conn:  # every sensor calibrated: the store looks the calibration up per reading
            conn.execute(text('INSERT INTO calibrations (sensor_id, client_id, calibrated_at, "offset", slope) '
                              "SELECT id, client_id, :at, :offset, :slope FROM sensors"),
                         {"at": start - timedelta(hours=1), "offset": OFFSET, "slope": SLOPE})
        readings = readings_for(client_id, args.sensors, args.readings, start)
        batches, payloads = sqs_batches(readings), copy_payloads(engine, readings)
        compare(engine, readings, batches, payloads, args.rounds, "the core's engine")
        engine.dispose()


if __name__ == "__main__":
    main()
