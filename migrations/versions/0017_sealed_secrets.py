"""Secrets at rest: channel targets and AC controller secrets sealed with KMS envelope encryption.

Revision ID: 0017
Revises: 0012
Create Date: 2026-12-03

- notification_channels.target_url (plaintext Apprise URL / phone number) becomes target_sealed
  (jsonb: key id, wrapped data key, nonce, AES-GCM ciphertext; hydroponics/envelope.py) and
  target_hint (the masked form the API shows, so listing channels needs no decryption).
- ac_units.secret (plaintext HMAC key) becomes secret_sealed.
Existing rows are sealed here, each bound to its client and record (hydroponics/sealed_secrets.py):
the migrate step needs the stage's KMS key (SECRETS_KEY_ID, set by the template on the migrate
function) when there are rows to seal. Downgrade opens them again into the plaintext columns.
"""

import json
from typing import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from hydroponics.notifications.channels import target_hint
    from hydroponics.sealed_secrets import seal_channel_target, seal_unit_secret

    connection = op.get_bind()
    op.add_column("notification_channels", sa.Column("target_sealed", JSONB(), nullable=True))
    op.add_column("notification_channels", sa.Column("target_hint", sa.Text(), nullable=True))
    op.add_column("ac_units", sa.Column("secret_sealed", JSONB(), nullable=True))
    if context.is_offline_mode():  # SQL for a DBA: it cannot call KMS, so it refuses to drop any plaintext
        op.execute("DO $$ BEGIN IF EXISTS (SELECT 1 FROM notification_channels)"
                   " OR EXISTS (SELECT 1 FROM ac_units WHERE secret IS NOT NULL) THEN RAISE EXCEPTION"
                   " 'revision 0017 seals existing secrets with KMS: run it online (the migrate step)'; END IF; END $$")
        channels, units = [], []
    else:
        channels = connection.execute(sa.text(
            "SELECT id, client_id, kind, target_url FROM notification_channels FOR UPDATE")).all()
        units = connection.execute(sa.text(
            "SELECT id, client_id, secret FROM ac_units WHERE secret IS NOT NULL FOR UPDATE")).all()
    for row in channels:
        connection.execute(sa.text(
            "UPDATE notification_channels SET target_sealed = CAST(:sealed AS jsonb), target_hint = :hint WHERE id = :id"),
            {"id": row.id, "hint": target_hint(row.kind, row.target_url),
             "sealed": json.dumps(seal_channel_target(row.client_id, row.id, row.target_url))})
    for row in units:
        connection.execute(sa.text("UPDATE ac_units SET secret_sealed = CAST(:sealed AS jsonb) WHERE id = :id"),
                           {"id": row.id, "sealed": json.dumps(seal_unit_secret(row.client_id, row.id, row.secret))})
    op.alter_column("notification_channels", "target_sealed", nullable=False)
    op.alter_column("notification_channels", "target_hint", nullable=False)
    op.drop_column("notification_channels", "target_url")
    op.drop_column("ac_units", "secret")


def downgrade() -> None:
    from hydroponics.sealed_secrets import channel_target, unit_secret_context
    from hydroponics import envelope

    connection = op.get_bind()
    op.add_column("notification_channels", sa.Column("target_url", sa.Text(), nullable=True))
    op.add_column("ac_units", sa.Column("secret", sa.Text(), nullable=True))
    for row in connection.execute(sa.text(
            "SELECT id, client_id, target_sealed FROM notification_channels FOR UPDATE")).all():
        connection.execute(sa.text("UPDATE notification_channels SET target_url = :url WHERE id = :id"),
                           {"id": row.id, "url": channel_target(row.client_id, row.id, row.target_sealed)})
    for row in connection.execute(sa.text(
            "SELECT id, client_id, secret_sealed FROM ac_units WHERE secret_sealed IS NOT NULL FOR UPDATE")).all():
        connection.execute(sa.text("UPDATE ac_units SET secret = :secret WHERE id = :id"), {
            "id": row.id, "secret": envelope.unseal(row.secret_sealed, unit_secret_context(row.client_id, row.id))})
    op.alter_column("notification_channels", "target_url", nullable=False)
    op.drop_column("notification_channels", "target_sealed")
    op.drop_column("notification_channels", "target_hint")
    op.drop_column("ac_units", "secret_sealed")
