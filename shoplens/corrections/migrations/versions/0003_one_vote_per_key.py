"""A correction is a vote: one per sender (hashed API key), picture and model version.

``feedback.vote_key`` ("sender:sha1:version") is unique, so a repeat from the same key updates its
vote instead of adding a row. Rows written before this revision keep a NULL key (NULLs never clash).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch_op:
        batch_op.add_column(sa.Column("vote_key", sa.String(length=138), nullable=True))
        batch_op.create_unique_constraint("uq_feedback_vote_key", ["vote_key"])
        batch_op.create_index("ix_feedback_sender_received", ["sender", "received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch_op:
        batch_op.drop_index("ix_feedback_sender_received")
        batch_op.drop_constraint("uq_feedback_vote_key", type_="unique")
        batch_op.drop_column("vote_key")
