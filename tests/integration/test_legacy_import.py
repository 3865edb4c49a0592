"""The legacy SQLite import against real PostgreSQL and MiniStack's key index: the messy generated file
gives the report its cases declare, a second run adds nothing, a stopped run finishes when run again,
a dry run changes nothing, and a device keeps posting with its legacy key onto its imported sensor."""

import json
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import text

from hydroponics.auth.api_keys import rebuild_key_index
from hydroponics.auth.keys import hash_key
from hydroponics.db.engine import session_scope
from hydroponics.events import record_event
from hydroponics.legacy import readings as legacy_readings
from hydroponics.legacy.crops import Harvests
from hydroponics.legacy.run import import_legacy
from hydroponics.readings.batch import store_sqs_batch
from tests.lambda_events import http_event, lambda_context, load_handler, sqs_event
from tests.legacy_db import Expected, write_messy

ingest = load_handler("ingest")
TABLES = ("clients", "api_keys", "sensors", "varieties", "variety_stages", "crops", "growth_stages", "harvests",
          "calibrations", "events", "readings", "reading_counts", "legacy_import_ids", "legacy_import_tables")


@pytest.fixture
def legacy_file(tmp_path: Path) -> tuple[Path, Expected]:
    path = tmp_path / "hydroponics.db"
    return path, write_messy(path)


@pytest.fixture
def platform(platform_db, local_aws):
    """PostgreSQL with a platform event already holding id 1, as a legacy event id would."""
    with platform_db.begin() as conn:
        conn.execute(text("INSERT INTO events (event_type, actor, details) VALUES ('platform.started', 'test', '{}')"))
    return {"db": platform_db, "aws": local_aws}


def _rows(db) -> dict[str, int]:
    with db.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def _key_items(aws) -> list[dict]:
    return aws["dynamodb"].scan(TableName=aws["API_KEYS_TABLE"])["Items"]


def test_the_messy_file_gives_the_report_its_cases_declare(platform, legacy_file, tmp_path):
    path, expected = legacy_file
    report = import_legacy(path)

    assert report.verified, report.summary()
    for table, rows in expected.rows.items():
        got = report.tables[table]
        assert (got.source_rows, got.imported, got.refused, got.merged, got.already_imported) == (
            rows, expected.imported(table), len(expected.refused[table]), 0, 0), table
        assert got.target_rows == expected.imported(table), table
        assert got.source_checksum == got.target_checksum != "", table
        assert all(fk["broken"] == 0 and fk["checked"] == expected.imported(table)
                   for fk in got.foreign_keys.values()), table
        declared = dict(expected.normalised[table])
        if table == "readings":
            declared["sensors_registered_from_readings"] = expected.sensors_from_readings
        assert got.normalised == declared, table
    assert report.refused == sorted(({"table": t, "legacy_id": i, "reason": r} for t, cases in expected.refused.items()
                                     for i, r in cases.items()), key=lambda r: (r["table"], r["legacy_id"]))
    assert [{k: f[k] for k in ("kind", "email", "legacy_ids")} for f in report.findings] == expected.findings
    assert report.keys == {"legacy_keys": 2, "carried_over": 2, "already_there": 0, "refused": 0, "indexed": 2}
    assert {(k["table"], k["legacy_id"], k["column"]) for k in report.kept_as_text} == {
        ("clients", "2", "settings"), ("sensor_configs", "11", "config"), ("events", "2", "details")}

    written = tmp_path / "report.json"
    report.write(written)
    assert json.loads(written.read_text())["tables"]["readings"]["verified"] is True

    client_1 = report.clients["1"]
    with platform["db"].connect() as conn:
        # keys are kept as hashes only, with the legacy client id devices send
        keys = conn.execute(text("SELECT key_hash, client_alias FROM api_keys WHERE client_id = :c"),
                            {"c": client_1}).all()
        assert [(k.key_hash, k.client_alias) for k in keys] == [(hash_key(expected.keys["1"]), "1")]
        assert conn.execute(text("SELECT count(*) FROM api_keys WHERE key_hash = :k OR prefix = :k"),
                            {"k": expected.keys["1"]}).scalar_one() == 0
        # the platform's own event 1 is untouched; legacy event 1 got a new id and keeps its legacy id
        assert conn.execute(text("SELECT event_type FROM events WHERE id = 1")).scalar_one() == "platform.started"
        legacy_event = conn.execute(text("SELECT id, event_type, details FROM events"
                                         " WHERE details ->> 'legacy_id' = '1'")).one()
        assert legacy_event.id != 1 and legacy_event.event_type == "crop.planted"
        assert legacy_event.details["message"] == "planted B-001"
        crop = conn.execute(text("SELECT c.planted_at, c.status, c.batch_code, c.closed_at, count(g.*) AS stages"
                                 " FROM crops c LEFT JOIN growth_stages g ON g.crop_id = c.id"
                                 " WHERE c.client_id = :c GROUP BY c.id"), {"c": report.clients["2"]}).one()
        assert (crop.planted_at.isoformat(), crop.status, crop.batch_code) == (
            "2026-08-15T00:00:00+00:00", "harvested", "legacy-43")
        assert crop.stages == 0  # variety 22 has no stage profile
        sensors = {r.external_id: r for r in conn.execute(text(
            "SELECT external_id, sensor_type, min_threshold, peer_group, last_value FROM sensors WHERE client_id = :c"),
            {"c": client_1})}
        assert set(sensors) == {"ph@bay-a", "ec@bay-a", "humidity@bay-b"}
        assert (sensors["ph@bay-a"].min_threshold, sensors["ph@bay-a"].peer_group) == (5.5, "bay-a-ph")
        assert sensors["ec@bay-a"].last_value == 2.0  # the newest reading (DD/MM/YYYY 11:00) is on the sensor row
    assert {i["client_alias"]["S"] for i in _key_items(platform["aws"])} == {"1", "2"}


def test_importing_twice_adds_nothing(platform, legacy_file):
    path, expected = legacy_file
    first = import_legacy(path)
    rows = _rows(platform["db"])
    second = import_legacy(path)

    assert _rows(platform["db"]) == rows
    assert second.verified, second.summary()
    for table, got in second.tables.items():
        assert (got.imported, got.already_imported, got.refused) == (0, first.tables[table].imported,
                                                                     first.tables[table].refused), table
        assert got.target_checksum == first.tables[table].target_checksum, table
    assert second.refused == first.refused and second.clients == first.clients
    assert len(_key_items(platform["aws"])) == 2


@pytest.mark.parametrize("stop_in", ["harvests", "readings"])
def test_an_import_stopped_half_way_finishes_when_run_again(platform, legacy_file, monkeypatch, stop_in):
    path, expected = legacy_file
    with monkeypatch.context() as patch:
        if stop_in == "harvests":
            def power_cut(*args, **kwargs):
                raise RuntimeError("power cut")
            patch.setattr(Harvests, "insert", power_cut)
        else:  # a statement the database refuses, after the COPY, inside the readings transaction
            patch.setattr(legacy_readings, "_NEWEST", text("SELECT 1 / 0"))
        with pytest.raises(Exception):
            import_legacy(path)
    stopped = _rows(platform["db"])
    assert stopped["crops"] == expected.imported("crops")  # the tables before the stop committed
    assert stopped["readings"] == 0
    if stop_in == "harvests":
        assert stopped["harvests"] == 0 and stopped["events"] == 1

    report = import_legacy(path)
    assert report.verified, report.summary()
    assert report.tables["crops"].already_imported == expected.imported("crops")
    assert report.tables[stop_in].imported == expected.imported(stop_in)
    done = _rows(platform["db"])
    for table, rows in expected.rows.items():
        got = report.tables[table]
        assert got.imported + got.already_imported == expected.imported(table), table
    assert done["harvests"] == expected.imported("harvests")
    assert done["readings"] == expected.imported("readings")
    assert done["events"] == 1 + expected.imported("events")


def test_a_dry_run_reports_the_import_and_changes_nothing(platform, legacy_file):
    path, expected = legacy_file
    before = _rows(platform["db"])
    dry = import_legacy(path, dry_run=True)
    assert _rows(platform["db"]) == before
    assert _key_items(platform["aws"]) == []
    assert dry.dry_run and dry.verified, dry.summary()
    real = import_legacy(path)
    assert dry.refused == real.refused
    for table, got in dry.tables.items():
        assert (got.imported, got.refused, got.normalised, got.source_checksum) == (
            real.tables[table].imported, real.tables[table].refused, real.tables[table].normalised,
            real.tables[table].source_checksum), table


def _post(headers: dict, body: dict) -> tuple[int, dict]:
    reply = ingest.handler(http_event("POST", "/api/data", json.dumps(body),
                                      headers | {"content-type": "application/json"}), lambda_context("ingest"))
    return reply["statusCode"], json.loads(reply["body"])


def test_a_device_posting_with_its_legacy_key_lands_on_its_imported_sensor(platform, legacy_file):
    path, expected = legacy_file
    report = import_legacy(path)
    key = expected.keys["1"]
    with platform["db"].connect() as conn:
        sensor = conn.execute(text("SELECT id FROM sensors WHERE client_id = :c AND external_id = 'ph@bay-a'"),
                              {"c": report.clients["1"]}).scalar_one()

    # the legacy device sends the legacy server's client id; the new id works too; another id does not
    status, body = _post({"X-API-Key": key, "X-Client-Id": "1"}, {"sensor_type": "ph", "value": 6.05,
                                                                   "location": "bay-a"})
    assert (status, body["status"]) == (202, "accepted")
    assert _post({"X-API-Key": key, "X-Client-Id": report.clients["1"]},
                 {"sensor_type": "PH", "value": 6.06, "location": "bay-a", "timestamp": "2026-11-01T00:00:00Z"})[0] == 202
    assert _post({"X-API-Key": key, "X-Client-Id": "2"}, {"sensor_type": "ph", "value": 6.1})[0] == 403
    assert _post({"X-API-Key": "legacy-key-nameless-0003", "X-Client-Id": "3"}, {"sensor_type": "ph", "value": 6.1})[0] == 401

    # a key index rebuilt from PostgreSQL (a fresh emulator, a restore) still knows the legacy client id
    platform["aws"]["dynamodb"].delete_item(TableName=platform["aws"]["API_KEYS_TABLE"],
                                            Key={"key_hash": {"S": hash_key(key)}})
    assert _post({"X-API-Key": key, "X-Client-Id": "1"}, {"sensor_type": "ph", "value": 6.1})[0] == 401
    with session_scope() as session:
        rebuild_key_index(session, UUID(report.clients["1"]))
    assert _post({"X-API-Key": key, "X-Client-Id": "1"}, {"sensor_type": "ph", "value": 6.07, "location": "bay-a",
                                                          "timestamp": "2026-11-02T00:00:00Z"})[0] == 202

    sqs = platform["aws"]["sqs"]
    messages = sqs.receive_message(QueueUrl=platform["aws"]["READINGS_QUEUE_URL"], MaxNumberOfMessages=10,
                                   WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 3
    outcome = store_sqs_batch(sqs_event([m["Body"] for m in messages])["Records"])
    assert outcome.stored == 3
    with platform["db"].connect() as conn:
        landed = conn.execute(text("SELECT sensor_id, raw_value, value FROM readings"
                                   " WHERE raw_value IN (6.05, 6.06, 6.07) ORDER BY raw_value")).all()
        # on the imported sensor, with its imported calibration (legacy calibration 60: offset 0.1) applied
        assert [(r.sensor_id, r.raw_value, round(r.value, 6)) for r in landed] == [
            (sensor, 6.05, 6.15), (sensor, 6.06, 6.16), (sensor, 6.07, 6.17)]
        assert conn.execute(text("SELECT count(*) FROM sensors WHERE client_id = :c AND external_id = 'ph@bay-a'"),
                            {"c": report.clients["1"]}).scalar_one() == 1


def test_a_client_map_imports_into_an_existing_client_and_its_sensors(platform, legacy_file):
    path, expected = legacy_file
    with platform["db"].begin() as conn:
        farm = conn.execute(text("INSERT INTO clients (name) VALUES ('Green Leaf (already here)') RETURNING id")).scalar_one()
        sensor = conn.execute(text("INSERT INTO sensors (client_id, external_id, sensor_type, location)"
                                   " VALUES (:c, 'ph@bay-a', 'ph', 'bay-a') RETURNING id"), {"c": farm}).scalar_one()
    report = import_legacy(path, {"1": farm})
    assert report.verified, report.summary()
    assert report.clients["1"] == str(farm)
    assert (report.tables["clients"].merged, report.tables["clients"].imported) == (1, expected.imported("clients") - 1)
    assert report.tables["sensor_configs"].merged == 1
    with platform["db"].connect() as conn:
        on_it = conn.execute(text("SELECT count(*) FROM readings WHERE sensor_id = :s"), {"s": sensor}).scalar_one()
        assert conn.execute(text("SELECT name FROM clients WHERE id = :c"), {"c": farm}).scalar_one() == \
            "Green Leaf (already here)"
    assert on_it == 7  # readings 100-106 of ph@bay-a
