"""Month-led keys on sales lines and pending sync keys.

Each customer-led index of the sales lines, (source, customer, month,
currency) and (customer, date), took a page write per customer of every
pushed batch. One index led by the month serves the sync worker's sums
(equality on all four columns) and keeps a batch's writes on the pages of
its months. The pending keys' unique constraint gets the same column order,
so that marking a batch's keys reads a few pages.

Revision ID: 5b0c1d2e7f30
Revises: e63afe7975e1
Create Date: 2026-11-22 14:00:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "5b0c1d2e7f30"
down_revision = "e63afe7975e1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sales_line", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sales_line_month_customer",
            ["month", "customer", "source", "currency"],
            unique=False,
        )
        batch_op.drop_index("ix_sales_line_summary_key")
        batch_op.drop_index("ix_sales_line_customer_date")
    with op.batch_alter_table("sync_pending", schema=None) as batch_op:
        batch_op.drop_constraint(
            "uq_sync_pending_source_customer_month_currency", type_="unique"
        )
        batch_op.create_unique_constraint(
            "uq_sync_pending_month_customer_source_currency",
            ["month", "customer", "source", "currency"],
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_pending", schema=None) as batch_op:
        batch_op.drop_constraint(
            "uq_sync_pending_month_customer_source_currency", type_="unique"
        )
        batch_op.create_unique_constraint(
            "uq_sync_pending_source_customer_month_currency",
            ["source", "customer", "month", "currency"],
        )
    with op.batch_alter_table("sales_line", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sales_line_summary_key",
            ["source", "customer", "month", "currency"],
            unique=False,
        )
        batch_op.create_index(
            "ix_sales_line_customer_date", ["customer", "date"], unique=False
        )
        batch_op.drop_index("ix_sales_line_month_customer")
