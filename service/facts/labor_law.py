"""Facts the statutory protections read: protected periods, statuses and counts, as of the check.

Only derivation lives here: copying request facts, and date arithmetic with the parameters in
force (service/periods.py). Whether a status protects, and against which separation, is decided
by the rule files in rules/labor_law/. A fact that cannot be derived without guessing is left
out, and the rules see it as unknown.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from service.classification import Classification
from service.facts.context import FactContext
from service.parameters import ParameterNotInForce, ParameterSet
from service.periods import (NATIONAL, RegionNotCovered, UnknownFact, add_years, completed_years, maternity_leave,
                             medical_treatment_entitlement, medical_treatment_in_period, nursing_period,
                             regional_values, retirement_candidates, whole_months_between)

# Request facts the rules read, copied as they are (dates as ISO text, "unknown" left out).
_COPIED = (
    "action.ground", "action.union_notified", "action.pay_in_lieu", "action.agreement_signed",
    "action.initiated_by", "action.renewal_offer", "action.layoff.reported_to_labor_authority",
    "employer.union_exists", "case.kind",
    "employee.pregnancy.status", "employee.childbirth.date",
    "employee.medical_treatment.status", "employee.medical_treatment.special_disease",
    "employee.occupational_disease.hazard_exposure", "employee.occupational_disease.exit_exam_done",
    "employee.occupational_disease.suspected", "employee.occupational_disease.diagnosed",
    "employee.work_injury.status", "employee.work_injury.disability_grade",
    "employee.birth_date", "employee.hire_date", "employee.continuous_service_years",
    "employee.original_retirement_age",
    "employee.contract.type", "employee.contract.end_date", "employee.contract.in_probation",
    "employee.contract.consecutive_fixed_terms",
    "employee.union_officer.position", "employee.union_officer.term_end",
)


def derive(request: dict, as_of: dt.date, context: FactContext) -> dict:
    employee, action = request["employee"], request["action"]
    params = context.parameters
    # The day the separation takes effect: notice, expiry and retirement are counted to it.
    action_date: dt.date = action.get("effective_date") or as_of
    service = _service_years(employee, as_of)
    facts: dict[str, Any] = {name: _request_value(request, name) for name in _COPIED}
    facts.update({
        "derived.separation.ground_article": context.classification.basis.ground_article(action.get("ground")),
        "derived.nursing_period.active": _nursing(employee, as_of, params),
        "derived.maternity_leave.active": _maternity_leave(employee, as_of, params),
        "derived.medical_treatment.in_period": _medical_period(employee, service, as_of, params),
        "derived.service.continuous_years": service,
        "derived.notice.days_served": _days(action.get("notice_served_on"), action_date),
        "derived.layoff.days_since_consultation": _days((action.get("layoff") or {}).get("consulted_on"), action_date),
        "derived.contract.days_to_end": _days(action_date, (employee.get("contract") or {}).get("end_date")),
        "derived.union_officer.term_days_left": _days(action_date, (employee.get("union_officer") or {}).get("term_end")),
    })
    facts.update(_retirement(employee, as_of, action_date, params))
    facts.update(_resignation(request.get("case"), context.classification))
    return facts


def _request_value(request: dict, name: str):
    node: Any = request
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if node == "unknown":
        return None
    if isinstance(node, float):
        return _years(node)
    return node.isoformat() if isinstance(node, dt.date) else node


def _years(value: float) -> float | int:
    """Years to two decimals, 16 rather than 16.0: the engine cannot parse exponent notation
    (1e-07), and messages show the number as given."""
    value = round(value, 2)
    return int(value) if value.is_integer() else value


def _days(start: dt.date | None, end: dt.date | None) -> int | None:
    return None if start is None or end is None else (end - start).days


# ---- pregnancy, childbirth, nursing ------------------------------------------------------------
def _nursing(employee: dict, as_of: dt.date, params: ParameterSet) -> bool | None:
    children = employee.get("children")
    if children is None:
        return None
    answers = {_first_year(child["birth_date"], as_of, params) for child in children}
    return True if True in answers else None if None in answers else False


def _first_year(born: dt.date, as_of: dt.date, params: ParameterSet) -> bool | None:
    try:
        return nursing_period(born, params).contains(as_of)
    except ParameterNotInForce:
        return None  # a birth before the encoded nursing values: not guessed


def _maternity_leave(employee: dict, as_of: dt.date, params: ParameterSet) -> bool | None:
    """On maternity leave on as_of. With a detail unknown (dystocia, babies, an unencoded region) the
    leave is at least the national minimum and, in every rule known, ends by the first birthday."""
    birth = employee.get("childbirth")
    if birth is None:
        return None
    born: dt.date = birth["date"]
    if not born <= as_of <= add_years(born, 1):
        return False
    try:
        return maternity_leave(born, dystocia=birth.get("dystocia"), babies=birth.get("babies"),
                               region=employee.get("region"), params=params,
                               child_order=birth.get("child_order")).contains(as_of)
    except (UnknownFact, RegionNotCovered, ParameterNotInForce):
        pass
    try:
        shortest = maternity_leave(born, dystocia=False, babies=birth.get("babies") or 1,
                                   region=NATIONAL, params=params)
    except ParameterNotInForce:
        return None  # a birth before the encoded rules (FEM-7, 2012-04-28)
    return True if shortest.contains(as_of) else None


# ---- medical treatment period -------------------------------------------------------------------
def _medical_period(employee: dict, service: float | None, as_of: dt.date, params: ParameterSet) -> bool | None:
    """In the medical treatment period, computed from sick leave. With the region unknown, every rule
    that could apply (the national table and each regional rule in force) must agree."""
    medical = employee.get("medical_treatment") or {}
    if "sick_leave" not in medical:
        return None
    spans = [(s["start"], s.get("end")) for s in medical["sick_leave"]]
    if not any(start <= as_of <= (end or as_of) for start, end in spans):
        return False  # not off sick on as_of: whatever the entitlement
    if service is None:
        return None
    regional = regional_values(params, "medical_treatment.regional_formula", as_of)
    region = employee.get("region")
    total = employee.get("total_work_years")
    answers = set()
    for candidate in [region] if region else [NATIONAL, *regional]:
        if total is None and candidate not in regional:
            return None  # the national table needs the total working years
        # Years with this employer are working years too: a smaller total is an error in the data.
        years = max(total or 0.0, service)
        try:
            entitlement = medical_treatment_entitlement(years, service, as_of, params, region=candidate)
            answers.add(medical_treatment_in_period(spans, as_of, entitlement))
        except (UnknownFact, ParameterNotInForce):
            return None
    return answers.pop() if len(answers) == 1 else None


# ---- service and retirement --------------------------------------------------------------------
def _service_years(employee: dict, as_of: dt.date) -> float | None:
    """Continuous years with this employer: as given (service carried over included), else the
    whole years completed since the hire date (LCL-42-5 "满十五年": the anniversary completes one)."""
    given = employee.get("continuous_service_years")
    if given is not None:
        return _years(float(given))
    hired = employee.get("hire_date")
    if hired is None or hired > as_of:
        return None
    return completed_years(hired, as_of)


def _retirement(employee: dict, as_of: dt.date, action_date: dt.date, params: ParameterSet) -> dict:
    """Time left to the statutory retirement date, for every retirement the known facts allow
    (a woman whose original age is unknown: 50 and 55; gender unknown: all). The rules compare
    min and max: where they disagree, the unknown fact decides the answer."""
    birth = employee.get("birth_date")
    if birth is None:
        return {}
    original = employee.get("original_retirement_age")
    genders: Iterable[str] = [employee["gender"]] if employee.get("gender") else ("male", "female")
    try:
        dates = [r.date for g in genders
                 for age, r in retirement_candidates(birth, g, as_of, params).items()
                 if original is None or age == original]
    except ParameterNotInForce:
        return {}  # a check dated before the encoded retirement ages (1978)
    if not dates:
        return {}
    earliest, latest = min(dates), max(dates)
    return {
        "derived.retirement.months_left_min": whole_months_between(as_of, earliest),
        "derived.retirement.months_left_max": whole_months_between(as_of, latest),
        "derived.retirement.days_left_min": (earliest - action_date).days,
        "derived.retirement.days_left_max": (latest - action_date).days,
    }


# ---- resignation ----------------------------------------------------------------------------------
def _resignation(case: dict | None, classification: Classification) -> dict:
    """Form of the latest resignation (what counts as writing: classification/written_form.yaml),
    and whether a withdrawal reached the employer before or together with it (CC-137: a
    resignation takes effect on arrival; CC-141: a withdrawal works only if it arrives before or
    with it). Both follow the case's state machine, in the order the declarations arrived."""
    if case is None:
        return {}
    machine = classification.machine
    submitted = [e for e in machine.in_arrival_order(case["events"]) if e["type"] == "resignation_submitted"]
    if not submitted:
        return {}
    facts = {"derived.resignation.form": classification.forms.legal_form(submitted[-1].get("form"))}
    timing = machine.withdrawal_timing(machine.run(case["events"]))
    if timing is not None:
        facts["derived.resignation.withdrawal_timing"] = timing
    return facts
