"""AC control: each unit's controller secret, and each command's delivery attempts and queue message.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

- ac_units.secret: the HMAC-SHA256 key shared with the unit's controller (signs commands, replies
  and callbacks); written at registration, never returned by the API.
- ac_commands.attempts: how many times the command was sent to the unit (retries included).
- ac_commands.message_id: the queue message that claimed the command; a different message for the
  same command is a duplicate and does nothing, the same message again is a retry.
"""

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ac_units", sa.Column("secret", sa.Text(), nullable=True))
    op.add_column("ac_commands", sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("ac_commands", sa.Column("message_id", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("ac_commands", "message_id")
    op.drop_column("ac_commands", "attempts")
    op.drop_column("ac_units", "secret")
