"""Pure calculators for legally protected periods (PRC): maternity leave (after a birth or a
miscarriage), nursing period, medical treatment period, the paid suspension after a work injury,
statutory retirement (service/decide/retirement.py).

Every function takes explicit dates and a :class:`ParameterSet`; none reads the clock. The law
applied is the one in force on the date that creates the entitlement (the birth date for maternity
and nursing, the ``on`` date given for the medical period and retirement).

Counting conventions (legal basis):
- Periods in years/months: the Civil Code's (arts. 200-204), in service/decide/civil_dates.py.
- Periods in days (maternity leave) are calendar days including weekends and public holidays
  (FEM-7; MED-1995 point 一.2 says the same for sick leave; REG-ZJ-ML "自生育之日起按照自然日计算").
  The birth date is day 1 (see :func:`maternity_leave`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping, Sequence

from service.decide.civil_dates import add_months, add_years, check_date, completed_years, whole_months_between
from service.decide.parameters import ParameterNotInForce, ParameterSet
from service.decide.retirement import Retirement, retirement_candidates

__all__ = [
    "Entitlement",
    "Period",
    "RegionNotCovered",
    "Retirement",
    "UnknownFact",
    "add_months",
    "add_years",
    "completed_years",
    "maternity_leave",
    "miscarriage_leave",
    "miscarriage_leave_bounds",
    "paid_suspension_limits",
    "medical_treatment_entitlement",
    "medical_treatment_in_period",
    "nursing_period",
    "regional_values",
    "retirement_candidates",
    "whole_months_between",
]

NATIONAL = "CN"  # region code meaning "national rules only, no provincial rule"


class UnknownFact(LookupError):
    """The answer depends on a fact the caller did not give (``fact`` is its vocabulary name)."""

    def __init__(self, fact: str, why: str = "") -> None:
        self.fact = fact
        super().__init__(f"unknown fact {fact}" + (f": {why}" if why else ""))


@dataclass(frozen=True)
class RegionNotCovered(LookupError):
    """No rule for this region is encoded for the date (the answer would be a guess)."""
    parameter: str
    region: str
    on: date

    def __str__(self) -> str:
        return (f"{self.parameter}: no value for region {self.region!r} in force on {self.on.isoformat()}; "
                f"encode the region's rule, or pass region={NATIONAL!r} to apply national rules only")


@dataclass(frozen=True)
class Period:
    """A run of calendar days, both ends inclusive."""

    start: date
    end: date
    days: int

    def contains(self, d: date) -> bool:
        return self.start <= d <= self.end


@dataclass(frozen=True)
class Entitlement:
    months: int
    window_months: int | None  # None: the applicable rule gives no counting window


# ---- maternity leave (产期) ------------------------------------------------------------------
def maternity_leave(
    childbirth_date: date,
    *,
    dystocia: bool | None,
    babies: int | None,
    region: str | None,
    params: ParameterSet,
    child_order: int | None = None,
) -> Period:
    """Maternity leave for a birth on ``childbirth_date`` (FEM-7 plus the provincial extension).

    days = base 98 + 15 if dystocia + 15 x (babies - 1) + regional extension, all under the rules
    in force on the birth date. ``region``: ISO 3166-2:CN code (``CN-SH``) or ``"CN"`` for national
    rules only; ``None`` (unknown) raises :class:`UnknownFact`, and a region whose rule is not
    encoded raises :class:`RegionNotCovered`. ``child_order`` (1 = first child) is needed only where
    the extension depends on it (Zhejiang, REG-ZJ-ML).

    Counting: the leave starts on the birth date, which is day 1, and ``end`` is the last day
    (start + days - 1), calendar days including weekends and holidays (FEM-7 "享受98天产假";
    REG-ZJ-ML "自生育之日起按照自然日计算"). Assumptions, each giving the latest possible end:
    no prenatal leave was taken (FEM-7 allows up to 15 of the 98 days before the birth, which
    moves the end earlier); the provincial leave follows the national leave without a gap.
    Not modelled: Shanghai's rule that its 60-day 生育假 is extended by statutory holidays (沪府规
    〔2022〕18号, outside the catalog), Beijing's +1-3 months with employer consent, Guangdong's
    dystocia +30 (secondary source). The nursing period (to the first birthday) outlasts all of
    these, so the LCL-42(4) protection is normally unaffected.
    """
    check_date(childbirth_date)
    if dystocia is None:
        raise UnknownFact("employee.childbirth.dystocia", "难产 adds maternity leave (FEM-7)")
    if not isinstance(dystocia, bool):
        raise ValueError(f"dystocia must be true, false or None, got {dystocia!r}")
    if babies is None:
        raise UnknownFact("employee.childbirth.babies", "each additional baby adds maternity leave (FEM-7)")
    if isinstance(babies, bool) or not isinstance(babies, int) or babies < 1:
        raise ValueError(f"babies must be a whole number >= 1, got {babies!r}")
    if region is None:
        raise UnknownFact("employee.work_location.region", "provincial regulations extend maternity leave")
    on = childbirth_date
    days = params.get("maternity.base_days", on=on)
    if dystocia:
        days += params.get("maternity.dystocia_extra_days", on=on)
    days += (babies - 1) * params.get("maternity.extra_days_per_additional_baby", on=on)
    if region != NATIONAL:
        days += _regional_extension(region, child_order, on, params)
    return Period(childbirth_date, childbirth_date + timedelta(days=days - 1), days)


def regional_values(params: ParameterSet, name: str, on: date) -> dict[str, Any]:
    """region -> value in force on ``on``, for a regional parameter kept one file per region
    (``name/CN-SH.yaml`` is parameter ``name.CN-SH``); a region with no value in force is absent."""
    out = {}
    for parameter in params:
        region = parameter.removeprefix(name + ".")
        if region != parameter:
            try:
                out[region] = params.get(parameter, on=on)
            except ParameterNotInForce:
                pass
    return out


def _regional_extension(region: str, child_order: int | None, on: date, params: ParameterSet) -> int:
    name = "maternity.regional_extension_days"
    table = regional_values(params, name, on)
    if region not in table:
        raise RegionNotCovered(name, region, on)
    rule = table[region]
    if isinstance(rule, int):
        return rule
    by_order = rule["by_child_order"]
    if child_order is None:
        raise UnknownFact("employee.childbirth.child_order", f"the {region} extension depends on the child's birth order")
    if child_order not in by_order:  # a birth the regulation does not speak of: not encoded, not guessed
        raise RegionNotCovered(name, f"{region} (child order {child_order})", on)
    return by_order[child_order]


def miscarriage_leave(miscarriage_date: date, months_pregnant: float | None, params: ParameterSet) -> Period:
    """Maternity leave after a miscarriage (FEM-7 para 2): 15 days before 4 completed months of
    pregnancy ("未满4个月"), 42 days from 4 months ("满4个月"), under the rules in force on the date.
    The miscarriage date is day 1, calendar days, as for a birth. ``months_pregnant`` None (unknown)
    raises :class:`UnknownFact`: use :func:`miscarriage_leave_bounds` for what is known without it.
    """
    check_date(miscarriage_date)
    if months_pregnant is None:
        raise UnknownFact("employee.miscarriage.months_pregnant", "4 months of pregnancy decide 15 or 42 days (FEM-7)")
    if isinstance(months_pregnant, bool) or not isinstance(months_pregnant, (int, float)) or months_pregnant < 0:
        raise ValueError(f"months_pregnant must be a number >= 0, got {months_pregnant!r}")
    on = miscarriage_date
    late = months_pregnant >= params.get("miscarriage.months_threshold", on=on)
    days = params.get("miscarriage.late_leave_days" if late else "miscarriage.early_leave_days", on=on)
    return Period(miscarriage_date, miscarriage_date + timedelta(days=days - 1), days)


def miscarriage_leave_bounds(miscarriage_date: date, params: ParameterSet) -> tuple[Period, Period]:
    """The shorter and the longer leave a miscarriage on that date can give (months unknown)."""
    return (miscarriage_leave(miscarriage_date, 0, params),
            miscarriage_leave(miscarriage_date, params.get("miscarriage.months_threshold", on=miscarriage_date), params))


# ---- paid suspension after a work injury (停工留薪期) ------------------------------------------
def paid_suspension_limits(start: date, params: ParameterSet) -> tuple[date, date]:
    """The last day of the usual maximum (12 months) and of the maximum with a confirmed extension
    (12 more) of a paid suspension that began on ``start`` (WIR-33 para 2), under the rules in force
    on that day. Months are counted as the Civil Code counts them: the period ends on the
    corresponding day (start + 12 months), which is the latest end (the protective reading)."""
    check_date(start)
    usual = params.get("work_injury.paid_suspension_months", on=start)
    extension = params.get("work_injury.paid_suspension_extension_months", on=start)
    return add_months(start, usual), add_months(start, usual + extension)


# ---- nursing period (哺乳期) -----------------------------------------------------------------
def nursing_period(child_birth_date: date, params: ParameterSet) -> Period:
    """From the birth to the child's first birthday, both inclusive (FEM-9 "哺乳未满1周岁婴儿").

    The end follows Civil Code arts. 201-202: one year counted from the day after the birth ends on
    the corresponding day, i.e. the first birthday; a Feb 29 child's period ends on Feb 28. Whether
    the birthday itself is still protected is unsettled (catalog FEM-9 notes): it is inside the
    period here, and callers may flag that day as a boundary.
    """
    check_date(child_birth_date)
    months = params.get("nursing.child_age_months", on=child_birth_date)
    end = add_months(child_birth_date, months)
    return Period(child_birth_date, end, (end - child_birth_date).days + 1)


# ---- medical treatment period (医疗期) -------------------------------------------------------
def medical_treatment_entitlement(
    total_work_years: float,
    years_with_employer: float,
    on: date,
    params: ParameterSet,
    region: str | None = None,
) -> Entitlement:
    """Medical treatment period in months and its counting window (MED-2/3, MED-4).

    Years are completed years (see :func:`completed_years`) or fractional years; brackets are
    half-open, so exactly 5/10/15/20 years fall in the higher bracket (catalog MED-2/3 table).
    ``region``: a region with its own encoded standard (``CN-SH``, REG-SH-MED) uses it; any other
    region, ``"CN"`` or ``None`` uses the national table (the national rule applies wherever no
    regional rule replaces it; only Shanghai's is encoded). Extension for special diseases
    (MED-1995 point 二) needs approval and is not computed.
    """
    check_date(on)
    for label, v in (("total_work_years", total_work_years), ("years_with_employer", years_with_employer)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ValueError(f"{label} must be a number >= 0, got {v!r}")
    if years_with_employer > total_work_years:
        raise ValueError(
            f"years_with_employer ({years_with_employer}) exceeds total_work_years ({total_work_years})"
        )
    regional = f"medical_treatment.regional_formula.{region}"
    if region is not None and region != NATIONAL and regional in params:
        f = params.get(regional, on=on)  # a region with its own rule, before it: not guessed
        months = min(f["first_year_months"] + f["months_per_full_year"] * int(years_with_employer), f["max_months"])
        return Entitlement(months, f["window_months"])
    matches = [
        b["months"]
        for b in params.get("medical_treatment.entitlement_table", on=on)
        if _in(total_work_years, b["total_work_years"]) and _in(years_with_employer, b["years_with_employer"])
    ]
    if len(matches) != 1:
        raise ValueError(
            f"medical_treatment.entitlement_table on {on.isoformat()}: {len(matches)} brackets match "
            f"({total_work_years}, {years_with_employer}); the table must partition the plane"
        )
    months = matches[0]
    windows = params.get("medical_treatment.counting_window_months", on=on)
    if months not in windows:
        raise ValueError(f"medical_treatment.counting_window_months has no window for {months} months")
    return Entitlement(months, windows[months])


def medical_treatment_in_period(
    sick_leave: Sequence[tuple[date, date | None]], on: date, entitlement: Entitlement
) -> bool:
    """Whether ``on`` falls in the medical treatment period (医疗期, MED-2/3, MED-4, MED-1995).

    ``sick_leave``: (first day, last day or None while ongoing) of each sick leave for illness or
    non-work injury. True when the employee is on sick leave on ``on`` and the sick days counted
    in the current window, ``on`` included, do not exceed the entitlement.

    Counting (MED-4, MED-1995 point 一): from the first day of sick leave, cumulatively, in
    calendar days (weekends and holidays included), within a window of ``window_months`` that
    starts on that first day and ends on the corresponding day (the notice's own example, elided
    in the catalog: first sick day 1995-03-05, three months' entitlement, window "3月5日至9月5日");
    sick leave after the window starts a new one. The entitlement in
    days is the length of ``months`` calendar months from the window's first day, so one
    uninterrupted leave ends exactly ``months`` months after it began (Civil Code art. 202), and
    interrupted leave uses the same number of days. Not on sick leave on ``on``: False (the
    medical period is time off sick; an employee back at work is not in it).
    Raises :class:`UnknownFact` when the rule has no window (``window_months`` None, REG-SH-MED)
    and there is more than one leave: which earlier leave still counts is then not known.
    """
    check_date(on)
    runs: list[list[date]] = []  # disjoint runs of sick days up to `on`, in order
    for start, end in sorted((s, on if e is None or e > on else e) for s, e in sick_leave if s <= on):
        if runs and start <= runs[-1][1] + timedelta(days=1):
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
    if not runs or runs[-1][1] < on:
        return False
    window = entitlement.window_months
    if window is None and len(runs) > 1:
        raise UnknownFact("employee.medical_treatment.status",
                          "the regional rule gives no counting window for interrupted sick leave")
    readings = {_within_entitlement(runs, entitlement, restart_within_leave)
                for restart_within_leave in (False, True)}
    if len(readings) > 1:
        raise UnknownFact("employee.medical_treatment.status",
                          "a sick leave runs across the end of the counting window; the provisions do not "
                          "say whether its later days start a new window")
    return readings.pop()


def _within_entitlement(runs: list[list[date]], entitlement: Entitlement, restart_within_leave: bool) -> bool:
    window = entitlement.window_months
    window_start, used = runs[0][0], 0
    window_end = None if window is None else add_months(window_start, window)
    for first, last in runs:
        while first <= last:
            if window_end is not None and first > window_end:
                window_start, used = first, 0
                window_end = add_months(first, window)
            through = last if window_end is None or not restart_within_leave else min(last, window_end)
            used += (through - first).days + 1
            first = through + timedelta(days=1)
    return used <= (add_months(window_start, entitlement.months) - window_start).days


def _in(x: float, rng: Mapping[str, Any]) -> bool:
    below = rng["below"]
    return rng["min"] <= x and (below is None or x < below)


# ---- probation (试用期) ---------------------------------------------------------------------------
def probation_cap_months(contract_type: str, term_months: int | None, on: date, params: ParameterSet) -> int:
    """The longest probation the contract may carry (LCL-19, parameter ``probation.max_months``):
    by its type, or a fixed term by its length in whole months. A fixed term of unknown length
    raises UnknownFact."""
    table = params.get("probation.max_months", on=on)
    if contract_type in table:
        return table[contract_type]
    if term_months is None:
        raise UnknownFact("employee.contract.end_date")
    return next(b["months"] for b in table["by_term_months"] if _in(term_months, b["term_months"]))


def longest_probation_months(on: date, params: ParameterSet) -> int:
    """The longest probation of any contract: after it, nobody hired on a day is still on probation."""
    table = params.get("probation.max_months", on=on)
    return max([table["open_ended"], table["task_based"], *(b["months"] for b in table["by_term_months"])])


def probation_end(hired: date, months: int) -> date | None:
    """The last day of a probation of ``months`` running from the hire date as its first day (None:
    no probation may be agreed)."""
    return None if months <= 0 else add_months(hired, months) - timedelta(days=1)
