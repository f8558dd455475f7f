"""Facts the statutory protections read: protected periods, statuses and counts, as of the check.

Only derivation lives here: copying request facts, and date arithmetic with the parameters in
force (service/decide/periods.py). Whether a status protects, and against which separation, is decided
by the rule files in rules/labor_law/. A fact that cannot be derived without guessing is left
out, and the rules see it as unknown; where derivation gives up it returns `Unknown(...)` naming the
request fields that decide the fact (service/decide/facts/unknown.py).
"""
from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import Any, Callable, Iterable

from service.decide.classification import Classification
from service.decide.facts.context import FactContext
from service.decide.facts.unknown import Unknown
from service.decide.parameters import ParameterNotInForce, ParameterSet
from service.decide.periods import (NATIONAL, RegionNotCovered, UnknownFact, add_months, add_years, completed_years,
                             longest_probation_months, maternity_leave, medical_treatment_entitlement,
                             medical_treatment_in_period, miscarriage_leave, miscarriage_leave_bounds,
                             nursing_period, paid_suspension_limits, probation_cap_months, probation_end,
                             regional_values, retirement_candidates, whole_months_between)

_DISABLED = {"disabled": True, "not_disabled": False, "none": False}
_MATERNITY_EXTENSION = "maternity.regional_extension_days"
_MEDICAL_FORMULA = "medical_treatment.regional_formula"


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
        "derived.separation.ground_article": _or_unknown(
            context.classification.basis.ground_article(action.get("ground")), "action.ground"),
        "derived.nursing_period.active": _nursing(employee, on, params),
        # A pending assessment says nothing yet about the disability.
        "derived.work_injury.disabled": _or_unknown(
            _DISABLED.get((employee.get("work_injury") or {}).get("status")), "employee.work_injury.status"),
        "derived.nursing_period.ends_on": _nursing_ends(employee, params),
        "derived.maternity_leave.active": _maternity_leave(employee, on, params, rested),
        "derived.medical_treatment.in_period": _medical_period(employee, service[0], as_of, on, params, rested),
        "derived.medical_treatment.sick_leave_in_window": _sick_leave_in_window(employee, service[0], as_of, on, params),
        "derived.occupational_disease.diagnosed": _occupational_disease(employee),
        "derived.union.exists": _union_exists(request),
        "derived.service.continuous_years_min": service[0],
        "derived.service.continuous_years_max": service[1],
        # The years as given narrow the range to one value; the hire date and the total working
        # years bound it, and only where they meet does it need nothing more.
        "derived.service.continuous_years": None if service[0] is not None and service[0] == service[1]
        else Unknown("employee.continuous_service_years"),
        "derived.notice.days_served": _or_unknown(_days(action.get("notice_served_on"), action_date),
                                                  "action.notice_served_on"),
        "derived.layoff.days_since_consultation": _or_unknown(
            _days((action.get("layoff") or {}).get("consulted_on"), action_date), "action.layoff.consulted_on"),
        "derived.contract.days_to_end": _or_unknown(
            _days(action_date, (employee.get("contract") or {}).get("end_date")), "employee.contract.end_date"),
        "derived.union_officer.term_days_left": _or_unknown(
            _days(action_date, (employee.get("union_officer") or {}).get("term_end")), "employee.union_officer.term_end"),
        "derived.union_officer.extended_contract_days_left": _extended_contract_days_left(employee, action_date),
        "derived.layoff.percent_of_staff": _percent_of_staff(action.get("layoff")),
        "derived.miscarriage_leave.active": _miscarriage_leave(employee, on, params),
        "derived.paid_suspension.active": _paid_suspension(employee, on, params),
    }
    facts.update(_probation(employee, as_of, on, params))
    facts.update(_retirement(employee, as_of, on, action_date, params))
    facts.update(_resignation(request.get("case"), context.classification))
    return facts


def request_value(request: dict, name: str):
    """A `source: request` fact as the rules see it: dates as ISO text, years to two decimals,
    "unknown" (or absent) as None."""
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


def _or_unknown(value, *fields: str):
    """The value, or Unknown(fields) when it is None: for a fact read from those fields only."""
    return Unknown(*fields) if value is None else value


def _days(start: dt.date | None, end: dt.date | None) -> int | None:
    return None if start is None or end is None else (end - start).days


# ---- pregnancy, childbirth, nursing ------------------------------------------------------------
def _nursing(employee: dict, as_of: dt.date, params: ParameterSet) -> bool | None:
    children = employee.get("children")
    if children is None:
        return Unknown("employee.children")
    answers = {_first_year(child["birth_date"], as_of, params) for child in children}
    return True if True in answers else Unknown("employee.children") if None in answers else False


def _nursing_ends(employee: dict, params: ParameterSet) -> str | None:
    children = employee.get("children")
    if not children:
        return None
    born = max(child["birth_date"] for child in children)
    try:
        return nursing_period(born, params).end.isoformat()
    except ParameterNotInForce:
        return None  # a birth before the encoded nursing values: not guessed


def _first_year(born: dt.date, as_of: dt.date, params: ParameterSet) -> bool | None:
    try:
        return nursing_period(born, params).contains(as_of)
    except ParameterNotInForce:
        return None  # a birth before the encoded nursing values: not guessed


def _maternity_leave(employee: dict, as_of: dt.date, params: ParameterSet, rested: dict) -> bool | None:
    """On maternity leave on as_of. With a detail unknown (dystocia, babies, the child's order, an
    unencoded region) the leave is at least the one every recorded detail gives (a recorded
    dystocia and each recorded additional baby count; the region's extension when it does not
    depend on the unknown detail) and, in every rule known, ends by the first birthday; between
    the two it is unknown. The regional regulation is what the value rests on when its extension
    decides it: past the national leave, whether she is still on leave is the extension's answer."""
    birth = employee.get("childbirth")
    if birth is None:
        return Unknown(find=lambda: _maternity_details(employee, as_of, params))
    if birth.get("status") == "none":
        return False  # the EHR states there was no childbirth in the past year
    born: dt.date = birth["date"]
    if not born <= as_of <= add_years(born, 1):
        return False
    dystocia, babies = birth.get("dystocia"), birth.get("babies")
    region, order = employee.get("region"), birth.get("child_order")
    # The leave she certainly has: what is recorded adds to it, what is not adds nothing.
    known = dict(dystocia=dystocia is True, babies=babies or 1)
    national = _leave(born, region=NATIONAL, child_order=None, params=params, **known)
    exact = _leave(born, dystocia, babies, region, order, params)
    leave = exact or _leave(born, region=region, child_order=order, params=params, **known) or national
    if leave is None:
        return Unknown()  # a birth before the encoded rules (FEM-7, 2012-04-28): nothing to send decides
    if exact is None and not leave.contains(as_of):
        def on_leave(dystocia, babies, region, child_order):
            return maternity_leave(born, dystocia=dystocia, babies=babies, region=region, params=params,
                                   child_order=child_order).contains(as_of)
        return Unknown(find=lambda: _deciding(on_leave, _maternity_details(employee, as_of, params)))
    if region not in (None, NATIONAL) and leave is not national and not national.contains(as_of):
        rested["derived.maternity_leave.active"] = params.reference(
            f"{_MATERNITY_EXTENSION}.{region}", on=born).references
    return leave.contains(as_of)


def _leave(born: dt.date, dystocia: bool | None, babies: int | None, region: str | None,
           child_order: int | None, params: ParameterSet):
    """The maternity leave those details give, or None when one that decides it is unknown."""
    try:
        return maternity_leave(born, dystocia=dystocia, babies=babies, region=region, params=params,
                               child_order=child_order)
    except (UnknownFact, RegionNotCovered, ParameterNotInForce):
        return None


# The values a detail of a childbirth is tried with, to find the ones that decide the leave on a
# day: every value that can lengthen it (the leave grows with dystocia, babies and by region).
_BABIES = (1, 2, 3)
_CHILD_ORDERS = (1, 2, 3)


def _maternity_details(employee: dict, on: dt.date, params: ParameterSet) -> dict[str, tuple]:
    """The details of the childbirth not given, each with the values it is tried with (a given
    one: only its value); the region only among those whose rule is encoded (another cannot be
    decided on)."""
    birth = employee.get("childbirth") or {}
    born = birth.get("date")
    encoded = regional_values(params, "maternity.regional_extension_days", born or on)
    regions = tuple(encoded)
    region = employee.get("region")
    tried = {
        "employee.childbirth.dystocia": (birth["dystocia"],) if "dystocia" in birth else (False, True),
        "employee.childbirth.babies": (birth["babies"],) if "babies" in birth else _BABIES,
        "employee.region": (region,) if region else regions or (None,),
        "employee.childbirth.child_order": (birth["child_order"],) if "child_order" in birth else _CHILD_ORDERS,
    }
    if born is None:  # every detail not given may decide, on some day; the order only where the region asks
        by_order = region is None or isinstance(encoded.get(region), dict)
        return {"employee.childbirth.date": (), **{f: v for f, v in tried.items() if len(v) > 1
                                                   and (by_order or f != "employee.childbirth.child_order")}}
    return tried


def _results(answer: Callable[..., bool], tried: dict[str, tuple]) -> dict[tuple, bool]:
    """`answer` for every combination of the values tried; those it cannot decide on left out."""
    results: dict[tuple, bool] = {}
    for combination in itertools.product(*tried.values()):
        try:
            results[combination] = answer(*combination)
        except (UnknownFact, RegionNotCovered, ParameterNotInForce, ValueError):
            continue
    return results


def _size(tried: dict[str, tuple]) -> int:
    return math.prod(len(values) for values in tried.values())


def _deciding(answer: Callable[..., bool], tried: dict[str, tuple], results: dict | None = None) -> list[str]:
    """The fields (tried with more than one value) on which `answer` depends: those whose value
    alone, the others kept, changes it somewhere. Values that cannot be decided on are skipped."""
    names = list(tried)
    results = _results(answer, tried) if results is None else results
    deciding = []
    for position, name in enumerate(names):
        if len(tried[name]) > 1 and any(
                results.get(c[:position] + (v,) + c[position + 1:], r) != r
                for c, r in results.items() for v in tried[name]):
            deciding.append(name)
    return deciding


def _miscarriage_leave(employee: dict, as_of: dt.date, params: ParameterSet) -> bool | None:
    """On the leave for a miscarriage (FEM-7 para 2). With the months of pregnancy unknown it is
    known inside the shorter leave and after the longer one; in between it is unknown."""
    miscarriage = employee.get("miscarriage")
    if miscarriage is None:
        return Unknown("employee.miscarriage.date", "employee.miscarriage.months_pregnant")
    if miscarriage.get("status") == "none":
        return False
    happened: dt.date = miscarriage["date"]
    if as_of < happened:
        return False
    try:
        months = miscarriage.get("months_pregnant")
        if months is not None:
            return miscarriage_leave(happened, months, params).contains(as_of)
        shorter, longer = miscarriage_leave_bounds(happened, params)
    except ParameterNotInForce:
        return Unknown()  # a miscarriage before the encoded rules (FEM-7, 2012-04-28): nothing to send decides
    if shorter.contains(as_of):
        return True
    return False if as_of > longer.end else Unknown("employee.miscarriage.months_pregnant")


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
    return _or_unknown(suspension.get("extension_confirmed"), "employee.work_injury.paid_suspension.extension_confirmed")


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
    return _years(reduced * 10000 // total / 100)


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


# ---- medical treatment period -------------------------------------------------------------------
def _medical_period(employee: dict, service: float | None, as_of: dt.date, on: dt.date,
                    params: ParameterSet, rested: dict) -> bool | None:
    """In the medical treatment period on `on`, computed from sick leave under the law in force on
    as_of. With the region unknown, every rule that could apply (the national table and each
    regional rule in force) must agree. A value computed with a region's own standard, which
    replaces the national table there, rests on that standard (Facts.rested_on)."""
    medical = employee.get("medical_treatment") or {}
    used: list = []
    computed = _computed_medical_period(medical, employee, service, as_of, on, params, used)
    # The status the EHR gives and the period computed from sick leave are two sources of one
    # fact: either showing the period decides; "none" stands unless the sick leave shows it.
    status = medical.get("status")
    if status == "in_period" or computed is True:
        answer = True
    elif status == "none" or computed is False:
        answer = False
    else:
        return Unknown(find=lambda: _medical_deciding(medical, employee, service, as_of, on, params))
    stated = {"in_period": True, "none": False}.get(status)
    if used and computed is answer and stated is not answer:  # the computation, not the status, decided
        rested["derived.medical_treatment.in_period"] = params.reference(used[0], on=as_of).references
    return answer


# The values the years are tried with to find whether they decide the medical period: each side
# of every bracket of the national table (MED-2/3), and Shanghai's whole years (REG-SH-MED).
_SERVICE_YEARS = (0, 1, 3, 5, 7, 10, 12, 15, 17, 20, 25)
_TOTAL_YEARS = (0, 10)  # the table's one bracket on total years; the years with this employer count too
_SOME_NATIONAL_REGION = "CN-BJ"  # a place of work whose medical period is the national table's


def _medical_deciding(medical: dict, employee: dict, service: float | None, as_of: dt.date, on: dt.date,
                      params: ParameterSet) -> tuple[str, ...]:
    """The request fields that decide a medical period the EHR gave no status for: those the
    computation from sick leave lacks, when every value of them lets it decide; else the status
    (the EHR's own answer decides whatever the sick leave shows)."""
    status = ("employee.medical_treatment.status",)
    if "sick_leave" not in medical:
        return status
    regional = tuple(regional_values(params, "medical_treatment.regional_formula", as_of))
    tried = {
        "employee.continuous_service_years": (service,) if service is not None else _SERVICE_YEARS,
        "employee.total_work_years": ((employee["total_work_years"],) if employee.get("total_work_years") is not None
                                      else _TOTAL_YEARS),
        "employee.region": (employee["region"],) if employee.get("region") else (*regional, _SOME_NATIONAL_REGION),
    }

    def computed(years, total, region):
        answer = _computed_medical_period(medical, {**employee, "total_work_years": total, "region": region},
                                          _shifted(years, as_of, on), as_of, on, params, [])
        if answer is None:
            raise UnknownFact("employee.medical_treatment.status")
        return answer
    results = _results(computed, tried)
    if len(results) < _size(tried):  # some values leave it undecided: only the status decides
        return status
    return tuple(_deciding(computed, tried, results)) or status


def _sick_leave_in_window(employee: dict, service: float | None, as_of: dt.date, on: dt.date,
                          params: ParameterSet) -> bool | None:
    """A sick leave within the MED-4 counting window ending on `on`: the employee's own window where
    the entitlement can be computed (every rule that could apply must agree), else the longest."""
    leaves = (employee.get("medical_treatment") or {}).get("sick_leave")
    if leaves is None:
        return Unknown("employee.medical_treatment.sick_leave")
    if not leaves:
        return False
    try:
        windows = _counting_windows(employee, service, as_of, on, params) or \
            set(params.get("medical_treatment.counting_window_months", on=as_of).values())
    except ParameterNotInForce:
        return Unknown()  # a check dated before MED-4 (1995): nothing to send decides
    if None in windows:  # a rule with no window (Shanghai's): every leave counts
        return any(leave["start"] <= on for leave in leaves)
    start = add_months(on, -max(windows))
    return any(leave["start"] <= on and (leave.get("end") or on) >= start for leave in leaves)


def _counting_windows(employee: dict, service: float | None, as_of: dt.date, on: dt.date,
                      params: ParameterSet) -> set[int | None]:
    """The counting windows of the rules that could apply to the employee; empty when the
    entitlement cannot be computed."""
    entitlements = _entitlements(employee, service, as_of, on, params)
    return {e.window_months for e in entitlements} if entitlements else set()


def _entitlements(employee: dict, service: float | None, as_of: dt.date, on: dt.date,
                  params: ParameterSet) -> list | None:
    """The medical treatment entitlement under each rule that could apply (the region's, or with
    the region unknown the national table and every regional rule in force); None when one of
    them cannot be computed."""
    if service is None:
        return None
    regional = regional_values(params, _MEDICAL_FORMULA, as_of)
    region = employee.get("region")
    total = _shifted(employee.get("total_work_years"), as_of, on)
    out = []
    for candidate in [region] if region else [NATIONAL, *regional]:
        if total is None and candidate not in regional:
            return None  # the national table needs the total working years
        # Years with this employer are working years too: a smaller total is an error in the data.
        try:
            out.append(medical_treatment_entitlement(max(total or 0.0, service), service, as_of, params,
                                                     region=candidate))
        except (UnknownFact, ParameterNotInForce):
            return None
    return out


def _computed_medical_period(medical: dict, employee: dict, service: float | None, as_of: dt.date,
                             on: dt.date, params: ParameterSet, used: list) -> bool | None:
    """`used` receives the regional standard the answer was computed with, if one was."""
    if "sick_leave" not in medical:
        return None
    spans = sorted((s["start"], s.get("end")) for s in medical["sick_leave"])
    if any(end is None for _, end in spans[:-1]):
        return None  # only the latest leave can be ongoing: an earlier one without its end is unknown
    if not any(start <= on <= (end or on) for start, end in spans):
        return False  # not off sick on that day: whatever the entitlement
    entitlements = _entitlements(employee, service, as_of, on, params)
    if entitlements is None:
        return None
    try:
        answers = {medical_treatment_in_period(spans, on, e) for e in entitlements}
    except UnknownFact:
        return None  # a leave the rule cannot count (interrupted, under a rule with no window)
    if employee.get("region") in regional_values(params, _MEDICAL_FORMULA, as_of):
        used.append(f"{_MEDICAL_FORMULA}.{employee['region']}")
    return answers.pop() if len(answers) == 1 else None


# ---- service and retirement --------------------------------------------------------------------
def _service_years(employee: dict, as_of: dt.date, on: dt.date) -> tuple[float | None, float | None]:
    """Continuous years with this employer on `on`, as (at least, at most). As given on as_of
    (service carried over included), moved by the time from as_of to `on`. Else at least the whole
    years completed since the hire date (LCL-42-5 "满十五年": the anniversary completes one) and at
    most the total working years, since service carried over from a previous employer (LCLIR-10)
    counts too and only the total bounds it."""
    given = employee.get("continuous_service_years")
    if given is not None:
        years = _shifted(float(given), as_of, on)
        return years, years
    hired = employee.get("hire_date")
    least = None if hired is None or hired > on else completed_years(hired, on)
    total = _shifted(employee.get("total_work_years"), as_of, on)
    if total is None or least is None:
        return least, None
    return least, max(least, total)  # a total below the years here is an error in the data


def _shifted(years: float | None, as_of: dt.date, on: dt.date) -> float | int | None:
    """Years stated as of as_of, on another day: the employment runs on until the separation.
    Moved years are cut (not rounded) to two decimals: a day short of a threshold stays short."""
    if years is None:
        return None
    if on == as_of:
        return _years(float(years))
    moved = max(0.0, float(years) + (on - as_of).days / 365.25)
    return _years(math.floor(round(moved * 100, 6)) / 100)


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
    facts["derived.resignation.withdrawal_timing"] = _or_unknown(timing, "case.events")
    return facts
