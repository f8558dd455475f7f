"""GET /v1/trail: query the trail; /v1/trail/verify, proofs, checkpoints and the public key."""
from __future__ import annotations

import datetime as dt

import json

import click
from flask import Flask, Response, current_app, request
from flask.cli import AppGroup
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import and_, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from schemas.check import FINDING_OUTCOMES, RULE_VERDICTS
from schemas.fields import ACTION_TYPES, CASE_KINDS, EVENT_TYPES, VERDICTS, in_range, one_of
from service.clock import CHINA, day_in_china
from service.http.api import Blueprint
from service.http.decisions import summary
from service.record import db
from service.record import merkle, sealer
from service.record.case_trail import ledger_differences
from service.record.models import TrailCheckpoint, TrailEntry, TrailLeaf
from service.record.legacy import AlreadySealed, seal_legacy
from service.record.receipts import check_receipts
from service.record.trail import (LEGACY_SEALED, SEAL_REFUSED, b64, hash_of, latest_checkpoint, prove,
                                  verify_chain)

blp = Blueprint("trail", __name__, url_prefix="/v1", description="The tamper-evident trail")

KINDS = ("check", "case_event", "event_refused", "ruleset_change", "access_refused", SEAL_REFUSED, LEGACY_SEALED)
_HASHES = {"description": "base64 SHA-256 hashes (RFC 6962)"}
PEM = "application/x-pem-file"
_VERIFIER_KEY = {"X-Verifier-Key": {"description": "The key as a note verifier key (name+hash+base64 key, "
                                                   "c2sp.org/signed-note)", "schema": {"type": "string"}}}


class TimeBound(fields.Field):
    """A bound of a time range: an RFC 3339 date-time with its offset, or a plain date read as a
    day in China (a start bound from its first moment; an end bound through its last, so
    `until=2026-01-31` includes the 31st). Loads as an aware datetime; the range is [start, end)."""

    default_error_messages = {"invalid": "Not a date (YYYY-MM-DD) or an RFC 3339 date-time with an offset."}

    def __init__(self, start: bool, **kwargs):
        super().__init__(**kwargs)
        self.start = start

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            if len(value) == 10:
                day = in_range(dt.date.fromisoformat(value))
                first = dt.datetime.combine(day if self.start else day + dt.timedelta(days=1), dt.time(), CHINA)
                return first.astimezone(dt.timezone.utc)
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        if moment.tzinfo is None:
            raise ValidationError("A date-time needs an offset (e.g. +08:00 or Z); or give a date.")
        in_range(moment.date())
        return moment.astimezone(dt.timezone.utc)


# The largest seq a database keeps (a 64-bit integer): past it a cursor is a typo, never a 500.
MAX_SEQ = 2**63 - 1


class TrailQueryArgsSchema(Schema):
    employee = fields.String(metadata={"description": "Employee id"})
    case_id = fields.String()
    process_type = fields.String(validate=one_of(CASE_KINDS))
    kind = fields.String(validate=one_of(KINDS))
    action_type = fields.String(validate=one_of(ACTION_TYPES))
    event_type = fields.String(validate=one_of(EVENT_TYPES))
    verdict = fields.String(validate=one_of(VERDICTS))
    rule_id = fields.String()
    actor = fields.String(metadata={"description": "Actor id"})
    since = TimeBound(start=True, metadata={"description": "Recorded at or after: an RFC 3339 date-time, or a "
                                                          "date (from the start of that day in China)"})
    until = TimeBound(start=False, metadata={"description": "Recorded before: an RFC 3339 date-time, or a date "
                                                           "(up to the end of that day in China, inclusive)"})
    at_since = TimeBound(start=True, metadata={
        "description": "The event's own time at or after (a case event's `at`; a check's `as_of` day): an RFC 3339 "
                       "date-time, or a date (from the start of that day in China). Entries with no event time "
                       "(rule-set changes, refused access) are left out."})
    at_until = TimeBound(start=False, metadata={
        "description": "The event's own time before: an RFC 3339 date-time, or a date (to the end of that day in "
                       "China, inclusive)"})
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_SEQ),
                           metadata={"description": "Cursor: return entries after this seq"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class TrailEntrySchema(Schema):
    seq = fields.Integer(required=True)
    entry_id = fields.String(required=True)
    kind = fields.String(required=True, validate=one_of(KINDS))
    recorded_at = fields.DateTime(required=True)
    as_of = fields.Date(required=True, allow_none=True)
    employee_id = fields.String(required=True, allow_none=True)
    case_id = fields.String(required=True, allow_none=True)
    process_type = fields.String(required=True, allow_none=True, validate=one_of((*CASE_KINDS, "check")))
    action_type = fields.String(required=True, allow_none=True, validate=one_of(ACTION_TYPES))
    event_type = fields.String(required=True, allow_none=True, validate=one_of(EVENT_TYPES))
    actor_id = fields.String(required=True, allow_none=True)
    actor_role = fields.String(required=True, allow_none=True)
    client_id = fields.String(required=True, allow_none=True)
    verdict = fields.String(required=True, allow_none=True, validate=one_of(VERDICTS))
    rule_ids = fields.List(fields.String(), required=True)
    ruleset_version = fields.String(required=True)
    body = fields.Dict(required=True)
    request_digest = fields.String(required=True, allow_none=True)
    prev_hash = fields.String(required=True, allow_none=True, metadata={"description": "Schemes 1 and 2 only"})
    hash = fields.Function(hash_of, required=True, metadata={"description": "Scheme 3: hex SHA-256(0x00 || canonical JSON of "
                                                                            "the content), the entry's leaf hash in the tree"})
    hash_scheme = fields.Integer(required=True, metadata={"description": "3: a leaf of the Merkle tree; 2 and 1: entries "
                                                                         "written before it, hash-chained (docs/trail.md, "
                                                                         "'Verifying the trail yourself')"})
    decision = fields.Nested("TrailDecisionSchema", required=True, allow_none=True, metadata={
        "description": "A check's or a case event's body read as a decision: the verdict, each finding's rule, "
                       "verdict, outcome and facts by name (`body` keeps facts by their index among the rule-set "
                       "version's fact names). null for other kinds, and for a decision whose rule-set version "
                       "is not in the trail"})


class TrailFindingSchema(Schema):
    rule_id = fields.String(required=True)
    verdict = fields.String(required=True, validate=one_of(RULE_VERDICTS))
    outcome = fields.String(required=True, validate=one_of(FINDING_OUTCOMES))
    title = fields.Dict(required=True, keys=fields.String(), values=fields.String(),
                        metadata={"description": "The rule's title: zh and en"})
    facts = fields.Dict(required=True, metadata={"description": "The facts the rule read, by name; a sensitive value as "
                                                                "\"[sensitive]\", a value not kept as \"[not kept]\""})
    missing_facts = fields.List(fields.String(), required=True)


class TrailDecisionSchema(Schema):
    decision_id = fields.String(required=True, metadata={"description": "GET /v1/decisions/{decision_id} answers it in full"})
    verdict = fields.String(required=True, validate=one_of(VERDICTS))
    findings = fields.List(fields.Nested(TrailFindingSchema), required=True, metadata={
        "description": "The rules that fired or could not be decided; the rules cleared are in the decision's "
                       "`checked`"})


class TrailPageSchema(Schema):
    entries = fields.List(fields.Nested(TrailEntrySchema), required=True)
    next_after = fields.Integer(required=True, allow_none=True, metadata={"description": "Pass as `after` for the next page"})


class VerificationSchema(Schema):
    ok = fields.Boolean(required=True)
    entries = fields.Integer(required=True)
    first_bad_seq = fields.Integer(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    sealed = fields.Integer(required=True, metadata={"description": "Entries in the tree up to the latest checkpoint"})
    pending = fields.Integer(required=True, metadata={"description": "Entries committed and not sealed yet (not missing)"})
    checkpoint = fields.Integer(required=True, allow_none=True, metadata={"description": "The tree size verified"})
    checkpoints = fields.Integer(required=True)


class CheckpointSchema(Schema):
    tree_size = fields.Integer(required=True)
    root_hash = fields.String(required=True, metadata={"description": "base64"})
    published_at = fields.DateTime(required=True)
    note = fields.String(required=True, metadata={"description": "The signed note (c2sp.org/tlog-checkpoint)"})


_SIZE = validate.Range(min=1, max=2**62)  # a tree size (SQLite's integers are 64-bit)


class CheckpointArgsSchema(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62),
                           metadata={"description": "Cursor: checkpoints of a larger tree size"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    first = fields.Integer(validate=_SIZE,
                           metadata={"description": "With second: the consistency proof between the "
                                                    "checkpoints of these two tree sizes"})
    second = fields.Integer(validate=_SIZE)


class ConsistencySchema(Schema):
    first = fields.Integer(required=True)
    second = fields.Integer(required=True)
    path = fields.List(fields.String(), required=True, metadata=_HASHES)


class CheckpointPageSchema(Schema):
    checkpoints = fields.List(fields.Nested(CheckpointSchema), required=True)
    next_after = fields.Integer(required=True, allow_none=True)
    consistency = fields.Nested(ConsistencySchema, required=True, allow_none=True)


class ProofSchema(Schema):
    entry_id = fields.String(required=True)
    seq = fields.Integer(required=True)
    entry_hash = fields.String(required=True, metadata={"description": "hex: the leaf hash"})
    leaf_index = fields.Integer(required=True)
    tree_size = fields.Integer(required=True)
    root_hash = fields.String(required=True, metadata={"description": "base64"})
    inclusion_path = fields.List(fields.String(), required=True, metadata=_HASHES)
    checkpoint = fields.String(required=True, metadata={"description": "The signed note the proof leads to"})


@blp.route("/trail")
class Trail(MethodView):
    @blp.arguments(TrailQueryArgsSchema(), location="query")
    @blp.response(200, TrailPageSchema)
    @blp.doc(operationId="listTrail")
    def get(self, args):
        """Trail entries in order, filtered; page with `after` = the last seq you saw."""
        with db.read_session() as session:
            entries, next_after = query_trail(session, args)
            listed = [Listed(entry, summary(session, entry)) for entry in entries]
        return {"entries": listed, "next_after": next_after}


class Listed:
    """A trail entry as listed: its columns, and its body read as a decision."""

    def __init__(self, entry: TrailEntry, decision: dict | None):
        self._entry = entry
        self.decision = decision

    def __getattr__(self, name):
        return getattr(self._entry, name)


def _has_rule(session, rule_id: str):
    if session.bind.dialect.name == "postgresql":
        return type_coerce(TrailEntry.rule_ids, JSONB).contains([rule_id])  # @>, on the GIN index
    each = func.json_each(TrailEntry.rule_ids).table_valued("value")
    return select(each.c.value).where(each.c.value == rule_id).exists()


def query_trail(session, args: dict) -> tuple[list[TrailEntry], int | None]:
    """The trail query of GET /v1/trail and the /trail page: `args` as TrailQueryArgsSchema loads them.
    Returns (entries in seq order, the `after` of the next page or None)."""
    query = select(TrailEntry).where(TrailEntry.seq > args["after"])
    for arg, column in (("employee", TrailEntry.employee_id), ("case_id", TrailEntry.case_id),
                        ("process_type", TrailEntry.process_type), ("kind", TrailEntry.kind),
                        ("action_type", TrailEntry.action_type), ("event_type", TrailEntry.event_type),
                        ("verdict", TrailEntry.verdict), ("actor", TrailEntry.actor_id)):
        if arg in args:
            query = query.where(column == args[arg])
    if "rule_id" in args:
        query = query.where(_has_rule(session, args["rule_id"]))
    if "since" in args:
        query = query.where(TrailEntry.recorded_at >= args["since"])
    if "until" in args:
        query = query.where(TrailEntry.recorded_at < args["until"])
    limit = args["limit"]
    if "at_since" not in args and "at_until" not in args:
        entries = list(session.scalars(query.order_by(TrailEntry.seq).limit(limit + 1)))
    else:
        entries = _by_event_time(session, query, args, limit + 1)
    more = len(entries) > limit
    entries = entries[:limit]
    return entries, entries[-1].seq if more else None


_EVENT_KINDS = ("case_event", "event_refused")


def _by_event_time(session, query, args: dict, wanted: int) -> list[TrailEntry]:
    """Entries whose own time is in [at_since, at_until). A check's is its as_of day (filtered in
    SQL); a case event's is its `at`, kept in the entry's body with the offset it was given, so it
    is compared here, as an instant, over as many rows as it takes to fill the page."""
    start, end = args.get("at_since"), args.get("at_until")
    day_of_check = []
    if start is not None:
        day_of_check.append(TrailEntry.as_of >= day_in_china(start))
    if end is not None:
        day_of_check.append(TrailEntry.as_of <= day_in_china(end - dt.timedelta(microseconds=1)))
    query = query.where(or_(and_(TrailEntry.kind == "check", *day_of_check), TrailEntry.kind.in_(_EVENT_KINDS)))
    found, after = [], args["after"]
    while len(found) < wanted:
        batch = list(session.scalars(query.where(TrailEntry.seq > after).order_by(TrailEntry.seq).limit(500)))
        if not batch:
            break
        for entry in batch:
            if entry.kind == "check" or _event_at_within(entry, start, end):
                found.append(entry)
        after = batch[-1].seq
    return found[:wanted]


def _event_at_within(entry: TrailEntry, start, end) -> bool:
    at = ((entry.body or {}).get("event") or {}).get("at")
    if not at:
        return False
    moment = dt.datetime.fromisoformat(at)
    return (start is None or moment >= start) and (end is None or moment < end)


@blp.route("/trail/verify")
class TrailVerify(MethodView):
    @blp.response(200, VerificationSchema)
    @blp.doc(operationId="verifyTrail")
    def get(self):
        """Verify the trail up to its latest checkpoint, in one snapshot; name the first entry that
        does not hold. Entries not sealed yet are counted as pending."""
        with db.read_session() as session:
            return verify_chain(session, current_app.extensions["trail_key"]).as_dict()


class PublicKeyArgsSchema(Schema):
    role = fields.String(load_default="checkpoint", validate=one_of(("checkpoint", "receipt")),
                         metadata={"description": "Which key: the one that signs checkpoints, or receipts"})


class TrailKeySchema(Schema):
    role = fields.String(required=True, validate=one_of(("checkpoint", "receipt")))
    state = fields.String(required=True, validate=one_of(("current", "retired")), metadata={
        "description": "A retired key signs nothing new; what it signed still verifies"})
    key_id = fields.String(required=True, metadata={"description": "The verifier key: name+hash+base64 key "
                                                                   "(c2sp.org/signed-note); receipts carry it"})


class TrailKeysSchema(Schema):
    keys = fields.List(fields.Nested(TrailKeySchema), required=True)
    witness = fields.String(required=True, allow_none=True, metadata={
        "description": "The witness's verifier key (cosignature/v1, c2sp.org/tlog-cosignature), if one is configured"})


@blp.route("/trail/keys")
class TrailKeys(MethodView):
    @blp.response(200, TrailKeysSchema)
    @blp.doc(operationId="listTrailKeys")
    def get(self):
        """Every key of the trail, current and retired, by role; and the witness's key."""
        from service.record.witnessing import witness_vkey
        keys = [{"role": r, "state": s, "key_id": k} for r, s, k in current_app.extensions["trail_key"].listing()]
        return {"keys": keys, "witness": witness_vkey(current_app)}


@blp.route("/trail/public-key")
class TrailPublicKey(MethodView):
    @blp.arguments(PublicKeyArgsSchema(), location="query", as_kwargs=True)
    @blp.doc(operationId="getTrailPublicKey", responses={"200": {
        "description": "The key, PEM (SubjectPublicKeyInfo)", "headers": _VERIFIER_KEY,
        "content": {PEM: {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}}}})
    def get(self, role):
        """The current Ed25519 public key that signs checkpoints, or with role=receipt receipts
        (PEM). Its verifier key (name+hash+key, c2sp.org/signed-note) is in the X-Verifier-Key
        header. Served as application/x-pem-file, or as text/plain to a client that asks for it
        (Accept): client generators read a text/* answer as text and know no application/x-pem-file."""
        ring = current_app.extensions["trail_key"]
        key = ring.receipt_key if role == "receipt" else ring
        mimetype = request.accept_mimetypes.best_match((PEM, "text/plain"), default=PEM)
        return Response(key.public_pem(), mimetype=mimetype, headers={"X-Verifier-Key": key.key_id})


@blp.route("/trail/proof/<string:entry_id>")
class TrailProof(MethodView):
    @blp.response(200, ProofSchema)
    @blp.doc(operationId="getTrailProof")
    @blp.alt_response(409, description="Recorded, not sealed yet: ask again in a second")
    def get(self, entry_id):
        """The inclusion proof of an entry in the tree of the latest checkpoint (RFC 6962)."""
        with db.read_session() as session:
            entry = session.scalar(select(TrailEntry).where(TrailEntry.entry_id == entry_id))
            if entry is None:
                abort(404, message=f"No trail entry {entry_id}.")
            checkpoint = latest_checkpoint(session)
            index, leaf = session.execute(select(TrailLeaf.leaf_index, TrailLeaf.hash)
                                          .where(TrailLeaf.seq == entry.seq)).first() or (None, None)
            if index is None or checkpoint is None or index >= checkpoint.tree_size:
                abort(409, message=f"Entry {entry_id} is recorded and not sealed yet; ask again in a second.")
            path = prove(session, lambda get: merkle.inclusion_path(index, checkpoint.tree_size, get))
        # The leaf's hash, which the path proves: an entry altered since no longer hashes to it.
        return {"entry_id": entry_id, "seq": entry.seq, "entry_hash": leaf.hex(), "leaf_index": index,
                "tree_size": checkpoint.tree_size, "root_hash": b64(checkpoint.root_hash),
                "inclusion_path": [b64(h) for h in path], "checkpoint": checkpoint.note}


@blp.route("/trail/checkpoints")
class TrailCheckpoints(MethodView):
    @blp.arguments(CheckpointArgsSchema(), location="query")
    @blp.response(200, CheckpointPageSchema)
    @blp.doc(operationId="listCheckpoints")
    def get(self, args):
        """Signed checkpoints in tree-size order; with first and second, the consistency proof
        that the tree of size second extends the tree of size first."""
        with db.read_session() as session:
            rows = list(session.scalars(select(TrailCheckpoint).where(TrailCheckpoint.tree_size > args["after"])
                                        .order_by(TrailCheckpoint.tree_size).limit(args["limit"] + 1)))
            consistency = None
            if "first" in args or "second" in args:
                consistency = _consistency(session, args.get("first"), args.get("second"))
        more = len(rows) > args["limit"]
        rows = rows[:args["limit"]]
        return {"checkpoints": [_checkpoint(c) for c in rows], "next_after": rows[-1].tree_size if more else None,
                "consistency": consistency}


def _checkpoint(c: TrailCheckpoint) -> dict:
    return {"tree_size": c.tree_size, "root_hash": b64(c.root_hash), "published_at": c.published_at,
            "note": c.note}


def _consistency(session, first: int | None, second: int | None) -> dict:
    if first is None or second is None or first > second:
        abort(422, errors={"first": ["first and second name two checkpoints, first <= second"]})
    have = set(session.scalars(select(TrailCheckpoint.tree_size).where(TrailCheckpoint.tree_size.in_((first, second)))))
    for name, size in (("first", first), ("second", second)):
        if size not in have:
            abort(422, errors={name: [f"No checkpoint of tree size {size}."]})
    path = prove(session, lambda get: merkle.consistency_path(first, second, get)) if first < second else []
    return {"first": first, "second": second, "path": [b64(h) for h in path]}


trail_cli = AppGroup("trail", help="The tamper-evident trail.")


@trail_cli.command("verify")
@click.option("--against", type=click.File("r", encoding="utf-8"),
              help="A checkpoints file written by `trail checkpoints export`: name the first divergence")
@click.option("--receipts", type=click.File("r", encoding="utf-8"),
              help="Receipts an EHR kept (JSON lines, each a `receipt` as answered): check each is signed by "
                   "the trail's key and its entry is sealed with that hash under a signed checkpoint")
@click.option("--witness-checkpoint", "witnessed", type=click.File("r", encoding="utf-8"),
              help="The witness's latest cosigned checkpoint, fetched earlier (GET <witness>/<sha256 of the "
                   "origin>/checkpoint); by default the witness is asked now")
def verify_command(against, receipts, witnessed):
    """Verify the trail, and against the witness's latest cosigned checkpoint; exit 1 naming the
    first bad entry or checkpoint, or any receipt that fails."""
    from service.record.witnessing import verify_with_witness
    exported = [json.loads(line) for line in against if line.strip()] if against else None
    key = current_app.extensions["trail_key"]
    with current_app.extensions["db_read_sessions"]() as session:
        result = verify_chain(session, key, against=exported)
        result, notes = verify_with_witness(current_app._get_current_object(), session, result,
                                            witnessed.read() if witnessed else None)
        checked = check_receipts(session, key, receipts.readlines()) if receipts else []
        ledger = ledger_differences(session)
    if result.ok:
        click.echo(f"trail ok: {result.entries} entries, {result.sealed} sealed up to checkpoint "
                   f"{result.checkpoint or 0}, {result.pending} pending"
                   + (f"; matches the {len(exported)} exported checkpoints" if exported else ""))
    else:
        where = f"entry {result.first_bad_seq}" if result.first_bad_seq is not None else "the tree"
        click.echo(f"trail BROKEN at {where}: {result.reason}", err=True)
    for note in notes:  # part of the answer: what the verification could not rely on
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
        sealer.run(app, interval=interval)
        return
    total = 0
    while (n := sealer.seal_once(app)) > 0:
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
def export_command(file, after):
    """Write every checkpoint as JSON lines (tree_size, root_hash, published_at, note), to keep
    away from the database: `trail verify --against FILE` compares them later."""
    count = 0
    with current_app.extensions["db_read_sessions"]() as session:
        for c in session.scalars(select(TrailCheckpoint).where(TrailCheckpoint.tree_size > after)
                                 .order_by(TrailCheckpoint.tree_size).execution_options(yield_per=1000)):
            row = _checkpoint(c)
            row["published_at"] = row["published_at"].isoformat()
            file.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    click.echo(f"exported {count} checkpoints", err=True)
