"""Working-day calendar: the 2026 hard days, missing years, and data-file edits."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from any cwd, with or without conftest
    sys.path.insert(0, str(REPO))

from service.decide.workdays import CalendarFileError, CalendarYearMissing, WorkingCalendar  # noqa: E402

DATA_FILE = REPO / "rules" / "calendar" / "working_days.yaml"


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.load(DATA_FILE)


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "working_days.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _shipped() -> dict:
    return yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))


# ---- shipped data file -------------------------------------------------------------------
def test_shipped_file_loads_and_does_not_invent_2027(cal: WorkingCalendar) -> None:
    assert {2004, 2026} <= cal.covered_years()
    assert 2027 not in cal.covered_years()
    entry = (_shipped().get("years") or {}).get(2027)
    assert entry is None or entry["complete"] is False


# ---- 2026 Spring Festival: days off 02-15..02-23, make-up Saturdays 02-14 and 02-28 -------
@pytest.mark.parametrize("day", [date(2026, 2, d) for d in range(15, 24)])
def test_spring_festival_2026_days_off(cal: WorkingCalendar, day: date) -> None:
    assert cal.is_working_day(day) is False


@pytest.mark.parametrize("day", [date(2026, 2, 14), date(2026, 2, 28)])
def test_make_up_saturdays_are_working_days(cal: WorkingCalendar, day: date) -> None:
    assert day.weekday() == 5
    assert cal.is_working_day(day) is True


def test_last_working_day_before_spring_festival_is_make_up_saturday(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)  # Fri -> make-up Sat
    assert cal.add_working_days(date(2026, 2, 14), 1) == date(2026, 2, 24)  # first day back, Tue
    assert cal.add_working_days(date(2026, 2, 13), 2) == date(2026, 2, 24)
    assert cal.add_working_days(date(2026, 2, 13), 3) == date(2026, 2, 25)


def test_request_on_a_holiday_counts_from_first_day_back(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(date(2026, 2, 18), 2) == date(2026, 2, 25)  # 初二
    assert cal.add_working_days(date(2026, 2, 18), 3) == date(2026, 2, 26)
    assert cal.add_working_days(date(2026, 10, 1), 2) == date(2026, 10, 9)


def test_deadline_lands_on_make_up_saturday(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(date(2026, 2, 26), 2) == date(2026, 2, 28)
    assert cal.add_working_days(date(2026, 2, 25), 3) == date(2026, 2, 28)
    assert cal.add_working_days(date(2026, 2, 27), 2) == date(2026, 3, 2)  # 02-28 counted, 03-01 Sun not


def test_working_days_between_spring_festival(cal: WorkingCalendar) -> None:
    # (02-13, 02-27]: 02-14 (Sat), 02-24, 02-25, 02-26, 02-27
    assert cal.working_days_between(date(2026, 2, 13), date(2026, 2, 27)) == 5
    assert cal.working_days_between(date(2026, 2, 14), date(2026, 2, 23)) == 0
    assert cal.working_days_between(date(2026, 2, 27), date(2026, 2, 13)) == 0
    assert cal.working_days_between(date(2026, 2, 13), date(2026, 2, 13)) == 0


# ---- 2026 National Day: days off 10-01..10-07, make-up Sun 09-20 and Sat 10-10 -------------
def test_national_day_2026(cal: WorkingCalendar) -> None:
    for d in range(1, 8):
        assert cal.is_working_day(date(2026, 10, d)) is False
    assert cal.is_working_day(date(2026, 9, 20)) is True   # Sunday make-up
    assert cal.is_working_day(date(2026, 10, 10)) is True  # Saturday make-up
    assert cal.is_working_day(date(2026, 10, 11)) is False  # ordinary Sunday
    assert cal.add_working_days(date(2026, 9, 30), 2) == date(2026, 10, 9)
    assert cal.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert cal.add_working_days(date(2026, 9, 18), 1) == date(2026, 9, 20)
    assert cal.working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == 3


def test_add_zero_and_invalid_n(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(date(2026, 2, 18), 0) == date(2026, 2, 18)
    with pytest.raises(ValueError):
        cal.add_working_days(date(2026, 2, 18), -1)
    with pytest.raises(TypeError):
        cal.is_working_day(datetime(2026, 2, 18, 9, 0))


# ---- missing years ------------------------------------------------------------------------
def test_2027_date_raises_naming_the_year(cal: WorkingCalendar) -> None:
    with pytest.raises(CalendarYearMissing) as exc:
        cal.is_working_day(date(2027, 1, 4))
    assert exc.value.year == 2027
    assert "2027" in str(exc.value)


def test_sla_running_into_2027_raises(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(date(2026, 12, 29), 2) == date(2026, 12, 31)
    with pytest.raises(CalendarYearMissing) as exc:
        cal.add_working_days(date(2026, 12, 30), 2)
    assert exc.value.year == 2027


def test_missing_years_does_not_raise(cal: WorkingCalendar) -> None:
    assert cal.missing_years(date(2026, 6, 1), date(2028, 3, 1)) == [2027, 2028]
    assert cal.missing_years(date(2026, 1, 1), date(2026, 12, 31)) == []
    assert cal.missing_years(date(2003, 12, 1), date(2004, 1, 5)) == [2003]


# ---- data-file edits change answers without code changes -----------------------------------
def test_adding_a_complete_year_covers_it(tmp_path: Path) -> None:
    data = _shipped()
    data["years"] = {
        2027: {  # a made-up year for the test only, not the real 2027 notice
            "source": "test fixture",
            "complete": True,
            "holidays": [date(2027, 1, 1)],
            "workdays": [date(2027, 1, 9)],
        }
    }
    cal = WorkingCalendar.load(_write(tmp_path, data))
    assert 2027 in cal.covered_years()
    assert cal.missing_years(date(2026, 12, 1), date(2027, 12, 31)) == []
    assert cal.is_working_day(date(2027, 1, 1)) is False  # listed holiday (Fri)
    assert cal.is_working_day(date(2027, 1, 4)) is True   # ordinary Monday
    assert cal.is_working_day(date(2027, 1, 9)) is True   # listed make-up Saturday
    assert cal.is_working_day(date(2027, 1, 10)) is False  # unlisted Sunday
    assert cal.add_working_days(date(2026, 12, 30), 2) == date(2027, 1, 4)


def test_incomplete_year_stays_missing(tmp_path: Path) -> None:
    data = _shipped()
    data["years"] = {2027: {"source": "draft", "complete": False, "holidays": [date(2027, 1, 1)], "workdays": []}}
    cal = WorkingCalendar.load(_write(tmp_path, data))
    with pytest.raises(CalendarYearMissing):
        cal.is_working_day(date(2027, 1, 1))


def test_correction_overrides_chinese_calendar(tmp_path: Path) -> None:
    data = _shipped()
    data["corrections"] = [
        {"date": date(2026, 2, 13), "workday": False, "note": "test: extra day off"},
        {"date": date(2026, 2, 21), "workday": True, "note": "test: extra make-up day"},
    ]
    cal = WorkingCalendar.load(_write(tmp_path, data))
    assert cal.is_working_day(date(2026, 2, 13)) is False
    assert cal.is_working_day(date(2026, 2, 21)) is True
    assert cal.add_working_days(date(2026, 2, 12), 2) == date(2026, 2, 21)


def test_complete_year_in_file_overrides_chinese_calendar(tmp_path: Path) -> None:
    data = _shipped()
    data["years"] = {2026: {"source": "test", "complete": True, "holidays": [], "workdays": []}}
    cal = WorkingCalendar.load(_write(tmp_path, data))
    assert cal.is_working_day(date(2026, 2, 14)) is False  # no longer a make-up day
    assert cal.is_working_day(date(2026, 2, 16)) is True   # no longer a holiday


# ---- validation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("years", "corrections", "reason"),
    [
        ({2027: {"source": "x", "complete": True, "holidays": [date(2026, 12, 31)]}}, [], "not in 2027"),
        ({2027: {"source": "x", "complete": True, "holidays": ["2027-13-01"]}}, [], "not an ISO date"),
        ({2027: {"source": "x", "complete": True, "holidays": ["2027/01/01"]}}, [], "not an ISO date"),
        (
            {2027: {"source": "x", "complete": True, "holidays": [date(2027, 1, 9)], "workdays": [date(2027, 1, 9)]}},
            [],
            "both holiday and workday",
        ),
        ({2027: {"source": "x", "complete": True, "workdays": [date(2027, 1, 4)]}}, [], "Sat/Sun"),
        ({2027: {"source": "x", "holidays": []}}, [], "complete: must be true or false"),
        ({2027: {"complete": True}}, [], "must name its source"),
        ({2027: {"source": "x", "complete": True, "holiday": []}}, [], "holiday: Unknown field"),
        ({}, [{"date": "2026-02-13", "workday": "yes", "note": "n"}], "workday: must be true or false"),
        ({}, [{"date": "2026-02-13", "workday": True}], "note"),
        (
            {},
            [{"date": "2026-02-13", "workday": True, "note": "a"}, {"date": "2026-02-13", "workday": False, "note": "b"}],
            "more than once",
        ),
    ],
)
def test_invalid_file_is_rejected(tmp_path: Path, years: dict, corrections: list, reason: str) -> None:
    path = _write(tmp_path, {"description": "t", "years": years, "corrections": corrections})
    with pytest.raises(CalendarFileError) as exc:
        WorkingCalendar.load(path)
    assert reason in exc.value.reason
    assert exc.value.path == str(path)


def test_unreadable_file_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("years:\n  2027:\n    holidays: [2027-02-30]\n", encoding="utf-8")
    with pytest.raises(CalendarFileError):
        WorkingCalendar.load(bad)
    with pytest.raises(CalendarFileError):
        WorkingCalendar.load(tmp_path / "absent.yaml")
