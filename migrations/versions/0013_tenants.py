"""tenants: every case, event, notification, re-check, page session and key belongs to one

tenant_id on api_clients, cases, case_events, notifications, case_rechecks and page_sessions;
existing rows are the default tenant's (service.tenants.DEFAULT_TENANT), so a single-company
deployment goes on as before. Case ids are per tenant: cases' key is (tenant_id, id), and the
ledger's rows refer to (tenant_id, case_id). api_clients.roles: the actor roles a key may assert.

On PostgreSQL, row-level security is the second wall (docs/tenants.md): every table here is
ENABLEd and FORCEd, with one policy reading the GUC sg.tenant (set per transaction by
service.record.db; '*' is every tenant). SQLite has no RLS: the application's filter is the wall.

Revision ID: 0013_tenants
Revises: 0012_verify
"""
from alembic import op
import sqlalchemy as sa


revision = '0013_tenants'
down_revision = '0012_verify'
branch_labels = None
depends_on = None

TENANT_TABLES = ('api_clients', 'cases', 'case_events', 'notifications', 'case_rechecks', 'page_sessions')
POLICY = 'tenant_isolation'
_MATCHES = ("(tenant_id = current_setting('sg.tenant', true) "
            "OR current_setting('sg.tenant', true) = '*')")


def _tenant() -> sa.Column:
    return sa.Column('tenant_id', sa.String(length=64), nullable=False, server_default='default')


def upgrade() -> None:
    # The ledger's rows let go of cases(id) first: SQLite rebuilds a table to change its key, and
    # a foreign key still naming cases(id) would then point at a column that is no longer a key.
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_constraint('fk_case_events_case_id_cases', type_='foreignkey')
        batch_op.drop_constraint('uq_case_events_case_id_seq', type_='unique')
        batch_op.drop_constraint('uq_case_events_case_id_client_key', type_='unique')
        batch_op.add_column(_tenant())
    with op.batch_alter_table('case_rechecks', schema=None) as batch_op:
        batch_op.drop_constraint('fk_case_rechecks_case_id_cases', type_='foreignkey')
        batch_op.drop_constraint('pk_case_rechecks', type_='primary')
        batch_op.add_column(_tenant())
        batch_op.create_primary_key('pk_case_rechecks', ['tenant_id', 'case_id'])
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_employee_id')
        batch_op.drop_constraint('pk_cases', type_='primary')
        batch_op.add_column(_tenant())
        batch_op.create_primary_key('pk_cases', ['tenant_id', 'id'])
        batch_op.create_index('ix_cases_tenant_employee', ['tenant_id', 'employee_id'], unique=False)
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_case_events_tenant_id_case_id_seq', ['tenant_id', 'case_id', 'seq'])
        batch_op.create_unique_constraint('uq_case_events_tenant_id_case_id_client_key',
                                          ['tenant_id', 'case_id', 'client_key'])
        batch_op.create_foreign_key('fk_case_events_tenant_id_cases', 'cases', ['tenant_id', 'case_id'],
                                    ['tenant_id', 'id'])
    with op.batch_alter_table('case_rechecks', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_case_rechecks_tenant_id_cases', 'cases', ['tenant_id', 'case_id'],
                                    ['tenant_id', 'id'])
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(_tenant())
        batch_op.drop_constraint('uq_notifications_dedupe_key', type_='unique')
        batch_op.create_unique_constraint('uq_notifications_tenant_id_dedupe_key', ['tenant_id', 'dedupe_key'])
        batch_op.drop_index('ix_notifications_recipient')
        batch_op.create_index('ix_notifications_recipient', ['tenant_id', 'recipient_role', 'recipient_id',
                                                             'created_at'], unique=False)
        batch_op.create_index('ix_notifications_tenant_created', ['tenant_id', 'created_at'], unique=False)
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.add_column(_tenant())
        batch_op.add_column(sa.Column('roles', sa.JSON(), nullable=True))
    with op.batch_alter_table('page_sessions', schema=None) as batch_op:
        batch_op.add_column(_tenant())
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            op.execute(f'ALTER TABLE {table} ENABLE ROW LEVEL SECURITY')
            # FORCE: the tables' owner is held to the policy too (a superuser never is).
            op.execute(f'ALTER TABLE {table} FORCE ROW LEVEL SECURITY')
            op.execute(f'CREATE POLICY {POLICY} ON {table} USING {_MATCHES} WITH CHECK {_MATCHES}')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TENANT_TABLES:
            op.execute(f'DROP POLICY IF EXISTS {POLICY} ON {table}')
            op.execute(f'ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY')
            op.execute(f'ALTER TABLE {table} DISABLE ROW LEVEL SECURITY')
    # Back to one company: only the default tenant's rows fit the old keys.
    for table in ('page_sessions', 'notifications', 'case_rechecks', 'case_events'):
        op.execute(f"DELETE FROM {table} WHERE tenant_id <> 'default'")
    op.execute("DELETE FROM page_sessions WHERE client_id IN (SELECT id FROM api_clients WHERE tenant_id <> 'default')")
    op.execute("DELETE FROM api_clients WHERE tenant_id <> 'default'")
    op.execute("DELETE FROM cases WHERE tenant_id <> 'default'")
    with op.batch_alter_table('page_sessions', schema=None) as batch_op:
        batch_op.drop_column('tenant_id')
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.drop_column('roles')
        batch_op.drop_column('tenant_id')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_tenant_created')
        batch_op.drop_index('ix_notifications_recipient')
        batch_op.create_index('ix_notifications_recipient', ['recipient_role', 'recipient_id', 'created_at'],
                              unique=False)
        batch_op.drop_constraint('uq_notifications_tenant_id_dedupe_key', type_='unique')
        batch_op.create_unique_constraint('uq_notifications_dedupe_key', ['dedupe_key'])
        batch_op.drop_column('tenant_id')
    with op.batch_alter_table('case_rechecks', schema=None) as batch_op:
        batch_op.drop_constraint('fk_case_rechecks_tenant_id_cases', type_='foreignkey')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_constraint('fk_case_events_tenant_id_cases', type_='foreignkey')
        batch_op.drop_constraint('uq_case_events_tenant_id_case_id_client_key', type_='unique')
        batch_op.drop_constraint('uq_case_events_tenant_id_case_id_seq', type_='unique')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_tenant_employee')
        batch_op.drop_constraint('pk_cases', type_='primary')
        batch_op.drop_column('tenant_id')
        batch_op.create_primary_key('pk_cases', ['id'])
        batch_op.create_index('ix_cases_employee_id', ['employee_id'], unique=False)
    with op.batch_alter_table('case_rechecks', schema=None) as batch_op:
        batch_op.drop_constraint('pk_case_rechecks', type_='primary')
        batch_op.drop_column('tenant_id')
        batch_op.create_primary_key('pk_case_rechecks', ['case_id'])
        batch_op.create_foreign_key('fk_case_rechecks_case_id_cases', 'cases', ['case_id'], ['id'])
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_column('tenant_id')
        batch_op.create_unique_constraint('uq_case_events_case_id_seq', ['case_id', 'seq'])
        batch_op.create_unique_constraint('uq_case_events_case_id_client_key', ['case_id', 'client_key'])
        batch_op.create_foreign_key('fk_case_events_case_id_cases', 'cases', ['case_id'], ['id'])
