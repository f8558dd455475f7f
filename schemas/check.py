"""The v1 check contract: what the EHR sends before it acts, and the verdict it gets back."""
from __future__ import annotations

from marshmallow import Schema, fields

from schemas.fields import VERDICTS, one_of
from schemas.request_contract import shipped
from schemas.rule_file import CITATION_ROLES, VERDICTS as RULE_VERDICTS

# What an answer says of a rule (service/decide/verdicts.py): a finding fired, could not be
# decided, or was judged differently on the notice day and the effective date; a rule checked
# may also have been cleared.
FINDING_OUTCOMES = ("fired", "unknown", "dates_differ")
CHECKED_OUTCOMES = ("fired", "unknown", "cleared", "dates_differ")
CITATION_KINDS = ("law", "policy")


class BilingualSchema(Schema):
    zh = fields.String(required=True)
    en = fields.String(required=True)


_ABSENT_BY_REFERENCE = "Absent with citations=refs: GET /v1/citations?version=<ruleset_version> has it, by ref."


class CitationSchema(Schema):
    ref = fields.String(required=True)
    kind = fields.String(required=True, validate=one_of(CITATION_KINDS), metadata={"description": "law or policy"})
    law = fields.String(metadata={"description": f"The law's name (Chinese). {_ABSENT_BY_REFERENCE}"})
    law_en = fields.String(metadata={"description": f"The law's name (English). {_ABSENT_BY_REFERENCE}"})
    article = fields.String(required=True)
    item = fields.String(required=True, allow_none=True)
    text = fields.String(metadata={"description": f"The provision's verbatim text (Chinese). {_ABSENT_BY_REFERENCE}"})
    role = fields.String(required=True, validate=one_of(CITATION_ROLES),
                         metadata={"description": "basis, consequence or definition"})


class JudgmentDaySchema(Schema):
    date = fields.String(required=True, metadata={"description": "ISO 8601 date", "format": "date"})
    as_ = fields.String(required=True, attribute="as", data_key="as", metadata={"description": (
        "Which day it is: notice_served_on (action.notice_served_on), as_of (the check's own day, "
        "standing for the notice day when none is given), notice_latest (for an Art. 40 notice "
        "without a notice day or pay in lieu: the statutory notice period before the effective "
        "date) or effective_date")})
    outcome = fields.String(required=True, validate=one_of(("fired", "unknown", "cleared")),
                            metadata={"description": "The rule's outcome judged on that day: fired, unknown or cleared"})
    facts = fields.Dict(required=True, metadata={"description": "The facts the rule read, as judged on that day."})


_DATES_DESCRIPTION = (
    "Only when outcome is dates_differ: the day notice is served and the effective date, each with "
    "the rule's outcome judged on it.")


class _RuleOutcomeSchema(Schema):
    """What a finding and a checked entry both say of one rule."""
    rule_id = fields.String(required=True)
    dates = fields.List(fields.Nested(JudgmentDaySchema), metadata={"description": _DATES_DESCRIPTION})


class FindingSchema(_RuleOutcomeSchema):
    verdict = fields.String(required=True, validate=one_of(RULE_VERDICTS), metadata={"description": "deny, warn or obligation"})
    outcome = fields.String(required=True, validate=one_of(FINDING_OUTCOMES), metadata={"description": (
        "fired: the rule's condition holds on the facts given; unknown: it would hold for some "
        "values of the missing facts (a deny or warn rule then gives a warn naming them in "
        "missing_facts, an obligation rule a possible obligation); dates_differ: a deny or warn "
        "rule whose outcome on the day notice is served differs from its outcome on the effective "
        "date, which gives a warn with both in `dates` (which day counts is unsettled)")})
    title = fields.Nested(BilingualSchema, required=True)
    message = fields.Nested(BilingualSchema, required=True)
    citations = fields.List(fields.Nested(CitationSchema), required=True)
    facts = fields.Dict(required=True, metadata={"description": "The facts the rule read, with their values (on the effective date)."})
    missing_facts = fields.List(fields.String(), required=True, metadata={"description": (
        "For an unknown or dates_differ finding: the request fields (paths into the check request, "
        "e.g. employee.childbirth.dystocia, case.events) that decide it: given, any values of them "
        "make the rule fire or clear, and each can change it. Never a derived fact. Empty when "
        "nothing the request could add decides it (the message then says the rules do not cover "
        "the case).")})


class CheckedSchema(_RuleOutcomeSchema):
    verdict = fields.String(required=True, validate=one_of(RULE_VERDICTS),
                            metadata={"description": "The rule's own verdict: deny, warn or obligation"})
    outcome = fields.String(required=True, validate=one_of(CHECKED_OUTCOMES), metadata={"description": (
        "fired (a finding), unknown (a finding naming missing facts), cleared (ruled out by the facts "
        "given) or dates_differ (a warn: the outcome differs between the day notice is served and "
        "the effective date, both in `dates`)")})
    refs = fields.List(fields.String(), required=True, metadata={"description": "The rule's citations, by catalog ref "
                                                                                "(their texts are in findings)."})
    facts = fields.Dict(required=True, metadata={"description": "The facts that decided it, with the derived dates behind them."})


class AssumedSchema(Schema):
    field = fields.String(required=True, metadata={"description": "The request field taken as none (employee.pregnancy.status)."})
    value = fields.Raw(required=True, metadata={"description": (
        "The value it was taken to have (rules/records/complete_record.yaml); in a recorded decision, a "
        "sensitive one is shown as \"[sensitive]\", as facts are")})
    declared_by = fields.String(required=True, validate=one_of(("key", "request")), metadata={
        "description": "key (the API key's declaration) or request (the request's complete_record)"})


ASSUMED_DESCRIPTION = (
    "Only under a complete-record declaration (the key's or the request's complete_record): the fields the "
    "request left out that the declaration filled in, with the value each was taken to have and who declared "
    "it (empty: it filled nothing). Absent without a declaration: a field left out is then unknown.")


class ReceiptSchema(Schema):
    signed = fields.String(required=True, metadata={"description": "The text signed: the log's name, the decision id, "
                                                                   "the entry hash and recorded_at, one per line"})
    signature = fields.String(required=True, metadata={"description": "base64 Ed25519 signature of the UTF-8 of `signed`"})
    key_id = fields.String(required=True, metadata={"description": "The signing key as a note verifier key "
                                                                   "(name+hash+base64 key); GET /v1/trail/public-key"})


class CheckResultSchema(Schema):
    decision_id = fields.String(required=True, dump_only=True)
    verdict = fields.String(required=True, validate=one_of(VERDICTS))
    as_of = fields.Date(required=True)
    retrospective = fields.Boolean(required=True, metadata={"description": (
        "true when as_of is a day before the check arrived (in China): a what-if about the past, "
        "decided under the law and facts of that day, not a go-ahead for an action now. The trail "
        "entry records it.")})
    ruleset_version = fields.String(required=True)
    findings = fields.List(fields.Nested(FindingSchema), required=True)
    checked = fields.List(fields.Nested(CheckedSchema), required=True, metadata={"description": (
        "Every rule in force on as_of that applies to the action type, with its outcome: what an "
        "allow ruled out, and why.")})
    receipt = fields.Nested(ReceiptSchema, metadata={"description": "The service's signed word that this "
                                                                    "decision is in the trail"})
    assumed = fields.List(fields.Nested(AssumedSchema), metadata={"description": ASSUMED_DESCRIPTION})


class CheckBatchResultSchema(Schema):
    results = fields.List(fields.Nested(CheckResultSchema),
                          required=True, metadata={"description": "One result per check, in the order sent."})


# The request schemas served are built from the fact vocabulary of the rules/ folder the service
# ships with (schemas/request_contract.py, on the structure of schemas/requests.py); a rule set's
# own is contract_for(vocabulary, parameters).
CheckRequestSchema, CheckBatchRequestSchema = shipped().check, shipped().batch  # type: ignore[misc]
