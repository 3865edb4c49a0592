"""AC units name the notification channels told when they are unreachable.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

- ac_units.alert_channels: names of the client's notification channels told when the unit is
  unreachable (a command failed after its last attempt); [] tells no one.
"""

from typing import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ac_units", sa.Column("alert_channels", JSONB(astext_type=sa.Text()),
                                        server_default=sa.text("'[]'::jsonb"), nullable=False))


def downgrade() -> None:
    op.drop_column("ac_units", "alert_channels")
