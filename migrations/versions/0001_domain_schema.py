"""Domain schema: tenants, sensors, partitioned readings, crops, rules/alerts, notifications, AC, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

readings is range-partitioned by month on recorded_at: readings_default catches anything without a
monthly partition, and ensure_readings_partitions(months_ahead) creates the missing monthly partitions
readings_YYYYMM (UTC months) from the current month up to months_ahead months later. A schedule calls
it ahead of time; it cannot create a month whose rows already landed in readings_default (PostgreSQL
refuses to add a partition overlapping rows in the default one), which is why it is meant for
future months, normally still empty.
"""

from typing import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENSURE_READINGS_PARTITIONS = """
CREATE FUNCTION ensure_readings_partitions(months_ahead integer DEFAULT 2) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    first_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    month_start date;
    partition_name text;
    created integer := 0;
BEGIN
    IF months_ahead IS NULL OR months_ahead < 0 THEN
        RAISE EXCEPTION 'months_ahead must be >= 0, got %', months_ahead;
    END IF;
    -- concurrent callers queue here instead of racing on the same CREATE TABLE
    PERFORM pg_advisory_xact_lock(hashtext('ensure_readings_partitions'));
    FOR i IN 0..months_ahead LOOP
        month_start := (first_month + make_interval(months => i))::date;
        partition_name := 'readings_' || to_char(month_start, 'YYYYMM');
        IF to_regclass(quote_ident(partition_name)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF readings FOR VALUES FROM (%L) TO (%L)',
                partition_name,
                month_start::text || ' 00:00:00+00',
                (month_start + interval '1 month')::date::text || ' 00:00:00+00'
            );
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END;
$$
"""

ENSURE_READINGS_PARTITIONS_COMMENT = (
    "Creates the missing monthly partitions readings_YYYYMM (UTC) from the current month to months_ahead "
    "months later and returns how many it created. Meant for future months: a month whose rows already sit "
    "in readings_default cannot be added."
)


def _id() -> sa.Column:
    return sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def _uuid(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Uuid(), nullable=nullable)


def _text(name: str, nullable: bool = False, default: str | None = None) -> sa.Column:
    server_default = sa.text(f"'{default}'") if default is not None else None
    return sa.Column(name, sa.Text(), server_default=server_default, nullable=nullable)


def _time(name: str, nullable: bool = True, now: bool = False) -> sa.Column:
    server_default = sa.text("now()") if now else None
    return sa.Column(name, sa.DateTime(timezone=True), server_default=server_default, nullable=nullable)


def _now(name: str) -> sa.Column:
    return _time(name, nullable=False, now=True)


def _int(name: str, default: int | None = None, nullable: bool = False) -> sa.Column:
    server_default = sa.text(str(default)) if default is not None else None
    return sa.Column(name, sa.Integer(), server_default=server_default, nullable=nullable)


def _double(name: str, nullable: bool = True, default: int | None = None) -> sa.Column:
    server_default = sa.text(str(default)) if default is not None else None
    return sa.Column(name, sa.Double(), server_default=server_default, nullable=nullable)


def _flag(name: str, default: bool = True) -> sa.Column:
    return sa.Column(name, sa.Boolean(), server_default=sa.text("true" if default else "false"), nullable=False)


def _jsonb(name: str, default: str | None = "'{}'::jsonb", nullable: bool = False) -> sa.Column:
    server_default = sa.text(default) if default is not None else None
    return sa.Column(name, JSONB(astext_type=sa.Text()), server_default=server_default, nullable=nullable)


def _pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*(columns or ("id",)), name=op.f(f"pk_{table}"))


def _fk(table: str, column: str, referred: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=ondelete
    )


def _uq(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=op.f(f"uq_{table}_{'_'.join(columns)}"))


def _ck(table: str, name: str, condition: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{name}"))


def _one_of(table: str, column: str, *values: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return _ck(table, column, f"{column} IN ({listed})")


def _index(table: str, *columns: str, name: str | None = None, **kwargs: object) -> None:
    op.create_index(op.f(name or f"ix_{table}_{'_'.join(columns)}"), table, list(columns), **kwargs)


def _desc(column: str) -> sa.ColumnElement:
    return sa.literal_column(f"{column} DESC")


def _tenancy() -> None:
    op.create_table(
        "clients",
        _id(),
        _text("name"),
        _text("contact_email", nullable=True),
        _flag("is_active"),
        _jsonb("settings"),
        _now("created_at"),
        _now("updated_at"),
        _pk("clients"),
    )
    op.create_table(
        "api_keys",
        _id(),
        _uuid("client_id", nullable=True),
        _text("name"),
        _text("prefix"),
        _text("key_hash"),
        _flag("is_admin", default=False),
        _now("created_at"),
        _time("last_used_at"),
        _time("revoked_at"),
        _pk("api_keys"),
        _fk("api_keys", "client_id", "clients"),
        _uq("api_keys", "key_hash"),
        _ck("api_keys", "key_hash_is_sha256", "char_length(key_hash) = 64"),
        _ck("api_keys", "client_unless_admin", "is_admin OR client_id IS NOT NULL"),
    )
    _index("api_keys", "client_id")


def _sensors_and_readings() -> None:
    op.create_table(
        "sensors",
        _id(),
        _uuid("client_id"),
        _text("external_id"),
        _text("sensor_type"),
        _text("location"),
        _text("unit", nullable=True),
        _int("expected_interval_seconds", default=60),
        _text("peer_group", nullable=True),
        _double("min_threshold"),
        _double("max_threshold"),
        _flag("is_active"),
        _now("created_at"),
        _pk("sensors"),
        _fk("sensors", "client_id", "clients"),
        _uq("sensors", "client_id", "external_id"),
        _ck("sensors", "expected_interval_positive", "expected_interval_seconds > 0"),
    )
    _index("sensors", "client_id", "sensor_type", "location")

    op.create_table(
        "readings",
        _uuid("sensor_id"),
        _time("recorded_at", nullable=False),
        _uuid("client_id"),
        _double("value", nullable=False),
        _double("raw_value"),
        _now("received_at"),
        _pk("readings", "sensor_id", "recorded_at"),
        _fk("readings", "sensor_id", "sensors"),
        postgresql_partition_by="RANGE (recorded_at)",
    )
    _index("readings", "client_id", "recorded_at")
    op.execute("CREATE TABLE readings_default PARTITION OF readings DEFAULT")
    op.execute(ENSURE_READINGS_PARTITIONS)
    op.execute(f"COMMENT ON FUNCTION ensure_readings_partitions(integer) IS '{ENSURE_READINGS_PARTITIONS_COMMENT}'")
    op.execute("SELECT ensure_readings_partitions(2)")  # this month and the next two

    op.create_table(
        "calibrations",
        _id(),
        _uuid("sensor_id"),
        _uuid("client_id"),
        _now("calibrated_at"),
        _text("method", nullable=True),
        _jsonb("reference_solutions", default="'[]'::jsonb"),
        _double("offset", nullable=False, default=0),
        _double("slope", nullable=False, default=1),
        _text("technician", nullable=True),
        _time("next_due_at"),
        _text("notes", nullable=True),
        _pk("calibrations"),
        _fk("calibrations", "sensor_id", "sensors"),
        _fk("calibrations", "client_id", "clients"),
    )
    _index("calibrations", "client_id")
    op.create_index(
        op.f("ix_calibrations_sensor_id_calibrated_at"), "calibrations", ["sensor_id", _desc("calibrated_at")]
    )


def _crops() -> None:
    op.create_table(
        "varieties",
        _id(),
        _uuid("client_id"),
        _text("name"),
        _text("description", nullable=True),
        _now("created_at"),
        _pk("varieties"),
        _fk("varieties", "client_id", "clients"),
        _uq("varieties", "client_id", "name"),
    )
    op.create_table(
        "variety_stages",
        _id(),
        _uuid("variety_id"),
        _text("name"),
        _int("stage_order"),
        _int("duration_days"),
        _jsonb("targets"),
        _pk("variety_stages"),
        _fk("variety_stages", "variety_id", "varieties"),
        _uq("variety_stages", "variety_id", "stage_order"),
        _uq("variety_stages", "variety_id", "name"),
        _ck("variety_stages", "stage_order_not_negative", "stage_order >= 0"),
        _ck("variety_stages", "duration_positive", "duration_days > 0"),
    )
    op.create_table(
        "crops",
        _id(),
        _uuid("client_id"),
        _uuid("variety_id"),
        _text("location"),
        _text("batch_code"),
        _time("planted_at", nullable=False),
        _text("status", default="active"),
        _now("created_at"),
        _time("closed_at"),
        _pk("crops"),
        _fk("crops", "client_id", "clients"),
        _fk("crops", "variety_id", "varieties", ondelete="RESTRICT"),
        _one_of("crops", "status", "active", "harvested", "failed"),
    )
    _index("crops", "client_id")
    _index("crops", "variety_id")
    _index(
        "crops",
        "client_id",
        "variety_id",
        name="ix_crops_client_id_variety_id_active",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "growth_stages",
        _id(),
        _uuid("crop_id"),
        _uuid("variety_stage_id", nullable=True),
        _text("stage_name"),
        _int("stage_order"),
        _time("started_at", nullable=False),
        _time("due_at", nullable=False),
        _time("completed_at"),
        _pk("growth_stages"),
        _fk("growth_stages", "crop_id", "crops"),
        _fk("growth_stages", "variety_stage_id", "variety_stages", ondelete="SET NULL"),
        _uq("growth_stages", "crop_id", "stage_order"),
    )
    _index("growth_stages", "variety_stage_id")
    active = sa.text("completed_at IS NULL")
    _index("growth_stages", "crop_id", name="uq_growth_stages_crop_id_active", unique=True, postgresql_where=active)
    _index("growth_stages", "due_at", name="ix_growth_stages_due_at_active", postgresql_where=active)
    op.create_table(
        "harvests",
        _id(),
        _uuid("crop_id"),
        _uuid("client_id"),
        _now("harvested_at"),
        sa.Column("yield_amount", sa.Numeric(precision=12, scale=3), nullable=True),
        _text("yield_unit", nullable=True),
        _text("quality_grade", nullable=True),
        _text("notes", nullable=True),
        _pk("harvests"),
        _fk("harvests", "crop_id", "crops"),
        _fk("harvests", "client_id", "clients"),
        _uq("harvests", "crop_id"),
        _ck("harvests", "yield_not_negative", "yield_amount >= 0"),
    )
    _index("harvests", "client_id")


def _alerting() -> None:
    severities = ("info", "warning", "critical")
    op.create_table(
        "rules",
        _id(),
        _uuid("client_id"),
        _text("name"),
        _uuid("sensor_id", nullable=True),
        _text("sensor_type", nullable=True),
        _text("location", nullable=True),
        _uuid("crop_id", nullable=True),
        _jsonb("condition", default=None),
        _text("severity", default="warning"),
        _jsonb("channels", default="'[]'::jsonb"),
        _jsonb("action", default=None, nullable=True),
        _flag("is_enabled"),
        _now("created_at"),
        _now("updated_at"),
        _pk("rules"),
        _fk("rules", "client_id", "clients"),
        _fk("rules", "sensor_id", "sensors"),
        _fk("rules", "crop_id", "crops"),
        _one_of("rules", "severity", *severities),
    )
    _index("rules", "client_id")
    _index("rules", "sensor_id")
    _index("rules", "crop_id")
    op.create_table(
        "alerts",
        _id(),
        _uuid("client_id"),
        _uuid("rule_id", nullable=True),
        _uuid("sensor_id", nullable=True),
        _text("severity"),
        _text("status", default="open"),
        _text("message"),
        _double("value"),
        _now("opened_at"),
        _time("acknowledged_at"),
        _text("acknowledged_by", nullable=True),
        _time("resolved_at"),
        _int("repeat_count", default=0),
        _int("escalation_level", default=0),
        _time("last_escalated_at"),
        _pk("alerts"),
        _fk("alerts", "client_id", "clients"),
        _fk("alerts", "rule_id", "rules", ondelete="SET NULL"),
        _fk("alerts", "sensor_id", "sensors", ondelete="SET NULL"),
        _one_of("alerts", "severity", *severities),
        _one_of("alerts", "status", "open", "acknowledged", "resolved"),
    )
    _index("alerts", "rule_id")
    _index("alerts", "sensor_id")
    _index("alerts", "client_id", "status", "opened_at")
    _index(
        "alerts",
        "rule_id",
        "sensor_id",
        name="uq_alerts_rule_id_sensor_id_unresolved",
        unique=True,
        postgresql_where=sa.text("status <> 'resolved'"),
    )
    op.create_table(
        "silences",
        _id(),
        _uuid("client_id"),
        _uuid("sensor_id", nullable=True),
        _text("location", nullable=True),
        _uuid("rule_id", nullable=True),
        _text("reason", nullable=True),
        _now("starts_at"),
        _time("ends_at", nullable=False),
        _text("created_by", nullable=True),
        _pk("silences"),
        _fk("silences", "client_id", "clients"),
        _fk("silences", "sensor_id", "sensors"),
        _fk("silences", "rule_id", "rules"),
        _ck("silences", "ends_after_start", "ends_at > starts_at"),
    )
    _index("silences", "client_id", "ends_at")
    _index("silences", "sensor_id")
    _index("silences", "rule_id")


def _notifications() -> None:
    op.create_table(
        "notification_channels",
        _id(),
        _uuid("client_id"),
        _text("name"),
        _text("kind"),
        _text("target_url"),
        _jsonb("config"),
        _flag("is_enabled"),
        _int("hourly_cap", nullable=True),
        _now("created_at"),
        _pk("notification_channels"),
        _fk("notification_channels", "client_id", "clients"),
        _uq("notification_channels", "client_id", "name"),
        _one_of("notification_channels", "kind", "email", "slack", "teams", "webhook", "sms"),
        _ck("notification_channels", "hourly_cap_positive", "hourly_cap IS NULL OR hourly_cap > 0"),
    )
    op.create_table(
        "notifications",
        _id(),
        _uuid("client_id"),
        _uuid("alert_id", nullable=True),
        _uuid("channel_id"),
        _text("idempotency_key"),
        _text("status", default="pending"),
        _int("attempts", default=0),
        _text("last_error", nullable=True),
        _now("created_at"),
        _time("sent_at"),
        _pk("notifications"),
        _fk("notifications", "client_id", "clients"),
        _fk("notifications", "alert_id", "alerts", ondelete="SET NULL"),
        _fk("notifications", "channel_id", "notification_channels"),
        _uq("notifications", "idempotency_key"),
        _one_of("notifications", "status", "pending", "sent", "failed", "suppressed", "digested"),
    )
    _index("notifications", "client_id")
    _index("notifications", "alert_id")
    _index("notifications", "channel_id", "created_at")


def _climate_control() -> None:
    op.create_table(
        "ac_units",
        _id(),
        _uuid("client_id"),
        _text("name"),
        _text("location"),
        _text("driver", default="simulated"),
        _text("endpoint", nullable=True),
        _jsonb("capabilities"),
        _jsonb("safety"),
        _jsonb("state"),
        _time("state_updated_at"),
        _time("last_off_at"),
        _now("created_at"),
        _pk("ac_units"),
        _fk("ac_units", "client_id", "clients"),
        _uq("ac_units", "client_id", "name"),
        _one_of("ac_units", "driver", "http", "mqtt", "simulated"),
    )
    op.create_table(
        "ac_commands",
        _id(),
        _uuid("client_id"),
        _uuid("ac_unit_id"),
        _text("requested_by", nullable=True),
        _text("source"),
        _jsonb("command", default=None),
        _text("status", default="queued"),
        _text("reason", nullable=True),
        _now("created_at"),
        _time("sent_at"),
        _time("acknowledged_at"),
        _pk("ac_commands"),
        _fk("ac_commands", "client_id", "clients"),
        _fk("ac_commands", "ac_unit_id", "ac_units"),
        _one_of("ac_commands", "source", "operator", "rule"),
        _one_of("ac_commands", "status", "queued", "sent", "acknowledged", "failed", "rejected"),
    )
    _index("ac_commands", "client_id")
    _index("ac_commands", "ac_unit_id", "created_at")


def _operations() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        _uuid("client_id", nullable=True),
        _text("event_type"),
        _text("actor", nullable=True),
        _text("subject_type", nullable=True),
        _text("subject_id", nullable=True),
        _jsonb("details"),
        _now("occurred_at"),
        _pk("events"),
        _fk("events", "client_id", "clients", ondelete="SET NULL"),
    )
    op.create_index(
        op.f("ix_events_client_id_event_type_occurred_at"),
        "events",
        ["client_id", "event_type", _desc("occurred_at")],
    )
    op.create_table(
        "failed_tasks",
        _id(),
        _text("source_queue"),
        _text("message_id", nullable=True),
        _text("body"),
        _text("error", nullable=True),
        _jsonb("attributes"),
        _now("failed_at"),
        _text("status", default="failed"),
        _time("resolved_at"),
        _pk("failed_tasks"),
        _one_of("failed_tasks", "status", "failed", "redriven", "discarded"),
    )
    _index("failed_tasks", "status", "failed_at")


# Dependents first; dropping a table drops its indexes, and readings takes its partitions along.
TABLES = (
    "failed_tasks",
    "events",
    "ac_commands",
    "ac_units",
    "notifications",
    "notification_channels",
    "silences",
    "alerts",
    "rules",
    "harvests",
    "growth_stages",
    "crops",
    "variety_stages",
    "varieties",
    "calibrations",
    "readings",
    "sensors",
    "api_keys",
    "clients",
)


def upgrade() -> None:
    _tenancy()
    _sensors_and_readings()
    _crops()
    _alerting()
    _notifications()
    _climate_control()
    _operations()


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS ensure_readings_partitions(integer)")
    for table in TABLES:
        op.drop_table(table)
