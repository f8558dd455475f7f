"""Facts of pregnancy, childbirth, nursing and miscarriage (FEM-7, FEM-9, the regional maternity
extensions): whether the employee is on maternity or miscarriage leave or in her nursing period
on the day judged, as facts/labor_law.py derives them."""
from __future__ import annotations

import datetime as dt

from service.decide.facts.trying import deciding
from service.decide.facts.unknown import Unknown
from service.decide.parameters import ParameterNotInForce, ParameterSet
from service.decide.periods import (NATIONAL, RegionNotCovered, UnknownFact, add_years, maternity_leave, miscarriage_leave,
                                    miscarriage_leave_bounds, nursing_period, regional_values)

_MATERNITY_EXTENSION = "maternity.regional_extension_days"


def nursing(employee: dict, as_of: dt.date, params: ParameterSet) -> bool | None:
    children = employee.get("children")
    if children is None:
        return Unknown("employee.children")
    answers = {_first_year(child["birth_date"], as_of, params) for child in children}
    return True if True in answers else Unknown("employee.children") if None in answers else False


def nursing_ends(employee: dict, params: ParameterSet) -> str | None:
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


def on_maternity_leave(employee: dict, as_of: dt.date, params: ParameterSet, rested: dict) -> bool | None:
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
        return Unknown(find=lambda: deciding(on_leave, _maternity_details(employee, as_of, params)))
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


def on_miscarriage_leave(employee: dict, as_of: dt.date, params: ParameterSet) -> bool | None:
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
