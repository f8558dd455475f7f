"""case_rechecks.employee_decision_id: which decision gave the employee facts a case keeps

A later case event may leave out the employee record when it has not changed: it is decided on
the facts the case keeps (sealed, service.record.recheck_keys), and its answer names the decision
(and the case event, when an event gave them) those facts came from. Rows kept before this
migration name no decision: such an answer says only when the facts were given.

Revision ID: 0011_ledger
Revises: 0010_witness
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_ledger'
down_revision = '0010_witness'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_rechecks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('employee_decision_id', sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('case_rechecks', schema=None) as batch_op:
        batch_op.drop_column('employee_decision_id')
