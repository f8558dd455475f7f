"""case_events keeps what the trail does not: a repeated client key's answer is rendered again

Issue 23, goal 5 (bytes per decision). An event's answer was kept whole in case_events.response
(1.3 KB of JSON) to replay it for a repeated client key. Since this migration it is rendered again
from the event's trail entry (service.flows.case_replay), and the row keeps only what the trail
does not hold: the status code (as before), the receipt's Ed25519 signature (receipt_signature,
64 bytes: a receipt signed by a key since retired still replays as given), and in `response`
only `employee_from` when the event was decided on kept facts (else NULL, hence nullable).

Rows recorded before keep their whole answer and no signature: replayed as kept.

Downgrade: rows recorded since keep no whole answer, and 0015's code could not replay them; it
refuses while there are any (render them first, or delete the database's newer rows knowingly).

Revision ID: 0016_replay
Revises: 0015_scale
"""
import sqlalchemy as sa
from alembic import op

revision = '0016_replay'
down_revision = '0015_scale'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        # Partitioned (0015): ALTER TABLE on the parent reaches every partition.
        op.add_column('case_events', sa.Column('receipt_signature', sa.LargeBinary(length=64), nullable=True))
        op.alter_column('case_events', 'response', existing_type=sa.JSON(), nullable=True)
        return
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt_signature', sa.LargeBinary(length=64), nullable=True))
        batch_op.alter_column('response', existing_type=sa.JSON(), nullable=True)


def downgrade() -> None:
    newer = op.get_bind().execute(sa.text("SELECT count(*) FROM case_events WHERE receipt_signature IS NOT NULL")).scalar()
    if newer:
        raise RuntimeError(f"{newer} case events were recorded since 0016 without their whole answer: 0015 could not "
                           "replay them for a repeated client key. Not downgraded.")
    if op.get_bind().dialect.name == 'postgresql':
        op.alter_column('case_events', 'response', existing_type=sa.JSON(), nullable=False)
        op.drop_column('case_events', 'receipt_signature')
        return
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.alter_column('response', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('receipt_signature')
