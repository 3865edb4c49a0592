"""What a read and the store step cost in round trips to PostgreSQL, and how dead connections are handled
without a ping on every checkout."""

from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, text

from hydroponics.db import engine as core_engine
from hydroponics.db.engine import get_engine, read_one
from hydroponics.db.sql import statement
from hydroponics.records.clients import create_client
from hydroponics.db.engine import session_scope
from hydroponics.readings.messages import QueuedReading
from hydroponics.timeseries.base import SeriesQuery, Window
from hydroponics.timeseries.postgres import PostgresTimeSeries
from tests.sql_counter import counted_round_trips

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
PID = statement("SELECT pg_backend_pid()")


@pytest.fixture
def farm(platform_db):
    with session_scope() as session:
        client_id = create_client(session, "Greenleaf Farms")
    PostgresTimeSeries().write([QueuedReading(client_id=client_id, sensor="ph-1", sensor_type="ph", location="tank-1",
                                              value=6.0, recorded_at=T0, received_at=T0)])
    return client_id


def test_a_read_is_one_round_trip_once_prepared(farm):
    store = PostgresTimeSeries()
    day = SeriesQuery(client_id=farm, start=T0.replace(hour=0), end=T0.replace(hour=23), window=Window.MINUTE)
    store.latest_body(farm), store.query_body(day)  # each statement prepared on this connection
    with counted_round_trips() as trips:
        store.latest_body(farm)
    assert trips[0] == 1  # no ping, no BEGIN, no COMMIT, no parse and describe
    with counted_round_trips() as trips:
        store.query_body(day)
    assert trips[0] == 1


def _terminate(pid: int, url) -> None:
    admin = create_engine(url)
    with admin.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    admin.dispose()


def test_a_connection_killed_while_in_steady_use_costs_one_retry_not_an_error(farm, platform_db):
    pid = read_one(PID, {})[0]
    _terminate(pid, platform_db.url)
    assert b"ph-1" in PostgresTimeSeries().latest_body(farm)  # the dead connection failed, the retry answered
    assert read_one(PID, {})[0] != pid


def test_a_connection_idle_for_long_is_pinged_and_replaced_if_dead(farm, platform_db, monkeypatch):
    pid = read_one(PID, {})[0]
    with counted_round_trips() as trips:
        read_one(PID, {})
    assert trips[0] == 1  # in steady use: no ping
    monkeypatch.setattr(core_engine, "PING_AFTER_IDLE_SECONDS", 0.0)
    with counted_round_trips() as trips:
        read_one(PID, {})
    assert trips[0] == 2  # idle (for 0 s here): pinged first
    _terminate(pid, platform_db.url)
    with session_scope() as session:  # a unit of work that could not be retried gets a live connection
        assert session.execute(PID).scalar() != pid
    assert get_engine().pool.checkedout() == 0


def _records(client_id, start: int, count: int) -> list[dict]:
    return [{"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": QueuedReading(
        client_id=client_id, sensor=f"ph-{i % 10}", sensor_type="ph", location="tank-1", value=6.0,
        recorded_at=T0.replace(minute=i // 10 % 60, second=i % 10), received_at=T0).model_dump_json()}
        for i in range(start, start + count)]


def test_the_store_step_is_one_round_trip_a_batch_once_prepared(farm):
    from hydroponics.readings.batch import store_sqs_batch

    store_sqs_batch(_records(farm, 0, 100))  # prepares the statement on this connection
    with counted_round_trips() as trips:
        outcome = store_sqs_batch(_records(farm, 100, 100))
    assert outcome.stored == 100 and trips[0] == 1  # no BEGIN, no COMMIT, no ping, no parse and describe


def test_the_store_step_retries_a_dead_connection_once_and_stores_everything(farm, platform_db):
    from hydroponics.readings.batch import store_sqs_batch

    store_sqs_batch(_records(farm, 0, 10))
    _terminate(read_one(PID, {})[0], platform_db.url)
    outcome = store_sqs_batch(_records(farm, 10, 100))
    assert outcome.stored == 100 and outcome.failed_message_ids == []
    with platform_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM readings")).scalar() == 111  # the fixture's + 10 + 100
