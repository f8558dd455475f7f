"""Command-line entry points (`flask --app wsgi <group> <command>`)."""
from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup


scenarios_group = AppGroup("scenarios", help="Time-frozen regression scenarios from fixtures/ and rule examples.")


@scenarios_group.command("run")
@click.argument("paths", nargs=-1)
def run_scenarios_command(paths):
    """Run fixture scenarios (default: all of fixtures/) and print a pass/fail table."""
    from service.scenarios import default_fixture_paths, print_table, run_scenarios

    results = run_scenarios(current_app.extensions["rulebook"], paths or default_fixture_paths())
    print_table(results, click.echo)
    sys.exit(0 if all(r.passed for r in results) else 1)


def init_app(app: Flask) -> None:
    from service.trail_api import trail_cli

    app.cli.add_command(scenarios_group)
    app.cli.add_command(trail_cli)


def main() -> None:
    """Console script: same commands without naming the app."""
    from flask.cli import FlaskGroup

    from service import create_app

    FlaskGroup(create_app=lambda: create_app())(prog_name="separation-guard")
