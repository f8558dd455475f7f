"""scale: the trail's time filters indexed per tenant, trail_entries partitioned by month, archives

Issue 22, item 9 (docs/scaling.md). On both databases: indexes leading with the tenant that serve
GET /v1/trail's time filters ((tenant_id, recorded_at) for since/until; (tenant_id, as_of) of the
checks for at_since/at_until), entry_id indexed rather than unique (a partitioned table's unique
keys must hold its partition key), and trail_archives, the months archived by `trail archive`.

On PostgreSQL, trail_entries becomes a table partitioned by RANGE (recorded_at), one partition per
month (service.record.partitions) and a default partition, its key (seq, recorded_at). The rows are copied into it (one
INSERT ... SELECT: a deployment with a large trail runs this migration in a maintenance window),
the months from the oldest entry through three months ahead are created, and the row-level
security of 0014 is set again on the new table and on each partition. SQLite has no partitions.

case_events gets case_opened_at (its case's created_at, filled in from cases; a foreign key to
cases (tenant_id, id, created_at) holds every event of a case to the same value) and its unique
keys hold it, so that on PostgreSQL it is partitioned by RANGE (case_opened_at), by month, its key
(id, case_opened_at), and (tenant, case, seq) stays unique exactly (models.CaseEvent).

Revision ID: 0015_scale
Revises: 0014_tenant_logs
"""
import datetime as dt

from alembic import op
import sqlalchemy as sa

from service.record.partitions import POLICY, create_default, ensure_ahead

revision = '0015_scale'
down_revision = '0014_tenant_logs'
branch_labels = None
depends_on = None

CHECKS = sa.text("kind = 'check'")
# Every index of trail_entries, as the models name them: made again on the partitioned table.
INDEXES = (
    "CREATE INDEX ix_trail_tenant_seq ON trail_entries (tenant_id, seq)",
    "CREATE INDEX ix_trail_employee_recorded ON trail_entries (tenant_id, employee_id, recorded_at)",
    "CREATE INDEX ix_trail_case ON trail_entries (tenant_id, case_id, seq) WHERE case_id IS NOT NULL",
    "CREATE INDEX ix_trail_kind_recorded ON trail_entries (tenant_id, kind, recorded_at) WHERE kind <> 'check'",
    "CREATE INDEX ix_trail_rule_ids ON trail_entries USING gin (rule_ids jsonb_path_ops) WITH (fastupdate = off)",
    "CREATE INDEX ix_trail_entry_id ON trail_entries (entry_id)",
    "CREATE INDEX ix_trail_tenant_recorded ON trail_entries (tenant_id, recorded_at)",
    "CREATE INDEX ix_trail_tenant_check_day ON trail_entries (tenant_id, as_of) WHERE kind = 'check'",
)


def _secure(table: str) -> None:
    op.execute(f'ALTER TABLE {table} ENABLE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE {table} FORCE ROW LEVEL SECURITY')
    op.execute(f'CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})')


def _rebuild(partitioned: bool) -> None:
    """trail_entries made again, partitioned or not, with its rows, indexes and policy."""
    bind = op.get_bind()
    # The sequence outlives the table it numbers (it was never OWNED BY it; say so for certain).
    op.execute("ALTER SEQUENCE trail_entries_seq OWNED BY NONE")
    tail = " PARTITION BY RANGE (recorded_at)" if partitioned else ""
    op.execute(f"CREATE TABLE trail_entries_new (LIKE trail_entries INCLUDING DEFAULTS){tail}")
    if partitioned:
        oldest = bind.execute(sa.text("SELECT min(recorded_at) FROM trail_entries")).scalar()
        today = dt.datetime.now(dt.timezone.utc).date()
        ensure_ahead(bind, today, since=oldest.date() if oldest else today, parent='trail_entries_new')
        create_default(bind, parent='trail_entries_new', table='trail_entries')
    op.execute("INSERT INTO trail_entries_new SELECT * FROM trail_entries")
    op.execute("DROP TABLE trail_entries")
    op.execute("ALTER TABLE trail_entries_new RENAME TO trail_entries")
    key = "seq, recorded_at" if partitioned else "seq"
    op.execute(f"ALTER TABLE trail_entries ADD CONSTRAINT pk_trail_entries PRIMARY KEY ({key})")
    if not partitioned:
        op.execute("ALTER TABLE trail_entries ADD CONSTRAINT uq_trail_entries_entry_id UNIQUE (entry_id)")
    for statement in INDEXES if partitioned else INDEXES[:5]:
        op.execute(statement)
    _secure('trail_entries')


def _opened() -> sa.Column:
    return sa.Column('case_opened_at', sa.TIMESTAMP(timezone=True), nullable=True)


OLD_LEDGER_KEYS = (('uq_case_events_tenant_id_case_id_seq', ['tenant_id', 'case_id', 'seq']),
                   ('uq_case_events_tenant_id_case_id_client_key', ['tenant_id', 'case_id', 'client_key']))
NEW_LEDGER_KEYS = (('uq_case_events_tenant_id_case_id_seq_case_opened_at', ['tenant_id', 'case_id', 'seq', 'case_opened_at']),
                   ('uq_case_events_tenant_id_case_id_client_key_case_opened_at',
                    ['tenant_id', 'case_id', 'client_key', 'case_opened_at']))
LEDGER_FK = 'fk_case_events_tenant_id_cases'
RECHECK_FK = 'fk_case_rechecks_tenant_id_cases'
CASE_KEY = 'uq_cases_tenant_id_id_created_at'
BACKFILL = ("UPDATE case_events SET case_opened_at = (SELECT created_at FROM cases WHERE "
            "cases.tenant_id = case_events.tenant_id AND cases.id = case_events.case_id)")


def _ledger_sqlite(up: bool) -> None:
    """SQLite rebuilds a table to change it: cases may be rebuilt only once nothing refers to it."""
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_constraint(LEDGER_FK, type_='foreignkey')
        for name, _ in (OLD_LEDGER_KEYS if up else NEW_LEDGER_KEYS):
            batch_op.drop_constraint(name, type_='unique')
        if up:
            batch_op.add_column(_opened())
        else:
            batch_op.drop_column('case_opened_at')
            for name, columns in OLD_LEDGER_KEYS:
                batch_op.create_unique_constraint(name, columns)
    with op.batch_alter_table('case_rechecks', schema=None) as batch_op:
        batch_op.drop_constraint(RECHECK_FK, type_='foreignkey')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        if up:
            batch_op.create_unique_constraint(CASE_KEY, ['tenant_id', 'id', 'created_at'])
        else:
            batch_op.drop_constraint(CASE_KEY, type_='unique')
    if up:
        op.execute(BACKFILL)
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        if up:
            batch_op.alter_column('case_opened_at', existing_type=sa.TIMESTAMP(timezone=True), nullable=False)
            for name, columns in NEW_LEDGER_KEYS:
                batch_op.create_unique_constraint(name, columns)
        batch_op.create_foreign_key(LEDGER_FK, 'cases', ['tenant_id', 'case_id', 'case_opened_at'] if up
                                    else ['tenant_id', 'case_id'], ['tenant_id', 'id', 'created_at'] if up
                                    else ['tenant_id', 'id'])
    with op.batch_alter_table('case_rechecks', schema=None) as batch_op:
        batch_op.create_foreign_key(RECHECK_FK, 'cases', ['tenant_id', 'case_id'], ['tenant_id', 'id'])


def _ledger_postgres(partitioned: bool) -> None:
    """case_events made again, partitioned by case_opened_at or not, with its rows and keys."""
    bind = op.get_bind()
    op.execute("ALTER SEQUENCE case_events_id_seq OWNED BY NONE")
    tail = " PARTITION BY RANGE (case_opened_at)" if partitioned else ""
    op.execute(f"CREATE TABLE case_events_new (LIKE case_events INCLUDING DEFAULTS){tail}")
    if partitioned:
        op.execute("ALTER TABLE case_events_new ALTER COLUMN case_opened_at SET NOT NULL")
        oldest = bind.execute(sa.text("SELECT min(case_opened_at) FROM case_events")).scalar()
        today = dt.datetime.now(dt.timezone.utc).date()
        ensure_ahead(bind, today, since=oldest.date() if oldest else today, parent='case_events_new',
                     table='case_events')
        create_default(bind, parent='case_events_new', table='case_events')
    op.execute("INSERT INTO case_events_new SELECT * FROM case_events")
    op.execute("DROP TABLE case_events")
    op.execute("ALTER TABLE case_events_new RENAME TO case_events")
    op.execute("ALTER SEQUENCE case_events_id_seq OWNED BY case_events.id")
    key = "id, case_opened_at" if partitioned else "id"
    op.execute(f"ALTER TABLE case_events ADD CONSTRAINT pk_case_events PRIMARY KEY ({key})")
    if not partitioned:
        op.execute("ALTER TABLE case_events DROP COLUMN case_opened_at")
    for name, columns in (NEW_LEDGER_KEYS if partitioned else OLD_LEDGER_KEYS):
        op.execute(f"ALTER TABLE case_events ADD CONSTRAINT {name} UNIQUE ({', '.join(columns)})")
    mine, theirs = (("tenant_id, case_id, case_opened_at", "tenant_id, id, created_at") if partitioned
                    else ("tenant_id, case_id", "tenant_id, id"))
    op.execute(f"ALTER TABLE case_events ADD CONSTRAINT {LEDGER_FK} FOREIGN KEY ({mine}) REFERENCES cases ({theirs})")
    _secure('case_events')


def upgrade() -> None:
    op.create_table(
        'trail_archives',
        sa.Column('tenant_id', sa.String(length=64), server_default='default', nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('first_seq', sa.BigInteger(), nullable=False),
        sa.Column('last_seq', sa.BigInteger(), nullable=False),
        sa.Column('entries', sa.BigInteger(), nullable=False),
        sa.Column('file_name', sa.String(length=255), nullable=False),
        sa.Column('file_sha256', sa.String(length=64), nullable=False),
        sa.Column('archived_at', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('tenant_id', 'month', name=op.f('pk_trail_archives')))
    if op.get_bind().dialect.name == 'postgresql':
        op.create_unique_constraint(CASE_KEY, 'cases', ['tenant_id', 'id', 'created_at'])
        op.add_column('case_events', _opened())
        op.execute(BACKFILL)
        _secure('trail_archives')
        _rebuild(partitioned=True)
        _ledger_postgres(partitioned=True)
        return
    _ledger_sqlite(up=True)
    with op.batch_alter_table('trail_entries', schema=None) as batch_op:
        batch_op.drop_constraint('uq_trail_entries_entry_id', type_='unique')
        batch_op.create_index('ix_trail_entry_id', ['entry_id'])
        batch_op.create_index('ix_trail_tenant_recorded', ['tenant_id', 'recorded_at'])
        batch_op.create_index('ix_trail_tenant_check_day', ['tenant_id', 'as_of'], sqlite_where=CHECKS)


def downgrade() -> None:
    """Archived months stay archived: their detached tables are not brought back."""
    if op.get_bind().dialect.name == 'postgresql':
        _rebuild(partitioned=False)
        _ledger_postgres(partitioned=False)
        op.drop_constraint(CASE_KEY, 'cases', type_='unique')
    else:
        _ledger_sqlite(up=False)
        with op.batch_alter_table('trail_entries', schema=None) as batch_op:
            batch_op.drop_index('ix_trail_tenant_check_day', sqlite_where=CHECKS)
            batch_op.drop_index('ix_trail_tenant_recorded')
            batch_op.drop_index('ix_trail_entry_id')
            batch_op.create_unique_constraint('uq_trail_entries_entry_id', ['entry_id'])
    op.drop_table('trail_archives')
