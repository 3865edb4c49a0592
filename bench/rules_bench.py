"""Rules benchmark: rule-loading queries and evaluation time per batch, with the rule cache and without.

Creates a throwaway database on the DATABASE_URL server (from the environment or .local/db.env),
migrates it, and sets up `--farms` clients, each with a few sensors at a location with an active
crop and four rules (above, below, outside_stage_range, rate_of_change). Then it alternates rounds of
  - the baseline: RULES_CACHE_SECONDS=0, every batch loads its clients' rules, and
  - the cache: RULES_CACHE_SECONDS=60, as deployed,
each round storing and then evaluating `--batches` SQS-sized batches of 100 readings that mix every
farm (a busy queue), as the rules function does, with some readings out of range so alerts open,
repeat and resolve. Only the evaluation (`evaluate_readings`, own transaction) is timed; statements
are counted per batch. Prints medians per batch and the ratios.

    .venv/bin/python bench/rules_bench.py [--farms 20] [--batches 100] [--rounds 3]
"""

import argparse
import json
import os
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from hydroponics.db import migrate  # noqa: E402
from hydroponics.db.engine import _session_factory, get_engine, session_scope  # noqa: E402
from hydroponics.readings.messages import QueuedReading  # noqa: E402
from hydroponics.readings.store import store_readings  # noqa: E402
from hydroponics.rules import cache  # noqa: E402
from hydroponics.rules.engine import evaluate_readings  # noqa: E402
from hydroponics.settings import get_settings  # noqa: E402
from tests.databases import throwaway_database  # noqa: E402
from tests.sql_counter import recorded_statements  # noqa: E402

BATCH = 100
SENSORS_PER_FARM = 5
LOADS_RULES = re.compile(r"\bFROM rules\b")
RULES = [
    {"kind": "above", "threshold": 6.8, "hysteresis": 0.1},
    {"kind": "below", "threshold": 5.2, "hysteresis": 0.1},
    {"kind": "outside_stage_range", "hysteresis": 0.05, "for_seconds": 60},
    {"kind": "rate_of_change", "max_change": 0.8, "window_seconds": 300},
]


def point_core_at(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("DB_SECRET_ARN", None)
    for cached in (get_settings, get_engine, _session_factory):
        cached.cache_clear()


def cache_seconds(seconds: int) -> None:
    os.environ["RULES_CACHE_SECONDS"] = str(seconds)
    get_settings.cache_clear()
    cache.clear()


def set_up(farms: int, now: datetime) -> list[uuid.UUID]:
    """Farms with a channel, a lettuce crop in its vegetative stage at bay-a, and the four rules each."""
    with session_scope() as session:
        ids = []
        for n in range(farms):
            farm = session.execute(text("INSERT INTO clients (name) VALUES (:n) RETURNING id"),
                                   {"n": f"Bench Farm {n}"}).scalar_one()
            # nothing is delivered in the bench: the target is a placeholder, not a sealed value
            session.execute(text("INSERT INTO notification_channels (client_id, name, kind, target_sealed, target_hint)"
                                 " VALUES (:c, 'ops', 'webhook', '{}', 'json://127.0.0.1:9/***')"), {"c": farm})
            variety = session.execute(
                text("INSERT INTO varieties (client_id, name) VALUES (:c, 'Lettuce') RETURNING id"), {"c": farm}
            ).scalar_one()
            stage = session.execute(text(
                "INSERT INTO variety_stages (variety_id, name, stage_order, duration_days, targets)"
                " VALUES (:v, 'vegetative', 0, 30, '{\"ph\": {\"min\": 5.5, \"max\": 6.5}}') RETURNING id"),
                {"v": variety}).scalar_one()
            crop = session.execute(text("INSERT INTO crops (client_id, variety_id, location, batch_code, planted_at)"
                                        " VALUES (:c, :v, 'bay-a', 'B-1', :at) RETURNING id"),
                                   {"c": farm, "v": variety, "at": now - timedelta(days=3)}).scalar_one()
            session.execute(text("INSERT INTO growth_stages (crop_id, variety_stage_id, stage_name, stage_order,"
                                 " started_at, due_at) VALUES (:crop, :s, 'vegetative', 0, :at, :due)"),
                            {"crop": crop, "s": stage, "at": now - timedelta(days=3), "due": now + timedelta(days=27)})
            for condition in RULES:
                session.execute(text("INSERT INTO rules (client_id, name, sensor_type, condition, channels)"
                                     " VALUES (:c, :n, 'ph', CAST(:cond AS jsonb), '[\"ops\"]')"),
                                {"c": farm, "n": condition["kind"], "cond": json.dumps(condition)})
            ids.append(farm)
        return ids


def batches(farms: list[uuid.UUID], count: int, start: datetime) -> list[list[QueuedReading]]:
    """`count` batches of 100 mixing every farm's sensors, 10 s apart; a wave of excursions now and then."""
    sensors = [(farm, s) for farm in farms for s in range(SENSORS_PER_FARM)]
    result, tick = [], 0
    for _ in range(count):
        batch = []
        while len(batch) < BATCH:
            for farm, s in sensors:
                value = 7.2 if (tick // 20) % 5 == 4 and s == 0 else 6.0 + (tick % 5) / 20
                batch.append(QueuedReading(client_id=farm, sensor=f"ph-{s}", sensor_type="ph", location="bay-a",
                                           value=value, recorded_at=start + timedelta(seconds=10 * tick),
                                           received_at=start))
                if len(batch) == BATCH:
                    break
            tick += 1
        result.append(batch)
    return result


def run(engine, work: list[list[QueuedReading]]) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"rule loads": [], "statements": [], "ms": []}
    for batch in work:
        with session_scope() as session:
            store_readings(session, batch)
        with recorded_statements(engine) as statements:
            began = time.perf_counter()
            with session_scope() as session:
                evaluate_readings(session, batch)
            figures["ms"].append((time.perf_counter() - began) * 1000)
        figures["rule loads"].append(sum(1 for s in statements if LOADS_RULES.search(s)))
        figures["statements"].append(len(statements))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--farms", type=int, default=20)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"rules bench: {args.farms} farms x {SENSORS_PER_FARM} pH sensors x {len(RULES)} rules, "
          f"{args.batches} batches of {BATCH} per run, {args.rounds} rounds")
    now = datetime.now(UTC).replace(microsecond=0)
    os.environ.pop("NOTIFICATIONS_QUEUE_URL", None)  # rows stay pending; nothing is sent
    with throwaway_database("hydroponics_bench") as url:
        migrate.upgrade(url)
        point_core_at(url)
        engine = get_engine()
        farms = set_up(args.farms, now)
        totals: dict[str, dict[str, list[float]]] = {"no cache (baseline)": {}, "cache, 60 s": {}}
        start = now - timedelta(days=2)
        for round_number in range(args.rounds):
            for label, ttl in (("no cache (baseline)", 0), ("cache, 60 s", 60)):
                cache_seconds(ttl)
                work = batches(farms, args.batches, start)
                start += timedelta(seconds=10 * (len(work) * BATCH // (args.farms * SENSORS_PER_FARM) + 10))
                figures = run(engine, work)
                for name, values in figures.items():
                    totals[label].setdefault(name, []).extend(values)
                print(f"  round {round_number + 1} {label:20}: {sum(figures['rule loads']):4.0f} rule loads, "
                      f"{statistics.median(figures['ms']):6.1f} ms/batch median", flush=True)
        with engine.connect() as conn:
            opened, repeats, resolved = conn.execute(text(
                "SELECT count(*), coalesce(sum(repeat_count), 0), count(*) FILTER (WHERE status = 'resolved')"
                " FROM alerts")).one()
        print(f"alerts opened {opened}, repeats counted {repeats}, resolved {resolved}")
        base, cached = totals["no cache (baseline)"], totals["cache, 60 s"]
        print(f"{'per batch':28} {'no cache':>10} {'cache':>10} {'cache / no cache':>17}")
        for name, pick in (("rule-loading queries (mean)", statistics.mean), ("statements (mean)", statistics.mean),
                           ("evaluation ms (median)", statistics.median),
                           ("evaluation ms (p95)", lambda v: statistics.quantiles(v, n=20)[-1])):
            key = {"rule": "rule loads", "stat": "statements", "eval": "ms"}[name[:4]]
            b, c = pick(base[key]), pick(cached[key])
            print(f"{name:28} {b:10.2f} {c:10.2f} {c / b:16.2f}x")
        cut = 1 - sum(cached["rule loads"]) / sum(base["rule loads"])
        print(f"rule-loading queries cut by {cut:.1%} with the cache")
        engine.dispose()


if __name__ == "__main__":
    main()
