"""api clients: the areas of its record a client declares complete

A field the client leaves out in a declared area is read as none (rules/records/complete_record.yaml).
Null: no declaration, every absent field unknown.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('complete_record', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.drop_column('complete_record')
