"""A failed task says when it was refused at once as never storable, and why in one word.

Revision ID: 0015
Revises: 0010
Create Date: 2026-11-29

- failed_tasks.refusal_code: set when the work queue's consumer sent the message to its DLQ at
  once because it can never succeed: the database's SQLSTATE (22P05: a NUL the database cannot
  hold as text, 23503: an unknown client, ...) or `unreadable` (not a message of that queue).
  NULL when the message ran out of receives (an outage, a channel that kept failing). Monitoring
  counts refusals by it.
"""

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("failed_tasks", sa.Column("refusal_code", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("failed_tasks", "refusal_code")
