"""trail_pending.signature, trail_legacy_pending, case_events.body_digest

The sealer seals only what a writer queued with the receipt's signature over it; the entries
queued before that move to trail_legacy_pending, which `trail seal --legacy-unsigned` seals once.
A case event keeps a keyed digest of its request, so that a client key reused with another
request is refused.

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('trail_legacy_pending',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_trail_legacy_pending'))
    )
    op.execute("INSERT INTO trail_legacy_pending (seq, hash) SELECT seq, hash FROM trail_pending")
    op.execute("DELETE FROM trail_pending")
    with op.batch_alter_table('trail_pending', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signature', sa.LargeBinary(length=64), nullable=True))
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_digest', sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_column('body_digest')
    with op.batch_alter_table('trail_pending', schema=None) as batch_op:
        batch_op.drop_column('signature')
    op.execute("INSERT INTO trail_pending (seq, hash) SELECT seq, hash FROM trail_legacy_pending")
    op.drop_table('trail_legacy_pending')
