"""The medical treatment period (医疗期, MED-2/3, MED-4, MED-1995, the regional formulas): whether
the employee is in it on the day judged, and the sick leave counted in its window, as
facts/labor_law.py derives them."""
from __future__ import annotations

import datetime as dt

from service.decide.facts.counting import shifted
from service.decide.facts.trying import deciding, results_of, size_of
from service.decide.facts.unknown import Unknown
from service.decide.parameters import ParameterNotInForce, ParameterSet
from service.decide.periods import (NATIONAL, UnknownFact, add_months, medical_treatment_entitlement,
                                    medical_treatment_in_period, regional_values)

_MEDICAL_FORMULA = "medical_treatment.regional_formula"


def medical_period(employee: dict, service: float | None, as_of: dt.date, on: dt.date,
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
                                          shifted(years, as_of, on), as_of, on, params, [])
        if answer is None:
            raise UnknownFact("employee.medical_treatment.status")
        return answer
    results = results_of(computed, tried)
    if len(results) < size_of(tried):  # some values leave it undecided: only the status decides
        return status
    return tuple(deciding(computed, tried, results)) or status


def sick_leave_in_window(employee: dict, service: float | None, as_of: dt.date, on: dt.date,
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
    total = shifted(employee.get("total_work_years"), as_of, on)
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
