"""Shared vocabularies and field types of the HTTP contract."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from marshmallow import ValidationError, fields, validate

from service.clock import day_in_china
from service.decide.vocabulary import load_enums

# The vocabularies are declared once, in the fact files of the rules/ folder the service ships
# with (rules/facts/*.yaml, `enums:`). These lists, used by the ledger and the pages, follow those
# shipped files: a rules reload cannot change them, a restart does. The request fields a rule reads
# are built from the loaded rule set's vocabulary (schemas/request_contract.py).
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


# ISO 3166-2:CN, the 34 provincial-level divisions (as listed by the ISO 3166 Maintenance Agency
# and in pycountry's subdivision data; tests/test_input_limits.py compares the two).
CN_REGIONS = (
    "CN-AH", "CN-BJ", "CN-CQ", "CN-FJ", "CN-GD", "CN-GS", "CN-GX", "CN-GZ", "CN-HA", "CN-HB", "CN-HE",
    "CN-HI", "CN-HK", "CN-HL", "CN-HN", "CN-JL", "CN-JS", "CN-JX", "CN-LN", "CN-MO", "CN-NM", "CN-NX",
    "CN-QH", "CN-SC", "CN-SD", "CN-SH", "CN-SN", "CN-SX", "CN-TJ", "CN-TW", "CN-XJ", "CN-XZ", "CN-YN",
    "CN-ZJ",
)


# The request body is JSON, so a field takes only its JSON type: marshmallow's defaults would read
# "true", "yes" or 1 as a boolean and "5" or 5.0 as an integer, and a typed-in string would pass.
class StrictBoolean(fields.Boolean):
    def _deserialize(self, value, attr, data, **kwargs):
        if value is True or value is False:
            return value
        raise self.make_error("invalid", input=value)


def flag(description: str) -> StrictBoolean:
    """A yes/no fact of the contract, described for the OpenAPI page."""
    return StrictBoolean(metadata={"description": description})


class StrictInteger(fields.Integer):
    """A JSON integer: not 5.0, not "5", not true (marshmallow's Number already refuses booleans)."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)


class StrictFloat(fields.Float):
    """A JSON number: not "5", not true."""

    def _validated(self, value):
        if not isinstance(value, (int, float)):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def is_identifier(value: str) -> bool:
    # str.isprintable is False for every control, format, separator (but the ASCII space),
    # surrogate, private-use and unassigned code point: NUL, ESC, U+202E, U+2028, U+3000...
    return value.isprintable()


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_IN_URL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def control_character_in(value: str) -> bool:
    return _CONTROL_IN_URL.search(value) is not None


IDENTIFIER_MAX = 128


class Identifier(fields.String):
    """An id or a name (employee.id, actor.id, case ids, client_key, departments): 1 to 128
    printable characters. No database stores NUL in text, and an invisible character would make
    two ids that look the same differ."""

    default_error_messages = {"unprintable": "Must be printable text (no control or format characters)."}

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(min=1, max=IDENTIFIER_MAX), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_identifier(text):
            raise self.make_error("unprintable")
        return text


class Text(fields.String):
    """Free text (a note): lines and tabs allowed, other control characters not."""

    default_error_messages = {"control": "Must not contain control characters (tab and line breaks are fine)."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if _CONTROL.search(text):
            raise self.make_error("control")
        return text


# Dates outside this range are typos (0202 for 2020) and would overflow date arithmetic.
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2199, 12, 31)
_RANGE_ERROR = f"Must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}."


def in_range(day: dt.date) -> dt.date:
    if not EARLIEST <= day <= LATEST:
        raise ValidationError(_RANGE_ERROR)
    return day


def not_before(data: dict, later: str, earlier: str) -> None:
    """A schema's check that its date `later` is not before its date `earlier` (both given)."""
    if data.get(later) and data.get(earlier) and data[later] < data[earlier]:
        raise ValidationError(f"must not be before {earlier}", later)


class Day(fields.Date):
    """An ISO date (YYYY-MM-DD) between 1900 and 2199."""

    def _deserialize(self, value, attr, data, **kwargs):
        return in_range(super()._deserialize(value, attr, data, **kwargs))


class AsOf(fields.String):
    """A date, or an RFC 3339 date-time with an offset (its calendar day in China is used)."""

    default_error_messages = {
        "invalid": "Not a valid date (YYYY-MM-DD) or RFC 3339 date-time with offset.",
    }

    def __init__(self, **kwargs):
        # /docs fills a field without an example with "string", which is no date
        kwargs["metadata"] = {"example": "2026-02-10", **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

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
        return day_in_china(moment)

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
