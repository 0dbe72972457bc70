"""announcements and versioned site pages

Announcements (audience public or members, pinned until a date, withdrawn rather than deleted),
site pages kept as append-only versions, and which version of the terms each member accepted.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 10:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    op.create_table(
        "notice_announcements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("pinned_until", sa.Date(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "audience IN ('public', 'members')", name=op.f("ck_notice_announcements_audience")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_notice_announcements_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_announcements")),
    )
    with op.batch_alter_table("notice_announcements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notice_announcements_author_id"), ["author_id"], unique=False
        )
        batch_op.create_index(
            "ix_notice_announcements_published_at", ["published_at"], unique=False
        )

    op.create_table(
        "notice_site_page_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('terms', 'privacy', 'guidelines')",
            name=op.f("ck_notice_site_page_versions_kind"),
        ),
        sa.CheckConstraint(
            "version > 0", name=op.f("ck_notice_site_page_versions_version_positive")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_notice_site_page_versions_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_site_page_versions")),
        sa.UniqueConstraint(
            "kind", "version", name=op.f("uq_notice_site_page_versions_kind_version")
        ),
    )

    op.create_table(
        "notice_terms_acceptances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notice_terms_acceptances_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["notice_site_page_versions.id"],
            name=op.f("fk_notice_terms_acceptances_version_id_notice_site_page_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_terms_acceptances")),
        sa.UniqueConstraint(
            "user_id", "version_id", name=op.f("uq_notice_terms_acceptances_user_id_version_id")
        ),
    )
    with op.batch_alter_table("notice_terms_acceptances", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notice_terms_acceptances_version_id"), ["version_id"], unique=False
        )


def downgrade_():
    with op.batch_alter_table("notice_terms_acceptances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_terms_acceptances_version_id"))
    op.drop_table("notice_terms_acceptances")
    op.drop_table("notice_site_page_versions")
    with op.batch_alter_table("notice_announcements", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_announcements_published_at")
        batch_op.drop_index(batch_op.f("ix_notice_announcements_author_id"))
    op.drop_table("notice_announcements")


def upgrade_pii():
    pass


def downgrade_pii():
    pass
