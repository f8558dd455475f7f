"""The one wall clock, and the day in China. The clock is read only for a request's default as_of
and a record's received-at time."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)  # wall clock ok


def day_in_china(moment: dt.datetime) -> dt.date:
    """The calendar day in China at `moment`; a naive moment is UTC (as the database and
    freezegun give it), never the host's local time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(CHINA).date()


def today_in_china() -> dt.date:
    """A request's as_of when it gives none."""
    return day_in_china(utcnow())
