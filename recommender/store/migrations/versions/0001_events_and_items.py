"""Events and items.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("timestamp_us", sa.BigInteger, nullable=False),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("city_tier", sa.SmallInteger, nullable=True),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.CheckConstraint("type IN ('purchase', 'view', 'cart', 'return')", name="events_type"),
        sa.CheckConstraint("city_tier IS NULL OR city_tier BETWEEN 1 AND 5", name="events_city_tier"),
    )
    op.create_index("events_event_id", "events", ["event_id"], unique=True)
    op.create_index("events_user_seq", "events", ["user_id", "seq"])
    op.create_table(
        "items",
        sa.Column("item_id", sa.String(128), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("category", sa.Text),
        sa.Column("region", sa.Text),
        sa.Column("merchant_id", sa.String(128)),
        sa.Column("price", sa.Float),
        sa.Column("tags", sa.Text),
        sa.Column("available", sa.Boolean, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("items")
    op.drop_index("events_user_seq", "events")
    op.drop_index("events_event_id", "events")
    op.drop_table("events")
