"""Alerting: escalation policies, per-rule evaluation state, silenced alerts and the delivery log's states.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

- escalation_policies: ordered levels [{"after_seconds", "channels"}]; a rule may point at one.
- rule_states: one row per (rule, sensor) the engine has seen: ok / pending (breached, waiting out
  the rule's pending period) / firing, plus the newest reading it evaluated, so a redelivered batch
  is not counted twice.
- alerts: which silence muted it, who resolved it, the newest breaching value and when.
- notifications: what kind of message it is, the rendered text (never a channel secret), the
  escalation level, a claim time (the notify function claims a row before sending: a redelivered
  message never sends twice), and two more states: `sending` and `held` (over the channel's
  hourly cap, waiting for the digest); `digest_id` points a held row at the digest that carried it.
- notification_channels: updated_at.
"""

from typing import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_NOTIFICATION_STATES = ("pending", "sent", "failed", "suppressed", "digested")
NOTIFICATION_STATES = ("pending", "sending", "sent", "failed", "suppressed", "held", "digested")
NOTIFICATION_KINDS = ("alert", "escalation", "resolved", "digest", "test")


def _listed(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def upgrade() -> None:
    op.create_table(
        "escalation_policies",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("levels", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_policies")),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_escalation_policies_client_id_clients"),
                                ondelete="CASCADE"),
        sa.UniqueConstraint("client_id", "name", name=op.f("uq_escalation_policies_client_id_name")),
    )
    op.add_column("rules", sa.Column("escalation_policy_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(op.f("fk_rules_escalation_policy_id_escalation_policies"), "rules",
                          "escalation_policies", ["escalation_policy_id"], ["id"], ondelete="SET NULL")
    op.create_index(op.f("ix_rules_escalation_policy_id"), "rules", ["escalation_policy_id"])

    op.create_table(
        "rule_states",
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("sensor_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.Text(), server_default=sa.text("'ok'"), nullable=False),
        sa.Column("pending_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_value", sa.Double(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "sensor_id", name=op.f("pk_rule_states")),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name=op.f("fk_rule_states_rule_id_rules"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sensor_id"], ["sensors.id"], name=op.f("fk_rule_states_sensor_id_sensors"),
                                ondelete="CASCADE"),
        sa.CheckConstraint("state IN ('ok', 'pending', 'firing')", name=op.f("ck_rule_states_state")),
    )
    op.create_index(op.f("ix_rule_states_sensor_id"), "rule_states", ["sensor_id"])

    op.add_column("alerts", sa.Column("silence_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(op.f("fk_alerts_silence_id_silences"), "alerts", "silences", ["silence_id"], ["id"],
                          ondelete="SET NULL")
    op.create_index(op.f("ix_alerts_silence_id"), "alerts", ["silence_id"])
    op.add_column("alerts", sa.Column("resolved_by", sa.Text(), nullable=True))
    op.add_column("alerts", sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))

    op.add_column("notification_channels", sa.Column("updated_at", sa.DateTime(timezone=True),
                                                     server_default=sa.text("now()"), nullable=False))

    op.add_column("notifications", sa.Column("kind", sa.Text(), server_default=sa.text("'alert'"), nullable=False))
    op.add_column("notifications", sa.Column("escalation_level", sa.Integer(), server_default=sa.text("0"),
                                             nullable=False))
    op.add_column("notifications", sa.Column("subject", sa.Text(), server_default=sa.text("''"), nullable=False))
    op.add_column("notifications", sa.Column("body", sa.Text(), server_default=sa.text("''"), nullable=False))
    op.add_column("notifications", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("notifications", sa.Column("digest_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(op.f("fk_notifications_digest_id_notifications"), "notifications", "notifications",
                          ["digest_id"], ["id"], ondelete="SET NULL")
    op.create_index(op.f("ix_notifications_digest_id"), "notifications", ["digest_id"])
    op.create_index("ix_notifications_status_created_at", "notifications", ["status", "created_at"],
                    postgresql_where=sa.text("status = ANY (ARRAY['pending', 'held'])"))
    op.drop_constraint(op.f("ck_notifications_status"), "notifications", type_="check")
    op.create_check_constraint(op.f("ck_notifications_status"), "notifications",
                               f"status IN ({_listed(NOTIFICATION_STATES)})")
    op.create_check_constraint(op.f("ck_notifications_kind"), "notifications", f"kind IN ({_listed(NOTIFICATION_KINDS)})")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_notifications_kind"), "notifications", type_="check")
    op.execute("UPDATE notifications SET status = 'pending' WHERE status IN ('sending', 'held')")
    op.drop_constraint(op.f("ck_notifications_status"), "notifications", type_="check")
    op.create_check_constraint(op.f("ck_notifications_status"), "notifications",
                               f"status IN ({_listed(OLD_NOTIFICATION_STATES)})")
    op.drop_index("ix_notifications_status_created_at", table_name="notifications")
    op.drop_index(op.f("ix_notifications_digest_id"), table_name="notifications")
    op.drop_constraint(op.f("fk_notifications_digest_id_notifications"), "notifications", type_="foreignkey")
    for column in ("digest_id", "claimed_at", "body", "subject", "escalation_level", "kind"):
        op.drop_column("notifications", column)
    op.drop_column("notification_channels", "updated_at")
    for column in ("last_seen_at", "resolved_by"):
        op.drop_column("alerts", column)
    op.drop_index(op.f("ix_alerts_silence_id"), table_name="alerts")
    op.drop_constraint(op.f("fk_alerts_silence_id_silences"), "alerts", type_="foreignkey")
    op.drop_column("alerts", "silence_id")
    op.drop_table("rule_states")
    op.drop_index(op.f("ix_rules_escalation_policy_id"), table_name="rules")
    op.drop_constraint(op.f("fk_rules_escalation_policy_id_escalation_policies"), "rules", type_="foreignkey")
    op.drop_column("rules", "escalation_policy_id")
    op.drop_table("escalation_policies")
