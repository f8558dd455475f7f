"""Monthly partitions of the trail and the ledger (PostgreSQL's native declarative partitioning,
migration 0015_scale; SQLite keeps one table each). docs/scaling.md.

`case_events` is partitioned by `case_opened_at`, its case's created_at, so that a case's events
stay together and the ledger's uniqueness (tenant, case, seq) still holds (models.CaseEvent).

`trail_entries` is partitioned by `recorded_at` (the time the service received the entry, never a
time a caller chose), one partition per calendar month in UTC, named `trail_entries_YYYY_MM`.
Partitions are made ahead (the month now and the next MONTHS_AHEAD) by the worker's daily
`partitions` task and by the migration. A default partition (`<table>_default`) takes a row of a
month not made (a clock far off; a test's frozen time), so an insert never fails; making that
month's partition later moves its rows out of the default partition first.
Each partition gets the parent's row-level security policy too, so a query that names a
partition directly is held to its tenant as one through the parent is.
"""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import text
from sqlalchemy.engine import Connection

TRAIL = "trail_entries"
LEDGER = "case_events"  # by its case's opening month (case_opened_at)
PARTITIONED = (TRAIL, LEDGER)
KEY = {TRAIL: "recorded_at", LEDGER: "case_opened_at"}
MONTHS_AHEAD = 3
POLICY = "tenant_id = current_setting('sg.tenant', true) OR current_setting('sg.tenant', true) = '*'"
_NAME = re.compile(r"^(?P<table>[a-z_]+)_(?P<year>\d{4})_(?P<month>\d{2})$")


def month_of(moment: dt.date | dt.datetime) -> dt.date:
    return dt.date(moment.year, moment.month, 1)


def next_month(month: dt.date, count: int = 1) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def partition_name(month: dt.date, table: str = TRAIL) -> str:
    return f"{table}_{month.year:04d}_{month.month:02d}"


def month_of_partition(name: str) -> dt.date | None:
    found = _NAME.match(name)
    return dt.date(int(found["year"]), int(found["month"]), 1) if found else None


def _bound(month: dt.date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"


def _exists(c: Connection, name: str) -> bool:
    return c.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar() is not None


def _secure(c: Connection, name: str) -> None:
    c.execute(text(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY"))
    c.execute(text(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY"))
    c.execute(text(f"CREATE POLICY tenant_isolation ON {name} USING ({POLICY}) WITH CHECK ({POLICY})"))


def create_default(c: Connection, parent: str = TRAIL, table: str = TRAIL) -> None:
    name = f"{table}_default"
    c.execute(text(f"CREATE TABLE {name} PARTITION OF {parent} DEFAULT"))
    _secure(c, name)


def create_partition(c: Connection, month: dt.date, parent: str = TRAIL, table: str = TRAIL) -> bool:
    """The partition of `month` (of `parent`, named after `table`), with its row-level security;
    False when it exists. Rows of that month in the default partition move into it first."""
    name = partition_name(month, table)
    if _exists(c, name):
        return False
    low, high = _bound(month), _bound(next_month(month))
    c.execute(text(f"CREATE TABLE {name} (LIKE {parent} INCLUDING DEFAULTS)"))
    if _exists(c, f"{table}_default"):
        key = KEY[table]
        c.execute(text(f"WITH moved AS (DELETE FROM {table}_default WHERE {key} >= {low} AND {key} < {high} "
                       f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"))
    c.execute(text(f"ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM ({low}) TO ({high})"))
    _secure(c, name)
    return True


def ensure_ahead(c: Connection, today: dt.date, months: int = MONTHS_AHEAD, since: dt.date | None = None,
                 parent: str | None = None, table: str = TRAIL) -> list[str]:
    """Partitions of `table` (attached to `parent`, default the table itself) from `since`
    (default: this month) through `months` after `today`'s month; the names of those it made.
    PostgreSQL only (SQLite: nothing to make)."""
    if c.dialect.name != "postgresql":
        return []
    made, month, last = [], month_of(since or today), next_month(month_of(today), months)
    while month <= last:
        if create_partition(c, month, parent or table, table):
            made.append(partition_name(month, table))
        month = next_month(month)
    return made


def ensure_all_ahead(c: Connection, today: dt.date) -> list[str]:
    """Every partitioned table's months ahead (the worker's daily `partitions` task)."""
    return [name for table in PARTITIONED for name in ensure_ahead(c, today, table=table)]


def may_create(c: Connection) -> bool:
    """Whether this connection's role owns the partitioned tables (only their owner may add a
    partition: with two roles, the owner runs `db partitions`, not the service's worker)."""
    if c.dialect.name != "postgresql":
        return False
    return bool(c.execute(text("SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class "
                               "WHERE oid = to_regclass(:t)"), {"t": TRAIL}).scalar())


def attached(c: Connection, parent: str = TRAIL) -> list[tuple[str, dt.date]]:
    """The partitions of `parent`, (name, month), oldest first."""
    if c.dialect.name != "postgresql":
        return []
    names = c.execute(text("SELECT child.relname FROM pg_inherits i JOIN pg_class child ON child.oid = i.inhrelid "
                           "JOIN pg_class parent ON parent.oid = i.inhparent "
                           "JOIN pg_namespace n ON n.oid = parent.relnamespace "
                           "WHERE parent.relname = :parent AND n.nspname = current_schema()"),
                      {"parent": parent}).scalars()
    found = [(name, month_of_partition(name)) for name in names]
    return sorted((name, month) for name, month in found if month is not None)
