"""trail: one Merkle log per tenant

Every trail entry belongs to a tenant (tenant_id, existing entries to 'default'), and the tree
tables are keyed per log: each tenant's entries are the leaves of its own tree, with its own
nodes, checkpoints, cosignatures and verifications (docs/tenant-logs.md). The log that existed
before is the default tenant's, unchanged: its leaves, nodes and checkpoints keep their indexes
and sizes, so its published checkpoints and the witness's memory of it still hold.

Indexes on trail_entries lead with tenant_id. On PostgreSQL, row-level security on the trail
tables (ENABLE + FORCE), by the GUC sg.tenant ('*': every tenant: the sealer, the worker, the CLI).

Revision ID: 0014_tenant_logs
Revises: 0013_tenants
"""
from alembic import op
import sqlalchemy as sa


revision = '0014_tenant_logs'
down_revision = '0013_tenants'
branch_labels = None
depends_on = None

# (table, its primary key's columns before)
KEYED = (('trail_pending', ['seq']), ('trail_leaves', ['leaf_index']), ('trail_nodes', ['level', 'index']),
         ('trail_checkpoints', ['tree_size']), ('trail_cosignatures', ['tree_size']))
RLS_TABLES = ('trail_entries', *(t for t, _ in KEYED), 'trail_verifications')
POLICY = ("tenant_id = current_setting('sg.tenant', true) OR current_setting('sg.tenant', true) = '*'")


def _tenant():
    return sa.Column('tenant_id', sa.String(length=64), server_default='default', nullable=False)


def upgrade() -> None:
    with op.batch_alter_table('trail_entries', schema=None) as batch_op:
        batch_op.add_column(_tenant())
        batch_op.drop_index('ix_trail_employee_recorded')
        batch_op.drop_index('ix_trail_case')
        batch_op.drop_index('ix_trail_kind_recorded')
        batch_op.create_index('ix_trail_tenant_seq', ['tenant_id', 'seq'])
        batch_op.create_index('ix_trail_employee_recorded', ['tenant_id', 'employee_id', 'recorded_at'])
        batch_op.create_index('ix_trail_case', ['tenant_id', 'case_id', 'seq'],
                              postgresql_where=sa.text('case_id IS NOT NULL'),
                              sqlite_where=sa.text('case_id IS NOT NULL'))
        batch_op.create_index('ix_trail_kind_recorded', ['tenant_id', 'kind', 'recorded_at'],
                              postgresql_where=sa.text("kind <> 'check'"), sqlite_where=sa.text("kind <> 'check'"))
    for table, key in KEYED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(_tenant())
            batch_op.drop_constraint(f'pk_{table}', type_='primary')
            batch_op.create_primary_key(f'pk_{table}', ['tenant_id', *key])
    with op.batch_alter_table('trail_verifications', schema=None) as batch_op:
        batch_op.add_column(_tenant())
        batch_op.drop_index('ix_trail_verifications_status')
        batch_op.create_index('ix_trail_verifications_status', ['tenant_id', 'status', 'id'])
    if op.get_bind().dialect.name == 'postgresql':
        for table in RLS_TABLES:
            op.execute(f'ALTER TABLE {table} ENABLE ROW LEVEL SECURITY')
            op.execute(f'ALTER TABLE {table} FORCE ROW LEVEL SECURITY')
            op.execute(f'CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})')


def downgrade() -> None:
    """Only a database with the default tenant's log goes back: other tenants' rows would collide."""
    if op.get_bind().dialect.name == 'postgresql':
        for table in RLS_TABLES:
            op.execute(f'DROP POLICY IF EXISTS tenant_isolation ON {table}')
            op.execute(f'ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY')
            op.execute(f'ALTER TABLE {table} DISABLE ROW LEVEL SECURITY')
    with op.batch_alter_table('trail_verifications', schema=None) as batch_op:
        batch_op.drop_index('ix_trail_verifications_status')
        batch_op.create_index('ix_trail_verifications_status', ['status', 'id'])
        batch_op.drop_column('tenant_id')
    for table, key in KEYED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'pk_{table}', type_='primary')
            batch_op.create_primary_key(f'pk_{table}', key)
            batch_op.drop_column('tenant_id')
    with op.batch_alter_table('trail_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_trail_kind_recorded')
        batch_op.drop_index('ix_trail_case')
        batch_op.drop_index('ix_trail_employee_recorded')
        batch_op.drop_index('ix_trail_tenant_seq')
        batch_op.create_index('ix_trail_employee_recorded', ['employee_id', 'recorded_at'])
        batch_op.create_index('ix_trail_case', ['case_id', 'seq'], postgresql_where=sa.text('case_id IS NOT NULL'),
                              sqlite_where=sa.text('case_id IS NOT NULL'))
        batch_op.create_index('ix_trail_kind_recorded', ['kind', 'recorded_at'],
                              postgresql_where=sa.text("kind <> 'check'"), sqlite_where=sa.text("kind <> 'check'"))
        batch_op.drop_column('tenant_id')
