"""The SQLAlchemy table models of the whole farm domain (the schema migrations/ creates)."""

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    MetaData,
    Numeric,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Children of the partitioned `readings` table (monthly readings_YYYYMM and readings_default) are
# created by migrations and ensure_readings_partitions(), never by the models.
READINGS_PARTITION = re.compile(r"^readings_(default|\d{6})$")

NOW = text("now()")
EMPTY_OBJECT = text("'{}'::jsonb")
EMPTY_LIST = text("'[]'::jsonb")

UuidPk = Annotated[uuid.UUID, mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))]
CreatedAt = Annotated[datetime, mapped_column(server_default=NOW)]
UpdatedAt = Annotated[datetime, mapped_column(server_default=NOW, onupdate=NOW)]
Flag = Annotated[bool, mapped_column(server_default=text("true"))]
JsonObject = Annotated[dict[str, Any], mapped_column(server_default=EMPTY_OBJECT)]


def _client_fk(nullable: bool = False, index: bool = True) -> Any:
    """The owning client; deleting a client deletes everything it owns."""
    return mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), nullable=nullable, index=index)


def _one_of(column: str, *values: str) -> CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)


def is_readings_partition(name: str | None) -> bool:
    """Whether a reflected table is a partition of `readings` (not part of the models)."""
    return bool(name and READINGS_PARTITION.match(name))


class Base(DeclarativeBase):
    """Declarative base: one MetaData with stable constraint names; PG types for annotations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
        uuid.UUID: Uuid,
        str: Text,
        float: Double,
    }


class Client(Base):
    __tablename__ = "clients"

    id: Mapped[UuidPk]
    name: Mapped[str]
    contact_email: Mapped[str | None]
    is_active: Mapped[Flag]
    settings: Mapped[JsonObject]  # per-client overrides, e.g. rate limits
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("char_length(key_hash) = 64", name="key_hash_is_sha256"),
        CheckConstraint("scope = 'admin' OR client_id IS NOT NULL", name="client_unless_admin"),
        _one_of("scope", "device", "operator", "admin"),
    )

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID | None] = _client_fk(nullable=True)  # NULL: platform admin key
    name: Mapped[str]
    prefix: Mapped[str]  # first 8 characters of the key, shown in listings
    key_hash: Mapped[str] = mapped_column(unique=True)  # sha256 hex of the whole key
    scope: Mapped[str] = mapped_column(server_default=text("'operator'"))  # device, operator or admin
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[datetime | None]  # NULL: until revoked
    last_used_at: Mapped[datetime | None]  # copied from the key index when revoked (the listing reads the index)
    revoked_at: Mapped[datetime | None]
    client_alias: Mapped[str | None]  # the X-Client-Id its devices send besides client_id (legacy id, 0018)


class Sensor(Base):
    __tablename__ = "sensors"
    __table_args__ = (
        UniqueConstraint("client_id", "external_id"),
        Index("ix_sensors_client_id_sensor_type_location", "client_id", "sensor_type", "location"),
        CheckConstraint("expected_interval_seconds > 0", name="expected_interval_positive"),
    )

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk(index=False)  # leads uq (client_id, external_id)
    external_id: Mapped[str]  # the sensor id the device reports
    sensor_type: Mapped[str]
    location: Mapped[str]
    unit: Mapped[str | None]
    expected_interval_seconds: Mapped[int] = mapped_column(server_default=text("60"))
    peer_group: Mapped[str | None]  # sensors that redundantly measure the same thing
    min_threshold: Mapped[float | None]  # legacy sensor_configs thresholds
    max_threshold: Mapped[float | None]
    is_active: Mapped[Flag]
    created_at: Mapped[CreatedAt]
    # the newest reading, kept by the store statement (migration 0002)
    last_value: Mapped[float | None]
    last_raw_value: Mapped[float | None]
    last_recorded_at: Mapped[datetime | None]


class ReadingCount(Base):
    """Readings stored per client and sensor type, kept by the store statement (migration 0012)."""

    __tablename__ = "reading_counts"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    sensor_type: Mapped[str] = mapped_column(primary_key=True)
    stored: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class Reading(Base):
    """One measurement; the table is range-partitioned by month on recorded_at."""

    __tablename__ = "readings"
    __table_args__ = (
        Index("ix_readings_client_id_recorded_at", "client_id", "recorded_at"),
        {"postgresql_partition_by": "RANGE (recorded_at)"},
    )

    sensor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(primary_key=True)
    client_id: Mapped[uuid.UUID]  # denormalised, no FK: keeps ingest cheap
    value: Mapped[float]
    raw_value: Mapped[float | None]  # before calibration
    received_at: Mapped[CreatedAt]


class Variety(Base):
    __tablename__ = "varieties"
    __table_args__ = (UniqueConstraint("client_id", "name"),)

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk(index=False)  # leads uq (client_id, name)
    name: Mapped[str]
    description: Mapped[str | None]
    created_at: Mapped[CreatedAt]

    stages: Mapped[list["VarietyStage"]] = relationship(
        back_populates="variety", order_by="VarietyStage.stage_order", cascade="all, delete-orphan"
    )


class VarietyStage(Base):
    """A stage of a variety's growth profile with its target ranges, e.g. {"ph": {"min": 5.5, "max": 6.5}}."""

    __tablename__ = "variety_stages"
    __table_args__ = (
        UniqueConstraint("variety_id", "stage_order"),
        UniqueConstraint("variety_id", "name"),
        CheckConstraint("stage_order >= 0", name="stage_order_not_negative"),
        CheckConstraint("duration_days > 0", name="duration_positive"),
    )

    id: Mapped[UuidPk]
    variety_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("varieties.id", ondelete="CASCADE"))
    name: Mapped[str]
    stage_order: Mapped[int]
    duration_days: Mapped[int]
    targets: Mapped[JsonObject]

    variety: Mapped[Variety] = relationship(back_populates="stages")


class Crop(Base):
    __tablename__ = "crops"
    __table_args__ = (
        _one_of("status", "active", "harvested", "failed"),
        Index(
            "ix_crops_client_id_variety_id_active",
            "client_id",
            "variety_id",
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk()
    variety_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("varieties.id", ondelete="RESTRICT"), index=True)
    location: Mapped[str]
    batch_code: Mapped[str]
    planted_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(server_default=text("'active'"))
    created_at: Mapped[CreatedAt]
    closed_at: Mapped[datetime | None]

    variety: Mapped[Variety] = relationship()
    growth_stages: Mapped[list["GrowthStage"]] = relationship(
        back_populates="crop", order_by="GrowthStage.stage_order", cascade="all, delete-orphan"
    )
    harvest: Mapped["Harvest | None"] = relationship(back_populates="crop", cascade="all, delete-orphan")


class GrowthStage(Base):
    """A crop's pass through one stage; the stage with completed_at NULL is the active one."""

    __tablename__ = "growth_stages"
    __table_args__ = (
        UniqueConstraint("crop_id", "stage_order"),
        Index(
            "uq_growth_stages_crop_id_active",
            "crop_id",
            unique=True,
            postgresql_where=text("completed_at IS NULL"),
        ),
        Index("ix_growth_stages_due_at_active", "due_at", postgresql_where=text("completed_at IS NULL")),
    )

    id: Mapped[UuidPk]
    crop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("crops.id", ondelete="CASCADE"))
    variety_stage_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("variety_stages.id", ondelete="SET NULL"), index=True
    )
    stage_name: Mapped[str]  # copied from the profile so history survives profile edits
    stage_order: Mapped[int]
    started_at: Mapped[datetime]
    due_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]

    crop: Mapped[Crop] = relationship(back_populates="growth_stages")


class Harvest(Base):
    __tablename__ = "harvests"
    __table_args__ = (CheckConstraint("yield_amount >= 0", name="yield_not_negative"),)

    id: Mapped[UuidPk]
    crop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("crops.id", ondelete="CASCADE"), unique=True)
    client_id: Mapped[uuid.UUID] = _client_fk()
    harvested_at: Mapped[CreatedAt]
    yield_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))
    yield_unit: Mapped[str | None]
    quality_grade: Mapped[str | None]
    notes: Mapped[str | None]

    crop: Mapped[Crop] = relationship(back_populates="harvest")


class Calibration(Base):
    __tablename__ = "calibrations"
    __table_args__ = (Index("ix_calibrations_sensor_id_calibrated_at", "sensor_id", text("calibrated_at DESC")),)

    id: Mapped[UuidPk]
    sensor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = _client_fk()
    calibrated_at: Mapped[CreatedAt]
    method: Mapped[str | None]
    reference_solutions: Mapped[list[Any]] = mapped_column(server_default=EMPTY_LIST)
    offset: Mapped[float] = mapped_column(server_default=text("0"))  # reserved word: quote "offset" in raw SQL
    slope: Mapped[float] = mapped_column(server_default=text("1"))
    technician: Mapped[str | None]
    next_due_at: Mapped[datetime | None]
    notes: Mapped[str | None]


class Rule(Base):
    """An alert rule; scope columns left NULL match everything of the client."""

    __tablename__ = "rules"
    __table_args__ = (_one_of("severity", "info", "warning", "critical"),)

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk()
    name: Mapped[str]
    sensor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), index=True)
    sensor_type: Mapped[str | None]
    location: Mapped[str | None]
    crop_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("crops.id", ondelete="CASCADE"), index=True)
    condition: Mapped[dict[str, Any]]
    severity: Mapped[str] = mapped_column(server_default=text("'warning'"))
    channels: Mapped[list[Any]] = mapped_column(server_default=EMPTY_LIST)
    action: Mapped[dict[str, Any] | None]
    is_enabled: Mapped[Flag]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    escalation_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("escalation_policies.id", ondelete="SET NULL"), index=True
    )


class EscalationPolicy(Base):
    """Who hears about an unacknowledged alert next: levels [{"after_seconds": 300, "channels": [...]}]."""

    __tablename__ = "escalation_policies"
    __table_args__ = (UniqueConstraint("client_id", "name"),)

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk(index=False)  # leads uq (client_id, name)
    name: Mapped[str]
    levels: Mapped[list[Any]] = mapped_column(server_default=EMPTY_LIST)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class RuleState(Base):
    """Where a rule stands for one sensor: ok, pending (breached, waiting out for_seconds) or firing."""

    __tablename__ = "rule_states"
    __table_args__ = (_one_of("state", "ok", "pending", "firing"),)

    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"), primary_key=True)
    sensor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True,
                                                 index=True)
    state: Mapped[str] = mapped_column(server_default=text("'ok'"))
    pending_since: Mapped[datetime | None]
    last_recorded_at: Mapped[datetime | None]  # newest reading evaluated: older redeliveries are skipped
    last_value: Mapped[float | None]
    updated_at: Mapped[UpdatedAt]


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        _one_of("severity", "info", "warning", "critical"),
        _one_of("status", "open", "acknowledged", "resolved"),
        # one unresolved alert per (rule, sensor); rows with a NULL rule or sensor are not deduplicated
        Index(
            "uq_alerts_rule_id_sensor_id_unresolved",
            "rule_id",
            "sensor_id",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
        Index("ix_alerts_client_id_status_opened_at", "client_id", "status", "opened_at"),
        # one unresolved alert per unreachable AC unit (migration 0008)
        Index(
            "uq_alerts_ac_unit_id_unresolved",
            "ac_unit_id",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
        # one unresolved alert per failing scheduled job (migration 0010)
        Index("uq_alerts_job_unresolved", "job", unique=True, postgresql_where=text("status <> 'resolved'")),
    )

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk(index=False)  # leads ix (client_id, status, opened_at)
    rule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rules.id", ondelete="SET NULL"), index=True)
    sensor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sensors.id", ondelete="SET NULL"), index=True)
    severity: Mapped[str]
    status: Mapped[str] = mapped_column(server_default=text("'open'"))
    message: Mapped[str]
    value: Mapped[float | None]
    opened_at: Mapped[CreatedAt]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None]
    resolved_at: Mapped[datetime | None]
    repeat_count: Mapped[int] = mapped_column(server_default=text("0"))
    escalation_level: Mapped[int] = mapped_column(server_default=text("0"))
    last_escalated_at: Mapped[datetime | None]
    silence_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("silences.id", ondelete="SET NULL"), index=True)
    resolved_by: Mapped[str | None]
    last_seen_at: Mapped[datetime | None]  # newest breaching reading
    ac_unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ac_units.id", ondelete="SET NULL"),
                                                         index=True)  # an unreachable unit's alert
    job: Mapped[str | None]  # a failed scheduled job's alert, e.g. 'retention' (migration 0010)


class Silence(Base):
    """A maintenance window muting alerts for a sensor, location or rule (all NULL: whole client)."""

    __tablename__ = "silences"
    __table_args__ = (
        Index("ix_silences_client_id_ends_at", "client_id", "ends_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk(index=False)  # leads ix (client_id, ends_at)
    sensor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), index=True)
    location: Mapped[str | None]
    rule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str | None]
    starts_at: Mapped[CreatedAt]
    ends_at: Mapped[datetime]
    created_by: Mapped[str | None]


class NotificationChannel(Base):
    __tablename__ = "notification_channels"
    __table_args__ = (
        UniqueConstraint("client_id", "name"),
        _one_of("kind", "email", "slack", "teams", "webhook", "sms"),
        CheckConstraint("hourly_cap IS NULL OR hourly_cap > 0", name="hourly_cap_positive"),
    )

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk(index=False)  # leads uq (client_id, name)
    name: Mapped[str]
    kind: Mapped[str]
    # the Apprise URL or phone number, sealed (hydroponics/sealed_secrets.py): never returned, never logged
    target_sealed: Mapped[dict[str, Any]]
    target_hint: Mapped[str]  # its masked form, what the API shows
    config: Mapped[JsonObject]
    is_enabled: Mapped[Flag]
    hourly_cap: Mapped[int | None]  # NULL: no cap
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class Notification(Base):
    """The delivery log: one row per message to a channel."""

    __tablename__ = "notifications"
    __table_args__ = (
        _one_of("status", "pending", "sending", "sent", "failed", "suppressed", "held", "digested"),
        _one_of("kind", "alert", "escalation", "resolved", "digest", "test"),
        Index("ix_notifications_channel_id_created_at", "channel_id", "created_at"),
        Index("ix_notifications_status_created_at", "status", "created_at",
              postgresql_where=text("status = ANY (ARRAY['pending', 'held'])")),
    )

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk()
    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"), index=True)
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(unique=True)
    status: Mapped[str] = mapped_column(server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    last_error: Mapped[str | None]
    created_at: Mapped[CreatedAt]
    sent_at: Mapped[datetime | None]
    # migration 0005
    kind: Mapped[str] = mapped_column(server_default=text("'alert'"))
    escalation_level: Mapped[int] = mapped_column(server_default=text("0"))
    subject: Mapped[str] = mapped_column(server_default=text("''"))
    body: Mapped[str] = mapped_column(server_default=text("''"))  # the rendered message, never a channel secret
    claimed_at: Mapped[datetime | None]  # set while a notify worker sends it
    digest_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("notifications.id", ondelete="SET NULL"),
                                                        index=True)  # the digest that carried a held message
    correlation_id: Mapped[str | None]  # the API request behind it (migration 0012)


class AcUnit(Base):
    __tablename__ = "ac_units"
    __table_args__ = (UniqueConstraint("client_id", "name"), _one_of("driver", "http", "mqtt", "simulated"))

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk(index=False)  # leads uq (client_id, name)
    name: Mapped[str]
    location: Mapped[str]
    driver: Mapped[str] = mapped_column(server_default=text("'simulated'"))
    endpoint: Mapped[str | None]
    # HMAC key shared with the controller, sealed (hydroponics/sealed_secrets.py); never returned by the API
    secret_sealed: Mapped[dict[str, Any] | None]
    alert_channels: Mapped[list[Any]] = mapped_column(server_default=EMPTY_LIST)  # told when it is unreachable
    capabilities: Mapped[JsonObject]
    safety: Mapped[JsonObject]  # limits every command is checked against
    state: Mapped[JsonObject]  # last reported state
    state_updated_at: Mapped[datetime | None]
    last_off_at: Mapped[datetime | None]  # when the compressor last stopped (power off, or a switch to fan)
    created_at: Mapped[CreatedAt]


class AcCommand(Base):
    __tablename__ = "ac_commands"
    __table_args__ = (
        _one_of("source", "operator", "rule"),
        _one_of("status", "queued", "sent", "acknowledged", "failed", "rejected"),
        Index("ix_ac_commands_ac_unit_id_created_at", "ac_unit_id", "created_at"),
    )

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk()
    ac_unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ac_units.id", ondelete="CASCADE"))
    requested_by: Mapped[str | None]
    source: Mapped[str]
    command: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(server_default=text("'queued'"))
    reason: Mapped[str | None]
    created_at: Mapped[CreatedAt]
    sent_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(server_default=text("0"))  # sends to the unit, retries included
    message_id: Mapped[str | None]  # the queue message that claimed it (another one is a duplicate)
    correlation_id: Mapped[str | None]  # the API request behind it (migration 0012)


class Event(Base):
    """The audit log."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_client_id_event_type_occurred_at", "client_id", "event_type", text("occurred_at DESC")),
        # each scheduled job's runs, newest first (migration 0012; /metrics reads the last one)
        Index("ix_events_job_runs", "subject_id", text("occurred_at DESC"), postgresql_where=text("event_type = 'job.ran'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # audit history outlives its client: SET NULL, not CASCADE
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"))
    event_type: Mapped[str]
    actor: Mapped[str | None]
    subject_type: Mapped[str | None]
    subject_id: Mapped[str | None]
    details: Mapped[JsonObject]
    occurred_at: Mapped[CreatedAt]


class FailedTask(Base):
    """A message that landed on a dead-letter queue, kept for inspection and redrive."""

    __tablename__ = "failed_tasks"
    __table_args__ = (
        _one_of("status", "failed", "redriven", "discarded"),
        Index("ix_failed_tasks_status_failed_at", "status", "failed_at"),
    )

    id: Mapped[UuidPk]
    source_queue: Mapped[str]
    message_id: Mapped[str | None]
    body: Mapped[str]  # raw message body (not necessarily JSON)
    error: Mapped[str | None]
    # SQLSTATE or 'unreadable' when the consumer dead-lettered it at once as never storable
    refusal_code: Mapped[str | None]
    attributes: Mapped[JsonObject]
    failed_at: Mapped[CreatedAt]
    status: Mapped[str] = mapped_column(server_default=text("'failed'"))
    resolved_at: Mapped[datetime | None]


class SpotCheck(Base):
    """A technician's manual reading taken against a sensor; the drift job compares the two."""

    __tablename__ = "spot_checks"
    __table_args__ = (
        Index("ix_spot_checks_client_id_measured_at", "client_id", "measured_at"),
        Index("ix_spot_checks_sensor_id_measured_at", "sensor_id", "measured_at"),
    )

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk(index=False)  # leads ix (client_id, measured_at)
    sensor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"))
    measured_at: Mapped[datetime]
    value: Mapped[float]
    technician: Mapped[str | None]
    notes: Mapped[str | None]
    created_at: Mapped[CreatedAt]


class SensorDrift(Base):
    """A sensor found disagreeing with its peers or spot checks; at most one per sensor, source and UTC day."""

    __tablename__ = "sensor_drifts"
    __table_args__ = (
        UniqueConstraint("sensor_id", "source", "detected_on"),
        Index("ix_sensor_drifts_client_id_detected_on", "client_id", "detected_on"),
        _one_of("source", "peers", "spot_check"),
        CheckConstraint("samples > 0", name="samples_positive"),
    )

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk(index=False)  # leads ix (client_id, detected_on)
    sensor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"))
    source: Mapped[str]  # peers | spot_check
    detected_on: Mapped[date]
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    median_difference: Mapped[float]  # sensor minus reference (peers' median or the spot check)
    tolerance: Mapped[float]
    samples: Mapped[int]  # aligned buckets or spot checks behind the median
    detected_at: Mapped[CreatedAt]


class RetentionRun(Base):
    """One retention run: who asked, how it went, what it archived, deleted, created and dropped."""

    __tablename__ = "retention_runs"
    __table_args__ = (
        _one_of("status", "queued", "running", "succeeded", "failed", "interrupted", "skipped"),
        Index("ix_retention_runs_requested_at", "requested_at"),
        Index("ix_retention_runs_status_finished_at", "status", "finished_at"),
    )

    id: Mapped[UuidPk]
    status: Mapped[str] = mapped_column(server_default=text("'queued'"))
    requested_by: Mapped[str]  # scheduler, cli, or api-key:<prefix>
    requested_at: Mapped[CreatedAt]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    duration_seconds: Mapped[float | None]
    readings_archived: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    readings_deleted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    events_archived: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    events_deleted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    partitions_created: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    partitions_dropped: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    objects_written: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    bytes_written: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    steps: Mapped[list[Any]] = mapped_column(server_default=EMPTY_LIST)
    errors: Mapped[list[Any]] = mapped_column(server_default=EMPTY_LIST)
    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"), index=True)


class RetentionArchive(Base):
    """A (table, client, month) object set in the S3 archive; rows before covered_until left PostgreSQL."""

    __tablename__ = "retention_archives"
    __table_args__ = (
        _one_of("table_name", "readings", "events"),
        Index("uq_retention_archives_table_client_month", "table_name",
              text("coalesce(client_id, '00000000-0000-0000-0000-000000000000'::uuid)"), "month", unique=True),
    )

    id: Mapped[UuidPk]
    table_name: Mapped[str]
    client_id: Mapped[uuid.UUID | None]  # no FK: the archive outlives its client; NULL: platform events
    month: Mapped[date]
    object_key: Mapped[str]
    manifest_key: Mapped[str]
    row_count: Mapped[int] = mapped_column(BigInteger)
    min_at: Mapped[datetime | None]
    max_at: Mapped[datetime | None]
    checksum: Mapped[str]
    bytes: Mapped[int] = mapped_column(BigInteger)
    covered_until: Mapped[datetime]
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("retention_runs.id", ondelete="SET NULL"),
                                                     index=True)
    updated_at: Mapped[CreatedAt]


class RetentionHold(Base):
    """A range of a client's readings retention leaves in PostgreSQL until hold_until (e.g. restored rows)."""

    __tablename__ = "retention_holds"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_retention_holds_client_id_hold_until", "client_id", "hold_until"),
    )

    id: Mapped[UuidPk]
    client_id: Mapped[uuid.UUID] = _client_fk(index=False)  # leads ix (client_id, hold_until)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    hold_until: Mapped[datetime]
    reason: Mapped[str | None]
    created_by: Mapped[str | None]
    created_at: Mapped[CreatedAt]


class LegacyImportId(Base):
    """A legacy row carried over (target_id) or refused (reason), per legacy file, table and legacy id."""

    __tablename__ = "legacy_import_ids"

    source_hash: Mapped[str] = mapped_column(primary_key=True)  # SHA-256 of the legacy file
    table_name: Mapped[str] = mapped_column(primary_key=True)
    legacy_id: Mapped[str] = mapped_column(primary_key=True)
    target_id: Mapped[str | None]
    reason: Mapped[str | None]
    imported_at: Mapped[CreatedAt]


class LegacyImportTable(Base):
    """A legacy table of one file whose import committed, with the counts reported for it."""

    __tablename__ = "legacy_import_tables"

    source_hash: Mapped[str] = mapped_column(primary_key=True)
    table_name: Mapped[str] = mapped_column(primary_key=True)
    counts: Mapped[JsonObject]
    finished_at: Mapped[CreatedAt]
