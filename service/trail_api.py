"""GET /v1/trail: query the trail; GET /v1/trail/verify: check the hash chain."""
from __future__ import annotations

import datetime as dt

import click
from flask import Flask
from flask.cli import AppGroup
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from schemas.fields import ACTION_TYPES, CASE_KINDS, EVENT_TYPES, one_of
from service.api import Blueprint
from service import db
from service.clock import utcnow
from service.models import TrailEntry, TrailRuleHit
from service.trail import append, verify_chain

blp = Blueprint("trail", __name__, url_prefix="/v1", description="The tamper-evident trail")

KINDS = ("check", "case_event", "event_refused", "ruleset_change", "access_refused")


class TrailQueryArgsSchema(Schema):
    employee = fields.String(metadata={"description": "Employee id"})
    case_id = fields.String()
    process_type = fields.String(validate=one_of(CASE_KINDS))
    kind = fields.String(validate=one_of(KINDS))
    action_type = fields.String(validate=one_of(ACTION_TYPES))
    event_type = fields.String(validate=one_of(EVENT_TYPES))
    verdict = fields.String(validate=one_of(("deny", "warn", "allow")))
    rule_id = fields.String()
    actor = fields.String(metadata={"description": "Actor id"})
    since = fields.AwareDateTime(format="iso", metadata={"description": "Recorded at or after (RFC 3339)"})
    until = fields.AwareDateTime(format="iso", metadata={"description": "Recorded before (RFC 3339)"})
    after = fields.Integer(load_default=0, validate=validate.Range(min=0),
                           metadata={"description": "Cursor: return entries after this seq"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class TrailEntrySchema(Schema):
    seq = fields.Integer()
    entry_id = fields.String()
    kind = fields.String()
    recorded_at = fields.DateTime()
    as_of = fields.Date(allow_none=True)
    employee_id = fields.String(allow_none=True)
    case_id = fields.String(allow_none=True)
    process_type = fields.String(allow_none=True)
    action_type = fields.String(allow_none=True)
    event_type = fields.String(allow_none=True)
    actor_id = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    client_id = fields.String(allow_none=True)
    verdict = fields.String(allow_none=True)
    rule_ids = fields.List(fields.String())
    ruleset_version = fields.String()
    body = fields.Dict()
    request_digest = fields.String(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String()
    hash_scheme = fields.Integer(metadata={"description": "2: hash = sha256(prev_hash|seq|sha256 of the "
                                                          "canonical JSON of the content); 1: entries written "
                                                          "before it (README, 'Verifying the trail')"})


class TrailPageSchema(Schema):
    entries = fields.List(fields.Nested(TrailEntrySchema))
    next_after = fields.Integer(allow_none=True, metadata={"description": "Pass as `after` for the next page"})


class VerificationSchema(Schema):
    ok = fields.Boolean()
    entries = fields.Integer()
    first_bad_seq = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)


@blp.route("/trail")
class Trail(MethodView):
    @blp.arguments(TrailQueryArgsSchema(), location="query")
    @blp.response(200, TrailPageSchema)
    def get(self, args):
        """Trail entries in order, filtered; page with `after` = the last seq you saw."""
        with db.session() as session:
            entries, next_after = query_trail(session, args)
        return {"entries": entries, "next_after": next_after}


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
        query = query.where(TrailEntry.seq.in_(
            select(TrailRuleHit.seq).where(TrailRuleHit.rule_id == args["rule_id"])))
    if "since" in args:
        query = query.where(TrailEntry.recorded_at >= args["since"].astimezone(dt.timezone.utc))
    if "until" in args:
        query = query.where(TrailEntry.recorded_at < args["until"].astimezone(dt.timezone.utc))
    entries = list(session.scalars(query.order_by(TrailEntry.seq).limit(args["limit"] + 1)))
    more = len(entries) > args["limit"]
    entries = entries[:args["limit"]]
    return entries, entries[-1].seq if more else None


@blp.route("/trail/verify")
class TrailVerify(MethodView):
    @blp.response(200, VerificationSchema)
    def get(self):
        """Recompute the hash chain; name the first entry that does not hold."""
        with db.session() as session:
            return verify_chain(session).as_dict()


def record_ruleset_version(app: Flask) -> None:
    """A trail entry whenever the service starts on (or reloads to) a rule set it has not run before."""
    rulebook = app.extensions["rulebook"]
    with app.extensions["db_sessions"]() as session, session.begin():
        last = session.scalar(select(TrailEntry).where(TrailEntry.kind == "ruleset_change")
                              .order_by(TrailEntry.seq.desc()).limit(1))
        previous = last.ruleset_version if last else None
        if previous == rulebook.version:
            return
        append(session, kind="ruleset_change", recorded_at=utcnow(), ruleset_version=rulebook.version,
               body={"previous_version": previous, "rules": sorted(rulebook.rules)})


trail_cli = AppGroup("trail", help="The tamper-evident trail.")


@trail_cli.command("verify")
def verify_command():
    """Verify the hash chain; exit 1 naming the first bad entry."""
    from flask import current_app
    with current_app.extensions["db_sessions"]() as session:
        result = verify_chain(session)
    if result.ok:
        click.echo(f"trail ok: {result.entries} entries, chain intact")
    else:
        click.echo(f"trail BROKEN at entry {result.first_bad_seq}: {result.reason}", err=True)
        raise SystemExit(1)
