"""Shared vocabularies and field types of the HTTP contract."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, fields, validate

from service.vocabulary import load_enums

CHINA = ZoneInfo("Asia/Shanghai")

# The vocabularies are declared once, in the fact files of the rules/ folder the service ships
# with (rules/facts/*.yaml, `enums:`). The request schemas are built at import, so they follow
# those shipped files: a rules reload cannot change them, a restart does.
_SHIPPED_FACTS = Path(__file__).resolve().parents[1] / "rules" / "facts"
_ENUMS = load_enums(_SHIPPED_FACTS)
ACTION_TYPES = _ENUMS["action_types"]
EVENT_TYPES = _ENUMS["event_types"]
ROLES = _ENUMS["roles"]
CASE_KINDS = _ENUMS["case_kinds"]
FORMS = _ENUMS["forms"]
VERDICTS = ("deny", "warn", "allow")


def one_of(choices):
    return validate.OneOf(choices, error="Must be one of: {choices}.")


# Dates outside this range are typos (0202 for 2020) and would overflow date arithmetic.
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
_RANGE_ERROR = f"Must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}."


def in_range(day: dt.date) -> dt.date:
    if not EARLIEST <= day <= LATEST:
        raise ValidationError(_RANGE_ERROR)
    return day


class Day(fields.Date):
    """An ISO date (YYYY-MM-DD) between 1900 and 2199."""

    def _deserialize(self, value, attr, data, **kwargs):
        return in_range(super()._deserialize(value, attr, data, **kwargs))


class AsOf(fields.String):
    """A date, or an RFC 3339 date-time with an offset (its calendar day in China is used)."""

    default_error_messages = {
        "invalid": "Not a valid date (YYYY-MM-DD) or RFC 3339 date-time with offset.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            if len(value) == 10:
                return in_range(dt.date.fromisoformat(value))
            moment = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        if moment.tzinfo is None:
            raise ValidationError("A date-time needs an offset (e.g. +08:00 or Z).")
        in_range(moment.date())
        return moment.astimezone(CHINA).date()

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.isoformat()


class AwareDateTime(fields.AwareDateTime):
    """An RFC 3339 date-time with its offset, between 1900 and 2199."""

    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        in_range(moment.date())
        return moment
