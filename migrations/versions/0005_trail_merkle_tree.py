"""trail: entries by reference in a signed Merkle tree, sealed off the hot path

A writer now inserts its entry (hash scheme 3: the entry's RFC 6962 leaf hash) and a row in
trail_pending, and touches nothing shared. The sealer moves queued entries into the tree
(trail_leaves, trail_nodes) and publishes signed checkpoints (trail_checkpoints).

Entries already written keep their scheme and their hash chain (trail_head, now frozen), and
are queued here in chain order, so the first sealing puts them at the start of the tree: they
verify both ways. trail_rule_hits is replaced by a GIN index on rule_ids (PostgreSQL), which
holds the same information in a few bytes per entry instead of about 125 per rule hit.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    with op.batch_alter_table('trail_rule_hits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trail_rule_hits_rule_id'))
    op.drop_table('trail_rule_hits')
    with op.batch_alter_table('trail_entries', schema=None) as batch_op:
        batch_op.alter_column('entry_id', existing_type=sa.String(length=36), type_=sa.String(length=80),
                              existing_nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=True)
        if postgres:
            batch_op.alter_column('rule_ids', existing_type=sa.JSON(), type_=postgresql.JSONB(),
                                  postgresql_using='rule_ids::jsonb', existing_nullable=False)
    if postgres:
        op.execute("CREATE SEQUENCE trail_entries_seq")
        op.execute("SELECT setval('trail_entries_seq', COALESCE(MAX(seq), 0) + 1, false) FROM trail_entries")
    op.create_index('ix_trail_rule_ids', 'trail_entries', ['rule_ids'], postgresql_using='gin',
                    postgresql_ops={'rule_ids': 'jsonb_path_ops'}, postgresql_with={'fastupdate': 'off'})
    # Most entries are checks without a case: index the few that have one, and the rarer kinds.
    with op.batch_alter_table('trail_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_trail_case')
        batch_op.drop_index('ix_trail_kind_recorded')
        batch_op.create_index('ix_trail_case', ['case_id', 'seq'], postgresql_where=sa.text('case_id IS NOT NULL'),
                              sqlite_where=sa.text('case_id IS NOT NULL'))
        batch_op.create_index('ix_trail_kind_recorded', ['kind', 'recorded_at'],
                              postgresql_where=sa.text("kind <> 'check'"), sqlite_where=sa.text("kind <> 'check'"))
    op.create_table('trail_pending',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_trail_pending'))
    )
    op.create_table('trail_leaves',
    sa.Column('leaf_index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('leaf_index', name=op.f('pk_trail_leaves')),
    sa.UniqueConstraint('seq', name=op.f('uq_trail_leaves_seq'))
    )
    op.create_table('trail_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'index', name=op.f('pk_trail_nodes'))
    )
    op.create_table('trail_checkpoints',
    sa.Column('tree_size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('published_at', sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('tree_size', name=op.f('pk_trail_checkpoints'))
    )
    op.execute("INSERT INTO trail_pending (seq) SELECT seq FROM trail_entries")


def downgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if bind.execute(sa.text("SELECT count(*) FROM trail_entries WHERE hash_scheme = 3")).scalar():
        raise RuntimeError("the trail holds scheme-3 entries, which no hash chain links; downgrading "
                           "would make them unverifiable")
    op.drop_table('trail_checkpoints')
    op.drop_table('trail_nodes')
    op.drop_table('trail_leaves')
    op.drop_table('trail_pending')
    op.drop_index('ix_trail_rule_ids', table_name='trail_entries')
    with op.batch_alter_table('trail_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_trail_case')
        batch_op.drop_index('ix_trail_kind_recorded')
        batch_op.create_index('ix_trail_case', ['case_id', 'seq'])
        batch_op.create_index('ix_trail_kind_recorded', ['kind', 'recorded_at'])
    if postgres:
        op.execute("DROP SEQUENCE trail_entries_seq")
    with op.batch_alter_table('trail_entries', schema=None) as batch_op:
        if postgres:
            batch_op.alter_column('rule_ids', existing_type=postgresql.JSONB(), type_=sa.JSON(),
                                  postgresql_using='rule_ids::json', existing_nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('entry_id', existing_type=sa.String(length=80), type_=sa.String(length=36),
                              existing_nullable=False)
    op.create_table('trail_rule_hits',
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('rule_id', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['seq'], ['trail_entries.seq'], name=op.f('fk_trail_rule_hits_seq_trail_entries')),
    sa.PrimaryKeyConstraint('seq', 'rule_id', name=op.f('pk_trail_rule_hits'))
    )
    with op.batch_alter_table('trail_rule_hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trail_rule_hits_rule_id'), ['rule_id'], unique=False)
    op.execute("INSERT INTO trail_rule_hits (seq, rule_id) SELECT DISTINCT e.seq, r.value FROM trail_entries e, "
               + ("jsonb_array_elements_text(e.rule_ids::jsonb) r" if postgres else "json_each(e.rule_ids) r"))
