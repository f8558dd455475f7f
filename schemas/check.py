"""The v1 check contract: what the EHR sends before it acts, and the verdict it gets back."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError, fields, validate

CHINA = ZoneInfo("Asia/Shanghai")

ACTION_TYPES = (
    "submit_resignation", "withdraw_resignation", "approve_resignation", "approve_withdrawal",
    "reject_withdrawal", "accept_resignation", "execute_offboarding", "terminate_for_cause",
    "terminate_with_notice", "terminate_economic_layoff", "non_renewal_at_expiry",
    "mutual_agreement_termination", "update_employment_status", "edit_employee_record",
)
EVENT_TYPES = (
    "resignation_submitted", "resignation_approved", "resignation_rejected", "withdrawal_requested",
    "withdrawal_accepted", "withdrawal_rejected", "offboarding_started", "offboarding_completed",
    "archived",
)
ROLES = ("employee", "manager", "hr", "hr_admin", "system")
CASE_KINDS = ("resignation", "employer_termination", "mutual_agreement", "non_renewal")
FORMS = ("written", "verbal", "email", "system")
VERDICTS = ("deny", "warn", "allow")


def _one_of(choices):
    return validate.OneOf(choices, error="Must be one of: {choices}.")


class AsOf(fields.Field):
    """A date, or an RFC 3339 date-time with an offset (its calendar day in China is used)."""

    default_error_messages = {
        "invalid": "Not a valid date (YYYY-MM-DD) or RFC 3339 date-time with offset.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            if len(value) == 10:
                return dt.date.fromisoformat(value)
            moment = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        if moment.tzinfo is None:
            raise ValidationError("A date-time needs an offset (e.g. +08:00 or Z).")
        return moment.astimezone(CHINA).date()

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.isoformat()


class AwareDateTime(fields.AwareDateTime):
    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)


class ActorSchema(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    role = fields.String(required=True, validate=_one_of(ROLES))


class PregnancySchema(Schema):
    status = fields.String(required=True, validate=_one_of(("pregnant", "not_pregnant", "unknown")))
    confirmed_on = fields.Date()
    expected_due_date = fields.Date()


class ChildSchema(Schema):
    birth_date = fields.Date(required=True)


class MedicalTreatmentSchema(Schema):
    status = fields.String(required=True, validate=_one_of(("in_period", "none", "unknown")))


class EmployeeSchema(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    gender = fields.String(validate=_one_of(("female", "male")))
    birth_date = fields.Date()
    hire_date = fields.Date()
    region = fields.String(validate=validate.Regexp(r"^CN-[A-Z]{2}$", error="Expected an ISO 3166-2:CN code such as CN-BJ."))
    pregnancy = fields.Nested(PregnancySchema)
    children = fields.List(fields.Nested(ChildSchema))
    medical_treatment = fields.Nested(MedicalTreatmentSchema)


class ActionSchema(Schema):
    type = fields.String(required=True, validate=_one_of(ACTION_TYPES))
    effective_date = fields.Date()
    actor = fields.Nested(ActorSchema)


class CaseEventSchema(Schema):
    type = fields.String(required=True, validate=_one_of(EVENT_TYPES))
    at = AwareDateTime(required=True)
    actor = fields.Nested(ActorSchema, required=True)
    form = fields.String(validate=_one_of(FORMS))
    note = fields.String(validate=validate.Length(max=2000))


class CaseSchema(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    kind = fields.String(required=True, validate=_one_of(CASE_KINDS))
    events = fields.List(fields.Nested(CaseEventSchema), load_default=list)


class CheckRequestSchema(Schema):
    as_of = AsOf(metadata={"description": "Date (or RFC 3339 date-time) the check is decided as of; default: now."})
    employee = fields.Nested(EmployeeSchema, required=True)
    action = fields.Nested(ActionSchema, required=True)
    case = fields.Nested(CaseSchema)


class BilingualSchema(Schema):
    zh = fields.String()
    en = fields.String()


class CitationSchema(Schema):
    ref = fields.String()
    kind = fields.String(metadata={"description": "law or policy"})
    law = fields.String()
    law_en = fields.String()
    article = fields.String()
    item = fields.String(allow_none=True)
    text = fields.String()
    role = fields.String(metadata={"description": "basis, consequence or definition"})


class FindingSchema(Schema):
    rule_id = fields.String()
    verdict = fields.String(metadata={"description": "deny, warn or obligation"})
    title = fields.Nested(BilingualSchema)
    message = fields.Nested(BilingualSchema)
    citations = fields.List(fields.Nested(CitationSchema))
    facts = fields.Dict(metadata={"description": "The facts the rule read, with their values."})
    missing_facts = fields.List(fields.String())


class CheckResultSchema(Schema):
    decision_id = fields.String(dump_only=True)
    verdict = fields.String(validate=_one_of(VERDICTS))
    as_of = fields.Date()
    ruleset_version = fields.String()
    findings = fields.List(fields.Nested(FindingSchema))
