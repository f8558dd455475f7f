"""trail_cosignatures: the witness's cosignature of each checkpoint (issue 21, item 3)

A checkpoint without a row here has not been cosigned yet: the sealer and the worker submit
it to the witness, oldest first, until it is (service.record.witnessing).

Revision ID: 0010_witness
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_witness'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'trail_cosignatures',
        sa.Column('tree_size', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('witness', sa.String(length=255), nullable=False),
        sa.Column('signature', sa.Text(), nullable=False),
        sa.Column('cosigned_at', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('tree_size', name=op.f('pk_trail_cosignatures')),
    )


def downgrade() -> None:
    op.drop_table('trail_cosignatures')
