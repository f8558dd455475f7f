"""Shared vocabularies and field types of the HTTP contract."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, fields, validate

CHINA = ZoneInfo("Asia/Shanghai")

ACTION_TYPES = (
    "submit_resignation", "withdraw_resignation", "approve_resignation", "approve_withdrawal",
    "reject_withdrawal", "accept_resignation", "execute_offboarding", "terminate_for_cause",
    "terminate_with_notice", "terminate_economic_layoff", "non_renewal_at_expiry",
    "mutual_agreement_termination", "update_employment_status", "edit_employee_record",
    "review_case",  # read-only: a case looked at or closed; separates nobody
)
EVENT_TYPES = (
    "resignation_submitted", "resignation_approved", "resignation_rejected", "withdrawal_requested",
    "withdrawal_accepted", "withdrawal_rejected", "offboarding_started", "offboarding_completed",
    "archived",
)
ROLES = ("employee", "manager", "hr", "hr_admin", "system")
CASE_KINDS = ("resignation", "employer_termination", "mutual_agreement", "non_renewal")
FORMS = ("written", "verbal", "email", "system")
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
