"""The employee (and employer) facts of a check request: what the statutes ask about.

Only the structure is here: the objects, the lists, the fields Python derivation reads and no rule
does, and the checks across fields. Every field a rule reads is declared in rules/facts/*.yaml and
added to these classes when the rules load (schemas/request_contract.py).

Dates are ISO dates between 1900 and 2199. Every field is optional except `employee.id`: a fact the EHR does not send is unknown, and a
rule that needs it answers `warn` naming it (never `allow`). "unknown" is accepted where a
status is asked for, and means the same as leaving the field out.
"""
from __future__ import annotations

import datetime as dt
from typing import ClassVar

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.fields import CN_REGIONS, Day, Identifier, StrictFloat, StrictInteger, flag, not_before


class PregnancySchema(Schema):
    confirmed_on = Day(metadata={"description": "Date the pregnancy was confirmed (informative)."})
    expected_due_date = Day(metadata={"description": "Expected due date (informative)."})


class ChildSchema(Schema):
    birth_date = Day(required=True, metadata={
        "description": "子女出生日期 / A child's birth date: the nursing period runs to the first birthday (FEM-9)."})


class _RecordedOrNone(Schema):
    """A childbirth or a miscarriage: recorded with its date, or stated as none in the past year."""
    status = fields.String(validate=validate.OneOf(("recorded", "none")))

    @validates_schema
    def _date_or_none(self, data, **kwargs):
        if data.get("status") == "none":
            extra = sorted(set(data) - {"status"})
            if extra:
                raise ValidationError("a status of none has no details", extra[0])
        elif "date" not in data:
            raise ValidationError("Missing data for required field.", "date")


class ChildbirthSchema(_RecordedOrNone):
    status = fields.String(validate=validate.OneOf(("recorded", "none")), metadata={
        "description": "recorded (default when `date` is given): a childbirth on `date`; none: no childbirth, "
                       "live or stillborn, in the year before as_of, so no maternity leave (FEM-7). Without "
                       "either, whether she is on maternity leave is unknown."})
    dystocia = flag("难产 / Difficult birth: +15 days of maternity leave (FEM-7).")
    babies = StrictInteger(validate=validate.Range(min=1, max=9), metadata={
        "description": "Number of babies born (multiple birth: +15 days per additional baby, FEM-7)."})
    child_order = StrictInteger(validate=validate.Range(min=1, max=9), metadata={
        "description": "Birth order of this child (1 = first); needed where the regional extension depends "
                       "on it (Zhejiang, REG-ZJ-ML)."})


class MiscarriageSchema(_RecordedOrNone):
    status = fields.String(validate=validate.OneOf(("recorded", "none")), metadata={
        "description": "recorded (default when `date` is given); none: no miscarriage (or induced abortion) in "
                       "the year before as_of. Without either, whether she is on that leave is unknown."})


class SickLeaveSchema(Schema):
    start = Day(required=True, metadata={"description": "First day of a sick leave for illness or non-work injury."})
    end = Day(metadata={"description": "Last day of that sick leave; leave out while it is ongoing."})

    @validates_schema
    def _in_order(self, data, **kwargs):
        not_before(data, "end", "start")


class MedicalTreatmentSchema(Schema):
    sick_leave = fields.List(fields.Nested(SickLeaveSchema), metadata={
        "description": "病休记录 / Sick leave for illness or non-work injury, all periods that may fall in the "
                       "current counting window (MED-4). Calendar days, weekends and holidays included (MED-1995)."})


class ContractSchema(Schema):
    """Its fields are request facts (rules/facts/)."""


class OccupationalDiseaseSchema(Schema):
    """Its fields are request facts (rules/facts/)."""


class PaidSuspensionSchema(Schema):
    """Its fields are request facts (rules/facts/); the check across them is here."""

    @validates_schema
    def _in_order(self, data, **kwargs):
        not_before(data, "end", "start")


class WorkInjurySchema(Schema):
    paid_suspension = fields.Nested(PaidSuspensionSchema, metadata={
        "description": "停工留薪期 / The paid suspension for treatment of the work injury (WIR-33): Art. 40/41 "
                       "terminations and expiry wait for its end."})

    @validates_schema
    def _grade_with_disabled(self, data, **kwargs):
        disabled = data.get("status") == "disabled"
        if disabled and "disability_grade" not in data:
            raise ValidationError("required when status is disabled", "disability_grade")
        if not disabled and "disability_grade" in data:
            raise ValidationError("only with status disabled", "disability_grade")


class UnionOfficerSchema(Schema):
    """Its fields are request facts (rules/facts/); the check across them is here."""

    @validates_schema
    def _term_in_order(self, data, **kwargs):
        not_before(data, "term_end", "term_start")


class FamilySchema(Schema):
    """Its fields are request facts (rules/facts/)."""


class EmployerSchema(Schema):
    """Its fields are request facts (rules/facts/)."""


class EmployeeSchema(Schema):
    # gender -> its original statutory ages (the parameter retirement.original_age, every dated
    # value): set on the class built from the rule set (schemas/request_contract.py).
    original_ages: ClassVar[dict] = {}

    id = Identifier(required=True,
                       metadata={"description": "The EHR's employee id."})
    department = Identifier(metadata={"description": "Department."})
    region = fields.String(validate=validate.OneOf(CN_REGIONS, error="Must be an ISO 3166-2:CN code: {choices}."),
                           metadata={"description": "工作地 / Place of work, ISO 3166-2:CN (CN-BJ): regional "
                                                    "maternity and medical-period rules."})
    pregnancy = fields.Nested(PregnancySchema)
    children = fields.List(fields.Nested(ChildSchema), metadata={
        "description": "子女 / Living children (an empty list: none). Absent: unknown."})
    childbirth = fields.Nested(ChildbirthSchema)
    miscarriage = fields.Nested(MiscarriageSchema)
    medical_treatment = fields.Nested(MedicalTreatmentSchema)
    total_work_years = StrictFloat(validate=validate.Range(min=0, max=80), metadata={
        "description": "实际工作年限 / Total years of working life on as_of, all employers (MED-2/3)."})
    contract = fields.Nested(ContractSchema)
    occupational_disease = fields.Nested(OccupationalDiseaseSchema)
    work_injury = fields.Nested(WorkInjurySchema)
    union_officer = fields.Nested(UnionOfficerSchema)
    family = fields.Nested(FamilySchema, metadata={"description": "The Art. 41 retention priorities that depend on the family."})

    @validates_schema
    def _hired_after_birth(self, data, **kwargs):
        not_before(data, "hire_date", "birth_date")

    @validates_schema
    def _original_age_fits_gender(self, data, **kwargs):
        age, gender = data.get("original_retirement_age"), data.get("gender")
        if age is not None and gender in self.original_ages and age not in self.original_ages[gender]:
            raise ValidationError(f"a {gender} employee's original statutory age is one of "
                                  f"{list(self.original_ages[gender])}", "original_retirement_age")


# Facts that have happened by the day the request is decided as of, by where their date sits.
# A date after as_of is a typo or a backdated as_of (a birth after it turns a nursing mother's
# deny into an allow); refused, never read. Dates that legitimately lie ahead are not here: an
# expected due date, a contract's end or probation's end, the planned end of a sick leave, of a
# paid suspension or of a union term, and a union term that starts later (elected, not yet in office).
_HAPPENED = (("birth_date",), ("hire_date",), ("pregnancy", "confirmed_on"), ("children", "*", "birth_date"),
             ("childbirth", "date"), ("miscarriage", "date"), ("medical_treatment", "sick_leave", "*", "start"),
             ("work_injury", "paid_suspension", "start"))


def dates_after(employee: dict, as_of: dt.date) -> dict:
    """The employee's dated facts that lie after the day the request is decided as of, as
    marshmallow errors nested under `employee` (employee.children.1.birth_date)."""
    errors: dict = {}
    for path in _HAPPENED:
        for where, day in _dates_at(employee, path, ()):
            if day > as_of:
                node = errors
                for step in where[:-1]:
                    node = node.setdefault(step, {})
                node[where[-1]] = [f"must not be after as_of ({as_of.isoformat()}): it has happened by then"]
    return {"employee": errors} if errors else {}


def _dates_at(value, path: tuple, where: tuple):
    if not path:
        if isinstance(value, dt.date):
            yield where, value
        return
    step, rest = path[0], path[1:]
    if step == "*":
        for index, item in enumerate(value if isinstance(value, list) else ()):
            yield from _dates_at(item, rest, (*where, index))
    elif isinstance(value, dict) and step in value:
        yield from _dates_at(value[step], rest, (*where, step))
