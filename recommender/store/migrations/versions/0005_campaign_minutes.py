"""Campaign delivery over time: impressions per campaign and minute (the console's delivery curve).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_minutes",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("minute", sa.BigInteger, primary_key=True),
        sa.Column("shown", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("campaign_minutes")
