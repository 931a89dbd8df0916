"""Campaigns: exposure promised to shortlisted items, with the impressions delivered per buyer and item.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("start_us", sa.BigInteger, nullable=False),
        sa.Column("end_us", sa.BigInteger, nullable=False),
        sa.Column("impressions", sa.BigInteger, nullable=False),
        sa.Column("delivered", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("stopped_us", sa.BigInteger),
    )
    op.create_table(
        "campaign_buyers",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("shown", sa.Integer, nullable=False),
    )
    op.create_table(
        "campaign_items",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(128), primary_key=True),
        sa.Column("shown", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("campaign_items")
    op.drop_table("campaign_buyers")
    op.drop_table("campaigns")
