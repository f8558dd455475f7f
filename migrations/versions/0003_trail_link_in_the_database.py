"""trail: hash scheme 2, linked in the database

Entries written from now on carry hash_scheme 2: hash = sha256(prev_hash|seq|content digest), so
PostgreSQL can link an entry to the chain inside the statement that moves the head. Entries
already written keep scheme 1 and verify as before. The head keeps the hash it replaced, which
the linking statement hands back as the new entry's prev_hash.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trail_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hash_scheme', sa.SmallInteger(), server_default='1', nullable=False))
    with op.batch_alter_table('trail_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    # A scheme-2 entry cannot be re-hashed as scheme 1 without re-writing the chain: refuse rather
    # than leave a trail that no longer verifies.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM trail_entries WHERE hash_scheme <> 1")).scalar():
        raise RuntimeError("the trail holds scheme-2 entries; downgrading would make it unverifiable")
    with op.batch_alter_table('trail_head', schema=None) as batch_op:
        batch_op.drop_column('prev_hash')
    with op.batch_alter_table('trail_entries', schema=None) as batch_op:
        batch_op.drop_column('hash_scheme')
