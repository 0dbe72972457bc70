"""surveys: SNS members as respondents, the sealed retry box, SNS recruitment

A participation names a monitor or, for a card with no monitor, an opted-in SNS member (exactly
one of the two), and holds the sealed retry box; SNS recruitment records the members who opted
in and the surveys announced to them.

SQLite cannot change a column's nullability or add constraints in place, so there the table is
rebuilt with its full definition (named CHECK constraints included) and its rows copied.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 12:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLE = "survey_participations"


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def _rebuild_participations(members: bool) -> None:
    """SQLite: recreate the participations table (with or without member rows) and copy it."""
    columns = [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=members),
    ]
    constraints = [
        sa.CheckConstraint(
            "status IN ('started', 'submitted')", name=op.f("ck_survey_participations_status")
        ),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["survey_monitors.id"],
            name=op.f("fk_survey_participations_monitor_id_survey_monitors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["survey_surveys.id"],
            name=op.f("fk_survey_participations_survey_id_survey_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_participations")),
        sa.UniqueConstraint(
            "survey_id", "monitor_id", name=op.f("uq_survey_participations_survey_id_monitor_id")
        ),
    ]
    if members:
        columns.append(sa.Column("member_id", sa.Integer(), nullable=True))
    columns.append(sa.Column("status", sa.String(length=10), nullable=False))
    if members:
        columns.append(sa.Column("retry_box", sa.LargeBinary(), nullable=True))
        constraints += [
            sa.CheckConstraint(
                "(monitor_id IS NULL) <> (member_id IS NULL)",
                name=op.f("ck_survey_participations_one_person"),
            ),
            sa.ForeignKeyConstraint(
                ["member_id"],
                ["users.id"],
                name=op.f("fk_survey_participations_member_id_users"),
                ondelete="CASCADE",
            ),
            sa.UniqueConstraint(
                "survey_id",
                "member_id",
                name=op.f("uq_survey_participations_survey_id_member_id"),
            ),
        ]
    op.create_table("_survey_participations_new", *columns, *constraints)
    copy = (
        "INSERT INTO _survey_participations_new (id, survey_id, monitor_id, status) "
        "SELECT id, survey_id, monitor_id, status FROM survey_participations"
    )
    op.execute(copy if members else copy + " WHERE monitor_id IS NOT NULL")
    op.drop_table(TABLE)
    op.rename_table("_survey_participations_new", TABLE)
    op.create_index(op.f("ix_survey_participations_monitor_id"), TABLE, ["monitor_id"])
    op.create_index(op.f("ix_survey_participations_survey_id"), TABLE, ["survey_id"])
    if members:
        op.create_index(op.f("ix_survey_participations_member_id"), TABLE, ["member_id"])


def upgrade_():
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_participations(members=True)
    else:
        op.alter_column(TABLE, "monitor_id", existing_type=sa.Integer(), nullable=True)
        op.add_column(TABLE, sa.Column("member_id", sa.Integer(), nullable=True))
        op.add_column(TABLE, sa.Column("retry_box", sa.LargeBinary(), nullable=True))
        op.create_foreign_key(
            op.f("fk_survey_participations_member_id_users"),
            TABLE,
            "users",
            ["member_id"],
            ["id"],
            ondelete="CASCADE",
        )
        op.create_check_constraint(
            op.f("ck_survey_participations_one_person"),
            TABLE,
            "(monitor_id IS NULL) <> (member_id IS NULL)",
        )
        op.create_unique_constraint(
            op.f("uq_survey_participations_survey_id_member_id"), TABLE, ["survey_id", "member_id"]
        )
        op.create_index(op.f("ix_survey_participations_member_id"), TABLE, ["member_id"])

    op.create_table(
        "survey_sns_optins",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_survey_sns_optins_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_survey_sns_optins")),
    )
    op.create_table(
        "survey_sns_announcements",
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["survey_surveys.id"],
            name=op.f("fk_survey_sns_announcements_survey_id_survey_surveys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_survey_sns_announcements_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("survey_id", "user_id", name=op.f("pk_survey_sns_announcements")),
    )
    op.create_index(
        op.f("ix_survey_sns_announcements_user_id"), "survey_sns_announcements", ["user_id"]
    )


def downgrade_():
    op.drop_index(op.f("ix_survey_sns_announcements_user_id"), "survey_sns_announcements")
    op.drop_table("survey_sns_announcements")
    op.drop_table("survey_sns_optins")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_participations(members=False)
        return
    # Member participations have no place in the older schema.
    op.execute("DELETE FROM survey_participations WHERE monitor_id IS NULL")
    op.drop_index(op.f("ix_survey_participations_member_id"), TABLE)
    op.drop_constraint(op.f("uq_survey_participations_survey_id_member_id"), TABLE, type_="unique")
    op.drop_constraint(op.f("ck_survey_participations_one_person"), TABLE, type_="check")
    op.drop_constraint(op.f("fk_survey_participations_member_id_users"), TABLE, type_="foreignkey")
    op.drop_column(TABLE, "retry_box")
    op.drop_column(TABLE, "member_id")
    op.alter_column(TABLE, "monitor_id", existing_type=sa.Integer(), nullable=False)


def upgrade_pii():
    pass


def downgrade_pii():
    pass
