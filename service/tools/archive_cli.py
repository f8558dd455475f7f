"""`separation-guard trail archive` and `trail verify-archive`: a month past its retention moved
out of the database into files its auditors verify offline (service/record/archive.py)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from flask import current_app

from service.clock import day_in_china, utcnow
from service.record import db
from service.record.archive import ArchiveRefused, archive, verify_archive


def _month(_ctx, _param, value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month (YYYY-MM)") from None


@click.command("archive")
@click.option("--before", required=True, callback=_month, help="Archive every month before this one (YYYY-MM)")
@click.option("--to", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("trail-archive"),
              show_default=True, help="Where the files go: one per month and tenant")
def archive_command(before, directory):
    """Archive the trail's months before --before that are past retention (TRAIL_RETENTION_MONTHS):
    each tenant's entries of the month to a file with their inclusion proofs and signed checkpoint,
    then the month's partition detached (never deleted). PostgreSQL only."""
    try:
        done = archive(db.engine(), current_app.config["TRAIL_ORIGIN"], before, day_in_china(utcnow()),
                       int(current_app.config["TRAIL_RETENTION_MONTHS"]), directory)
    except ArchiveRefused as exc:
        click.echo(f"nothing archived: {exc}", err=True)
        raise SystemExit(1)
    for month in done:
        click.echo(f"{month.month:%Y-%m}: {month.entries} entries in {len(month.files)} file(s) under {directory}; "
                   f"partition {month.partition} detached as archived_{month.partition}")
    if not done:
        click.echo(f"no month before {before:%Y-%m} is in the trail")


@click.command("verify-archive")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--checkpoint-vkey", "vkeys", multiple=True, required=True,
              help="A checkpoint key's verifier key, got out of band (GET /v1/trail/keys): never taken from the file")
def verify_archive_command(file, vkeys):
    """Check a `trail archive` file offline, with nothing but the checkpoint keys; exit 1 naming what fails."""
    result = verify_archive(file, list(vkeys))
    if not result.ok:
        click.echo(f"archive of {result.origin} BROKEN: {result.reason}", err=True)
        raise SystemExit(1)
    click.echo(f"archive of {result.origin} ok: {result.entries} entries, each proved in a signed checkpoint")
