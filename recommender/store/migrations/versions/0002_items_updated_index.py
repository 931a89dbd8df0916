"""Items: an index on the update time, which server workers follow.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("items_updated", "items", ["updated_us"])


def downgrade() -> None:
    op.drop_index("items_updated", "items")
