"""The store step against a real PostgreSQL: one statement a batch, idempotent, failures isolated."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, make_url, text

from hydroponics.records.clients import create_client
from hydroponics.db.engine import session_scope
from hydroponics.readings.batch import DatabaseUnavailable, store_sqs_batch
from hydroponics.readings.messages import QueuedReading
from tests.sql_counter import recorded_statements

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


def _reading(client_id, i: int = 0, **overrides) -> QueuedReading:
    fields = {"client_id": client_id, "sensor": "ph@tank-1", "sensor_type": "ph", "location": "tank-1",
              "value": 6.0 + i / 100, "recorded_at": T0 + timedelta(seconds=i), "received_at": T0}
    return QueuedReading(**(fields | overrides))


def _record(reading: QueuedReading | str) -> dict:
    body = reading if isinstance(reading, str) else reading.model_dump_json()
    return {"messageId": str(uuid.uuid4()), "body": body}


@pytest.fixture
def client_id(platform_db):
    with session_scope() as session:
        return create_client(session, "Greenleaf Farms")


def _count(engine, sql="SELECT count(*) FROM readings", **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_batch_is_stored_in_one_statement_and_registers_the_sensor(platform_db, client_id):
    with recorded_statements(platform_db) as statements:
        outcome = store_sqs_batch([_record(_reading(client_id, i)) for i in range(100)])
    assert outcome.stored == 100 and outcome.failed_message_ids == []
    assert len([s for s in statements if "INSERT INTO readings" in s]) == 1
    assert _count(platform_db, "SELECT count(*) FROM sensors WHERE client_id = :c", c=client_id) == 1


def test_redelivered_readings_are_stored_once(platform_db, client_id):
    batch = [_record(_reading(client_id, i)) for i in range(10)]
    store_sqs_batch(batch)
    again = store_sqs_batch(batch + [_record(_reading(client_id, 3))])
    assert again.stored == 0 and again.failed_message_ids == []
    assert _count(platform_db) == 10


def test_calibration_in_force_is_applied_and_raw_value_kept(platform_db, client_id):
    store_sqs_batch([_record(_reading(client_id, 0))])  # registers the sensor
    with platform_db.begin() as conn:
        conn.execute(text('INSERT INTO calibrations (sensor_id, client_id, calibrated_at, method, "offset", slope)'
                          " SELECT id, client_id, :at, 'two-point', 0.5, 1.1 FROM sensors"), {"at": T0 + timedelta(seconds=5)})
    store_sqs_batch([_record(_reading(client_id, 10, value=6.0))])
    with platform_db.connect() as conn:
        rows = conn.execute(text("SELECT value, raw_value FROM readings ORDER BY recorded_at")).all()
    assert rows[0] == (6.0, 6.0)  # before the calibration: untouched
    assert rows[1][0] == pytest.approx(6.0 * 1.1 + 0.5) and rows[1][1] == 6.0


def test_a_bad_message_is_refused_alone_with_the_reason(platform_db, client_id):
    unknown_client = _reading(uuid.uuid4(), 1)  # refused by the database (no such client)
    good = [_record(_reading(client_id, i)) for i in range(5)]
    bad_db, bad_json = _record(unknown_client), _record("{not json")
    outcome = store_sqs_batch(good[:2] + [bad_db, bad_json] + good[2:])
    assert outcome.failed_message_ids == []  # never storable: not handed back for retries
    refused = {refusal.message_id: (refusal.code, refusal.reason) for refusal in outcome.refused}
    assert refused.keys() == {bad_db["messageId"], bad_json["messageId"]}
    assert refused[bad_db["messageId"]][0] == "23503" and "foreign key" in refused[bad_db["messageId"]][1]
    assert refused[bad_json["messageId"]][0] == "unreadable"
    assert outcome.stored == 5 and _count(platform_db) == 5
    assert sorted(mid for mid, _ in outcome.readings) == sorted(r["messageId"] for r in good)


def test_database_down_is_an_outage_not_a_bad_message(platform_db, client_id, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://nobody@127.0.0.1:1/none")
    from tests.integration.conftest import reset_core_caches
    reset_core_caches()
    with pytest.raises(DatabaseUnavailable):
        store_sqs_batch([_record(_reading(client_id, 0))])


def test_database_refusing_connections_is_an_outage(platform_db, client_id, migrated_database_url):
    name = make_url(migrated_database_url).database
    admin = create_engine(make_url(migrated_database_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    platform_db.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
    try:
        with pytest.raises(DatabaseUnavailable):
            store_sqs_batch([_record(_reading(client_id, 0))])
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    assert store_sqs_batch([_record(_reading(client_id, 0))]).stored == 1


def test_engine_connections_send_small_writes_at_once(platform_db):
    import socket
    connection = platform_db.raw_connection()
    try:
        sock = connection.dbapi_connection._usock
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        connection.close()
