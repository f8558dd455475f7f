"""SQLAlchemy 2.x: the declarative base, the engine and the session factory bound to the app."""
from __future__ import annotations

import datetime as dt

from flask import Flask, current_app
from sqlalchemy import JSON, MetaData, TIMESTAMP, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: TIMESTAMP(timezone=True), dict: JSON, list: JSON}


def init_app(app: Flask) -> None:
    url = app.config["DATABASE_URL"]
    kwargs = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"check_same_thread": False}}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    app.extensions["db_engine"] = engine
    app.extensions["db_sessions"] = sessionmaker(engine, expire_on_commit=False)
    if app.config.get("CREATE_SCHEMA", True):
        from service import models  # noqa: F401  (registers the tables)
        Base.metadata.create_all(engine)


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # WAL lets readers and the writer work at once; NORMAL sync is crash-safe in WAL mode
    # (a power cut may lose the last commits, never corrupt): production runs on PostgreSQL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session() -> Session:
    """A new session; the caller owns it (`with db.session() as s, s.begin(): ...`)."""
    return current_app.extensions["db_sessions"]()


def engine():
    return current_app.extensions["db_engine"]
