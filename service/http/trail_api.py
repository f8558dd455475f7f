"""GET /v1/trail: query the trail; GET /v1/trail/verify: check the hash chain."""
from __future__ import annotations

import datetime as dt

import click
from flask import Flask
from flask.cli import AppGroup
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import and_, or_, select

from schemas.fields import ACTION_TYPES, CASE_KINDS, CHINA, EVENT_TYPES, in_range, one_of
from service.http.api import Blueprint
from service.record import db
from service.clock import utcnow
from service.record.models import TrailEntry, TrailRuleHit
from service.record.trail import append, verify_chain

blp = Blueprint("trail", __name__, url_prefix="/v1", description="The tamper-evident trail")

KINDS = ("check", "case_event", "event_refused", "ruleset_change", "access_refused")


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
        day_of_check.append(TrailEntry.as_of >= start.astimezone(CHINA).date())
    if end is not None:
        day_of_check.append(TrailEntry.as_of <= (end - dt.timedelta(microseconds=1)).astimezone(CHINA).date())
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
