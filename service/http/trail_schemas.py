"""The trail's query arguments and answers (GET /v1/trail, its proofs, checkpoints and keys):
the contract of service/http/trail_api.py."""
from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate

from schemas.check import FINDING_OUTCOMES, RULE_VERDICTS
from schemas.fields import ACTION_TYPES, CASE_KINDS, EVENT_TYPES, VERDICTS, in_range, one_of
from service.clock import CHINA
from service.record.trail import LEGACY_SEALED, SEAL_REFUSED, b64, hash_of

KINDS = ("check", "case_event", "event_refused", "ruleset_change", "access_refused", SEAL_REFUSED, LEGACY_SEALED)
_HASHES = {"description": "base64 SHA-256 hashes (RFC 6962)"}


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
