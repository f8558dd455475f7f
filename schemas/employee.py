"""The employee (and employer) facts of a check request: what the statutes ask about.

Dates are ISO dates between 1900 and 2199. Every field is optional except `employee.id`: a fact the EHR does not send is unknown, and a
rule that needs it answers `warn` naming it (never `allow`). "unknown" is accepted where a
status is asked for, and means the same as leaving the field out.
"""
from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.fields import CN_REGIONS, Day, Identifier, StrictFloat, StrictInteger, flag, not_before
from schemas.fields import one_of as _one_of


class PregnancySchema(Schema):
    status = fields.String(required=True, validate=_one_of(("pregnant", "not_pregnant", "unknown")),
                           metadata={"description": "怀孕状态 / Pregnancy status on as_of (sensitive)."})
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
    date = Day(metadata={
        "description": "分娩日期 / Date of the most recent childbirth; starts the maternity leave (FEM-7). "
                       "Give it also after a stillbirth, when no child is listed in `children`."})
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
    date = Day(metadata={
        "description": "流产日期 / Date of the most recent miscarriage (or induced abortion); starts the 15 or 42 days "
                       "of maternity leave (FEM-7 para 2) (sensitive)."})
    months_pregnant = StrictFloat(validate=validate.Range(min=0, max=10), metadata={
        "description": "流产时已怀孕月数 / Months of pregnancy completed at the miscarriage, as certified: under 4, 15 days; "
                       "4 or more, 42 days (FEM-7 para 2). Absent: only the first 15 days are known (sensitive)."})


class SickLeaveSchema(Schema):
    start = Day(required=True, metadata={"description": "First day of a sick leave for illness or non-work injury."})
    end = Day(metadata={"description": "Last day of that sick leave; leave out while it is ongoing."})

    @validates_schema
    def _in_order(self, data, **kwargs):
        not_before(data, "end", "start")


class MedicalTreatmentSchema(Schema):
    status = fields.String(validate=_one_of(("in_period", "none", "unknown")), metadata={
        "description": "医疗期状态 / The EHR's own answer: in_period (within the statutory medical treatment "
                       "period), none, or unknown. If sick_leave is given the service also computes it "
                       "(MED-2/3, MED-4); either one saying in_period protects (sensitive)."})
    sick_leave = fields.List(fields.Nested(SickLeaveSchema), metadata={
        "description": "病休记录 / Sick leave for illness or non-work injury, all periods that may fall in the "
                       "current counting window (MED-4). Calendar days, weekends and holidays included (MED-1995)."})
    special_disease = flag("患特殊疾病（如癌症、精神病、瘫痪）/ Cancer, mental illness, paralysis or a like disease: "
                       "the medical period may be extended with approval (MED-1995) (sensitive).")


class ContractSchema(Schema):
    type = fields.String(validate=_one_of(("fixed_term", "open_ended", "task_based")), metadata={
        "description": "劳动合同类型 / Fixed-term, open-ended (无固定期限) or for the completion of a task."})
    end_date = Day(metadata={"description": "劳动合同期满日 / Last day of a fixed-term contract."})
    in_probation = flag("试用期内 / Within the probation period on as_of.")
    probation_end = Day(metadata={
        "description": "试用期届满日 / Last day of the probation period: until then the employer may terminate only "
                       "under Art. 39 or Art. 40(1)/(2), with its reasons (LCL-21)."})
    consecutive_fixed_terms = StrictInteger(validate=validate.Range(min=1, max=50), metadata={
        "description": "连续订立固定期限劳动合同次数 / Consecutive fixed-term contracts concluded, the current one "
                       "included (LCL-14: after two, the employee may demand an open-ended contract)."})


class OccupationalDiseaseSchema(Schema):
    hazard_exposure = flag("从事接触职业病危害作业 / The job exposes the employee to occupational-disease hazards.")
    exit_exam_done = flag("已进行离岗时职业健康检查 / The pre-departure occupational health examination was done "
                       "(asked only when hazard_exposure is true) (sensitive).")
    suspected = flag("疑似职业病病人，在诊断或者医学观察期间 / A suspected occupational-disease patient under "
                       "diagnosis or medical observation (sensitive).")
    diagnosed = flag("已确诊在本单位所患职业病 / Diagnosed with an occupational disease contracted at this employer; "
                       "give the disability assessment in work_injury (sensitive).")


class PaidSuspensionSchema(Schema):
    start = Day(required=True, metadata={
        "description": "停工留薪期起始日 / First day off work for treatment of the work injury (WIR-33) (sensitive)."})
    end = Day(metadata={
        "description": "停工留薪期届满日 / Last day of the paid suspension as determined (by the treating institution, or "
                       "the disability assessment); leave out while it is open (sensitive)."})
    extension_confirmed = flag("经设区的市级劳动能力鉴定委员会确认延长 / An extension beyond 12 months (at most 12 more) is confirmed "
                       "by the city's labour-ability appraisal committee (WIR-33 para 2) (sensitive).")

    @validates_schema
    def _in_order(self, data, **kwargs):
        not_before(data, "end", "start")


class WorkInjurySchema(Schema):
    status = fields.String(required=True, validate=_one_of(
        ("none", "pending", "not_disabled", "disabled", "unknown")), metadata={
        "description": "工伤或职业病致残状态 / Work injury or occupational disease at this employer: none; "
                       "pending (recognised, disability not yet assessed); not_disabled (assessed, no grade); "
                       "disabled (assessed: give disability_grade); unknown (sensitive)."})
    disability_grade = StrictInteger(validate=validate.Range(min=1, max=10), metadata={
        "description": "伤残等级 / Disability grade 1 (most severe) to 10; with status disabled only (sensitive)."})
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
    position = fields.String(required=True, validate=_one_of(
        ("chair", "vice_chair", "committee_member", "none")), metadata={
        "description": "基层工会职务 / Position on the grassroots union committee, or none (TUL-19)."})
    term_start = Day(metadata={"description": "任职之日 / First day of the current term of office (TUL-19)."})
    term_end = Day(metadata={"description": "任期届满日 / Last day of the current term of office."})
    full_time = flag("专职 / Full-time union officer: the contract is extended by the length of the term, from "
                       "employee.contract.end_date (TUL-19).")

    @validates_schema
    def _term_in_order(self, data, **kwargs):
        not_before(data, "term_end", "term_start")


class FamilySchema(Schema):
    no_other_employed = flag("家庭无其他就业人员 / No one else in the employee's family is employed (LCL-41 para 2 item 3).")
    supports_elderly_or_minor = flag("有需要扶养的老人或者未成年人 / The employee has an elderly person or a minor to support "
                       "(LCL-41 para 2 item 3).")


class EmployerSchema(Schema):
    union_exists = flag("用人单位已建立工会 / The employer has a trade union (LCL-43, SPC-I-47).")


def _original_ages() -> dict[str, tuple[int, ...]]:
    """gender -> its original statutory ages, from the shipped parameter (every dated value):
    the request contract is built at import, like the vocabularies in schemas/fields.py."""
    from service.decide.parameters import DEFAULT_ROOT, ParameterSet
    ages: dict[str, set[int]] = {}
    for _, table in ParameterSet.load(DEFAULT_ROOT).history("retirement.original_age"):
        for category, age in table.items():
            ages.setdefault(category.split("_", 1)[0], set()).add(age)
    return {gender: tuple(sorted(values)) for gender, values in ages.items()}


_ORIGINAL_AGES = _original_ages()


class EmployeeSchema(Schema):
    id = Identifier(required=True,
                       metadata={"description": "The EHR's employee id."})
    gender = fields.String(validate=_one_of(("female", "male")), metadata={"description": "性别 / Gender."})
    birth_date = Day(metadata={"description": "出生日期 / Birth date: statutory retirement (RET-SC-1)."})
    hire_date = Day(metadata={
        "description": "入职日期 / First day of the employment with this employer: years of service."})
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
    continuous_service_years = StrictFloat(validate=validate.Range(min=0, max=80), metadata={
        "description": "本单位连续工作年限 / Years of continuous service with this employer on as_of, including "
                       "service carried over from a previous employer; replaces the count from hire_date."})
    original_retirement_age = StrictInteger(validate=validate.OneOf(sorted(set().union(*_ORIGINAL_AGES.values()))), metadata={
        "description": "原法定退休年龄 / Original statutory retirement age: men 60; women 50 (workers) or 55 "
                       "(cadres). The 2025 reform delays it by birth month (RET-SC-1)."})
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
        if age is not None and gender in _ORIGINAL_AGES and age not in _ORIGINAL_AGES[gender]:
            raise ValidationError(f"a {gender} employee's original statutory age is one of "
                                  f"{list(_ORIGINAL_AGES[gender])}", "original_retirement_age")


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
