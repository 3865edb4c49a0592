"""API keys get a scope (device, operator, admin) and may expire.

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-03

- api_keys.scope: device (may only post readings), operator (reads and manages the farm) or admin
  (the platform). Existing keys become operator keys, and admin keys (is_admin) admin keys, so
  everything keeps working; is_admin goes (scope = 'admin' says it), and the check that a key
  without a client is an admin key reads the scope.
- api_keys.expires_at: when the key stops working (NULL: until revoked).
- api_keys.last_used_at (already there) holds the last use copied from the key index on revoke.
The key index needs no rewrite: an item without a scope is read as admin if it says is_admin, else
operator (auth/key_index.py), and `rebuild_key_index` writes the scope.
"""

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("scope", sa.Text(), server_default=sa.text("'operator'"), nullable=False))
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE api_keys SET scope = 'admin' WHERE is_admin")
    op.drop_constraint(op.f("ck_api_keys_client_unless_admin"), "api_keys", type_="check")
    op.drop_column("api_keys", "is_admin")
    op.create_check_constraint(op.f("ck_api_keys_scope"), "api_keys", "scope IN ('device', 'operator', 'admin')")
    op.create_check_constraint(op.f("ck_api_keys_client_unless_admin"), "api_keys",
                               "scope = 'admin' OR client_id IS NOT NULL")


def downgrade() -> None:
    op.add_column("api_keys", sa.Column("is_admin", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.execute("UPDATE api_keys SET is_admin = (scope = 'admin')")
    op.drop_constraint(op.f("ck_api_keys_client_unless_admin"), "api_keys", type_="check")
    op.drop_constraint(op.f("ck_api_keys_scope"), "api_keys", type_="check")
    op.create_check_constraint(op.f("ck_api_keys_client_unless_admin"), "api_keys", "is_admin OR client_id IS NOT NULL")
    op.drop_column("api_keys", "expires_at")
    op.drop_column("api_keys", "scope")
