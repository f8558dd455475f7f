"""The employee facts of a check request (what the statutes ask about)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import one_of as _one_of


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
    department = fields.String(validate=validate.Length(min=1, max=128))
    region = fields.String(validate=validate.Regexp(r"^CN-[A-Z]{2}$", error="Expected an ISO 3166-2:CN code such as CN-BJ."))
    pregnancy = fields.Nested(PregnancySchema)
    children = fields.List(fields.Nested(ChildSchema))
    medical_treatment = fields.Nested(MedicalTreatmentSchema)
