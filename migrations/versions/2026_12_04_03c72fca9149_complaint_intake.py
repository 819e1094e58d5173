"""Complaints from other systems, kept once and forwarded to the ERP.

One row per (source, external id): the complaint as sent, where its
forward to the ERP stands (with the worker's lease and the retry time of a
complaint waiting for its customer or refused), and the ERP's last known
number, state and outcome.

Revision ID: 03c72fca9149
Revises: 5b0c1d2e7f30
Create Date: 2026-12-04 19:33:32.521600

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "03c72fca9149"
down_revision = "5b0c1d2e7f30"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaint_intake",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("customer", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("contact", sa.String(length=128), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("retry_after", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("forwarded_at", sa.DateTime(), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("erp_state", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_intake")),
        sa.UniqueConstraint(
            "source", "external_id", name=op.f("uq_complaint_intake_source_external_id")
        ),
    )
    with op.batch_alter_table("complaint_intake", schema=None) as batch_op:
        batch_op.create_index(
            "ix_complaint_intake_status_retry", ["status", "retry_after"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("complaint_intake", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_intake_status_retry")

    op.drop_table("complaint_intake")
