"""SQLAlchemy 2.x: the declarative base, the engine and the session factory bound to the app.
The schema is Alembic's (migrations/), upgraded by `separation-guard db upgrade`, or as the app
starts where AUTO_MIGRATE is on (service/tools/db_cli.py): binding the engine changes nothing."""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import weakref
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import JSON, MetaData, TIMESTAMP, TypeDecorator, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from service.tenants import valid_tenant

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
_MIGRATION_LOCK = 72_616_001  # any constant: one upgrade at a time on a PostgreSQL server

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on every database.

    SQLite has no time zone type and SQLAlchemy stores an aware value's wall-clock time without
    its offset: 09:00+08:00 would come back as 09:00 and sort after 15:00+08:00 seen as UTC.
    """
    impl = TIMESTAMP(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every stored time must carry its offset")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict: JSON, list: JSON}


def make_engine(url: str) -> Engine:
    engine = _create(url)
    # gunicorn preloads the app, so the arbiter's pooled connections (migrations, the start-up
    # trail entry) would be shared by every forked worker: one database session for four
    # processes. A forked child forgets them (never closes: the parent still owns them).
    ref = weakref.ref(engine)
    os.register_at_fork(after_in_child=lambda: (e := ref()) is not None and e.dispose(close=False))
    return engine


# JSON columns hold Chinese statute text: stored as UTF-8, not as \uXXXX escapes (half the bytes,
# and less to parse and compress on the server), and without padding.
_json_serializer = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def _create(url: str) -> Engine:
    if not url.startswith("sqlite"):
        # No pre-ping: it is a round trip before every check. A connection the server dropped fails
        # its request with a 503 (never an allow), and that error invalidates the whole pool, so
        # the next checkout connects afresh (tests/test_load.py stops PostgreSQL under load).
        return create_engine(url, json_serializer=_json_serializer)
    engine = create_engine(url, connect_args={"check_same_thread": False}, json_serializer=_json_serializer)
    event.listen(engine, "connect", _sqlite_connect)
    # pysqlite begins transactions lazily, so two writers could read the same row and then
    # collide. A writer's BEGIN IMMEDIATE takes the write lock up front: one writer at a time.
    # A reader (read_session) begins DEFERRED: in WAL mode it reads a snapshot and blocks nobody.
    event.listen(engine, "begin", _sqlite_begin)
    return engine


READ_ONLY = "separation_guard_read_only"


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def _sqlite_connect(dbapi_connection, _record):
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (above)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # WAL lets readers and the writer work at once; NORMAL sync is crash-safe in WAL mode
    # (a power cut may lose the last commits, never corrupt): production runs on PostgreSQL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    from alembic.runtime.migration import MigrationContext

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            # A migration that moves rows moves every tenant's: the owner is held to RLS too (FORCE).
            set_tenant(connection, ALL_TENANTS)
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        logging.getLogger(__name__).info("database schema upgraded from %s to %s", before or "nothing", after)


# Row-level security (PostgreSQL, migration 0013_tenants): every transaction says whose rows it
# may see in the GUC sg.tenant. A session opened for a tenant (tenant_info) sees that tenant's
# rows; any other session is the worker's, the sealer's or a command's and sees every tenant
# ('*'). docs/tenants.md.
ALL_TENANTS = "*"
TENANT_INFO = "sg_tenant"


def tenant_info(tenant: str) -> dict:
    """A session's `info` for one tenant: `sessions(info=tenant_info(t))`."""
    return {TENANT_INFO: tenant}


def set_tenant(connection, tenant: str) -> None:
    """The tenant of the connection's current transaction (PostgreSQL; SQLite has no RLS).

    SET LOCAL is set_config('sg.tenant', tenant, true) as a utility statement: it takes no
    snapshot, so a transaction may still choose its isolation level after it (the trail's
    verification reads in REPEATABLE READ). It takes no bound parameter: the tenant is checked
    against service.tenants.TENANT_ID (or is '*') before it is quoted into it."""
    if connection.dialect.name != "postgresql":
        return
    if tenant != ALL_TENANTS and not valid_tenant(tenant):
        raise ValueError(f"not a tenant id: {tenant!r}")
    connection.exec_driver_sql(f"SET LOCAL sg.tenant = '{tenant}'")


@event.listens_for(Session, "after_begin")
def _tenant_of_the_transaction(session: Session, _transaction, connection) -> None:
    set_tenant(connection, session.info.get(TENANT_INFO, ALL_TENANTS))


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["db_engine"] = engine
    app.extensions["db_sessions"] = sessionmaker(engine, expire_on_commit=False)
    app.extensions["db_read_sessions"] = sessionmaker(engine.execution_options(**{READ_ONLY: True}),
                                                      expire_on_commit=False)


def session(tenant: str | None = None) -> Session:
    """A new session (of `tenant`: it sees only that tenant's rows under RLS); the caller owns it
    (`with db.session(t) as s, s.begin(): ...`)."""
    return current_app.extensions["db_sessions"](**({} if tenant is None else {"info": tenant_info(tenant)}))


def read_session(tenant: str | None = None) -> Session:
    """A session for reading only: on SQLite it takes no write lock, so it never holds up a check."""
    return current_app.extensions["db_read_sessions"](**({} if tenant is None else {"info": tenant_info(tenant)}))


def engine() -> Engine:
    return current_app.extensions["db_engine"]
