"""Retention: the record of every run, the archive's object sets, holds on restored ranges, job alerts.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02

- retention_runs: one row per retention run (queued by the API, or started by the schedule or the
  CLI): status, who asked, started/finished/duration, rows archived and deleted per table,
  partitions created and dropped, objects and bytes written, each step done and each error.
  Monitoring reads the last successful run of the job from here.
- retention_archives: one row per (table, client, month) archived to S3: the data object, its
  manifest, row count, min/max time, checksum and bytes, and `covered_until` (the month's rows
  before that moment are in the archive). Written in the transaction that deletes the rows, so it
  always says what PostgreSQL no longer holds. No foreign key to clients: archives outlive them.
- retention_holds: ranges of a client's readings that retention leaves alone until `hold_until`
  (a restore holds what it put back, so the next nightly run does not take it away again).
- alerts.job: the scheduled job a job alert is about (e.g. 'retention'); at most one unresolved per
  job, later failures counted on it, resolved by the job's next success.
"""

from typing import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN_STATES = ("queued", "running", "succeeded", "failed", "interrupted", "skipped")
NO_CLIENT = "'00000000-0000-0000-0000-000000000000'::uuid"


def _listed(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _id() -> sa.Column:
    return sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)


def _moment(name: str, nullable: bool = True, now: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()") if now else None,
                     nullable=nullable)


def _jsonb(name: str, default: str) -> sa.Column:
    return sa.Column(name, JSONB(astext_type=sa.Text()), server_default=sa.text(default), nullable=False)


def upgrade() -> None:
    op.create_table(
        "retention_runs",
        _id(),
        sa.Column("status", sa.Text(), server_default=sa.text("'queued'"), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        _moment("requested_at", nullable=False, now=True),
        _moment("started_at"),
        _moment("finished_at"),
        sa.Column("duration_seconds", sa.Double(), nullable=True),
        _count("readings_archived"),
        _count("readings_deleted"),
        _count("events_archived"),
        _count("events_deleted"),
        _count("partitions_created"),
        _count("partitions_dropped"),
        _count("objects_written"),
        _count("bytes_written"),
        _jsonb("steps", "'[]'::jsonb"),
        _jsonb("errors", "'[]'::jsonb"),
        sa.Column("alert_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_retention_runs_alert_id_alerts"),
                                ondelete="SET NULL"),
        sa.CheckConstraint(f"status IN ({_listed(RUN_STATES)})", name=op.f("ck_retention_runs_status")),
    )
    op.create_index(op.f("ix_retention_runs_requested_at"), "retention_runs", ["requested_at"])
    op.create_index(op.f("ix_retention_runs_status_finished_at"), "retention_runs", ["status", "finished_at"])
    op.create_index(op.f("ix_retention_runs_alert_id"), "retention_runs", ["alert_id"])

    op.create_table(
        "retention_archives",
        _id(),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=False),
        sa.Column("manifest_key", sa.Text(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        _moment("min_at"),
        _moment("max_at"),
        sa.Column("checksum", sa.Text(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        _moment("covered_until", nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        _moment("updated_at", nullable=False, now=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_archives")),
        sa.ForeignKeyConstraint(["run_id"], ["retention_runs.id"], name=op.f("fk_retention_archives_run_id_retention_runs"),
                                ondelete="SET NULL"),
        sa.CheckConstraint("table_name IN ('readings', 'events')", name=op.f("ck_retention_archives_table_name")),
    )
    op.execute("CREATE UNIQUE INDEX uq_retention_archives_table_client_month ON retention_archives"
               f" (table_name, coalesce(client_id, {NO_CLIENT}), month)")
    op.create_index(op.f("ix_retention_archives_run_id"), "retention_archives", ["run_id"])

    op.create_table(
        "retention_holds",
        _id(),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        _moment("starts_at", nullable=False),
        _moment("ends_at", nullable=False),
        _moment("hold_until", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        _moment("created_at", nullable=False, now=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_holds")),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_retention_holds_client_id_clients"),
                                ondelete="CASCADE"),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_retention_holds_ends_after_start")),
    )
    op.create_index(op.f("ix_retention_holds_client_id_hold_until"), "retention_holds", ["client_id", "hold_until"])

    op.add_column("alerts", sa.Column("job", sa.Text(), nullable=True))
    op.create_index("uq_alerts_job_unresolved", "alerts", ["job"], unique=True,
                    postgresql_where=sa.text("status <> 'resolved'"))


def downgrade() -> None:
    op.drop_index("uq_alerts_job_unresolved", table_name="alerts")
    op.drop_column("alerts", "job")
    op.drop_table("retention_holds")
    op.drop_table("retention_archives")
    op.drop_table("retention_runs")
