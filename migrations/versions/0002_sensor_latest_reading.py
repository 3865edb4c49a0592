"""Each sensor's newest reading on its sensors row (last_value, last_raw_value, last_recorded_at).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

"Latest reading per sensor" then reads one row per sensor instead of probing every monthly
partition of readings once per sensor. The store statement keeps the columns current (only ever
moving forward in time); this revision fills them from the readings already stored.
"""

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def _columns() -> list[sa.Column]:
    return [
        sa.Column("last_value", sa.Double(), nullable=True),
        sa.Column("last_raw_value", sa.Double(), nullable=True),
        sa.Column("last_recorded_at", sa.DateTime(timezone=True), nullable=True),
    ]

# One primary-key probe per sensor: (sensor_id, recorded_at) is readings' key.
BACKFILL = """
UPDATE sensors s SET (last_value, last_raw_value, last_recorded_at) = (
    SELECT r.value, r.raw_value, r.recorded_at FROM readings r
    WHERE r.sensor_id = s.id ORDER BY r.recorded_at DESC LIMIT 1
)
WHERE EXISTS (SELECT 1 FROM readings r WHERE r.sensor_id = s.id)
"""


def upgrade() -> None:
    for column in _columns():
        op.add_column("sensors", column)
    op.execute(BACKFILL)


def downgrade() -> None:
    for column in reversed(_columns()):
        op.drop_column("sensors", column.name)
