"""Stage advancement benchmark: the set-based pass against the legacy row-by-row loop, in the same run.

Creates a throwaway database on the DATABASE_URL server (from the environment or .local/db.env),
migrates it, and seeds one farm with --crops active crops over --varieties five-stage varieties, each
crop with its completed stages behind it and an open one, --due of them due. Then, in alternating
rounds on freshly seeded data (ANALYZEd), it times from the start of the unit of work to its commit:

  - the set-based pass: `advance_due_stages`, one statement whatever the number of crops, and
  - the baseline, the legacy loop: one SELECT of the due stages, then per crop an UPDATE of its stage,
    a SELECT of the next stage, an INSERT of it and an INSERT of the event,

counts the statements each sends, checks both leave the same stages behind, and prints the medians
and the ratio. --explain prints EXPLAIN (ANALYZE, BUFFERS, WAL) of the pass on freshly seeded data
(rolled back) with the time of each foreign-key trigger: where the pass's floor is.

    .venv/bin/python bench/stages_bench.py [--crops 10000] [--due 1000] [--rounds 5] [--explain]
"""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, bindparam, create_engine, event, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from hydroponics.crops.stages import ADVANCE_DUE_STAGES, JOB, advance_due_stages  # noqa: E402
from hydroponics.db import migrate  # noqa: E402
from hydroponics.db.sql import MOMENT  # noqa: E402
from hydroponics.db.engine import _session_factory, get_engine, session_scope  # noqa: E402
from hydroponics.events import record_event  # noqa: E402
from hydroponics.settings import get_settings  # noqa: E402
from tests.databases import throwaway_database  # noqa: E402

STAGES = (("germination", 7), ("seedling", 14), ("vegetative", 21), ("flowering", 28), ("ripening", 10))


def point_core_at(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("DB_SECRET_ARN", None)
    for cached in (get_settings, get_engine, _session_factory):
        cached.cache_clear()


def seed_profiles(engine: Engine, varieties: int) -> None:
    with engine.begin() as conn:
        client_id = conn.execute(text("INSERT INTO clients (name) VALUES ('Bench Farms') RETURNING id")).scalar_one()
        for n in range(varieties):
            variety = conn.execute(text("INSERT INTO varieties (client_id, name) VALUES (:c, :n) RETURNING id"),
                                   {"c": client_id, "n": f"variety-{n}"}).scalar_one()
            for order, (name, days) in enumerate(STAGES):
                conn.execute(text("INSERT INTO variety_stages (variety_id, name, stage_order, duration_days, targets)"
                                  " VALUES (:v, :n, :o, :d, '{\"ph\": {\"min\": 5.5, \"max\": 6.5}}')"),
                             {"v": variety, "n": name, "o": order, "d": days})


# Crop n grows variety n % varieties and is in stage n % 4 (so none is in the last one, and every due
# stage has a next), with its earlier stages completed; crops 1..due are due an hour before `now`.
SEED_CROPS = text("""
WITH planted AS (
    INSERT INTO crops (client_id, variety_id, location, batch_code, planted_at)
    SELECT v.client_id, v.id, 'bay-' || mod(n, 40), 'batch-' || n, CAST(:now AS timestamptz) - interval '90 days'
    FROM generate_series(1, :crops) n
    JOIN (SELECT id, client_id, row_number() OVER (ORDER BY name) - 1 AS k FROM varieties) v
      ON v.k = mod(n, :varieties)
    RETURNING id, variety_id, substr(batch_code, 7)::int AS n
)
INSERT INTO growth_stages (crop_id, variety_stage_id, stage_name, stage_order, started_at, due_at, completed_at)
SELECT p.id, s.id, s.name, s.stage_order,
       CAST(:now AS timestamptz) - make_interval(days => 30 * (mod(p.n, 4) + 1 - s.stage_order)),
       CASE WHEN s.stage_order < mod(p.n, 4)
            THEN CAST(:now AS timestamptz) - make_interval(days => 30 * (mod(p.n, 4) - s.stage_order))
            WHEN p.n <= :due THEN CAST(:now AS timestamptz) - interval '1 hour'
            ELSE CAST(:now AS timestamptz) + make_interval(days => 1 + mod(p.n, 20)) END,
       CASE WHEN s.stage_order < mod(p.n, 4)
            THEN CAST(:now AS timestamptz) - make_interval(days => 30 * (mod(p.n, 4) - s.stage_order)) END
FROM planted p JOIN variety_stages s ON s.variety_id = p.variety_id AND s.stage_order <= mod(p.n, 4)
""")


def reseed(engine: Engine, crops: int, due: int, varieties: int, now: datetime) -> None:
    """The same farm again: crops, stages and events emptied and re-planted, then VACUUM ANALYZE."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE events, growth_stages, crops CASCADE"))
        conn.execute(SEED_CROPS, {"crops": crops, "due": due, "varieties": varieties, "now": now})
    autocommit = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn:
        conn.execute(text("VACUUM ANALYZE crops, growth_stages, variety_stages, events"))
    autocommit.dispose()


def legacy_loop(session: Session, now: datetime) -> int:
    """The row-by-row advancement the legacy server ran: a SELECT, then four statements per crop."""
    due = session.execute(text(
        "SELECT g.id, g.crop_id, g.stage_name, g.stage_order, g.due_at, c.client_id, c.variety_id"
        " FROM growth_stages g JOIN crops c ON c.id = g.crop_id"
        " WHERE g.completed_at IS NULL AND g.due_at <= :now AND c.status = 'active'"), {"now": now}).all()
    for stage in due:
        session.execute(text("UPDATE growth_stages SET completed_at = :at WHERE id = :id"),
                        {"at": stage.due_at, "id": stage.id})
        following = session.execute(text("SELECT id, name, stage_order, duration_days FROM variety_stages"
                                         " WHERE variety_id = :v AND stage_order = :o"),
                                    {"v": stage.variety_id, "o": stage.stage_order + 1}).first()
        if following is not None:
            session.execute(text("INSERT INTO growth_stages (crop_id, variety_stage_id, stage_name, stage_order,"
                                 " started_at, due_at) VALUES (:crop, :vs, :name, :o, :at,"
                                 " CAST(:at AS timestamptz) + make_interval(days => :days))"),
                            {"crop": stage.crop_id, "vs": following.id, "name": following.name,
                             "o": following.stage_order, "at": stage.due_at, "days": following.duration_days})
        record_event(session, "crop.stage_advanced", client_id=stage.client_id, actor="scheduler",
                     subject_type="crop", subject_id=stage.crop_id,
                     details={"completed_stage": stage.stage_name, "next_stage": following and following.name})
    return len(due)


def set_based(session: Session, now: datetime) -> int:
    return advance_due_stages(session, now)["stages_advanced"]


def outcome(engine: Engine) -> tuple:
    """What an advancement leaves behind: open stages per order, completed stages, stage-advanced events."""
    with engine.connect() as conn:
        return (tuple(conn.execute(text("SELECT stage_order, count(*) FROM growth_stages WHERE completed_at IS NULL"
                                        " GROUP BY stage_order ORDER BY stage_order")).all()),
                conn.execute(text("SELECT count(*) FROM growth_stages WHERE completed_at IS NOT NULL")).scalar_one(),
                conn.execute(text("SELECT count(*) FROM events WHERE event_type = 'crop.stage_advanced'")).scalar_one())


def timed(engine: Engine, run: Callable[[Session, datetime], int], now: datetime) -> tuple[float, int, int]:
    """Milliseconds from the start of the unit of work to its commit, statements sent, stages advanced."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        began = time.perf_counter()
        with session_scope() as session:
            advanced = run(session, now)
        elapsed = (time.perf_counter() - began) * 1000
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return elapsed, len(statements), advanced


def explain(engine: Engine, now: datetime) -> str:
    """The pass's plan with actual times, buffers, WAL and trigger times; rolled back."""
    explained = text("EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF) " + ADVANCE_DUE_STAGES.text).bindparams(
        bindparam("now", type_=MOMENT))
    with engine.connect() as conn:
        plan = conn.execute(explained, {"now": now, "job": JOB}).scalars().all()
        conn.rollback()
    return "\n".join(plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crops", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--varieties", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the pass")
    args = parser.parse_args()
    print(f"stages bench: {args.crops:,} active crops over {args.varieties} varieties of {len(STAGES)} stages, "
          f"{args.due:,} due, {args.rounds} rounds")
    now = datetime.now(UTC).replace(microsecond=0)
    paths: dict[str, Callable[[Session, datetime], int]] = {
        "set-based pass (advance_due_stages)": set_based, "legacy row-by-row loop (baseline)": legacy_loop}
    with throwaway_database("hydroponics_bench") as url:
        migrate.upgrade(url)
        point_core_at(url)
        engine = get_engine()
        seed_profiles(engine, args.varieties)
        results: dict[str, list[tuple[float, int, int]]] = {name: [] for name in paths}
        outcomes: dict[str, tuple] = {}
        for round_number in range(args.rounds):
            for name, run in paths.items():
                reseed(engine, args.crops, args.due, args.varieties, now)
                timed(engine, lambda session, _: session.execute(text("SELECT 1")).scalar(), now)  # warm the pool
                results[name].append(timed(engine, run, now))
                outcomes[name] = outcome(engine)
                assert results[name][-1][2] == args.due, (name, results[name][-1])
            print(f"  round {round_number + 1}: " + ", ".join(f"{name.split(' (')[0]} {r[-1][0]:,.1f} ms"
                                                              for name, r in results.items()), flush=True)
        assert len(set(outcomes.values())) == 1, outcomes  # both leave the same stages and events
        baseline = statistics.median(ms for ms, _, _ in results["legacy row-by-row loop (baseline)"])
        print(f"\n{'path':38} {'median ms':>10} {'statements':>11} {'advanced':>9} {'speed-up':>9}")
        for name, runs in results.items():
            median = statistics.median(ms for ms, _, _ in runs)
            print(f"{name:38} {median:10.1f} {runs[-1][1]:11,} {runs[-1][2]:9,} {baseline / median:8.1f}x")
        if args.explain:
            reseed(engine, args.crops, args.due, args.varieties, now)
            print("\nEXPLAIN (ANALYZE, BUFFERS, WAL) of the pass:\n" + explain(engine, now))


if __name__ == "__main__":
    main()
