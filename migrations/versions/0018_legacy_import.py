"""Legacy SQLite import: the ledger of what was carried over, and the client id legacy devices send.

Revision ID: 0018
Revises: 0012
Create Date: 2026-12-03

- legacy_import_ids: one row per legacy row carried over (or refused), keyed by the legacy file's
  SHA-256, the legacy table and the legacy id, with the platform id it became. Each table is
  imported in one transaction together with its ledger rows, so a stopped import resumes at the
  first table not finished, and a rerun imports nothing twice.
- legacy_import_tables: the tables of a legacy file already imported (readings have no per-row
  ledger: they are keyed by (sensor, time) in `readings`), with the counts reported for them.
- api_keys.client_alias: the X-Client-Id a key's devices send besides the client's id (a legacy
  key's devices send the legacy server's integer client id); it travels to the key index.
"""

from typing import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "legacy_import_ids",
        sa.Column("source_hash", sa.Text(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("legacy_id", sa.Text(), nullable=False),
        sa.Column("target_id", sa.Text(), nullable=True),  # NULL: refused (reason says why)
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("source_hash", "table_name", "legacy_id", name=op.f("pk_legacy_import_ids")),
    )
    op.create_table(
        "legacy_import_tables",
        sa.Column("source_hash", sa.Text(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("source_hash", "table_name", name=op.f("pk_legacy_import_tables")),
    )
    op.add_column("api_keys", sa.Column("client_alias", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "client_alias")
    op.drop_table("legacy_import_tables")
    op.drop_table("legacy_import_ids")
