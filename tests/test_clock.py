"""The day in China (service/clock.py), written once for every site that needs it, and the one
"must not be before" check of the employee's date pairs (schemas/fields.not_before)."""
import datetime as dt

import pytest
from marshmallow import ValidationError

from schemas.check import CheckRequestSchema
from service.clock import CHINA, day_in_china


@pytest.mark.parametrize("moment, day", [
    (dt.datetime(2026, 2, 9, 15, 59, tzinfo=dt.timezone.utc), dt.date(2026, 2, 9)),   # 23:59 in Beijing
    (dt.datetime(2026, 2, 9, 16, 0, tzinfo=dt.timezone.utc), dt.date(2026, 2, 10)),   # midnight in Beijing
    (dt.datetime(2026, 2, 10, 0, 30, tzinfo=CHINA), dt.date(2026, 2, 10)),
    (dt.datetime(2026, 2, 9, 16, 0), dt.date(2026, 2, 10)),  # naive: UTC, never the host's zone
])
def test_the_day_in_china_of_a_moment(moment, day):
    assert day_in_china(moment) == day


def _load(employee: dict) -> dict:
    return CheckRequestSchema().load({"as_of": "2026-02-10", "employee": {"id": "E1", **employee},
                                      "action": {"type": "terminate_with_notice"}})


@pytest.mark.parametrize("make, field, earlier", [
    (lambda a, b: {"birth_date": a, "hire_date": b}, "hire_date", "birth_date"),
    (lambda a, b: {"union_officer": {"position": "chair", "term_start": a, "term_end": b}}, "term_end", "term_start"),
    (lambda a, b: {"work_injury": {"status": "pending", "paid_suspension": {"start": a, "end": b}}}, "end", "start"),
    (lambda a, b: {"medical_treatment": {"sick_leave": [{"start": a, "end": b}]}}, "end", "start"),
])
def test_a_date_before_the_one_it_follows_is_refused_naming_both(make, field, earlier):
    with pytest.raises(ValidationError) as exc:
        _load(make("2020-01-10", "2020-01-09"))
    assert f"must not be before {earlier}" in str(exc.value.messages) and field in str(exc.value.messages)
    _load(make("2020-01-10", "2020-01-10"))  # the same day is not before
