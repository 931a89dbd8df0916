"""Harvest lots: units of a merchant's items on offer until they spoil, the units sold, and which
purchase event took how many units from which lot.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lots",
        sa.Column("merchant_id", sa.String(128), primary_key=True),
        sa.Column("lot_id", sa.String(64), primary_key=True),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("units_sold", sa.BigInteger, nullable=False),
        sa.Column("available_from_us", sa.BigInteger, nullable=False),
        sa.Column("sell_by_us", sa.BigInteger, nullable=False),
        sa.Column("tiers", sa.Text),
        sa.Column("regions", sa.Text),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("withdrawn_us", sa.BigInteger),
        sa.CheckConstraint("units > 0", name="lots_units"),
        sa.CheckConstraint("units_sold BETWEEN 0 AND units", name="lots_units_sold"),
        sa.CheckConstraint("sell_by_us > available_from_us", name="lots_window"),
    )
    op.create_table(
        "lot_items",
        sa.Column("merchant_id", sa.String(128), primary_key=True),
        sa.Column("lot_id", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(128), primary_key=True),
    )
    op.create_index("lot_items_item", "lot_items", ["item_id"])
    op.create_table(
        "lot_sales",
        sa.Column("merchant_id", sa.String(128), primary_key=True),
        sa.Column("lot_id", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.CheckConstraint("units > 0", name="lot_sales_units"),
    )


def downgrade() -> None:
    op.drop_table("lot_sales")
    op.drop_index("lot_items_item", "lot_items")
    op.drop_table("lot_items")
    op.drop_table("lots")
