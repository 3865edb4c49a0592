"""Monitoring: readings stored per client and sensor type, and correlation ids on queued work.

Revision ID: 0012
Revises: 0015
Create Date: 2026-12-02

- reading_counts: how many readings the store step stored per (client, sensor type), kept by the
  store statement itself (only new rows count, in the batch's transaction), so /metrics reads a
  few rows instead of counting the readings table. Backfilled from the readings already stored.
- ix_events_job_runs: each scheduled job's runs newest first (partial, job.ran only), so /metrics
  finds a job's last run without walking a year of the minute job's runs.
- notifications.correlation_id, ac_commands.correlation_id: the id of the API request whose
  reading (or operator call) caused the row, so the notify and ac_control logs can be followed
  back to the POST; kept on the row, so a message the minute sweep queues again keeps it too.
"""

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reading_counts",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("sensor_type", sa.Text(), nullable=False),
        sa.Column("stored", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_reading_counts_client_id_clients"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("client_id", "sensor_type", name=op.f("pk_reading_counts")),
    )
    op.execute("""
        INSERT INTO reading_counts (client_id, sensor_type, stored)
        SELECT s.client_id, s.sensor_type, count(*) FROM readings r JOIN sensors s ON s.id = r.sensor_id
        GROUP BY s.client_id, s.sensor_type
    """)
    op.create_index("ix_events_job_runs", "events", ["subject_id", sa.text("occurred_at DESC")],
                    postgresql_where=sa.text("event_type = 'job.ran'"))
    op.add_column("notifications", sa.Column("correlation_id", sa.Text(), nullable=True))
    op.add_column("ac_commands", sa.Column("correlation_id", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("ac_commands", "correlation_id")
    op.drop_column("notifications", "correlation_id")
    op.drop_index("ix_events_job_runs", table_name="events")
    op.drop_table("reading_counts")
