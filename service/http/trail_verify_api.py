"""GET /v1/trail/verify (the latest verification, read from its row: no scan in a request),
POST /v1/trail/verify (ask the worker for a new one), and `trail verify` (run one here)."""
from __future__ import annotations

import json

import click
from flask import current_app, g
from flask.views import MethodView
from marshmallow import Schema, fields

from service.http.trail_api import blp, report_ledger, trail_cli
from service.record import db
from service.record.case_trail import ledger_differences
from service.record.receipts import check_receipts
from service.record.trail import b64
from service.record.verification import FULL, INCREMENTAL, latest, request, run

_MODES = (INCREMENTAL, FULL)


class VerificationInProgressSchema(Schema):
    verification_id = fields.Integer(required=True)
    mode = fields.String(required=True, metadata={"description": "incremental | full"})
    status = fields.String(required=True, metadata={"description": "requested | running"})
    requested_at = fields.DateTime(required=True)
    started_at = fields.DateTime(required=True, allow_none=True)
    checked = fields.Integer(required=True, metadata={"description": "Leaves re-hashed so far"})
    to_check = fields.Integer(required=True, allow_none=True, metadata={"description": "Leaves it will re-hash"})


class VerificationSchema(Schema):
    ok = fields.Boolean(required=True, metadata={"description": "The latest verification held (false: none ran)"})
    entries = fields.Integer(required=True)
    first_bad_seq = fields.Integer(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    sealed = fields.Integer(required=True, metadata={"description": "Entries in the tree of the checkpoint verified"})
    pending = fields.Integer(required=True, metadata={"description": "Entries committed and not sealed yet (not missing)"})
    checkpoint = fields.Integer(required=True, allow_none=True, metadata={"description": "The tree size verified"})
    checkpoints = fields.Integer(required=True)
    verification_id = fields.Integer(required=True, allow_none=True)
    verified_at = fields.DateTime(required=True, allow_none=True, metadata={"description": "When it finished"})
    mode = fields.String(required=True, allow_none=True, metadata={
        "description": "incremental: from the checkpoint a verification last held (`from_checkpoint`), its signed "
                       "consistency with the latest and the entries since; full: every entry"})
    from_checkpoint = fields.Integer(required=True, allow_none=True)
    checked = fields.Integer(required=True, metadata={"description": "Leaves it re-hashed against their entries"})
    root_hash = fields.Function(lambda v: v["root_hash"] and b64(v["root_hash"]), required=True, allow_none=True,
                                metadata={"description": "base64: the root of the checkpoint verified"})
    in_progress = fields.Nested(VerificationInProgressSchema, required=True, allow_none=True,
                                metadata={"description": "A verification requested or running now"})


class VerifyArgsSchema(Schema):
    full = fields.Boolean(load_default=False, metadata={
        "description": "Re-verify every entry (the default verifies what came after the last verified checkpoint)"})


def _latest() -> dict:
    with db.read_session() as session:
        return latest(session.connection())


@blp.route("/trail/verify")
class TrailVerify(MethodView):
    @blp.response(200, VerificationSchema)
    @blp.doc(operationId="verifyTrail")
    def get(self):
        """The latest verification of the trail: when, up to which checkpoint, and its result.
        Read from its record, never computed in the request; POST starts a new one."""
        return _latest()

    @blp.arguments(VerifyArgsSchema(), location="query")
    @blp.response(202, VerificationSchema)
    @blp.doc(operationId="requestTrailVerification")
    def post(self, args):
        """Ask for a verification; the worker runs it (`in_progress` shows it, then GET its result).
        One already waiting or running of the same mode is answered instead of a second."""
        request(db.engine(), FULL if args["full"] else INCREMENTAL, getattr(g, "client_id", None))
        return _latest()


def _progress(checked: int, to_check: int) -> None:
    click.echo(f"verified {checked} of {to_check} leaves", err=True)


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
def verify_command(full, against, receipts, witnessed):
    """Verify the trail, and against the witness's latest cosigned checkpoint, and record the
    result; exit 1 naming the first bad entry or checkpoint, or any receipt that fails."""
    from service.record.witnessing import verify_with_witness
    exported = [json.loads(line) for line in against if line.strip()] if against else None
    key, app = current_app.extensions["trail_key"], current_app._get_current_object()
    kept = witnessed.read() if witnessed else None
    _, result = run(db.engine(), key, FULL if full else INCREMENTAL, requested_by="cli", against=exported,
                    progress=_progress if full else None, sample=int(app.config["TRAIL_VERIFY_SAMPLE"]),
                    witness=lambda connection, verified: verify_with_witness(app, connection, verified, kept))
    with current_app.extensions["db_read_sessions"]() as session:
        checked = check_receipts(session, key, receipts.readlines()) if receipts else []
        ledger = ledger_differences(session)
    scope = (f"{result.checked} leaves re-hashed" if result.from_size is None else
             f"resumed from checkpoint {result.from_size}, {result.checked} new leaves re-hashed")
    if result.ok:
        click.echo(f"trail ok: {result.entries} entries, {result.sealed} sealed up to checkpoint "
                   f"{result.checkpoint or 0}, {result.pending} pending ({scope})"
                   + (f"; matches the {len(exported)} exported checkpoints" if exported else ""))
    else:
        where = f"entry {result.first_bad_seq}" if result.first_bad_seq is not None else "the tree"
        click.echo(f"trail BROKEN at {where}: {result.reason}", err=True)
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
    if not result.ok or failed or not ledger.ok:
        raise SystemExit(1)
