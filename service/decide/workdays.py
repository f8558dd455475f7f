"""Working-day calendar for approval SLAs (PRC official calendar, 调休 included).

Sources, highest precedence first:
  1. ``corrections`` in the data file (single days, any year);
  2. years marked ``complete: true`` in the data file (replace chinese_calendar for that year);
  3. the ``chinese_calendar`` package, for the years it knows.
A date in a year none of them covers raises :class:`CalendarYearMissing`; nothing is guessed.
Years marked ``complete: false`` are drafts: validated on load, never used for answers.

No wall-clock reads: every answer depends only on the dates passed in and the data file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable

import chinese_calendar

from schemas.data_files import CalendarFileSchema
from service.decide.yamlfile import load_checked

__all__ = ["CalendarError", "CalendarFileError", "CalendarYearMissing", "WorkingCalendar"]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ONE_DAY = timedelta(days=1)
_Fail = Callable[[str], "CalendarFileError"]


class CalendarError(Exception):
    """Base class for working-calendar errors."""


class CalendarYearMissing(CalendarError, LookupError):
    """No source covers ``year``: enter the State Council notice for it in the data file."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"no working-day calendar for {year}: chinese_calendar does not cover it and the data file "
            f"has no complete entry for it; add the State Council's {year} holiday notice with complete: true"
        )


class CalendarFileError(CalendarError, ValueError):
    """The calendar data file is unreadable or invalid."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class _Year:
    holidays: frozenset[date]
    workdays: frozenset[date]

    def is_working_day(self, d: date) -> bool:
        if d in self.workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays


def _chinese_calendar_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _chinese_calendar_years() -> frozenset[int]:
    known = {d.year for d in chinese_calendar.holidays}
    if not known:
        return frozenset()
    return frozenset(y for y in range(min(known), max(known) + 1) if _chinese_calendar_covers(y))


def _check_date(d: date) -> date:
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a datetime.date, got {type(d).__name__}")
    return d


class WorkingCalendar:
    """Answers working-day questions from the data file plus ``chinese_calendar``."""

    def __init__(self, years: dict[int, _Year], corrections: dict[date, bool], path: str = "<memory>") -> None:
        self.path = path
        self._years = dict(years)
        self._corrections = dict(corrections)
        self._cc_years = _chinese_calendar_years()
        self._cache: dict[date, bool] = {}

    # ---- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "WorkingCalendar":
        p = Path(path)
        years, corrections = _parse(p, load_checked(p, CalendarFileSchema(), lambda reason: CalendarFileError(p, reason)))
        return cls(years, corrections, str(p))

    # ---- queries -------------------------------------------------------------------------
    def covered_years(self) -> frozenset[int]:
        """Years answered in full: chinese_calendar's years plus the file's complete years."""
        return self._cc_years | frozenset(self._years)

    def missing_years(self, start: date, end: date) -> list[int]:
        """Years in [start.year, end.year] that no source covers (never raises for them)."""
        lo, hi = _check_date(start).year, _check_date(end).year
        if hi < lo:
            lo, hi = hi, lo
        covered = self.covered_years()
        return [y for y in range(lo, hi + 1) if y not in covered]

    def is_working_day(self, d: date) -> bool:
        _check_date(d)
        cached = self._cache.get(d)
        if cached is not None:
            return cached
        if d in self._corrections:
            answer = self._corrections[d]
        elif d.year in self._years:
            answer = self._years[d.year].is_working_day(d)
        elif d.year in self._cc_years:
            answer = bool(chinese_calendar.is_workday(d))
        else:
            raise CalendarYearMissing(d.year)
        self._cache[d] = answer
        return answer

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after ``d`` (``d`` itself not counted); n == 0 returns ``d``."""
        _check_date(d)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        current = d
        while n > 0:
            current += _ONE_DAY
            if self.is_working_day(current):
                n -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Number of working days in (start, end]; 0 when end <= start."""
        _check_date(start)
        _check_date(end)
        count = 0
        current = start
        while current < end:
            current += _ONE_DAY
            if self.is_working_day(current):
                count += 1
        return count


# ---- validation ----------------------------------------------------------------------------
def _parse(path: Path, doc: dict) -> tuple[dict[int, _Year], dict[date, bool]]:
    def fail(reason: str) -> CalendarFileError:
        return CalendarFileError(path, reason)


    years: dict[int, _Year] = {}
    for key, entry in doc["years"].items():
        year = int(key)
        where = f"years.{year}"
        complete, source = entry["complete"], entry.get("source")
        if complete and not (source and source.strip()):
            raise fail(f"{where}: a complete year must name its source (the State Council notice)")
        holidays = _parse_dates(fail, f"{where}.holidays", entry["holidays"], year)
        workdays = _parse_dates(fail, f"{where}.workdays", entry["workdays"], year)
        both = holidays & workdays
        if both:
            raise fail(f"{where}: dates listed as both holiday and workday: {_fmt(both)}")
        weekday_workdays = {d for d in workdays if d.weekday() < 5}
        if weekday_workdays:
            raise fail(f"{where}.workdays: make-up working days fall on Sat/Sun, got weekdays {_fmt(weekday_workdays)}")
        if complete:
            years[year] = _Year(frozenset(holidays), frozenset(workdays))

    corrections: dict[date, bool] = {}
    for i, item in enumerate(doc["corrections"]):
        where = f"corrections[{i}]"
        d = _parse_date(fail, f"{where}.date", item["date"])
        if d in corrections:
            raise fail(f"{where}: {d.isoformat()} is corrected more than once")
        corrections[d] = item["workday"]
    return years, corrections


def _parse_date(fail: _Fail, where: str, value: Any) -> date:
    if isinstance(value, datetime):
        raise fail(f"{where}: {value!r} is a timestamp, expected a date YYYY-MM-DD")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise fail(f"{where}: {value!r} is not an ISO date YYYY-MM-DD")


def _parse_dates(fail: _Fail, where: str, value: list, year: int) -> set[date]:
    out: set[date] = set()
    for i, item in enumerate(value):
        d = _parse_date(fail, f"{where}[{i}]", item)
        if d.year != year:
            raise fail(f"{where}[{i}]: {d.isoformat()} is not in {year}")
        out.add(d)
    return out


def _fmt(dates: Iterable[date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(dates))
