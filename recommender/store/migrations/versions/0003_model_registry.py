"""The model registry: every model `recommender retrain` trained, its metrics and what became of it.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("model_version", sa.String(64), primary_key=True),
        sa.Column("model_dir", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("candidate_ndcg", sa.Float),
        sa.Column("serving_ndcg", sa.Float),
        sa.Column("serving_version", sa.String(64)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.CheckConstraint("status IN ('promoted', 'rejected', 'failed')", name="models_status"),
    )
    op.create_index("models_created", "models", ["created_us"])


def downgrade() -> None:
    op.drop_index("models_created", "models")
    op.drop_table("models")
