"""An unreachable AC unit's alert names its unit: one open per unit, resolved when the unit answers.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

- alerts.ac_unit_id: the AC unit an ac_control alert is about (NULL for rule alerts).
- uq_alerts_ac_unit_id_unresolved: at most one unresolved alert per unit; further failures are
  counted on it (repeat_count).
"""

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("ac_unit_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(op.f("fk_alerts_ac_unit_id_ac_units"), "alerts", "ac_units", ["ac_unit_id"], ["id"],
                          ondelete="SET NULL")
    op.create_index(op.f("ix_alerts_ac_unit_id"), "alerts", ["ac_unit_id"])
    op.create_index("uq_alerts_ac_unit_id_unresolved", "alerts", ["ac_unit_id"], unique=True,
                    postgresql_where=sa.text("status <> 'resolved'"))


def downgrade() -> None:
    op.drop_index("uq_alerts_ac_unit_id_unresolved", table_name="alerts")
    op.drop_index(op.f("ix_alerts_ac_unit_id"), table_name="alerts")
    op.drop_constraint(op.f("fk_alerts_ac_unit_id_ac_units"), "alerts", type_="foreignkey")
    op.drop_column("alerts", "ac_unit_id")
