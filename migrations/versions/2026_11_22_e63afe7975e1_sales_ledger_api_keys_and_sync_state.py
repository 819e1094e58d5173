"""Sales ledger with revisions, API keys and sync state.

Revision ID: e63afe7975e1
Revises:
Create Date: 2026-11-22 08:26:53.614317

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e63afe7975e1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )
    op.create_table(
        "sales_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("customer", sa.String(length=64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=True),
        sa.Column("category", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_line")),
        sa.UniqueConstraint(
            "source", "external_id", name=op.f("uq_sales_line_source_external_id")
        ),
    )
    with op.batch_alter_table("sales_line", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sales_line_customer_date", ["customer", "date"], unique=False
        )
        batch_op.create_index(
            "ix_sales_line_summary_key",
            ["source", "customer", "month", "currency"],
            unique=False,
        )

    op.create_table(
        "sales_line_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("customer", sa.String(length=64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("product", sa.String(length=128), nullable=True),
        sa.Column("category", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("replaced_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_line_revision")),
        sa.UniqueConstraint(
            "source",
            "external_id",
            "revision",
            name=op.f("uq_sales_line_revision_source_external_id_revision"),
        ),
    )
    op.create_table(
        "sales_source",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_push_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sales_source")),
    )
    op.create_table(
        "sync_pending",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("customer", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("first_marked_at", sa.DateTime(), nullable=False),
        sa.Column("marked_at", sa.DateTime(), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("retry_after", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_pending")),
        sa.UniqueConstraint(
            "source",
            "customer",
            "month",
            "currency",
            name=op.f("uq_sync_pending_source_customer_month_currency"),
        ),
    )
    with op.batch_alter_table("sync_pending", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_pending_claim_token"), ["claim_token"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sync_pending_first_marked_at"),
            ["first_marked_at"],
            unique=False,
        )

    op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("rows_sent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "unmatched_customer",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("customer", sa.String(length=64), nullable=False),
        sa.Column("summaries", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "source", "customer", name=op.f("pk_unmatched_customer")
        ),
    )


def downgrade() -> None:
    op.drop_table("unmatched_customer")
    op.drop_table("sync_state")
    with op.batch_alter_table("sync_pending", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_pending_first_marked_at"))
        batch_op.drop_index(batch_op.f("ix_sync_pending_claim_token"))

    op.drop_table("sync_pending")
    op.drop_table("sales_source")
    op.drop_table("sales_line_revision")
    with op.batch_alter_table("sales_line", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_line_summary_key")
        batch_op.drop_index("ix_sales_line_customer_date")

    op.drop_table("sales_line")
    op.drop_table("api_key")
