"""Two PostgreSQL roles, so that whoever runs the service cannot rewrite what it recorded.

The owner role owns the schema's tables and runs the migrations (`separation-guard db upgrade
--url OWNER_URL`); the service role, which DATABASE_URL names, may read and add to the trail and
the case ledger but never UPDATE or DELETE them. The sealer's queues are the one place the
service deletes in the trail: it removes the rows it has sealed (service.record.sealer,
service.record.legacy), and never changes one. A stolen service password can still add
entries, and empty the queue of entries not yet sealed, which `trail verify` reports; it cannot
change or remove a sealed entry, a leaf, a node, a checkpoint or a recorded case event.

Every table of the models is named here, with what the service needs of it: a table added by a
migration and not named refuses `db roles` (tests/test_roles.py), rather than going ungranted or
granted too much. Run `db roles` again after each migration that adds a table or sequence.
"""
from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.engine import Connection

from service.record.db import Base

APPEND_ONLY = ("SELECT", "INSERT")
# What the service role may do to each table.
PRIVILEGES: dict[str, tuple[str, ...]] = {
    # The trail and the ledger: written once, never changed or removed.
    "trail_entries": APPEND_ONLY,
    "trail_leaves": APPEND_ONLY,
    "trail_nodes": APPEND_ONLY,
    "trail_checkpoints": APPEND_ONLY,
    "trail_cosignatures": APPEND_ONLY,
    "case_events": APPEND_ONLY,
    # The sealer's queues: writers add, the sealer removes what it sealed.
    "trail_pending": ("SELECT", "INSERT", "DELETE"),
    "trail_legacy_pending": ("SELECT", "DELETE"),
    # Frozen end of the hash chain of entries before the tree; the schema version.
    "trail_head": ("SELECT",),
    "alembic_version": ("SELECT",),
    # Working state: a case's event count (and its row lock), deliveries, revocations, the
    # worker's lease and sign-ins change; none of it is evidence.
    "cases": ("SELECT", "INSERT", "UPDATE"),
    "notifications": ("SELECT", "INSERT", "UPDATE"),
    "api_clients": ("SELECT", "INSERT", "UPDATE"),
    "worker_state": ("SELECT", "INSERT", "UPDATE"),
    "page_sessions": ("SELECT", "INSERT", "UPDATE"),
    # Verifications of the trail, requested, running (their progress), done: where the next
    # incremental one resumes. Not evidence: a rewritten row only costs a full verification
    # (service.record.verification).
    "trail_verifications": ("SELECT", "INSERT", "UPDATE"),
    # A closed case's re-check row is deleted with its facts (service.record.rechecks).
    "case_rechecks": ("SELECT", "INSERT", "UPDATE", "DELETE"),
    # The months archived (service.record.archive, run by the owner): verification reads them.
    "trail_archives": ("SELECT",),
}
# A month's partition is reached through its parent, whose grants govern (PostgreSQL checks the
# parent's); a month archived and detached is kept as evidence: read, never written.
ARCHIVED = re.compile(r"archived_trail_entries_\d{4}_\d{2}")


# Plain identifiers only: the names go into DDL, which takes no bound parameters.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class RolesError(RuntimeError):
    pass


def _quote(name: str) -> str:
    return f'"{name}"'


def statements(schema: str, owner: str, service: str, tables: list[str], sequences: list[str],
               partitions: list[str] = ()) -> list[str]:
    """The SQL that creates the two roles (if missing, without a password: set it apart), makes
    the owner own the schema's tables, their partitions and sequences, and grants the service
    what PRIVILEGES says and nothing else (a partition nothing: it is reached through its parent)."""
    for what, name in (("schema", schema), ("owner", owner), ("service", service)):
        if not _NAME.fullmatch(name):
            raise RolesError(f"{what} {name!r}: use letters, digits and _ (not starting with a digit)")
    if owner == service:
        raise RolesError("the owner and the service must be two roles")
    privileges = {**PRIVILEGES, **{t: ("SELECT",) for t in tables if ARCHIVED.fullmatch(t)}}
    unnamed = sorted(set(tables) - set(privileges))
    if unnamed:
        raise RolesError(f"no privileges are decided for table(s) {', '.join(unnamed)}: name them in "
                         "service/record/roles.py PRIVILEGES")
    s, o, v = _quote(schema), _quote(owner), _quote(service)
    sql = [_create_role(owner), _create_role(service),
           f"GRANT USAGE, CREATE ON SCHEMA {s} TO {o}",
           f"REVOKE ALL ON SCHEMA {s} FROM {v}",
           f"GRANT USAGE ON SCHEMA {s} TO {v}"]
    for table in sorted(tables):
        name = f"{s}.{_quote(table)}"
        sql += [f"ALTER TABLE {name} OWNER TO {o}",
                f"REVOKE ALL ON TABLE {name} FROM {v}",
                f"GRANT {', '.join(privileges[table])} ON TABLE {name} TO {v}"]
    for partition in sorted(partitions):
        # The owner changes the schema of a partitioned table only if it owns every partition too.
        name = f"{s}.{_quote(partition)}"
        sql += [f"ALTER TABLE {name} OWNER TO {o}", f"REVOKE ALL ON TABLE {name} FROM {v}"]
    for sequence in sorted(sequences):
        name = f"{s}.{_quote(sequence)}"
        # Serial ids (case_events) and the trail's entry order: the service draws from them.
        sql += [f"ALTER SEQUENCE {name} OWNER TO {o}",
                f"REVOKE ALL ON SEQUENCE {name} FROM {v}",
                f"GRANT USAGE, SELECT ON SEQUENCE {name} TO {v}"]
    return sql


def _create_role(role: str) -> str:
    return (f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {_quote(role)} LOGIN; END IF; END $$")


def schema_objects(connection: Connection, schema: str) -> tuple[list[str], list[str], list[str]]:
    """The tables, sequences (those owned by a serial column included) and partitions in the schema."""
    rows = connection.execute(text("SELECT c.relname, c.relispartition FROM pg_class c JOIN pg_namespace n "
                                   "ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind IN ('r', 'p')"),
                              {"s": schema}).all()
    sequences = connection.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname = :s"),
                                   {"s": schema}).scalars().all()
    tables = [r.relname for r in rows if not r.relispartition]
    return tables, list(sequences), [r.relname for r in rows if r.relispartition]


def grant_roles(connection: Connection, owner: str, service: str, schema: str | None = None) -> list[str]:
    """Run statements() for the connection's schema (or `schema`); returns what it ran."""
    if connection.dialect.name != "postgresql":
        raise RolesError("database roles are PostgreSQL's: SQLite has no users")
    schema = schema or connection.execute(text("SELECT current_schema()")).scalar_one()
    tables, sequences, partitions = schema_objects(connection, schema)
    missing = sorted(set(Base.metadata.tables) - set(tables))
    if missing:
        raise RolesError(f"schema {schema} lacks table(s) {', '.join(missing)}: run the migrations first "
                         "(separation-guard db upgrade)")
    sql = statements(schema, owner, service, tables, sequences, partitions)
    for statement in sql:
        connection.exec_driver_sql(statement)
    return sql
