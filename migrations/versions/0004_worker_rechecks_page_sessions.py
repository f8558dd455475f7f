"""worker state, case re-checks, page sessions

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('worker_state',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=True),
    sa.Column('lease_until', sa.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('tasks', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_worker_state'))
    )
    op.create_table('case_rechecks',
    sa.Column('case_id', sa.String(length=128), nullable=False),
    sa.Column('employee', sa.JSON(), nullable=True),
    sa.Column('employee_given_at', sa.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('next_step', sa.String(length=64), nullable=True),
    sa.Column('verdict', sa.String(length=8), nullable=True),
    sa.Column('rule_ids', sa.JSON(), nullable=True),
    sa.Column('checked_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_rechecks_case_id_cases')),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_case_rechecks'))
    )
    op.create_table('page_sessions',
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('expires_at', sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.TIMESTAMP(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], name=op.f('fk_page_sessions_client_id_api_clients')),
    sa.PrimaryKeyConstraint('token_digest', name=op.f('pk_page_sessions'))
    )
    with op.batch_alter_table('page_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_page_sessions_client_id'), ['client_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('page_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_page_sessions_client_id'))
    op.drop_table('page_sessions')
    op.drop_table('case_rechecks')
    op.drop_table('worker_state')
