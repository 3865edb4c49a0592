"""The Alembic migrations against a real PostgreSQL: schema, partitions, model parity, downgrade."""

import io
import re
import uuid
from datetime import UTC, datetime
from typing import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, Connection, Engine, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from hydroponics.db import migrate
from hydroponics.db.models import Base
from hydroponics.settings import get_settings


def migrate_head() -> str:
    return ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()

DOMAIN_TABLES = {
    "clients", "api_keys", "sensors", "readings", "varieties", "variety_stages", "crops", "growth_stages",
    "harvests", "calibrations", "rules", "alerts", "silences", "notification_channels", "notifications",
    "ac_units", "ac_commands", "events", "failed_tasks", "spot_checks", "sensor_drifts", "escalation_policies",
    "rule_states", "retention_runs", "retention_archives", "retention_holds", "reading_counts",
    "legacy_import_ids", "legacy_import_tables",
}  # fmt: skip
PARTITION = re.compile(r"^readings_(default|\d{6})$")


def _month(offset: int) -> str:
    """readings_YYYYMM of the UTC month `offset` months from now."""
    today = datetime.now(UTC)
    index = today.year * 12 + today.month - 1 + offset
    return f"readings_{index // 12:04d}{index % 12 + 1:02d}"


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _partitions(conn: Connection) -> set[str]:
    rows = conn.execute(
        text("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'readings'::regclass")
    )
    return set(rows.scalars())


def _function_exists(conn: Connection) -> bool:
    return conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname = 'ensure_readings_partitions'")).scalar() > 0


def _schema_differences(conn: Connection) -> list:
    """What autogenerate would change to make the database match the models (partitions excluded)."""

    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        return not (type_ == "table" and name is not None and PARTITION.match(name))

    context = MigrationContext.configure(
        conn, opts={"include_name": include_name, "compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, Base.metadata)


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    engine = create_engine(empty_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def migrated(empty_database_url: str, engine: Engine) -> Engine:
    migrate.upgrade(empty_database_url)
    return engine


def _client_and_sensor(conn: Connection) -> tuple[uuid.UUID, uuid.UUID]:
    client_id = conn.execute(text("INSERT INTO clients (name) VALUES ('Greenhouse A') RETURNING id")).scalar_one()
    sensor_id = conn.execute(
        text(
            "INSERT INTO sensors (client_id, external_id, sensor_type, location) "
            "VALUES (:client, 'ph-1', 'ph', 'bay-1') RETURNING id"
        ),
        {"client": client_id},
    ).scalar_one()
    return client_id, sensor_id


def test_upgrade_creates_every_domain_table(migrated: Engine) -> None:
    assert set(Base.metadata.tables) == DOMAIN_TABLES
    tables = _tables(migrated)
    assert DOMAIN_TABLES | {"alembic_version"} <= tables
    assert {name for name in tables - DOMAIN_TABLES - {"alembic_version"} if not PARTITION.match(name)} == set()
    with migrated.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == migrate_head()


def test_readings_is_partitioned_by_month_with_a_default(migrated: Engine) -> None:
    with migrated.connect() as conn:
        strategy, key = conn.execute(
            text(
                "SELECT partstrat, pg_get_partkeydef(partrelid) FROM pg_partitioned_table "
                "WHERE partrelid = 'readings'::regclass"
            )
        ).one()
        assert (strategy, key) == ("r", "RANGE (recorded_at)")
        assert _partitions(conn) == {"readings_default", _month(0), _month(1), _month(2)}
        default = conn.execute(
            text("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'readings_default'")
        ).scalar_one()
        assert default == "DEFAULT"


def test_a_reading_delivered_twice_is_stored_once(migrated: Engine) -> None:
    insert = text(
        "INSERT INTO readings (sensor_id, client_id, recorded_at, value, raw_value) "
        "VALUES (:sensor, :client, :at, 6.1, 6.0) ON CONFLICT DO NOTHING"
    )
    now = datetime.now(UTC).replace(microsecond=0)
    with migrated.begin() as conn:
        client_id, sensor_id = _client_and_sensor(conn)
        first = conn.execute(insert, {"sensor": sensor_id, "client": client_id, "at": now})
        second = conn.execute(insert, {"sensor": sensor_id, "client": client_id, "at": now})
        assert (first.rowcount, second.rowcount) == (1, 0)
        conn.execute(insert, {"sensor": sensor_id, "client": client_id, "at": datetime(2001, 1, 1, tzinfo=UTC)})
        rows = conn.execute(
            text("SELECT tableoid::regclass::text, received_at IS NOT NULL FROM readings ORDER BY recorded_at")
        ).all()
    assert rows == [("readings_default", True), (_month(0), True)]


def test_ensure_readings_partitions_is_idempotent(migrated: Engine) -> None:
    with migrated.begin() as conn:
        assert conn.execute(text("SELECT ensure_readings_partitions(3)")).scalar_one() == 1
        assert conn.execute(text("SELECT ensure_readings_partitions(3)")).scalar_one() == 0
        assert _month(3) in _partitions(conn)


def test_models_match_the_migrated_schema(migrated: Engine) -> None:
    with migrated.connect() as conn:
        assert _schema_differences(conn) == []


def _predicate(sql: str) -> str:
    """A partial-index predicate without the casts, parentheses and spacing PostgreSQL adds."""
    return re.sub(r"::text|[()\s]", "", str(sql)).lower()


def test_what_autogenerate_ignores_matches_too(migrated: Engine) -> None:
    """compare_metadata skips partial-index predicates, check constraints and the partition key."""
    inspector = inspect(migrated)
    for table in Base.metadata.sorted_tables:
        reflected = {ix["name"]: ix.get("dialect_options", {}) for ix in inspector.get_indexes(table.name)}
        for index in table.indexes:
            expected = index.dialect_options["postgresql"]["where"]
            actual = reflected[index.name].get("postgresql_where")
            assert (expected is None) == (actual is None), index.name
            if expected is not None:
                assert _predicate(actual) == _predicate(expected), index.name
        checks = {ck.name for ck in table.constraints if isinstance(ck, CheckConstraint)}
        assert {ck["name"] for ck in inspector.get_check_constraints(table.name)} == checks, table.name
    with migrated.connect() as conn:
        key = conn.execute(text("SELECT pg_get_partkeydef('readings'::regclass)")).scalar_one()
    assert key == Base.metadata.tables["readings"].dialect_options["postgresql"]["partition_by"]


def test_the_comparison_notices_a_drifted_schema(migrated: Engine) -> None:
    """Guards the parity test itself: a schema drift must show up as differences."""
    with migrated.begin() as conn:
        conn.execute(text("DROP INDEX ix_growth_stages_due_at_active"))
        conn.execute(text("ALTER TABLE alerts ALTER COLUMN repeat_count DROP DEFAULT"))
        conn.execute(text("ALTER TABLE harvests ADD COLUMN stray text"))
        kinds = {diff[0] if isinstance(diff, tuple) else diff[0][0] for diff in _schema_differences(conn)}
    assert {"add_index", "modify_default", "remove_column"} <= kinds


def test_every_foreign_key_is_indexed(migrated: Engine) -> None:
    inspector = inspect(migrated)
    unindexed = []
    for table in DOMAIN_TABLES:
        leading = [inspector.get_pk_constraint(table)["constrained_columns"]]
        leading += [uq["column_names"] for uq in inspector.get_unique_constraints(table)]
        leading += [
            ix["column_names"]
            for ix in inspector.get_indexes(table)
            if not ix.get("dialect_options", {}).get("postgresql_where")
        ]
        for fk in inspector.get_foreign_keys(table):
            columns = fk["constrained_columns"]
            if not any(cols[: len(columns)] == columns for cols in leading):
                unindexed.append(f"{table}.{','.join(columns)}")
    assert unindexed == []


def test_partial_unique_indexes_hold(migrated: Engine) -> None:
    with migrated.begin() as conn:
        client_id, sensor_id = _client_and_sensor(conn)
        rule_id = conn.execute(
            text("INSERT INTO rules (client_id, name, condition) VALUES (:c, 'pH high', '{}') RETURNING id"),
            {"c": client_id},
        ).scalar_one()
        open_alert = text(
            "INSERT INTO alerts (client_id, rule_id, sensor_id, severity, message, status) "
            "VALUES (:c, :r, :s, 'warning', 'pH 7.2', :status)"
        )
        params = {"c": client_id, "r": rule_id, "s": sensor_id}
        conn.execute(open_alert, params | {"status": "resolved"})
        conn.execute(open_alert, params | {"status": "open"})
        with pytest.raises(IntegrityError), conn.begin_nested():
            conn.execute(open_alert, params | {"status": "acknowledged"})


def test_downgrade_to_base_removes_everything(empty_database_url: str, migrated: Engine) -> None:
    migrate.downgrade(empty_database_url, "base")
    assert _tables(migrated) == {"alembic_version"}
    with migrated.connect() as conn:
        assert not _function_exists(conn)
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 0


def test_upgrade_downgrade_upgrade_round_trip(empty_database_url: str, migrated: Engine) -> None:
    migrate.downgrade(empty_database_url, "base")
    migrate.upgrade(empty_database_url, "head")
    with migrated.connect() as conn:
        assert _schema_differences(conn) == []
        assert _function_exists(conn)
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == migrate_head()


def test_upgrade_without_url_uses_the_settings(
    empty_database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    monkeypatch.delenv("DB_SECRET_ARN", raising=False)
    get_settings.cache_clear()
    try:
        migrate.upgrade()
    finally:
        get_settings.cache_clear()
    assert DOMAIN_TABLES <= _tables(engine)


def test_offline_mode_renders_the_sql(empty_database_url: str) -> None:
    config = migrate.alembic_config(empty_database_url)
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    assert "PARTITION BY RANGE (recorded_at)" in sql
    assert "CREATE FUNCTION ensure_readings_partitions" in sql


def _key_rows(conn: Connection, column: str) -> dict[str, object]:
    return dict(conn.execute(text(f"SELECT name, {column} FROM api_keys ORDER BY name")).all())


def test_existing_keys_become_operator_keys_and_admin_keys_admin_keys(empty_database_url: str, engine: Engine) -> None:
    migrate.upgrade(empty_database_url, "0016-1")  # the schema before key scopes
    with engine.begin() as conn:
        client_id = conn.execute(text("INSERT INTO clients (name) VALUES ('Old Farm') RETURNING id")).scalar_one()
        for name, is_admin, owner in (("gateway", False, client_id), ("ops", True, client_id), ("platform", True, None)):
            conn.execute(text("INSERT INTO api_keys (client_id, name, prefix, key_hash, is_admin)"
                              " VALUES (:c, :n, 'hk_old', md5(:n) || md5(:n), :a)"), {"c": owner, "n": name, "a": is_admin})
    migrate.upgrade(empty_database_url, "0016")
    with engine.begin() as conn:
        assert _key_rows(conn, "scope") == {"gateway": "operator", "ops": "admin", "platform": "admin"}
        assert set(_key_rows(conn, "expires_at").values()) == {None}
        with pytest.raises(DBAPIError, match="ck_api_keys_client_unless_admin"):  # only admin keys have no client
            with conn.begin_nested():
                conn.execute(text("INSERT INTO api_keys (name, prefix, key_hash, scope)"
                                  " VALUES ('x', 'hk_x', repeat('b', 64), 'device')"))
        with pytest.raises(DBAPIError, match="ck_api_keys_scope"):
            with conn.begin_nested():
                conn.execute(text("INSERT INTO api_keys (client_id, name, prefix, key_hash, scope)"
                                  " VALUES (:c, 'x', 'hk_x', repeat('c', 64), 'root')"), {"c": client_id})
        conn.execute(text("INSERT INTO api_keys (client_id, name, prefix, key_hash, scope)"
                          " VALUES (:c, 'sensor', 'hk_new', repeat('d', 64), 'device')"), {"c": client_id})
    migrate.downgrade(empty_database_url, "0016-1")
    with engine.connect() as conn:
        assert _key_rows(conn, "is_admin") == {"gateway": False, "ops": True, "platform": True, "sensor": False}
