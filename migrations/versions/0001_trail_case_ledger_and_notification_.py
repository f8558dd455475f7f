"""trail, case ledger and notification outbox

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cases',
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('employee_id', sa.String(length=128), nullable=False),
    sa.Column('hr_owner_id', sa.String(length=128), nullable=True),
    sa.Column('manager_id', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_employee_id'), ['employee_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.String(length=128), nullable=True),
    sa.Column('employee_id', sa.String(length=128), nullable=True),
    sa.Column('recipient_role', sa.String(length=32), nullable=False),
    sa.Column('recipient_id', sa.String(length=128), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_notifications_dedupe_key'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_notifications_recipient', ['recipient_role', 'recipient_id', 'created_at'], unique=False)

    op.create_table('trail_entries',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('entry_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('recorded_at', sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=True),
    sa.Column('employee_id', sa.String(length=128), nullable=True),
    sa.Column('case_id', sa.String(length=128), nullable=True),
    sa.Column('process_type', sa.String(length=32), nullable=True),
    sa.Column('action_type', sa.String(length=64), nullable=True),
    sa.Column('event_type', sa.String(length=64), nullable=True),
    sa.Column('actor_id', sa.String(length=128), nullable=True),
    sa.Column('actor_role', sa.String(length=32), nullable=True),
    sa.Column('client_id', sa.String(length=128), nullable=True),
    sa.Column('verdict', sa.String(length=8), nullable=True),
    sa.Column('rule_ids', sa.JSON(), nullable=False),
    sa.Column('ruleset_version', sa.String(length=80), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('request_digest', sa.String(length=80), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_trail_entries')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_trail_entries_entry_id'))
    )
    with op.batch_alter_table('trail_entries', schema=None) as batch_op:
        batch_op.create_index('ix_trail_case', ['case_id', 'seq'], unique=False)
        batch_op.create_index('ix_trail_employee_recorded', ['employee_id', 'recorded_at'], unique=False)
        batch_op.create_index('ix_trail_kind_recorded', ['kind', 'recorded_at'], unique=False)

    trail_head = op.create_table('trail_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trail_head'))
    )
    # The chain starts here: appenders lock this row (service/record/trail.py).
    op.bulk_insert(trail_head, [{'id': 1, 'seq': 0, 'hash': '0' * 64}])
    op.create_table('case_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.String(length=128), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('client_key', sa.String(length=128), nullable=False),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('at', sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('actor_id', sa.String(length=128), nullable=False),
    sa.Column('actor_role', sa.String(length=32), nullable=False),
    sa.Column('actor_department', sa.String(length=128), nullable=True),
    sa.Column('form', sa.String(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('recorded_at', sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('decision_id', sa.String(length=36), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_events_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_events')),
    sa.UniqueConstraint('case_id', 'client_key', name=op.f('uq_case_events_case_id_client_key')),
    sa.UniqueConstraint('case_id', 'seq', name=op.f('uq_case_events_case_id_seq'))
    )
    op.create_table('trail_rule_hits',
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('rule_id', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['seq'], ['trail_entries.seq'], name=op.f('fk_trail_rule_hits_seq_trail_entries')),
    sa.PrimaryKeyConstraint('seq', 'rule_id', name=op.f('pk_trail_rule_hits'))
    )
    with op.batch_alter_table('trail_rule_hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trail_rule_hits_rule_id'), ['rule_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('trail_rule_hits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trail_rule_hits_rule_id'))

    op.drop_table('trail_rule_hits')
    op.drop_table('case_events')
    op.drop_table('trail_head')
    with op.batch_alter_table('trail_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_trail_kind_recorded')
        batch_op.drop_index('ix_trail_employee_recorded')
        batch_op.drop_index('ix_trail_case')

    op.drop_table('trail_entries')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_recipient')
        batch_op.drop_index('ix_notifications_due')

    op.drop_table('notifications')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_employee_id'))

    op.drop_table('cases')
