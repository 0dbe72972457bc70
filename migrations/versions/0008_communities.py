"""communities, topics and events

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 10:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    op.create_table(
        "community_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("require_approval", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_settings")),
    )
    op.create_table(
        "communities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("official", sa.Boolean(), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.Column("image_token", sa.String(length=48), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_reason", sa.String(length=500), nullable=False),
        sa.CheckConstraint(
            "kind IN ('open', 'approval', 'secret')", name=op.f("ck_communities_kind")
        ),
        sa.CheckConstraint(
            "status IN ('approved', 'pending', 'rejected')", name=op.f("ck_communities_status")
        ),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["users.id"],
            name=op.f("fk_communities_admin_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_communities")),
    )
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_communities_admin_id"), ["admin_id"], unique=False)
        batch_op.create_index(
            "ix_communities_status_created_at", ["status", "created_at"], unique=False
        )

    op.create_table(
        "community_bans",
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("banned_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["banned_by_id"],
            ["users.id"],
            name=op.f("fk_community_bans_banned_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_bans_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_community_bans_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "user_id", name=op.f("pk_community_bans")),
    )
    op.create_table(
        "community_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("participant_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_reason", sa.String(length=500), nullable=False),
        sa.CheckConstraint(
            "capacity IS NULL OR capacity > 0", name=op.f("ck_community_events_capacity")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_community_events_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_events_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_events")),
    )
    with op.batch_alter_table("community_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_events_author_id"), ["author_id"], unique=False
        )
        batch_op.create_index(
            "ix_community_events_community_id_starts_at",
            ["community_id", "starts_at"],
            unique=False,
        )
        batch_op.create_index("ix_community_events_starts_at", ["starts_at"], unique=False)

    op.create_table(
        "community_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("inviter_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_invitations_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inviter_id"],
            ["users.id"],
            name=op.f("fk_community_invitations_inviter_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_community_invitations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_invitations")),
        sa.UniqueConstraint(
            "community_id", "user_id", name=op.f("uq_community_invitations_community_id_user_id")
        ),
    )
    with op.batch_alter_table("community_invitations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_invitations_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "community_join_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_join_requests_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_community_join_requests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_join_requests")),
        sa.UniqueConstraint(
            "community_id", "user_id", name=op.f("uq_community_join_requests_community_id_user_id")
        ),
    )
    with op.batch_alter_table("community_join_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_join_requests_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "community_members",
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'subadmin', 'member')", name=op.f("ck_community_members_role")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_members_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_community_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "user_id", name=op.f("pk_community_members")),
    )
    with op.batch_alter_table("community_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_community_members_user_id_community_id", ["user_id", "community_id"], unique=False
        )

    op.create_table(
        "community_topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("post_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_post_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_community_topics_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_topics_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_topics")),
    )
    with op.batch_alter_table("community_topics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_topics_author_id"), ["author_id"], unique=False
        )
        batch_op.create_index(
            "ix_community_topics_community_id_last_post_at",
            ["community_id", "last_post_at"],
            unique=False,
        )
        batch_op.create_index("ix_community_topics_created_at", ["created_at"], unique=False)

    op.create_table(
        "community_event_participants",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["community_events.id"],
            name=op.f("fk_community_event_participants_event_id_community_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_community_event_participants_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "event_id", "user_id", name=op.f("pk_community_event_participants")
        ),
    )
    op.create_table(
        "community_topic_follows",
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["community_topics.id"],
            name=op.f("fk_community_topic_follows_topic_id_community_topics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_community_topic_follows_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("topic_id", "user_id", name=op.f("pk_community_topic_follows")),
    )
    op.create_table(
        "community_topic_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.String(length=5000), nullable=False),
        sa.Column("quote_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_community_topic_posts_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["quote_id"],
            ["community_topic_posts.id"],
            name=op.f("fk_community_topic_posts_quote_id_community_topic_posts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["community_topics.id"],
            name=op.f("fk_community_topic_posts_topic_id_community_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_topic_posts")),
    )
    with op.batch_alter_table("community_topic_posts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_topic_posts_author_id"), ["author_id"], unique=False
        )
        batch_op.create_index(
            "ix_community_topic_posts_topic_id_created_at", ["topic_id", "created_at"], unique=False
        )

    op.create_table(
        "community_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=48), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=True),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(length=20), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_images_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_community_images_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["community_topic_posts.id"],
            name=op.f("fk_community_images_post_id_community_topic_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["community_topics.id"],
            name=op.f("fk_community_images_topic_id_community_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_images")),
        sa.UniqueConstraint("token", name=op.f("uq_community_images_token")),
    )
    with op.batch_alter_table("community_images", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_images_community_id"), ["community_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_community_images_post_id"), ["post_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_community_images_topic_id"), ["topic_id"], unique=False
        )


def downgrade_():
    with op.batch_alter_table("community_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_images_topic_id"))
        batch_op.drop_index(batch_op.f("ix_community_images_post_id"))
        batch_op.drop_index(batch_op.f("ix_community_images_community_id"))

    op.drop_table("community_images")
    with op.batch_alter_table("community_topic_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_community_topic_posts_topic_id_created_at")
        batch_op.drop_index(batch_op.f("ix_community_topic_posts_author_id"))

    op.drop_table("community_topic_posts")
    op.drop_table("community_topic_follows")
    op.drop_table("community_event_participants")
    with op.batch_alter_table("community_topics", schema=None) as batch_op:
        batch_op.drop_index("ix_community_topics_created_at")
        batch_op.drop_index("ix_community_topics_community_id_last_post_at")
        batch_op.drop_index(batch_op.f("ix_community_topics_author_id"))

    op.drop_table("community_topics")
    with op.batch_alter_table("community_members", schema=None) as batch_op:
        batch_op.drop_index("ix_community_members_user_id_community_id")

    op.drop_table("community_members")
    with op.batch_alter_table("community_join_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_join_requests_user_id"))

    op.drop_table("community_join_requests")
    with op.batch_alter_table("community_invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_invitations_user_id"))

    op.drop_table("community_invitations")
    with op.batch_alter_table("community_events", schema=None) as batch_op:
        batch_op.drop_index("ix_community_events_starts_at")
        batch_op.drop_index("ix_community_events_community_id_starts_at")
        batch_op.drop_index(batch_op.f("ix_community_events_author_id"))

    op.drop_table("community_events")
    op.drop_table("community_bans")
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_index("ix_communities_status_created_at")
        batch_op.drop_index(batch_op.f("ix_communities_admin_id"))

    op.drop_table("communities")
    op.drop_table("community_settings")


def upgrade_pii():
    pass


def downgrade_pii():
    pass
