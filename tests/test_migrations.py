"""Alembic owns the schema: a migrated database is exactly what the models describe."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from service.record.db import Base, make_engine, upgrade


def _diff(engine):
    with engine.connect() as conn:
        # A month's partition of trail_entries (PostgreSQL, service.record.partitions) is the
        # database's, made by the worker: the models describe its parent table only.
        partitions = set(conn.execute(text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"))
                         .scalars()) if conn.dialect.name == "postgresql" else set()
        context = MigrationContext.configure(conn, opts={
            "include_name": lambda name, kind, parent: not (kind == "table" and name in partitions)})
        return compare_metadata(context, Base.metadata)


def test_a_fresh_database_migrated_to_head_matches_the_models(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    assert _diff(engine) == []
    engine.dispose()


def test_downgrade_to_nothing_and_upgrade_again_gives_the_same_schema(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    before = _schema(engine)
    upgrade_then = make_engine(database_url)
    from alembic import command
    from alembic.config import Config

    from service.record.db import MIGRATIONS
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with upgrade_then.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert [t for t in inspect(upgrade_then).get_table_names() if t != "alembic_version"] == []
    upgrade(upgrade_then)
    assert _schema(upgrade_then) == before
    assert _diff(upgrade_then) == []
    engine.dispose()
    upgrade_then.dispose()


def _schema(engine):
    inspector = inspect(engine)
    return {table: (sorted((c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)),
                    sorted(i["name"] for i in inspector.get_indexes(table)),
                    sorted(str(u["column_names"]) for u in inspector.get_unique_constraints(table)))
            for table in sorted(inspector.get_table_names())}
