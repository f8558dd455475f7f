"""Counting for the labor-law derivations (facts/labor_law.py, maternity.py, medical.py): days
between two dates, years to two decimals, years stated as of one day moved to another."""
from __future__ import annotations

import datetime as dt
import math

from service.decide.facts.unknown import Unknown


def two_decimals(value: float) -> float | int:
    """Years to two decimals, 16 rather than 16.0: the engine cannot parse exponent notation
    (1e-07), and messages show the number as given."""
    value = round(value, 2)
    return int(value) if value.is_integer() else value


def or_unknown(value, *fields: str):
    """The value, or Unknown(fields) when it is None: for a fact read from those fields only."""
    return Unknown(*fields) if value is None else value


def days_between(start: dt.date | None, end: dt.date | None) -> int | None:
    return None if start is None or end is None else (end - start).days


def shifted(years: float | None, as_of: dt.date, on: dt.date) -> float | int | None:
    """Years stated as of as_of, on another day: the employment runs on until the separation.
    Moved years are cut (not rounded) to two decimals: a day short of a threshold stays short."""
    if years is None:
        return None
    if on == as_of:
        return two_decimals(float(years))
    moved = max(0.0, float(years) + (on - as_of).days / 365.25)
    return two_decimals(math.floor(round(moved * 100, 6)) / 100)
