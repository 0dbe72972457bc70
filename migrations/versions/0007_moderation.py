"""moderation: log, warnings, appeals, word filter

The moderation log is append-only: a trigger refuses UPDATE and DELETE on it (PostgreSQL and
SQLite alike); the application refuses them too.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 10:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


PG_FUNCTION = """
CREATE FUNCTION moderation_actions_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the moderation log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
PG_TRIGGER = """
CREATE TRIGGER moderation_actions_append_only
BEFORE UPDATE OR DELETE ON moderation_actions
FOR EACH ROW EXECUTE FUNCTION moderation_actions_append_only()
"""
SQLITE_TRIGGERS = [
    f"""
CREATE TRIGGER moderation_actions_no_{op_name.lower()}
BEFORE {op_name} ON moderation_actions
BEGIN
    SELECT RAISE(ABORT, 'the moderation log is append-only: {op_name} refused');
END
"""
    for op_name in ("UPDATE", "DELETE")
]


def upgrade_():
    op.create_table(
        "moderation_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_kind", sa.String(length=20), nullable=True),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_actions")),
    )
    op.create_index(
        "ix_moderation_actions_created_at", "moderation_actions", ["created_at"], unique=False
    )
    op.create_index(
        "ix_moderation_actions_member_id_created_at",
        "moderation_actions",
        ["member_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_moderation_actions_target_kind_target_id",
        "moderation_actions",
        ["target_kind", "target_id"],
        unique=False,
    )
    op.create_table(
        "moderation_filter_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_filter_entries")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_moderation_filter_entries_kind_value")),
    )
    op.create_table(
        "moderation_appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["moderation_actions.id"],
            name=op.f("fk_moderation_appeals_action_id_moderation_actions"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["users.id"],
            name=op.f("fk_moderation_appeals_member_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_appeals")),
        sa.UniqueConstraint("action_id", name=op.f("uq_moderation_appeals_action_id")),
    )
    op.create_index(
        "ix_moderation_appeals_closed_at", "moderation_appeals", ["closed_at"], unique=False
    )
    op.create_index(
        op.f("ix_moderation_appeals_member_id"), "moderation_appeals", ["member_id"], unique=False
    )
    op.create_table(
        "moderation_warnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["moderation_actions.id"],
            name=op.f("fk_moderation_warnings_action_id_moderation_actions"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["users.id"],
            name=op.f("fk_moderation_warnings_member_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_warnings")),
        sa.UniqueConstraint("action_id", name=op.f("uq_moderation_warnings_action_id")),
    )
    op.create_index(
        "ix_moderation_warnings_member_id_acknowledged_at",
        "moderation_warnings",
        ["member_id", "acknowledged_at"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade_():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER moderation_actions_append_only ON moderation_actions")
        op.execute("DROP FUNCTION moderation_actions_append_only()")
    op.drop_index(
        "ix_moderation_warnings_member_id_acknowledged_at", table_name="moderation_warnings"
    )
    op.drop_table("moderation_warnings")
    op.drop_index(op.f("ix_moderation_appeals_member_id"), table_name="moderation_appeals")
    op.drop_index("ix_moderation_appeals_closed_at", table_name="moderation_appeals")
    op.drop_table("moderation_appeals")
    op.drop_table("moderation_filter_entries")
    op.drop_index("ix_moderation_actions_target_kind_target_id", table_name="moderation_actions")
    op.drop_index("ix_moderation_actions_member_id_created_at", table_name="moderation_actions")
    op.drop_index("ix_moderation_actions_created_at", table_name="moderation_actions")
    op.drop_table("moderation_actions")


def upgrade_pii():
    pass


def downgrade_pii():
    pass
