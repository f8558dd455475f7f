"""`separation-guard db ...`: the schema's migrations and its two PostgreSQL roles (service.record.roles)."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

db_group = AppGroup("db", help="The database: migrations, and the owner and service roles (PostgreSQL).")

_URL_HELP = ("Connect as this URL (the owner's, or an administrator's); default MIGRATION_URL, else "
             "DATABASE_URL.")


def _owner_engine(url: str | None):
    from service.record.db import make_engine

    return make_engine(url or current_app.config.get("MIGRATION_URL") or current_app.config["DATABASE_URL"])


def upgrade_on_start(app: Flask) -> None:
    """AUTO_MIGRATE (development, tests): the schema upgraded as the app starts, once its rule set
    has passed its gate, by the same upgrade as `db upgrade`. Off where DATABASE_URL is the service
    role, which may not change the schema: `db upgrade` runs as the owner instead."""
    from service.record.db import upgrade

    if app.config["AUTO_MIGRATE"]:
        upgrade(app.extensions["db_engine"])


@db_group.command("upgrade")
@click.option("--url", help=_URL_HELP)
def upgrade_command(url):
    """Migrate the schema to the newest version, as the owner role. With two roles the service
    starts with AUTO_MIGRATE off: its own role may not change the schema."""
    from service.record.db import upgrade

    engine = _owner_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    click.echo("schema at the newest version")


@db_group.command("roles")
@click.option("--owner", required=True, help="The role that owns the tables and runs migrations.")
@click.option("--service", required=True, help="The role DATABASE_URL names: reads, and appends to the trail.")
@click.option("--schema", default=None, help="Default: the connection's current schema.")
@click.option("--url", help=_URL_HELP + " Creating roles and changing owners needs an administrator.")
@click.option("--print-sql", is_flag=True, help="Print the statements that ran.")
def roles_command(owner, service, schema, url, print_sql):
    """Create the owner and service roles if missing (LOGIN, no password: set one with ALTER ROLE),
    make the owner own every table and sequence of the schema, and grant the service only what
    it needs: SELECT and INSERT on the trail and case_events, never UPDATE or DELETE. Run it
    again after a migration that adds a table."""
    from service.record.roles import RolesError, grant_roles

    engine = _owner_engine(url)
    try:
        with engine.begin() as connection:
            sql = grant_roles(connection, owner, service, schema)
    except RolesError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    if print_sql:
        click.echo(";\n".join(sql) + ";")
    click.echo(f"roles ready: {owner} owns the schema; {service} may not update or delete the trail or case_events")


@db_group.command("partitions")
@click.option("--url", help=_URL_HELP)
def partitions_command(url):
    """Make the trail's and the ledger's monthly partitions for this month and the next three, as
    the owner (PostgreSQL; the worker does it daily where its role owns the tables). With two
    roles, run it monthly from the owner's scheduler: the service role may not create them."""
    from service.clock import day_in_china, utcnow
    from service.record.partitions import ensure_all_ahead

    engine = _owner_engine(url)
    try:
        with engine.begin() as connection:
            made = ensure_all_ahead(connection, day_in_china(utcnow()))
    finally:
        engine.dispose()
    click.echo(f"partitions made: {', '.join(made)}" if made else "every partition ahead exists")
