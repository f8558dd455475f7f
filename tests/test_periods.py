"""Tests for service.decide.periods: boundary values of the protected periods."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from freezegun import freeze_time
from hypothesis import given, settings, strategies as st

from service.decide.parameters import DEFAULT_ROOT, ParameterNotInForce, ParameterSet
from service.decide.periods import (
    Entitlement,
    Period,
    RegionNotCovered,
    Retirement,
    UnknownFact,
    add_months,
    add_years,
    completed_years,
    maternity_leave,
    medical_treatment_entitlement,
    medical_treatment_in_period,
    miscarriage_leave,
    miscarriage_leave_bounds,
    nursing_period,
    paid_suspension_limits,
    retirement_candidates,
    whole_months_between,
)

CATALOG = Path("/work/shared/reference/labor_rules_catalog.json")
D = date


@pytest.fixture(scope="module")
def params() -> ParameterSet:
    return ParameterSet.load(DEFAULT_ROOT)


# ---- date arithmetic ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "d, n, expected",
    [
        (D(2024, 1, 31), 1, D(2024, 2, 29)),
        (D(2025, 1, 31), 1, D(2025, 2, 28)),
        (D(2025, 3, 31), -1, D(2025, 2, 28)),
        (D(2024, 12, 15), 1, D(2025, 1, 15)),
        (D(2025, 1, 15), -13, D(2023, 12, 15)),
        (D(2024, 2, 29), 12, D(2025, 2, 28)),
        (D(2024, 2, 29), 48, D(2028, 2, 29)),
        (D(2024, 5, 31), 0, D(2024, 5, 31)),
    ],
)
def test_add_months(d, n, expected):
    assert add_months(d, n) == expected


@settings(max_examples=3000, deadline=None)
@given(d=st.dates(min_value=D(1, 1, 1), max_value=D(9999, 12, 31)), n=st.integers(-130_000, 130_000))
def test_add_months_counts_as_dateutils_relativedelta(d, n):
    """The arithmetic is ours (issue 23: relativedelta was a fifth of the slowest checks'
    evaluate()); the answer is the one relativedelta(months=n) gives, out of range included."""
    try:
        expected = d + relativedelta(months=n)
    except (ValueError, OverflowError):
        with pytest.raises(OverflowError):
            add_months(d, n)
        return
    assert add_months(d, n) == expected


def test_add_years():
    assert add_years(D(2024, 2, 29), 1) == D(2025, 2, 28)
    assert add_years(D(2023, 3, 1), 1) == D(2024, 3, 1)
    assert add_years(D(1965, 1, 31), 60) == D(2025, 1, 31)


def test_completed_years():
    assert completed_years(D(2015, 6, 1), D(2025, 5, 31)) == 9
    assert completed_years(D(2015, 6, 1), D(2025, 6, 1)) == 10
    assert completed_years(D(2024, 2, 29), D(2025, 2, 27)) == 0
    assert completed_years(D(2024, 2, 29), D(2025, 2, 28)) == 1
    with pytest.raises(ValueError):
        completed_years(D(2025, 1, 2), D(2025, 1, 1))


# ---- maternity leave ------------------------------------------------------------------------
BIRTH = D(2024, 1, 1)


def leave(params, **kw) -> Period:
    args = {"dystocia": False, "babies": 1, "region": "CN", "params": params}
    args.update(kw)
    return maternity_leave(BIRTH, **args)


def test_maternity_base_98_days_birth_day_is_day_1(params):
    p = leave(params)
    assert p == Period(D(2024, 1, 1), D(2024, 4, 7), 98)
    assert (p.end - p.start).days + 1 == 98
    assert p.contains(D(2024, 4, 7)) and not p.contains(D(2024, 4, 8))
    assert not p.contains(D(2023, 12, 31))


@pytest.mark.parametrize(
    "kw, days, end",
    [
        ({"dystocia": True}, 113, D(2024, 4, 22)),
        ({"babies": 2}, 113, D(2024, 4, 22)),
        ({"babies": 3}, 128, D(2024, 5, 7)),
        ({"babies": 2, "dystocia": True}, 128, D(2024, 5, 7)),
        ({"region": "CN-BJ"}, 158, D(2024, 6, 6)),
        ({"region": "CN-SH"}, 158, D(2024, 6, 6)),
        ({"region": "CN-SH", "dystocia": True}, 173, D(2024, 6, 21)),
        ({"region": "CN-GD"}, 178, D(2024, 6, 26)),
        ({"region": "CN-ZJ", "child_order": 1}, 158, D(2024, 6, 6)),
        ({"region": "CN-ZJ", "child_order": 2}, 188, D(2024, 7, 6)),
        ({"region": "CN-ZJ", "child_order": 3}, 188, D(2024, 7, 6)),
    ],
)
def test_maternity_extras(params, kw, days, end):
    p = leave(params, **kw)
    assert (p.days, p.end) == (days, end)
    assert p.end == BIRTH + timedelta(days=days - 1)


def test_maternity_last_day_across_leap_february(params):
    p = maternity_leave(D(2024, 2, 1), dystocia=False, babies=1, region="CN", params=params)
    assert p.end == D(2024, 5, 8)  # Feb 2024 has 29 days: 29 + 31 + 30 + 8 = 98


@pytest.mark.parametrize(
    "kw, fact",
    [
        ({"dystocia": None}, "employee.childbirth.dystocia"),
        ({"babies": None}, "employee.childbirth.babies"),
        ({"region": None}, "employee.work_location.region"),
        ({"region": "CN-ZJ"}, "employee.childbirth.child_order"),
    ],
)
def test_maternity_unknown_facts(params, kw, fact):
    with pytest.raises(UnknownFact) as exc:
        leave(params, **kw)
    assert exc.value.fact == fact


def test_maternity_child_order_ignored_where_flat(params):
    assert leave(params, region="CN-SH", child_order=None).days == 158


def test_maternity_region_not_encoded(params):
    with pytest.raises(RegionNotCovered):
        leave(params, region="CN-SC")
    with pytest.raises(RegionNotCovered):  # Guangdong's 2021 amendment is dated 2021-12-01
        maternity_leave(D(2021, 11, 30), dystocia=False, babies=1, region="CN-GD", params=params)
    with pytest.raises(RegionNotCovered):  # before Shanghai's first encoded amendment
        maternity_leave(D(2021, 11, 24), dystocia=False, babies=1, region="CN-SH", params=params)
    assert maternity_leave(D(2021, 11, 25), dystocia=False, babies=1, region="CN-SH", params=params).days == 158


def test_maternity_law_in_force_on_birth_date(params):
    with pytest.raises(ParameterNotInForce):
        maternity_leave(D(2012, 4, 27), dystocia=False, babies=1, region="CN", params=params)
    assert maternity_leave(D(2012, 4, 28), dystocia=False, babies=1, region="CN", params=params).days == 98


@pytest.mark.parametrize("babies", [0, -1, True, 1.5])
def test_maternity_bad_babies(params, babies):
    with pytest.raises(ValueError):
        leave(params, babies=babies)


def test_a_child_order_the_regulation_does_not_speak_of_is_not_covered(params):
    # Zhejiang extends the leave of a first, second and third child: a fourth is not encoded, not guessed.
    with pytest.raises(RegionNotCovered):
        leave(params, region="CN-ZJ", child_order=4)


# ---- miscarriage leave (FEM-7 para 2) --------------------------------------------------------
@pytest.mark.parametrize("months, days, end", [
    (0, 15, D(2026, 1, 15)),
    (3.99, 15, D(2026, 1, 15)),   # "未满4个月"
    (4, 42, D(2026, 2, 11)),      # "满4个月"
    (6.5, 42, D(2026, 2, 11)),
])
def test_miscarriage_leave_before_and_from_four_months(params, months, days, end):
    p = miscarriage_leave(D(2026, 1, 1), months, params)
    assert p == Period(D(2026, 1, 1), end, days)
    assert p.contains(end) and not p.contains(end + timedelta(days=1))


def test_miscarriage_leave_months_unknown(params):
    with pytest.raises(UnknownFact) as exc:
        miscarriage_leave(D(2026, 1, 1), None, params)
    assert exc.value.fact == "employee.miscarriage.months_pregnant"
    shorter, longer = miscarriage_leave_bounds(D(2026, 1, 1), params)
    assert (shorter.days, longer.days) == (15, 42)


def test_miscarriage_leave_law_in_force_on_the_date(params):
    with pytest.raises(ParameterNotInForce):
        miscarriage_leave(D(2012, 4, 27), 2, params)
    assert miscarriage_leave(D(2012, 4, 28), 2, params).days == 15


@pytest.mark.parametrize("months", [-1, True, "4"])
def test_miscarriage_leave_bad_months(params, months):
    with pytest.raises(ValueError):
        miscarriage_leave(D(2026, 1, 1), months, params)


# ---- paid suspension after a work injury (WIR-33) ---------------------------------------------
def test_paid_suspension_limits_end_on_the_corresponding_day(params):
    assert paid_suspension_limits(D(2025, 3, 10), params) == (D(2026, 3, 10), D(2027, 3, 10))
    # Civil Code art. 202: no corresponding day -> the last day of the month.
    assert paid_suspension_limits(D(2024, 2, 29), params) == (D(2025, 2, 28), D(2026, 2, 28))


def test_paid_suspension_law_in_force_on_the_start(params):
    with pytest.raises(ParameterNotInForce):
        paid_suspension_limits(D(2010, 12, 31), params)


# ---- nursing period -------------------------------------------------------------------------
def test_nursing_ends_on_first_birthday_inclusive(params):
    p = nursing_period(D(2024, 3, 15), params)
    assert p == Period(D(2024, 3, 15), D(2025, 3, 15), 366)
    assert p.contains(D(2025, 3, 14))
    assert p.contains(D(2025, 3, 15))  # the first birthday itself
    assert not p.contains(D(2025, 3, 16))  # the day after


def test_nursing_feb_29_child_ends_feb_28(params):
    p = nursing_period(D(2024, 2, 29), params)
    assert p.end == D(2025, 2, 28)
    assert p.contains(D(2025, 2, 28)) and not p.contains(D(2025, 3, 1))


def test_nursing_outlasts_longest_encoded_maternity_leave(params):
    n = nursing_period(BIRTH, params)
    m = maternity_leave(BIRTH, dystocia=True, babies=3, region="CN-ZJ", child_order=2, params=params)
    assert m.end < n.end


# ---- medical treatment period ---------------------------------------------------------------
ON = D(2025, 6, 1)


@pytest.mark.parametrize(
    "total, employer, months, window",
    [
        (0, 0, 3, 6),
        (9.99, 4.99, 3, 6),
        (9, 5, 6, 12),  # exactly 5 years with the employer: the higher bracket
        (9.99, 9.99, 6, 12),
        (10, 0, 6, 12),  # exactly 10 total years: the higher bracket
        (10, 4.99, 6, 12),
        (10, 5, 9, 15),
        (30, 9.99, 9, 15),
        (30, 10, 12, 18),
        (30, 14.99, 12, 18),
        (30, 15, 18, 24),
        (30, 19.99, 18, 24),
        (20, 20, 24, 30),
        (40, 35, 24, 30),
    ],
)
def test_medical_national_brackets(params, total, employer, months, window):
    assert medical_treatment_entitlement(total, employer, ON, params) == Entitlement(months, window)


def test_medical_with_completed_years(params):
    total = completed_years(D(2015, 6, 2), ON)  # 9 years, one day short of 10
    employer = completed_years(D(2020, 6, 1), ON)  # 5 years
    assert medical_treatment_entitlement(total, employer, ON, params) == Entitlement(6, 12)


@pytest.mark.parametrize(
    "employer, months",
    [(0, 3), (0.99, 3), (1, 4), (1.5, 4), (2, 5), (20, 23), (21, 24), (21.5, 24), (35, 24)],
)
def test_medical_shanghai(params, employer, months):
    assert medical_treatment_entitlement(40, employer, ON, params, region="CN-SH") == Entitlement(months, None)


def test_medical_other_regions_use_the_national_table(params):
    for region in (None, "CN", "CN-BJ", "CN-SC"):
        assert medical_treatment_entitlement(12, 6, ON, params, region=region) == Entitlement(9, 15)


def test_medical_invalid_inputs(params):
    with pytest.raises(ValueError):
        medical_treatment_entitlement(3, 5, ON, params)
    with pytest.raises(ValueError):
        medical_treatment_entitlement(-1, 0, ON, params)
    with pytest.raises(ParameterNotInForce):
        medical_treatment_entitlement(5, 1, D(1994, 12, 31), params)
    with pytest.raises(ParameterNotInForce):
        medical_treatment_entitlement(5, 1, D(2002, 4, 30), params, region="CN-SH")


# ---- statutory retirement -------------------------------------------------------------------
AFTER = D(2025, 6, 1)
BEFORE = D(2024, 12, 31)


def _retirement(birth, gender, original, on, params) -> Retirement:
    """The retirement of an employee whose original age is known (a man's is his only one)."""
    candidates = retirement_candidates(birth, gender, on, params)
    return candidates[original] if original is not None else candidates[60]


@pytest.mark.parametrize(
    "birth, gender, original, years, months, retire",
    [
        (D(1964, 12, 15), "male", None, 60, 0, D(2024, 12, 15)),
        (D(1965, 1, 15), "male", None, 60, 1, D(2025, 2, 15)),
        (D(1965, 1, 15), "male", 60, 60, 1, D(2025, 2, 15)),
        (D(1965, 4, 30), "male", None, 60, 1, D(2025, 5, 30)),
        (D(1965, 5, 1), "male", None, 60, 2, D(2025, 7, 1)),
        (D(1970, 6, 10), "male", None, 61, 5, D(2031, 11, 10)),
        (D(1976, 8, 31), "male", None, 62, 11, D(2039, 7, 31)),
        (D(1976, 9, 1), "male", None, 63, 0, D(2039, 9, 1)),
        (D(1990, 1, 1), "male", None, 63, 0, D(2053, 1, 1)),
        (D(1969, 12, 31), "female", 55, 55, 0, D(2024, 12, 31)),
        (D(1970, 1, 1), "female", 55, 55, 1, D(2025, 2, 1)),
        (D(1975, 3, 3), "female", 55, 56, 4, D(2031, 7, 3)),
        (D(1981, 8, 1), "female", 55, 57, 11, D(2039, 7, 1)),
        (D(1981, 9, 1), "female", 55, 58, 0, D(2039, 9, 1)),
        (D(1974, 12, 1), "female", 50, 50, 0, D(2024, 12, 1)),
        (D(1975, 1, 1), "female", 50, 50, 1, D(2025, 2, 1)),
        (D(1975, 3, 1), "female", 50, 50, 2, D(2025, 5, 1)),
        (D(1984, 10, 1), "female", 50, 54, 11, D(2039, 9, 1)),
        (D(1984, 11, 1), "female", 50, 55, 0, D(2039, 11, 1)),
        (D(1984, 12, 1), "female", 50, 55, 0, D(2039, 12, 1)),
    ],
)
def test_retirement_2025_schedule(params, birth, gender, original, years, months, retire):
    assert _retirement(birth, gender, original, AFTER, params) == Retirement(years, months, retire)


@pytest.mark.parametrize(
    "birth, gender, original, years, retire",
    [
        (D(1965, 1, 15), "male", None, 60, D(2025, 1, 15)),
        (D(1970, 6, 10), "male", None, 60, D(2030, 6, 10)),
        (D(1970, 1, 1), "female", 55, 55, D(2025, 1, 1)),
        (D(1975, 1, 1), "female", 50, 50, D(2025, 1, 1)),
        (D(1984, 12, 1), "female", 50, 50, D(2034, 12, 1)),
    ],
)
def test_retirement_checked_before_the_reform_uses_original_ages(params, birth, gender, original, years, retire):
    assert _retirement(birth, gender, original, BEFORE, params) == Retirement(years, 0, retire)


def test_retirement_switch_day(params):
    birth = D(1965, 1, 15)
    assert _retirement(birth, "male", None, D(2024, 12, 31), params).age_months == 0
    assert _retirement(birth, "male", None, D(2025, 1, 1), params).age_months == 1


def test_retirement_month_end_clamp(params):
    assert _retirement(D(1965, 1, 31), "male", None, AFTER, params).date == D(2025, 2, 28)


def test_retirement_gender_must_be_known_to_the_schedule(params):
    with pytest.raises(ValueError):
        retirement_candidates(D(1975, 1, 1), "other", AFTER, params)  # type: ignore[arg-type]


def test_retirement_candidates(params):
    both = retirement_candidates(D(1975, 1, 1), "female", AFTER, params)
    assert both == {
        50: Retirement(50, 1, D(2025, 2, 1)),
        55: Retirement(56, 4, D(2031, 5, 1)),
    }
    assert retirement_candidates(D(1965, 1, 15), "male", AFTER, params) == {60: Retirement(60, 1, D(2025, 2, 15))}


def _catalog_checkpoints():
    if not CATALOG.exists():
        return []
    entry = next(e for e in json.loads(CATALOG.read_text(encoding="utf-8")) if e["id"] == "RET-SC-1")
    key = next(k for k in entry["algorithm"] if k.startswith("checkpoints"))
    out = []
    for label, result in entry["algorithm"][key].items():
        who, ym = re.match(r"(male|female-55|female-50) (\d{4}-\d{2})", label).groups()
        y, m = re.match(r"(\d+)y(?:(\d+)m)?", result).groups()
        out.append(pytest.param(who, ym, int(y), int(m or 0), result, id=label))
    return out


@pytest.mark.parametrize("who, ym, years, months, result", _catalog_checkpoints())
def test_retirement_matches_catalog_checkpoints(params, who, ym, years, months, result):
    gender, original = {"male": ("male", None), "female-55": ("female", 55), "female-50": ("female", 50)}[who]
    birth = date.fromisoformat(ym + "-01")
    r = _retirement(birth, gender, original, AFTER, params)
    assert (r.age_years, r.age_months) == (years, months)
    retire_month = re.search(r"\((\d{4}-\d{2})\)", result)
    if retire_month:
        assert r.date.isoformat()[:7] == retire_month.group(1)


# ---- no wall clock --------------------------------------------------------------------------
def test_results_do_not_depend_on_the_clock(params):
    def compute():
        return (
            _retirement(D(1970, 6, 10), "male", None, AFTER, params),
            nursing_period(D(2024, 3, 15), params),
            maternity_leave(BIRTH, dystocia=True, babies=2, region="CN-SH", params=params),
            medical_treatment_entitlement(12, 6, ON, params),
        )

    with freeze_time("1990-01-01"):
        a = compute()
    with freeze_time("2050-06-30"):
        b = compute()
    assert a == b


def test_rejects_datetimes(params):
    from datetime import datetime

    with pytest.raises(TypeError):
        nursing_period(datetime(2024, 3, 15, 12, 0), params)  # type: ignore[arg-type]


# ---- whole months and the medical treatment period in time --------------------------------------
@pytest.mark.parametrize("start, end, months", [
    (D(2026, 1, 1), D(2031, 1, 1), 60),
    (D(2026, 1, 2), D(2031, 1, 1), 59),
    (D(2026, 1, 31), D(2026, 2, 28), 1),      # month-end clamp (Civil Code art. 202)
    (D(2026, 3, 31), D(2026, 2, 28), -1),
    (D(2026, 3, 10), D(2026, 3, 10), 0),
    (D(2026, 3, 10), D(2026, 3, 9), -1),
])
def test_whole_months_between(start, end, months):
    assert whole_months_between(start, end) == months


THREE = Entitlement(3, 6)


@pytest.mark.parametrize("leave, on, expected", [
    ([(D(2025, 3, 5), None)], D(2025, 6, 4), True),                                # 92 days = 3 months from 5 March
    ([(D(2025, 3, 5), None)], D(2025, 6, 5), False),                               # just run out
    ([(D(2025, 3, 5), D(2025, 3, 20))], D(2025, 4, 1), False),                     # back at work
    ([(D(2025, 3, 5), D(2025, 3, 10)), (D(2025, 6, 1), None)], D(2025, 6, 5), True),
    ([(D(2025, 3, 5), D(2025, 3, 10)), (D(2025, 9, 6), None)], D(2025, 10, 5), True),  # a new window after 5 Sept
    ([(D(2026, 3, 5), None)], D(2026, 3, 4), False),                               # not yet sick
])
def test_medical_treatment_in_period(leave, on, expected):
    assert medical_treatment_in_period(leave, on, THREE) is expected


def test_the_window_ends_on_the_corresponding_day():
    # MED-1995 example: first sick day 5 March -> the window is 5 March to 5 September.
    leave = [(D(1995, 3, 5), D(1995, 4, 5)), (D(1995, 9, 5), None)]    # 32 days, then from 5 Sept
    # 5 Sept is still in the first window: 32 + 1 days counted; 92 allowed.
    assert medical_treatment_in_period(leave, D(1995, 9, 5), THREE) is True
    # Had the second leave started on 6 Sept it would open a new window (tested above).


def test_a_leave_running_across_the_window_end_is_unknown():
    with pytest.raises(UnknownFact):
        medical_treatment_in_period([(D(2025, 8, 1), None)], D(2026, 2, 10), THREE)


def test_no_window_and_interrupted_leave_is_unknown():
    shanghai = Entitlement(6, None)
    assert medical_treatment_in_period([(D(2025, 9, 1), None)], D(2026, 2, 28), shanghai) is True
    with pytest.raises(UnknownFact):
        medical_treatment_in_period([(D(2025, 1, 1), D(2025, 1, 5)), (D(2025, 9, 1), None)], D(2026, 2, 28), shanghai)
