"""Command-line entry points (`separation-guard <group> <command>`)."""
from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext


def serving_rulebook():
    """The app's rule book, for a command that decides; exit 1 naming why when there is none."""
    refused = current_app.extensions.get("rules_refused")
    if refused is not None:
        click.echo(f"the rule set does not start, so nothing was decided:\n{refused}", err=True)
        sys.exit(1)
    from service.flows.rules_live import serving

    return serving(current_app)


scenarios_group = AppGroup("scenarios", help="Time-frozen regression scenarios from fixtures/ and rule examples.")


@scenarios_group.command("run")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="What if: decide every request as of this date instead of its own, and report how "
                   "many verdicts would change (exit 0: a what-if is not a test).")
@click.option("--junit", type=click.Path(dir_okay=False), help="Also write JUnit XML here (for CI).")
def run_scenarios_command(paths, as_of, junit):
    """Run rule examples and fixture scenarios: PATHS are fixture files or folders (default: all of
    fixtures/). Prints a pass/fail table and exits 1 on a failure.

    With --as-of DATE it is a what-if over the same cases: each request is decided as of DATE,
    and the output lists the cases whose outcome would differ from the one expected on their own
    date, and how many verdicts would change."""
    from service.tools.rule_cli import run_scenarios_cli
    from service.tools.scenarios import default_fixture_paths

    run_scenarios_cli(serving_rulebook(), paths or default_fixture_paths(),
                      as_of.date().isoformat() if as_of else None, junit)


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every task once and exit (for tests and cron).")
@click.option("--as-of", "as_of", default=None,
              help="With --once: sweep and re-check as of this date (default: today in China).")
@with_appcontext
def worker_command(once, as_of):
    """The background worker: the SLA sweep every minute, webhook delivery with retries, and a
    daily re-check of every open case. Safe to start several: one is active per database."""
    from schemas.fields import AsOf
    from service.tools import worker

    serving_rulebook()  # like gunicorn, the worker does not start on rules that fail their gate
    app = current_app._get_current_object()
    from service.record.signing import SigningKeyError
    try:  # the worker seals: it holds the checkpoint key, read now so a missing one stops it here
        app.extensions["trail_key"].checkpoint_signer()
    except (SigningKeyError, OSError, ValueError) as exc:
        raise click.ClickException(f"the worker seals the trail and needs its checkpoint key: {exc}") from None
    if as_of and not once:
        raise click.UsageError("--as-of needs --once: the continuous worker always works as of today in China.")
    if not once:
        from service.http.observability import configure_json_logging
        configure_json_logging(app)
        worker.run_forever(app)
        return
    try:
        day = AsOf().deserialize(as_of) if as_of else None
    except Exception as exc:  # marshmallow.ValidationError
        raise click.BadParameter(str(exc), param_hint="--as-of") from exc
    results = worker.run_once(app, as_of=day)
    if results is None:
        click.echo("another worker is active on this database; it does the work (nothing run)")
        return
    for name, counts in results.items():
        click.echo(f"{name}: " + " ".join(f"{k}={v}" for k, v in counts.items()))


notifications_cli = AppGroup("notifications", help="The notification outbox.")


@notifications_cli.command("deliver")
def deliver_command():
    """Deliver every due notification once, to its company's webhook or WEBHOOK_URL (the worker does
    this every few seconds)."""
    from service.flows.notifications import deliver, unset_pack_secrets, webhook_routes
    app = current_app._get_current_object()
    routes = webhook_routes(app)
    if routes is None or (routes.default is None and len(unset_pack_secrets(app)) == len(routes.packs)):
        unset = ", ".join(unset_pack_secrets(app))
        raise click.UsageError("WEBHOOK_URL is not set" + (f", nor any pack's webhook secret ({unset})" if unset else "")
                               + ": notifications can only be polled.")
    counts = deliver(app)
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


sla_cli = AppGroup("sla", help="Approval deadlines in working days.")


@sla_cli.command("sweep")
@click.option("--as-of", "as_of", help="Date to sweep as of (default: today in China).")
@click.option("--tenant", default=None,
              help="Only this tenant's cases (default: every tenant's), each swept with its tenant's chains, SLAs "
                   "and escalation targets (its policy pack, rules/companies/TENANT/).")
def sweep_command(as_of, tenant):
    """Find steps overdue as of a date and queue notifications (once per step and deadline)."""
    from schemas.fields import AsOf
    from service.decide.evaluation import default_as_of
    from service.flows.sla_sweep import sweep_overdue
    serving_rulebook()
    day = AsOf().deserialize(as_of) if as_of else default_as_of()
    counts = sweep_overdue(current_app._get_current_object(), day, tenant=tenant)
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items() if k != "notifications" and (k != "dry_run" or v)))
    for planned in counts.get("notifications", ()):  # a dry run: what it would queue
        click.echo("would notify " + " ".join(f"{k}={v}" for k, v in planned.items()))


def init_app(app: Flask) -> None:
    from service.tools.rule_cli import rules_group
    from service.tools.trail_cli import trail_cli
    from service.tools.db_cli import db_group
    from service.tools.trail_keys import trail_keys_group

    trail_cli.add_command(trail_keys_group)
    from service.tools.archive_cli import archive_command, verify_archive_command
    trail_cli.add_command(archive_command)
    trail_cli.add_command(verify_archive_command)

    app.cli.add_command(scenarios_group)
    app.cli.add_command(db_group)
    app.cli.add_command(trail_cli)
    app.cli.add_command(notifications_cli)
    app.cli.add_command(sla_cli)
    app.cli.add_command(keys_group)
    app.cli.add_command(rules_group)
    app.cli.add_command(worker_command)


OUR_COMMANDS = ("db", "keys", "notifications", "rules", "scenarios", "sla", "trail", "witness", "worker")


def main() -> None:
    """Console script: the service's own commands, without naming the app (and without Flask's
    generic run/shell/routes: the service runs under gunicorn, `make run`)."""
    from flask.cli import FlaskGroup

    from service import create_app

    from service.tools.rule_cli import rules_group

    class ServiceCommands(FlaskGroup):
        def list_commands(self, ctx):
            return [name for name in super().list_commands(ctx) if name in OUR_COMMANDS]

        def get_command(self, ctx, name):
            return super().get_command(ctx, name) if name in OUR_COMMANDS else None

    group = ServiceCommands(create_app=lambda: create_app(for_commands=True), add_default_commands=False, add_version_option=False,
                            help="Separation Guard: compliance checks for HR separations under PRC law.")
    # --app names the app for `flask`; here the app is always this service's. Plugins' commands
    # (flask-smorest's openapi, ...) are Flask's business, not this tool's.
    group.params = [p for p in group.params if p.name not in ("app", "debug", "env_file")]
    group._loaded_plugin_commands = True
    # Found before the app is built, so `separation-guard rules lint` works on rules that would
    # stop the service from starting.
    group.add_command(rules_group)
    # The witness is not the service: it starts without the service's app, rules or database.
    from service.witness.cli import witness_group
    group.add_command(witness_group)
    group(prog_name="separation-guard")


keys_group = AppGroup("keys", help="API keys of the service's clients.")


@keys_group.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="checks, cases, trail:read, rules:admin (repeat for several)")
@click.option("--complete-record", "complete_record", default="",
              help="Areas of the record this client declares complete, comma-separated (employee.pregnancy,"
                   "employee.children,...: rules/records/complete_record.yaml): a field it leaves out there "
                   "is read as none")
@click.option("--tenant", default=None, help="The company the key belongs to (default: the default tenant); "
                                             "it reads and writes that tenant's records only")
@click.option("--role", "roles", multiple=True,
              help="An actor role its requests may assert (repeat for several; none: any role): employee, "
                   "manager, hr, hr_admin, system")
def create_key_command(name, scopes, complete_record, tenant, roles):
    """Create a key for client NAME; it is printed once (on the last line) and stored only as a digest."""
    from pathlib import Path

    from service.decide.records import RecordAreas, RecordsError
    from service.decide.vocabulary import VocabularyError, load_enums
    from service.http.keys import TenantRefused, create_client
    from service.tenants import DEFAULT_TENANT
    tenant = DEFAULT_TENANT if tenant is None else tenant
    if roles:
        try:
            known_roles = load_enums(Path(current_app.config["RULES_DIR"]) / "facts").get("roles", ())
        except VocabularyError as exc:
            raise click.ClickException(f"the actor roles do not load: {exc}") from exc
        unknown_roles = sorted(set(roles) - set(known_roles))
        if unknown_roles:
            raise click.BadParameter(f"unknown role(s) {', '.join(unknown_roles)}; known: {', '.join(known_roles)}",
                                     param_hint="--role")
    areas = [a.strip() for a in complete_record.split(",") if a.strip()]
    if areas:
        try:
            known = RecordAreas.load(Path(current_app.config["RULES_DIR"]))
        except RecordsError as exc:
            raise click.ClickException(f"the record areas do not load: {exc}") from exc
        unknown = [a for _, a in known.unknown(areas)]
        if unknown:
            raise click.BadParameter(f"unknown area(s) {', '.join(unknown)}; known: {', '.join(known.areas) or 'none'}",
                                     param_hint="--complete-record")
    with current_app.extensions["db_sessions"]() as session, session.begin():
        try:
            key = create_client(session, name, list(scopes), complete_record=areas, tenant_id=tenant,
                                roles=list(roles) or None)
        except TenantRefused as exc:
            raise click.BadParameter(str(exc), param_hint="--tenant") from exc
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--scope") from exc
    click.echo(key)


@keys_group.command("revoke")
@click.argument("name")
@click.option("--tenant", default=None, help="Only the keys of client NAME in this tenant (default: in every tenant)")
def revoke_key_command(name, tenant):
    """Revoke every active key of client NAME."""
    from service.http.keys import revoke_client
    with current_app.extensions["db_sessions"]() as session, session.begin():
        count = revoke_client(session, name, tenant_id=tenant)
    click.echo(f"revoked {count} key(s) of {name}")
    if not count:
        sys.exit(1)


@keys_group.command("list")
def list_keys_command():
    """Clients, their scopes and whether their key is active (never the key)."""
    from sqlalchemy import select

    from service.record.models import ApiClient
    with current_app.extensions["db_sessions"]() as session:
        for client in session.scalars(select(ApiClient).order_by(ApiClient.name, ApiClient.created_at)):
            state = f"revoked {client.revoked_at:%Y-%m-%d}" if client.revoked_at else "active"
            declared = f"  complete record: {','.join(client.complete_record)}" if client.complete_record else ""
            roles = f"  roles: {','.join(client.roles)}" if client.roles is not None else ""
            click.echo(f"{client.name:<24} {' '.join(client.scopes):<40} {state}  tenant: {client.tenant_id}"
                       f"{roles}{declared}")


if __name__ == "__main__":  # python -m service.tools.cli ...: the console script without installing it
    main()
