"""search documents (the PostgreSQL search backend's table)

The table exists on every database so that the ORM metadata and `alembic check` agree; on
SQLite its PostgreSQL-only column types fall back to JSON/TEXT and it stays unused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 07:37:55.172819

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


TERMS = sa.JSON().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")
IDS = sa.JSON().with_variant(postgresql.ARRAY(sa.Integer()), "postgresql")
TOKENS = sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql")


def upgrade_():
    op.create_table(
        "search_documents",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.BigInteger(), nullable=False),
        sa.Column("grp", sa.String(length=80), nullable=False),
        sa.Column("parent", sa.String(length=80), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audience", TERMS, nullable=False),
        sa.Column("owners", IDS, nullable=False),
        sa.Column("hidden_owners", IDS, nullable=False),
        sa.Column("gates", sa.Text(), nullable=False),
        sa.Column("tokens", TOKENS, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_search_documents")),
    )
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.create_index("ix_search_documents_created_at", ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_search_documents_grp"), ["grp"], unique=False)
        batch_op.create_index(batch_op.f("ix_search_documents_parent"), ["parent"], unique=False)
        batch_op.create_index(
            "ix_search_documents_tokens", ["tokens"], unique=False, postgresql_using="gin"
        )


def downgrade_():
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_search_documents_tokens", postgresql_using="gin")
        batch_op.drop_index(batch_op.f("ix_search_documents_parent"))
        batch_op.drop_index(batch_op.f("ix_search_documents_grp"))
        batch_op.drop_index("ix_search_documents_created_at")
    op.drop_table("search_documents")


def upgrade_pii():
    pass


def downgrade_pii():
    pass
