"""`separation-guard trail ...`: verify the trail, seal it, export its checkpoints (the keys'
commands: service/tools/trail_keys.py). Its HTTP face is service/http/trail_api.py.

Each tenant has its own log (docs/tenant-logs.md): `--tenant T` names one (default: 'default');
`trail verify` without it verifies every log, one result per tenant."""
from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from service.http.trail_api import _checkpoint
from service.flows import sealing
from service.record.case_trail import ledger_differences
from service.record.legacy import AlreadySealed, seal_legacy
from service.record.models import TrailCheckpoint
from service.record.receipts import check_receipts
from service.record import db
from service.record.trail import EVERY_TENANT, scope
from service.record.verification import FULL, INCREMENTAL, logs, run
from service.tenants import DEFAULT_TENANT, valid_tenant

trail_cli = AppGroup("trail", help="The tamper-evident trail.")


def _progress(checked: int, to_check: int) -> None:
    click.echo(f"verified {checked} of {to_check} leaves", err=True)


def _tenant(_ctx, _param, value: str | None) -> str | None:
    if value is not None and not valid_tenant(value):
        raise click.BadParameter(f"{value!r} is not a tenant id (lower-case letters, digits, - and _)")
    return value


TENANT_HELP = "The tenant whose log this is (default: 'default')"


@trail_cli.command("verify")
@click.option("--full", is_flag=True, help="Re-verify every entry (default: resume from the last verified "
                                           "checkpoint and verify what came after it)")
@click.option("--against", type=click.File("r", encoding="utf-8"),
              help="A checkpoints file written by `trail checkpoints export`: name the first divergence")
@click.option("--receipts", type=click.File("r", encoding="utf-8"),
              help="Receipts an EHR kept (JSON lines, each a `receipt` as answered): check each is signed by "
                   "the trail's key and its entry is sealed with that hash under a signed checkpoint")
@click.option("--witness-checkpoint", "witnessed", type=click.File("r", encoding="utf-8"),
              help="The witness's latest cosigned checkpoint, fetched earlier (GET <witness>/<sha256 of the "
                   "origin>/checkpoint); by default the witness is asked now")
@click.option("--tenant", callback=_tenant, help="Verify this tenant's log only (default: every log, one result "
                                                 "each; --against, --receipts and --witness-checkpoint need it "
                                                 "when there is more than one)")
def verify_command(full, against, receipts, witnessed, tenant):
    """Verify the trail (each tenant's log on its own), and against the witness's latest cosigned
    checkpoint, and record the result; exit 1 naming the first bad entry or checkpoint, or any
    receipt that fails."""
    with current_app.extensions["db_read_sessions"]() as session:
        scope(session.connection(), EVERY_TENANT)
        every = logs(session.connection()) or [DEFAULT_TENANT]
    tenants = [tenant] if tenant else every
    if len(tenants) > 1 and (against or receipts or witnessed):
        raise click.UsageError("--against, --receipts and --witness-checkpoint are one log's: name it with --tenant")
    failed = [t for t in tenants if not _verify_log(t, full, against, receipts, witnessed, named=len(tenants) > 1)]
    if failed:
        raise SystemExit(1)


def _verify_log(tenant: str, full, against, receipts, witnessed, named: bool) -> bool:
    from service.record.witnessing import verify_with_witness
    exported = [json.loads(line) for line in against if line.strip()] if against else None
    key, app = current_app.extensions["trail_key"], current_app._get_current_object()
    kept = witnessed.read() if witnessed else None
    _, result = run(db.engine(), key, FULL if full else INCREMENTAL, requested_by="cli", against=exported,
                    progress=_progress if full else None, sample=int(app.config["TRAIL_VERIFY_SAMPLE"]),
                    witness=lambda connection, verified, t: verify_with_witness(app, connection, verified, kept,
                                                                                tenant=t),
                    tenant_id=tenant)
    with current_app.extensions["db_read_sessions"]() as session:
        scope(session.connection(), tenant)
        checked = check_receipts(session, key, receipts.readlines(), tenant) if receipts else []
        ledger = ledger_differences(session, app.config["TRAIL_DIGEST_KEY"].encode(), tenant, key=key)
    done = (f"{result.checked} leaves re-hashed" if result.from_size is None else
            f"resumed from checkpoint {result.from_size}, {result.checked} new leaves re-hashed")
    log = f"trail of {tenant}" if named else "trail"
    if result.ok:
        click.echo(f"{log} ok: {result.entries} entries, {result.sealed} sealed up to checkpoint "
                   f"{result.checkpoint or 0}, {result.pending} pending ({done})"
                   + (f"; matches the {len(exported)} exported checkpoints" if exported else ""))
    else:
        where = f"entry {result.first_bad_seq}" if result.first_bad_seq is not None else "the tree"
        click.echo(f"{log} BROKEN at {where}: {result.reason}", err=True)
    for note in result.warnings:  # part of the answer: what the verification could not rely on
        click.echo(f"witness: {note}")
    for check in checked:
        click.echo(str(check), err=not check.ok)
    report_ledger(ledger)
    failed = sum(not c.ok for c in checked)
    if receipts and result.ok:
        click.echo(f"receipts: {len(checked) - failed} of {len(checked)} hold", err=bool(failed))
    elif receipts:  # a leaf in a checkpoint proves nothing while the checkpoints do not hold together
        click.echo(f"receipts: none proven, the trail does not verify ({len(checked) - failed} of "
                   f"{len(checked)} found at their leaf)", err=True)
    return result.ok and not failed and ledger.ok


def report_ledger(ledger) -> None:
    """case_events against the trail (service.record.case_trail): each difference, or that they agree."""
    if ledger.ok:
        click.echo(f"ledger ok: the case_events of {ledger.cases} case(s) agree with the trail")
    for difference in ledger.differences:
        click.echo(f"ledger DIFFERS: {difference}", err=True)


@trail_cli.command("seal")
@click.option("--loop", is_flag=True, help="Keep sealing (as the worker does) until interrupted")
@click.option("--interval", type=click.FloatRange(min=0, min_open=True),
              help="Seconds between rounds of --loop (default: SEPARATION_GUARD_TRAIL_SEAL_SECONDS)")
@click.option("--legacy-unsigned", is_flag=True,
              help="Once, after upgrading: seal the entries queued before writers signed what they queued")
def seal_command(loop, interval, legacy_unsigned):
    """Seal every queued entry now and publish a checkpoint."""
    app = current_app._get_current_object()
    if legacy_unsigned:
        _seal_legacy(app)
    if loop:
        interval = interval or float(app.config["TRAIL_SEAL_SECONDS"])
        if interval <= 0:
            raise click.UsageError("SEPARATION_GUARD_TRAIL_SEAL_SECONDS is 0 (no sealer thread in the service), "
                                   "which is no pause for a loop: give it one with --interval SECONDS")
        sealing.run(app, interval=interval)
        return
    total = 0
    while (n := sealing.seal_once(app)) > 0:
        total += n
    click.echo(f"sealed {total} entries")


def _seal_legacy(app: Flask) -> None:
    try:
        done = seal_legacy(app.extensions["db_engine"], app.extensions["trail_key"])
    except AlreadySealed as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"sealed {len(done.sealed)} entries queued before signed queueing"
               + (f" (entries {_seqs(done.sealed)})" if done.sealed else ""))
    if done.hashed_now:
        click.echo(f"{len(done.hashed_now)} of them had no queued hash: sealed with the hash of their content "
                   f"as it is now (entries {_seqs(done.hashed_now)})")
    for seq, reason in done.refused:
        click.echo(f"refused entry {seq}: {reason}", err=True)
    click.echo(f"recorded as trail entry {done.marker_entry_id}; this never runs again")


def _seqs(seqs: list[int]) -> str:
    return ", ".join(map(str, seqs[:20])) + (f" and {len(seqs) - 20} more" if len(seqs) > 20 else "")


checkpoints_cli = AppGroup("checkpoints", help="Signed checkpoints.")
trail_cli.add_command(checkpoints_cli)


@checkpoints_cli.command("export")
@click.argument("file", type=click.File("w", encoding="utf-8"))
@click.option("--after", type=int, default=0, help="Only checkpoints of a larger tree size")
@click.option("--tenant", callback=_tenant, default=DEFAULT_TENANT, show_default=True, help=TENANT_HELP)
def export_command(file, after, tenant):
    """Write every checkpoint of one tenant's log as JSON lines (tree_size, root_hash, published_at,
    note), to keep away from the database: `trail verify --tenant T --against FILE` compares them later."""
    count = 0
    with current_app.extensions["db_read_sessions"]() as session:
        scope(session.connection(), tenant)
        for c in session.scalars(select(TrailCheckpoint).where(TrailCheckpoint.tenant_id == tenant,
                                                               TrailCheckpoint.tree_size > after)
                                 .order_by(TrailCheckpoint.tree_size).execution_options(yield_per=1000)):
            row = _checkpoint(c)
            row["published_at"] = row["published_at"].isoformat()
            file.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    click.echo(f"exported {count} checkpoints", err=True)


@trail_cli.command("export")
@click.argument("file", type=click.File("w", encoding="utf-8"))
@click.option("--tenant", callback=_tenant, default=DEFAULT_TENANT, show_default=True, help=TENANT_HELP)
def log_export_command(file, tenant):
    """Write one tenant's log for its auditor, and nothing of any other tenant's (JSON lines: the
    log's origin, its signed checkpoints, its sealed entries with the content each leaf hashes):
    `trail verify-export FILE` checks it offline (service/record/log_export.py)."""
    from service.record.log_export import export
    count = 0
    with current_app.extensions["db_read_sessions"]() as session:
        scope(session.connection(), tenant)
        for line in export(session.connection(), current_app.config["TRAIL_ORIGIN"], tenant):
            file.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += "leaf_index" in line
    click.echo(f"exported {count} entries of the log of {tenant}", err=True)


@trail_cli.command("verify-export")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--checkpoint-vkey", "vkeys", multiple=True, required=True,
              help="A checkpoint key's verifier key, got out of band (GET /v1/trail/keys lists them): never "
                   "taken from the export")
def verify_export_command(file, vkeys):
    """Check a `trail export` offline, with nothing but the checkpoint keys; exit 1 naming what fails."""
    from service.record.log_export import verify_export
    result = verify_export(file, list(vkeys))
    if not result.ok:
        click.echo(f"export of {result.origin} BROKEN: {result.reason}", err=True)
        raise SystemExit(1)
    click.echo(f"export of {result.origin} ok: {result.entries} entries under {result.checkpoints} signed "
               "checkpoints" + (f" ({result.taken_as_is} written before the tree, taken as their leaf)"
                                if result.taken_as_is else ""))
