"""The structure of the request bodies (a check, a batch of checks, a case event): the classes
served are built on them from the rule set's vocabulary (schemas/request_contract.py), which
declares the request fields the rules read; schemas/check.py and ledger.py serve them."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.action import ActionSchema
from schemas.case import CaseEventSchema, CaseSchema
from schemas.employee import EmployeeSchema, EmployerSchema, dates_after
from schemas.fields import CASE_KINDS, AsOf, Identifier, one_of
from service.clock import day_in_china, today_in_china

_COMPLETE_RECORD = (
    "Areas of the employee's record this request declares complete (employee.pregnancy, employee.children, "
    "...; rules/records/complete_record.yaml lists them): a field of a declared area that the request leaves "
    "out is read as none (not pregnant, no children, no sick leave), never as unknown. What the request gives "
    "is used as given. Added to the areas the API key declares. An unknown area is a 422.")


def complete_record_field():
    return fields.List(fields.String(validate=validate.Length(min=1, max=200)), validate=validate.Length(max=50),
                       metadata={"description": _COMPLETE_RECORD})


class CheckRequestSchema(Schema):
    """The structure; the class served is built from the rule set's vocabulary (schemas/check.py)."""
    as_of = AsOf(metadata={"description": "Date (or RFC 3339 date-time) the check is decided as of; default: now."})
    employee = fields.Nested(EmployeeSchema, required=True)
    employer = fields.Nested(EmployerSchema, metadata={"description": "Facts about the employer (schemas/employee.py)."})
    action = fields.Nested(ActionSchema, required=True)
    case = fields.Nested(CaseSchema)
    case_id = Identifier(metadata={"description": "A case recorded in the ledger: its events are used "
                                                     "instead of carrying them in `case`."})
    complete_record = complete_record_field()

    @validates_schema
    def _one_case(self, data, **kwargs):
        if "case" in data and "case_id" in data:
            raise ValidationError("give either case or case_id, not both", "case_id")

    @validates_schema
    def _employee_dates_by_as_of(self, data, **kwargs):
        errors = dates_after(data["employee"], data.get("as_of") or today_in_china())
        if errors:
            raise ValidationError(errors)


class CheckBatchRequestSchema(Schema):
    checks = fields.List(fields.Nested(CheckRequestSchema), required=True,
                         validate=validate.Length(min=1, max=100),
                         metadata={"description": "Up to 100 checks, each decided and recorded on its own."})


class NewCaseSchema(Schema):
    kind = fields.String(required=True, validate=one_of(CASE_KINDS))
    hr_owner_id = Identifier(metadata={"description": "The HR owner: notified of status changes and refusals."})
    manager_id = Identifier(metadata={"description": "The employee's manager: escalations go here."})


class CaseEventRequestSchema(Schema):
    client_key = Identifier(required=True, metadata={"description": "Idempotency key: the same key with the same request "
                                                        "records once and returns the same answer; with "
                                                        "another request it is refused (409)."})
    case = fields.Nested(NewCaseSchema, metadata={"description": "Required with the case's first event."})
    employee = fields.Nested(EmployeeSchema, metadata={"description": (
        "The subject employee's facts, for the rules. Required with the case's first event; a later "
        "event may leave it out when nothing has changed: it is then decided on the facts the case "
        "keeps (the last ones given, with an event or a check naming the case), and its answer says "
        "which in `employee_from`. A case that keeps none (closed, or none given) answers 422 naming "
        "`employee`.")})
    event = fields.Nested(CaseEventSchema, required=True)
    as_of = AsOf(metadata={"description": "Decide as of this date; default: the event's date in China."})
    complete_record = complete_record_field()

    @validates_schema
    def _employee_dates_by_as_of(self, data, **kwargs):
        if "employee" not in data:
            if "case" in data:  # the case's first event: there are no kept facts yet
                raise ValidationError({"employee": ["Missing data for required field: the case's first event "
                                                    "carries the employee's facts."]})
            return  # a later event: the case's kept facts, checked as it is recorded
        errors = dates_after(data["employee"], data.get("as_of") or day_in_china(data["event"]["at"]))
        if errors:
            raise ValidationError(errors)


CheckRequestBase, CheckBatchRequestBase, CaseEventRequestBase = (CheckRequestSchema, CheckBatchRequestSchema,
                                                                CaseEventRequestSchema)
