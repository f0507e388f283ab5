"""The first schema: pictures, feedback and the review queue.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pictures',
    sa.Column('sha1', sa.String(length=40), nullable=False),
    sa.Column('location', sa.String(length=2048), nullable=False),
    sa.Column('byte_size', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('perceptual_hash', sa.String(length=16), nullable=False),
    sa.Column('source_url', sa.String(length=2048), nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha1')
    )
    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('picture_sha1', sa.String(length=40), nullable=False),
    sa.Column('picture_url', sa.String(length=2048), nullable=True),
    sa.Column('page_url', sa.String(length=2048), nullable=True),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('predicted_category', sa.String(length=64), nullable=False),
    sa.Column('predicted_colour', sa.String(length=64), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('colour', sa.String(length=64), nullable=True),
    sa.Column('garment', sa.Boolean(), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sender', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['picture_sha1'], ['pictures.sha1'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_picture_sha1'), ['picture_sha1'], unique=False)

    op.create_table('review_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('picture_sha1', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('feedback_id', sa.Integer(), nullable=True),
    sa.Column('uncertain_key', sa.String(length=105), nullable=True),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('predicted_category', sa.String(length=64), nullable=False),
    sa.Column('predicted_colour', sa.String(length=64), nullable=True),
    sa.Column('predicted_probability', sa.Float(), nullable=True),
    sa.Column('uncertainty', sa.Float(), nullable=False),
    sa.Column('disagrees', sa.Boolean(), nullable=False),
    sa.Column('proposed_category', sa.String(length=64), nullable=True),
    sa.Column('proposed_colour', sa.String(length=64), nullable=True),
    sa.Column('proposed_garment', sa.Boolean(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_category', sa.String(length=64), nullable=True),
    sa.Column('decided_colour', sa.String(length=64), nullable=True),
    sa.Column('decided_garment', sa.Boolean(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['feedback_id'], ['feedback.id'], ),
    sa.ForeignKeyConstraint(['picture_sha1'], ['pictures.sha1'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uncertain_key')
    )
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.create_index('ix_review_items_open', ['status', 'uncertainty'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_items_picture_sha1'), ['picture_sha1'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_items_picture_sha1'))
        batch_op.drop_index('ix_review_items_open')

    op.drop_table('review_items')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_picture_sha1'))

    op.drop_table('feedback')
    op.drop_table('pictures')
