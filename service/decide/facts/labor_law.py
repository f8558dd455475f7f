"""Facts the statutory protections read: protected periods, statuses and counts, as of the check.

Only derivation lives here: copying request facts, and date arithmetic with the parameters in
force (service/decide/periods.py). Whether a status protects, and against which separation, is decided
by the rule files in rules/labor_law/. A fact that cannot be derived without guessing is left
out, and the rules see it as unknown; where derivation gives up it returns `Unknown(...)` naming the
request fields that decide the fact (service/decide/facts/unknown.py). The maternity, nursing and
miscarriage periods are derived in facts/maternity.py, the medical treatment period in medical.py.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from service.decide.classification import Classification
from service.decide.facts.context import FactContext
from service.decide.facts.counting import days_between, or_unknown, shifted, two_decimals
from service.decide.facts.maternity import on_maternity_leave, on_miscarriage_leave, nursing, nursing_ends
from service.decide.facts.medical import medical_period, sick_leave_in_window
from service.decide.facts.unknown import Unknown
from service.decide.parameters import ParameterNotInForce, ParameterSet
from service.decide.periods import (UnknownFact, add_years, completed_years, longest_probation_months,
                                    paid_suspension_limits, probation_cap_months, probation_end, retirement_candidates,
                                    whole_months_between)

_DISABLED = {"disabled": True, "not_disabled": False, "none": False}


def derive(request: dict, as_of: dt.date, context: FactContext, on: dt.date | None = None,
           rested: dict | None = None) -> dict:
    """`on`: the day the employee's statuses are judged (nursing, maternity and miscarriage leave,
    medical period, paid suspension, probation, years of service, months to retirement); default
    as_of. The law applied is the one in force on
    as_of whatever `on` is. Request statuses (pregnancy, a stated medical status) are as stated.
    `rested`, if given, receives the regional provisions a fact's value rested on (Facts.rested_on)."""
    rested = {} if rested is None else rested
    employee, action = request["employee"], request["action"]
    params = context.parameters
    # The day the separation takes effect: notice, expiry and retirement are counted to it, on
    # every judgment day (they compare the separation's own date with another).
    action_date: dt.date = action.get("effective_date") or as_of
    on = on or as_of
    service = _service_years(employee, as_of, on)
    facts: dict[str, Any] = {
        "derived.separation.ground_article": or_unknown(
            context.classification.basis.ground_article(action.get("ground")), "action.ground"),
        "derived.nursing_period.active": nursing(employee, on, params),
        # A pending assessment says nothing yet about the disability.
        "derived.work_injury.disabled": or_unknown(
            _DISABLED.get((employee.get("work_injury") or {}).get("status")), "employee.work_injury.status"),
        "derived.nursing_period.ends_on": nursing_ends(employee, params),
        "derived.maternity_leave.active": on_maternity_leave(employee, on, params, rested),
        "derived.medical_treatment.in_period": medical_period(employee, service[0], as_of, on, params, rested),
        "derived.medical_treatment.sick_leave_in_window": sick_leave_in_window(employee, service[0], as_of, on, params),
        "derived.occupational_disease.diagnosed": _occupational_disease(employee),
        "derived.union.exists": _union_exists(request),
        "derived.service.continuous_years_min": service[0],
        "derived.service.continuous_years_max": service[1],
        # The years as given narrow the range to one value; the hire date and the total working
        # years bound it, and only where they meet does it need nothing more.
        "derived.service.continuous_years": None if service[0] is not None and service[0] == service[1]
        else Unknown("employee.continuous_service_years"),
        "derived.notice.days_served": or_unknown(days_between(action.get("notice_served_on"), action_date),
                                                  "action.notice_served_on"),
        "derived.layoff.days_since_consultation": or_unknown(
            days_between((action.get("layoff") or {}).get("consulted_on"), action_date), "action.layoff.consulted_on"),
        "derived.contract.days_to_end": or_unknown(
            days_between(action_date, (employee.get("contract") or {}).get("end_date")), "employee.contract.end_date"),
        "derived.union_officer.term_days_left": or_unknown(
            days_between(action_date, (employee.get("union_officer") or {}).get("term_end")), "employee.union_officer.term_end"),
        "derived.union_officer.extended_contract_days_left": _extended_contract_days_left(employee, action_date),
        "derived.layoff.percent_of_staff": _percent_of_staff(action.get("layoff")),
        "derived.miscarriage_leave.active": on_miscarriage_leave(employee, on, params),
        "derived.paid_suspension.active": _paid_suspension(employee, on, params),
    }
    facts.update(_probation(employee, as_of, on, params))
    facts.update(_retirement(employee, as_of, on, action_date, params))
    facts.update(_resignation(request.get("case"), context.classification))
    return facts


def request_value(request: dict, path: tuple[str, ...]):
    """A `source: request` fact as the rules see it, by its name's parts (Vocabulary.request_facts):
    dates as ISO text, years to two decimals, "unknown" (or absent) as None."""
    node: Any = request
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if node == "unknown":
        return None
    if isinstance(node, float):
        return two_decimals(node)
    return node.isoformat() if isinstance(node, dt.date) else node


# ---- paid suspension after a work injury ------------------------------------------------------------
def _paid_suspension(employee: dict, as_of: dt.date, params: ParameterSet) -> bool | None:
    """In the paid suspension (WIR-33): from its start to its end (open while none is given), within
    12 months, or 24 with an extension the appraisal committee confirmed."""
    suspension = (employee.get("work_injury") or {}).get("paid_suspension")
    if suspension is None:
        return Unknown(*(f"employee.work_injury.paid_suspension.{f}" for f in ("start", "end", "extension_confirmed")))
    start: dt.date = suspension["start"]
    end: dt.date | None = suspension.get("end")
    if as_of < start or (end is not None and as_of > end):
        return False
    try:
        usual, extended = paid_suspension_limits(start, params)
    except ParameterNotInForce:
        return Unknown()  # began before the encoded text (WIR-33, 2011-01-01): nothing to send decides
    if as_of <= usual:
        return True
    if as_of > extended:
        return False
    # None: the extension decides, and is unknown
    return or_unknown(suspension.get("extension_confirmed"), "employee.work_injury.paid_suspension.extension_confirmed")


# ---- probation and layoff size ----------------------------------------------------------------------
def _probation(employee: dict, as_of: dt.date, on: dt.date, params: ParameterSet) -> dict:
    """Probation on `on`, under the statutory maximum (LCL-19, parameter probation.max_months) in
    force on as_of.

    The EHR states the probation (`probation_end`, or its `in_probation` flag: either one saying
    so counts, so an error in the data does not strip the employee of the probation rules'
    limits); the law caps it. Probation runs from the hire date, once per employer, inside the
    term of the contract it is agreed in: a probation still running belongs to the current
    contract, whose term is then hire date to end date. Past the longest cap of any contract
    nobody is on probation, whatever the contract says."""
    contract = employee.get("contract") or {}
    stated_end, flag = contract.get("probation_end"), contract.get("in_probation")
    statements = {flag, None if stated_end is None else on <= stated_end} - {None}
    stated = (True in statements) if statements else None
    said = () if stated is not None else ("employee.contract.probation_end", "employee.contract.in_probation")
    # The term decides the cap: the type, and for a fixed term its end date.
    term = (*(["employee.contract.type"] if not contract.get("type") else []),
            *(["employee.contract.end_date"] if contract.get("type") in (None, "fixed_term")
              and not contract.get("end_date") else []))
    hired = employee.get("hire_date")
    if hired is None:
        cap = Unknown("employee.hire_date", *term)
        return {"derived.probation.active": _and_known(stated, None, said, cap), "derived.probation.past_statutory_end": cap}
    if on < hired:  # a notice day before the employment began: no probation yet
        return {"derived.probation.active": False, "derived.probation.past_statutory_end": False}
    try:
        latest = probation_end(hired, longest_probation_months(as_of, params))
        months = probation_cap_months(contract.get("type"), _term_months(hired, contract.get("end_date")),
                                      as_of, params) if contract.get("type") else None
    except ParameterNotInForce:  # a check dated before the Labor Contract Law: nothing to send decides
        return {"derived.probation.active": _and_known(stated, None, said, Unknown()),
                "derived.probation.past_statutory_end": Unknown()}
    except UnknownFact:
        months = None
    facts: dict[str, Any] = {}
    if months is None:  # the contract's term is unknown: only the longest cap is certain
        past = True if latest is None or on > latest else None
        statutory_end = None
    else:
        statutory_end = probation_end(hired, months)
        past = statutory_end is None or on > statutory_end
        facts["derived.probation.statutory_months"] = months
        facts["derived.probation.statutory_end"] = statutory_end.isoformat() if statutory_end else None
        if stated_end is not None:
            served_to = min(on, stated_end)
            from_day = statutory_end + dt.timedelta(days=1) if statutory_end else hired
            facts["derived.probation.excess_days_served"] = max(0, (served_to - from_day).days + 1)
    cap = Unknown(*term)
    facts["derived.probation.past_statutory_end"] = cap if past is None else past
    facts["derived.probation.active"] = _and_known(stated, None if past is None else not past, said, cap)
    return facts


def _term_months(hired: dt.date, end: dt.date | None) -> int | None:
    """Whole months of a fixed term from the hire date through its last day."""
    if end is None or end < hired:
        return None
    return whole_months_between(hired, end + dt.timedelta(days=1))


def _and_known(stated: bool | None, within: bool | None, said: tuple, cap: Unknown) -> bool | Unknown:
    """Kleene's conjunction of what the EHR says and whether the statutory cap allows it: false if
    either is false; unknown naming what decides the unknown side(s)."""
    if stated is False or within is False:
        return False
    if stated is None or within is None:
        return Unknown(*said, *(cap.fields if within is None else ()))
    return True


def _percent_of_staff(layoff: dict | None) -> float | int | None:
    """The reduction as a percentage of the staff, rounded down to two decimals (so 9.999% is
    9.99, never 10: LCL-41 asks for "百分之十以上")."""
    layoff = layoff or {}
    reduced, total = layoff.get("headcount_reduced"), layoff.get("total_headcount")
    if reduced is None or total is None:
        return Unknown(*(f"action.layoff.{f}" for f, v in (("headcount_reduced", reduced), ("total_headcount", total))
                         if v is None))
    return two_decimals(reduced * 10000 // total / 100)


# ---- union, occupational disease ----------------------------------------------------------------------
_UNION_OFFICES = ("chair", "vice_chair", "committee_member")


def _union_exists(request: dict) -> bool | None:
    """A grassroots union office (TUL-19) implies the union, whatever else the record says."""
    office = ((request["employee"].get("union_officer") or {}).get("position"))
    if office in _UNION_OFFICES:
        return True
    exists = (request.get("employer") or {}).get("union_exists")
    return Unknown("employer.union_exists") if exists is None else exists


def _occupational_disease(employee: dict) -> bool | None:
    """An occupational disease contracted at this employer (LCL-42(2)): as diagnosed, or settled as
    absent without exposure in the job, suspicion or work injury."""
    disease = employee.get("occupational_disease") or {}
    if disease.get("diagnosed") is not None:
        return disease["diagnosed"]
    injury = (employee.get("work_injury") or {}).get("status")
    if disease.get("hazard_exposure") is False and disease.get("suspected") is False and injury == "none":
        return False
    return Unknown("employee.occupational_disease.diagnosed")


# ---- union officers -----------------------------------------------------------------------------------
def _extended_contract_days_left(employee: dict, action_date: dt.date) -> int | None:
    """A full-time officer's contract is extended by the length of the term (TUL-19): days from the
    action date to the contract's end date moved on by the term, both ends of the term counted."""
    officer = employee.get("union_officer") or {}
    contract_end = (employee.get("contract") or {}).get("end_date")
    start, end = officer.get("term_start"), officer.get("term_end")
    if officer.get("full_time") is False:
        return None  # not extended: a rule asks about full-time officers only
    if officer.get("full_time") is None or None in (start, end, contract_end):
        return Unknown(*(f for f, v in (("employee.union_officer.full_time", officer.get("full_time")),
                                        ("employee.union_officer.term_start", start),
                                        ("employee.union_officer.term_end", end),
                                        ("employee.contract.end_date", contract_end)) if v is None))
    tenure = end - start + dt.timedelta(days=1)
    return (contract_end + tenure - action_date).days


# ---- service and retirement --------------------------------------------------------------------
def _service_years(employee: dict, as_of: dt.date, on: dt.date) -> tuple[float | None, float | None]:
    """Continuous years with this employer on `on`, as (at least, at most). As given on as_of
    (service carried over included), moved by the time from as_of to `on`. Else at least the whole
    years completed since the hire date (LCL-42-5 "满十五年": the anniversary completes one) and at
    most the total working years, since service carried over from a previous employer (LCLIR-10)
    counts too and only the total bounds it."""
    given = employee.get("continuous_service_years")
    if given is not None:
        years = shifted(float(given), as_of, on)
        return years, years
    hired = employee.get("hire_date")
    least = None if hired is None or hired > on else completed_years(hired, on)
    total = shifted(employee.get("total_work_years"), as_of, on)
    if total is None or least is None:
        return least, None
    return least, max(least, total)  # a total below the years here is an error in the data


def _retirement(employee: dict, as_of: dt.date, on: dt.date, action_date: dt.date, params: ParameterSet) -> dict:
    """Time left to the statutory retirement date, for every retirement the known facts allow
    (a woman whose original age is unknown: 50 and 55; gender unknown: all). The rules compare
    min and max: where they disagree, the unknown fact decides the answer."""
    birth = employee.get("birth_date")
    original = employee.get("original_retirement_age")
    # The original age decides between the candidates (each belongs to one gender); a man has one.
    age = ("employee.original_retirement_age",) if original is None and employee.get("gender") != "male" else ()
    if birth is None:
        return dict.fromkeys(_RETIREMENT_RANGES, Unknown("employee.birth_date", *age))
    genders: Iterable[str] = [employee["gender"]] if employee.get("gender") else ("male", "female")
    try:
        dates = [r.date for g in genders
                 for age_of, r in retirement_candidates(birth, g, as_of, params).items()
                 if original is None or age_of == original]
    except ParameterNotInForce:
        return dict.fromkeys(_RETIREMENT_RANGES, Unknown())  # checked before the encoded ages (1978)
    if not dates:
        return {}
    earliest, latest = min(dates), max(dates)
    facts = {
        **dict.fromkeys(_RETIREMENT_RANGES, Unknown(*age) if earliest != latest else None),
        "derived.retirement.months_left_min": whole_months_between(on, earliest),
        "derived.retirement.months_left_max": whole_months_between(on, latest),
        "derived.retirement.days_left_min": (earliest - action_date).days,
        "derived.retirement.days_left_max": (latest - action_date).days,
        "derived.retirement.date_earliest": earliest.isoformat(),
        "derived.retirement.date_latest": latest.isoformat(),
    }
    try:
        years = params.get("long_service_protection.years_to_retirement", on=as_of)
        facts["derived.retirement.window_start"] = add_years(earliest, -years).isoformat()
    except ParameterNotInForce:
        pass  # before LCL-42(5) (2008): no such window
    return facts


_RETIREMENT_RANGES = ("derived.retirement.months_left", "derived.retirement.days_left")


# ---- resignation ----------------------------------------------------------------------------------
def _resignation(case: dict | None, classification: Classification) -> dict:
    """Form of the latest resignation (what counts as writing: classification/written_form.yaml),
    and whether a withdrawal reached the employer before or together with it (CC-137: a
    resignation takes effect on arrival; CC-141: a withdrawal works only if it arrives before or
    with it). Both follow the case's state machine, in the order the declarations arrived."""
    if case is None or "events" not in case:
        return dict.fromkeys(("derived.resignation.form", "derived.resignation.withdrawal_timing"),
                             Unknown("case.events"))
    machine = classification.machine
    submitted = [e for e in machine.in_arrival_order(case["events"]) if e["type"] == "resignation_submitted"]
    if not submitted:  # the events (the case's whole record) carry no resignation to have a form
        return {"derived.resignation.withdrawal_timing": "no_withdrawal", "derived.resignation.form": Unknown()}
    facts = {"derived.resignation.form": classification.forms.legal_form(submitted[-1].get("form"))}
    timing = machine.withdrawal_timing(machine.run(case["events"]))
    facts["derived.resignation.withdrawal_timing"] = or_unknown(timing, "case.events")
    return facts
