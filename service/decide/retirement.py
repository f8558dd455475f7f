"""Statutory retirement (法定退休年龄): the ages in force on a date, and the RET-SC-1 delay by birth
month. Pure: explicit dates and a ParameterSet in, the day the age is reached out."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, Mapping

from service.decide.civil_dates import add_months, check_date
from service.decide.parameters import ParameterSet

Gender = Literal["male", "female"]


@dataclass(frozen=True)
class Retirement:
    age_years: int
    age_months: int
    date: date  # the day the statutory age is reached


def retirement_candidates(
    birth_date: date, gender: Gender, on: date, params: ParameterSet
) -> dict[int, Retirement]:
    """Every possible statutory retirement keyed by original age: one for a man, two for a woman
    (50 and 55). Callers can then decide whether a question depends on the unknown original age.

    The ages are those in force on ``on``: checked before 2025-01-01 the original ages apply (no
    delay); from 2025-01-01 the RET-SC-1 schedule delays them by birth month. ``date`` is the day the
    age is reached: birth date + age, clamped to the month end (Civil Code art. 202). Special
    categories (RET-SC-1 "国家另有规定的，从其规定", e.g. hazardous work) and flexible retirement
    (RET-SC-3) are not modelled."""
    check_date(birth_date)
    check_date(on)
    ages = params.get("retirement.original_age", on=on)
    categories = _categories(gender, ages)
    return {ages[c]: _retirement(birth_date, c, ages[c], on, params) for c in sorted(categories, key=ages.get)}


def _categories(gender: str, ages: Mapping[str, int]) -> list[str]:
    """Categories of retirement.original_age for a gender: ``male``, ``female_cadre``, ..."""
    if gender not in ("male", "female"):
        raise ValueError(f"gender must be 'male' or 'female', got {gender!r}")
    return [c for c in ages if c == gender or c.startswith(gender + "_")]


def _retirement(birth_date: date, category: str, original_age: int, on: date, params: ParameterSet) -> Retirement:
    schedule = params.get("retirement.delay_schedule", on=on)
    delay = 0
    if category in schedule:
        s = schedule[category]
        start_year, start_month = (int(x) for x in str(s["first_delayed_birth_month"]).split("-"))
        offset = (birth_date.year - start_year) * 12 + (birth_date.month - start_month)
        if offset >= 0:
            cap = (s["max_age_years"] - original_age) * 12
            delay = min((offset // s["birth_months_per_step"] + 1) * s["months_added_per_step"], cap)
    elif schedule:
        raise ValueError(f"retirement.delay_schedule on {on.isoformat()} has no entry for {category!r}")
    total = original_age * 12 + delay
    return Retirement(total // 12, total % 12, add_months(birth_date, total))
