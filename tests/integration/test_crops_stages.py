"""Stage advancement over real PostgreSQL: one statement for any number of crops, once per crop, indexes used."""

import threading

import pytest
from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.orm import Session

from hydroponics.crops.crops import CROP_ORDER, crop_listing, list_crops
from hydroponics.crops.stages import ADVANCE_DUE_STAGES, advance_due_stages
from hydroponics.db.engine import session_scope
from hydroponics.db.sql import MOMENT, statement
from hydroponics.records.pagination import PageRequest
from tests.integration.test_crops_seed import NOW, farms, seed_crops, seed_variety  # noqa: F401
from tests.sql_counter import recorded_statements


@pytest.fixture
def chard(farms):
    greenleaf, _ = farms
    with session_scope() as session:
        return seed_variety(session, greenleaf, "Chard")


def advance(now=NOW) -> dict[str, int]:
    with session_scope() as session:
        return advance_due_stages(session, now)


def stage_counts(session: Session) -> dict[int, int]:
    """Open stages per stage order."""
    rows = session.execute(text("SELECT stage_order, count(*) FROM growth_stages WHERE completed_at IS NULL"
                                " GROUP BY stage_order"))
    return dict(rows.all())


def test_due_stages_complete_at_their_due_time_and_the_next_opens(farms, chard):
    greenleaf, _ = farms
    with session_scope() as session:
        seed_crops(session, greenleaf, chard, count=5, due=2)
    assert advance() == {"stages_advanced": 2, "crops_awaiting_harvest": 0}
    with session_scope() as session:
        assert stage_counts(session) == {0: 3, 1: 2}
        rows = session.execute(text("""
            SELECT done.completed_at = done.due_at AND next.started_at = done.due_at
                   AND next.due_at = done.due_at + interval '14 days' AND next.stage_name = 'stage-1'
                   AND next.variety_stage_id IS NOT NULL
            FROM growth_stages done JOIN growth_stages next ON next.crop_id = done.crop_id AND next.stage_order = 1
            WHERE done.stage_order = 0""")).scalars().all()
        assert rows == [True, True]
        events = session.execute(text("SELECT client_id, subject_id, details FROM events"
                                      " WHERE event_type = 'crop.stage_advanced'")).all()
        assert len(events) == 2 and {e.client_id for e in events} == {greenleaf}
        assert {(e.details["completed_stage"], e.details["next_stage"]) for e in events} == {("stage-0", "stage-1")}
        run = session.execute(text("SELECT subject_id, details FROM events WHERE event_type = 'job.ran'")).one()
        assert run.subject_id == "advance_stages" and run.details["stages_completed"] == 2


def test_the_last_stage_completes_without_a_next_and_the_crop_awaits_harvest(farms, chard):
    greenleaf, _ = farms
    with session_scope() as session:
        seed_crops(session, greenleaf, chard, count=3, due=3, stage_order=2)
    assert advance() == {"stages_advanced": 0, "crops_awaiting_harvest": 3}
    with session_scope() as session:
        assert stage_counts(session) == {}
        page = list_crops(session, greenleaf, {}, PageRequest(limit=10), NOW)
        assert {(c["status"], c["awaiting_harvest"], c["current_stage"]["name"]) for c in page.items} == \
            {("active", True, "stage-2")}
        assert session.execute(text("SELECT count(*) FROM events WHERE event_type = 'crop.stages_completed'"
                                    " AND details->>'next_stage' IS NULL")).scalar_one() == 3


def test_running_twice_advances_each_crop_once(farms, chard):
    greenleaf, _ = farms
    with session_scope() as session:
        seed_crops(session, greenleaf, chard, count=20, due=7)
    assert advance()["stages_advanced"] == 7
    assert advance()["stages_advanced"] == 0
    with session_scope() as session:
        assert stage_counts(session) == {0: 13, 1: 7}
        assert session.execute(text("SELECT count(*) FROM growth_stages")).scalar_one() == 27


def test_a_concurrent_run_skips_the_stages_the_first_holds(farms, chard, platform_db):
    greenleaf, _ = farms
    with session_scope() as session:
        seed_crops(session, greenleaf, chard, count=10, due=4)
    with Session(platform_db) as first, Session(platform_db) as second:
        assert advance_due_stages(first, NOW)["stages_advanced"] == 4  # not committed yet: rows stay locked
        assert advance_due_stages(second, NOW)["stages_advanced"] == 0  # does not wait, does not duplicate
        second.commit()
        first.commit()
    with session_scope() as session:
        assert stage_counts(session) == {0: 6, 1: 4}


def test_simultaneous_runs_advance_each_crop_exactly_once(farms, chard):
    greenleaf, _ = farms
    with session_scope() as session:
        seed_crops(session, greenleaf, chard, count=400, due=300)
    start, results = threading.Barrier(4), []

    def run() -> None:
        start.wait()
        results.append(advance()["stages_advanced"])

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 300
    with session_scope() as session:
        assert stage_counts(session) == {0: 100, 1: 300}
        assert session.execute(text("SELECT count(*) FROM events WHERE event_type = 'crop.stage_advanced'")
                               ).scalar_one() == 300


def test_harvested_crops_are_left_alone(farms, chard):
    greenleaf, _ = farms
    with session_scope() as session:
        seed_crops(session, greenleaf, chard, count=2, due=2)
        session.execute(text("UPDATE crops SET status = 'failed'"))
    assert advance()["stages_advanced"] == 0


def test_one_statement_whatever_the_number_of_crops(farms, chard, platform_db):
    greenleaf, blue_basin = farms
    counts = []
    for crops, due in ((3, 1), (300, 100)):
        with session_scope() as session:
            session.execute(text("DELETE FROM crops"))
            seed_crops(session, greenleaf, chard, count=crops, due=due)
        with recorded_statements(platform_db) as statements:
            assert advance()["stages_advanced"] == due
        counts.append(len(statements))
    assert counts == [1, 1]


@pytest.fixture
def large_farm(farms):
    """Two farms, eight varieties, 20,000 crops with a completed stage behind them; 20% harvested, 1% due."""
    greenleaf, blue_basin = farms
    with session_scope() as session:
        varieties = [seed_variety(session, farm, f"v{n}") for farm in (greenleaf, blue_basin) for n in range(4)]
        for variety in varieties:
            farm = greenleaf if variety in varieties[:4] else blue_basin
            seed_crops(session, farm, variety, count=2500, due=25, stage_order=1)
            session.execute(text("""
                INSERT INTO growth_stages (crop_id, variety_stage_id, stage_name, stage_order, started_at, due_at,
                                           completed_at)
                SELECT g.crop_id, NULL, 'stage-0', 0, g.started_at - interval '7 days', g.started_at, g.started_at
                FROM growth_stages g JOIN crops c ON c.id = g.crop_id WHERE c.variety_id = :v AND g.stage_order = 1
            """), {"v": variety})
        session.execute(text("UPDATE crops SET status = 'harvested' WHERE substr(batch_code, 6)::int > 2000"))
        session.execute(text("UPDATE growth_stages g SET completed_at = g.due_at FROM crops c"
                             " WHERE c.id = g.crop_id AND c.status = 'harvested' AND g.completed_at IS NULL"))
    with session_scope() as session:
        session.connection().exec_driver_sql("ANALYZE")
    return greenleaf, varieties[1]


def explain(session: Session, clause: TextClause, params: dict) -> str:
    """The executed plan of a statement (with its parameters' types)."""
    analysed = text(f"EXPLAIN (ANALYZE, COSTS OFF) {clause.text}").bindparams(
        *(bindparam(name, type_=MOMENT) for name in params if name == "now"))
    return "\n".join(session.execute(analysed, params).scalars())


def large_tables(session: Session, rows: int = 1000) -> set[str]:
    """Tables the planner knows to hold more than `rows` rows (after ANALYZE)."""
    return set(session.execute(text("SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples > :rows"),
                               {"rows": rows}).scalars())


def seq_scans(plan: str, tables: set[str]) -> list[str]:
    return [line.strip() for line in plan.splitlines()
            if "Seq Scan on " in line and line.split("Seq Scan on ")[1].split()[0] in tables]


def test_the_hot_queries_use_their_indexes(large_farm, platform_db):
    greenleaf, variety = large_farm
    with Session(platform_db) as session:
        large = large_tables(session)
        assert {"crops", "growth_stages"} <= large
        due = explain(session, statement("SELECT id FROM growth_stages WHERE completed_at IS NULL AND due_at <= :now",
                                         now=MOMENT), {"now": NOW})
        assert "ix_growth_stages_due_at_active" in due and not seq_scans(due, large), due

        advancing = explain(session, statement(ADVANCE_DUE_STAGES.text, now=MOMENT), {"now": NOW, "job": "x"})
        assert not seq_scans(advancing, large), advancing
        session.rollback()  # EXPLAIN ANALYZE ran the advancement

        page = CROP_ORDER.clause(PageRequest(limit=50))
        listing = explain(session, crop_listing({"status", "variety_id"}, page),
                          {"client_id": greenleaf, "variety_id": variety, "status": "active", "now": NOW} | page.params)
        assert "ix_crops_client_id_variety_id_active" in listing, listing
        assert not seq_scans(listing, large), listing
