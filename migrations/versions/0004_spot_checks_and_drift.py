"""Spot checks (a technician's manual reading against a sensor) and recorded sensor drift.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-29

The daily drift job compares each sensor with its redundant peers and with the spot checks taken
against it; a sensor found drifting is recorded once per sensor, source and UTC day
(uq sensor_drifts (sensor_id, source, detected_on)), so a second run the same day records nothing.
"""

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}"),
                                   ondelete="CASCADE")


def _id() -> sa.Column:
    return sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def _moment(name: str, now: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()") if now else None,
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "spot_checks",
        _id(),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("sensor_id", sa.Uuid(), nullable=False),
        _moment("measured_at"),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("technician", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        _moment("created_at", now=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spot_checks")),
        _fk("spot_checks", "client_id", "clients"),
        _fk("spot_checks", "sensor_id", "sensors"),
    )
    op.create_index(op.f("ix_spot_checks_client_id_measured_at"), "spot_checks", ["client_id", "measured_at"])
    op.create_index(op.f("ix_spot_checks_sensor_id_measured_at"), "spot_checks", ["sensor_id", "measured_at"])

    op.create_table(
        "sensor_drifts",
        _id(),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("sensor_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("detected_on", sa.Date(), nullable=False),
        _moment("window_start"),
        _moment("window_end"),
        sa.Column("median_difference", sa.Double(), nullable=False),
        sa.Column("tolerance", sa.Double(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        _moment("detected_at", now=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensor_drifts")),
        _fk("sensor_drifts", "client_id", "clients"),
        _fk("sensor_drifts", "sensor_id", "sensors"),
        sa.UniqueConstraint("sensor_id", "source", "detected_on",
                            name=op.f("uq_sensor_drifts_sensor_id_source_detected_on")),
        sa.CheckConstraint("source IN ('peers', 'spot_check')", name=op.f("ck_sensor_drifts_source")),
        sa.CheckConstraint("samples > 0", name=op.f("ck_sensor_drifts_samples_positive")),
    )
    op.create_index(op.f("ix_sensor_drifts_client_id_detected_on"), "sensor_drifts", ["client_id", "detected_on"])


def downgrade() -> None:
    op.drop_table("sensor_drifts")
    op.drop_table("spot_checks")
