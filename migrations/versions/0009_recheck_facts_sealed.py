"""case_rechecks.employee_sealed and key_id replace the clear case_rechecks.employee

The employee facts a case's daily re-check keeps are sealed with AES-256-GCM
(service.record.recheck_keys). The clear facts are dropped, not sealed here: a migration holds
no key, and the facts are the EHR's to give again (its next event or check naming the case).
Until it does, an open case is re-checked with the employee's id alone: every fact it needs is
unknown, so a deny or warn condition warns naming it, never allows. The verdicts of open cases
are kept; the rows of closed cases go at the next re-check.

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_rechecks', schema=None) as batch_op:
        batch_op.drop_column('employee')
        batch_op.add_column(sa.Column('employee_sealed', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('key_id', sa.String(length=16), nullable=True))


def downgrade() -> None:
    # The sealed facts cannot come back in clear without the key: the downgrade keeps none.
    with op.batch_alter_table('case_rechecks', schema=None) as batch_op:
        batch_op.drop_column('key_id')
        batch_op.drop_column('employee_sealed')
        batch_op.add_column(sa.Column('employee', sa.JSON(), nullable=True))
