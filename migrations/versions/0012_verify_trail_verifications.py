"""trail_verifications: the trail's verifications, requested, running and done

Where `trail verify` resumes (the last checkpoint verified, its root and signed note), the result
and problems of each verification, its progress while it runs, and the requests
POST /v1/trail/verify leaves for the worker (service.record.verification).

Revision ID: 0012_verify
Revises: 0011_ledger
"""
from alembic import op
import sqlalchemy as sa



revision = '0012_verify'
down_revision = '0011_ledger'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'trail_verifications',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('mode', sa.String(length=12), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('requested_by', sa.String(length=128), nullable=True),
        sa.Column('requested_at', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column('started_at', sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column('heartbeat_at', sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column('finished_at', sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column('holder', sa.String(length=128), nullable=True),
        sa.Column('from_size', sa.BigInteger(), nullable=True),
        sa.Column('tree_size', sa.BigInteger(), nullable=True),
        sa.Column('root_hash', sa.LargeBinary(length=32), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('max_seq', sa.BigInteger(), nullable=True),
        sa.Column('sealed_through', sa.BigInteger(), nullable=True),
        sa.Column('to_check', sa.BigInteger(), nullable=True),
        sa.Column('checked', sa.BigInteger(), nullable=True),
        sa.Column('entries', sa.BigInteger(), nullable=True),
        sa.Column('pending', sa.BigInteger(), nullable=True),
        sa.Column('checkpoints', sa.BigInteger(), nullable=True),
        sa.Column('first_bad_seq', sa.BigInteger(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('problems', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_trail_verifications')),
    )
    op.create_index('ix_trail_verifications_status', 'trail_verifications', ['status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_trail_verifications_status', table_name='trail_verifications')
    op.drop_table('trail_verifications')
