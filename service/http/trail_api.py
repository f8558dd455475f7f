"""GET /v1/trail: query the trail; /v1/trail/verify, proofs, checkpoints and the public key (their
schemas: service/http/trail_schemas.py; the `trail` commands: service/tools/trail_cli.py).

Every read is of the asking key's tenant's log (`g.tenant`, docs/tenant-logs.md): another tenant's
entries are not found (404), its checkpoints and verifications are not listed."""
from __future__ import annotations

import datetime as dt

from flask import Response, current_app, g, request
from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import and_, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from service.clock import day_in_china
from service.http.api import Blueprint
from service.http.decisions import summary
from service.http.trail_schemas import (  # noqa: F401 -- KINDS, MAX_SEQ: read here by the pages too
    KINDS, MAX_SEQ, CheckpointArgsSchema, CheckpointPageSchema, ProofSchema, PublicKeyArgsSchema, TrailKeysSchema,
    TrailPageSchema, TrailQueryArgsSchema, VerificationSchema, VerifyArgsSchema)
from service.record import db
from service.record import merkle
from service.record.models import TrailCheckpoint, TrailEntry, TrailLeaf
from service.record.trail import b64, latest_checkpoint, prove
from service.record.verification import FULL, INCREMENTAL, latest, request as request_verification
from service.tenants import DEFAULT_TENANT

blp = Blueprint("trail", __name__, url_prefix="/v1", description="The tamper-evident trail")

PEM = "application/x-pem-file"


def asking_tenant() -> str:
    """The tenant of the key that asks (service.http.auth), whose log every trail read is of."""
    return g.get("tenant", DEFAULT_TENANT)
_VERIFIER_KEY = {"X-Verifier-Key": {"description": "The key as a note verifier key (name+hash+base64 key, "
                                                   "c2sp.org/signed-note)", "schema": {"type": "string"}}}


@blp.route("/trail")
class Trail(MethodView):
    @blp.arguments(TrailQueryArgsSchema(), location="query")
    @blp.response(200, TrailPageSchema)
    @blp.doc(operationId="listTrail")
    def get(self, args):
        """Trail entries in order, filtered; page with `after` = the last seq you saw."""
        with db.read_session(asking_tenant()) as session:
            entries, next_after = query_trail(session, args, asking_tenant())
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


def query_trail(session, args: dict, tenant_id: str) -> tuple[list[TrailEntry], int | None]:
    """The trail query of GET /v1/trail and the /trail page, in `tenant_id`'s log: `args` as
    TrailQueryArgsSchema loads them. Returns (entries in seq order, the `after` of the next page or None)."""
    query = select(TrailEntry).where(TrailEntry.tenant_id == tenant_id, TrailEntry.seq > args["after"])
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


def _latest() -> dict:
    with db.read_session(asking_tenant()) as session:
        return latest(session.connection(), asking_tenant())


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
        request_verification(db.engine(), FULL if args["full"] else INCREMENTAL, getattr(g, "client_id", None),
                             asking_tenant())
        return _latest()


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
        """The inclusion proof of an entry in the tree of its log's latest checkpoint (RFC 6962)."""
        tenant = asking_tenant()
        with db.read_session(tenant) as session:
            entry = session.scalar(select(TrailEntry).where(TrailEntry.tenant_id == tenant,
                                                            TrailEntry.entry_id == entry_id))
            if entry is None:
                abort(404, message=f"No trail entry {entry_id}.")
            checkpoint = latest_checkpoint(session, tenant)
            index, leaf = session.execute(select(TrailLeaf.leaf_index, TrailLeaf.hash)
                                          .where(TrailLeaf.tenant_id == tenant, TrailLeaf.seq == entry.seq)
                                          ).first() or (None, None)
            if index is None or checkpoint is None or index >= checkpoint.tree_size:
                abort(409, message=f"Entry {entry_id} is recorded and not sealed yet; ask again in a second.")
            path = prove(session, lambda get: merkle.inclusion_path(index, checkpoint.tree_size, get), tenant)
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
        """Signed checkpoints of the key's tenant's log in tree-size order; with first and second,
        the consistency proof that the tree of size second extends the tree of size first."""
        tenant = asking_tenant()
        with db.read_session(tenant) as session:
            rows = list(session.scalars(select(TrailCheckpoint).where(TrailCheckpoint.tenant_id == tenant,
                                                                      TrailCheckpoint.tree_size > args["after"])
                                        .order_by(TrailCheckpoint.tree_size).limit(args["limit"] + 1)))
            consistency = None
            if "first" in args or "second" in args:
                consistency = _consistency(session, args.get("first"), args.get("second"), tenant)
        more = len(rows) > args["limit"]
        rows = rows[:args["limit"]]
        return {"checkpoints": [_checkpoint(c) for c in rows], "next_after": rows[-1].tree_size if more else None,
                "consistency": consistency}


def _checkpoint(c: TrailCheckpoint) -> dict:
    return {"tree_size": c.tree_size, "root_hash": b64(c.root_hash), "published_at": c.published_at,
            "note": c.note}


def _consistency(session, first: int | None, second: int | None, tenant: str) -> dict:
    if first is None or second is None or first > second:
        abort(422, errors={"first": ["first and second name two checkpoints, first <= second"]})
    have = set(session.scalars(select(TrailCheckpoint.tree_size).where(TrailCheckpoint.tenant_id == tenant,
                                                                       TrailCheckpoint.tree_size.in_((first, second)))))
    for name, size in (("first", first), ("second", second)):
        if size not in have:
            abort(422, errors={name: [f"No checkpoint of tree size {size}."]})
    path = prove(session, lambda get: merkle.consistency_path(first, second, get), tenant) if first < second else []
    return {"first": first, "second": second, "path": [b64(h) for h in path]}
