"""Answers are written by orjson (issue 14, item 7) with the JSON semantics Flask's own provider gave."""
import datetime as dt
import decimal
import json
import uuid

import orjson
import pytest
from flask.json.provider import DefaultJSONProvider
from freezegun import freeze_time

from service.jsonio import OrjsonProvider, path_at
from service.scenarios import default_fixture_paths, load_fixture_cases, story_requests
from tests.conftest import check_body

_FIXTURES = [case for path in default_fixture_paths() for case in load_fixture_cases(path)]


def test_utf8_iso_dates_and_never_nan(sqlite_app):
    provider = OrjsonProvider(sqlite_app)
    value = {"zh": "孕期女职工", "day": dt.date(2026, 2, 10),
             "at": dt.datetime(2026, 2, 10, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))),
             "amount": decimal.Decimal("1.50"), "id": uuid.UUID(int=1), "nan": float("nan"), 401: "keys as text"}
    raw = provider.dumps(value)
    assert "孕期女职工" in raw and "\\u" not in raw
    assert json.loads(raw) == {"zh": "孕期女职工", "day": "2026-02-10", "at": "2026-02-10T09:30:00+08:00",
                               "amount": "1.50", "id": "00000000-0000-0000-0000-000000000001", "nan": None,
                               "401": "keys as text"}
    assert "NaN" not in raw
    assert list(json.loads(provider.dumps({"b": 1, "a": 2}))) == ["b", "a"]  # the order given


def test_an_answer_is_utf8_on_the_wire(client):
    response = client.post("/v1/checks", json=check_body())
    assert response.status_code == 200
    assert "孕期" in response.get_data().decode("utf-8") and b"\\u5b55" not in response.get_data()


class Recording(OrjsonProvider):
    """The service's provider, keeping each answer's object to write it the default way too."""

    def __init__(self, app):
        super().__init__(app)
        self.objects = []

    def response(self, *args, **kwargs):
        self.objects.append(self._prepare_response_obj(args, kwargs))
        return super().response(*args, **kwargs)


def _requests():
    for name, case, now in _FIXTURES:
        if "steps" in case:
            for _, request, _, step_now in story_requests(case, now):
                yield name, request, step_now or now
        else:
            yield name, case["request"], case.get("now", now)


def test_every_fixture_answer_means_what_the_default_provider_wrote(sqlite_app):
    default = DefaultJSONProvider(sqlite_app)
    default.ensure_ascii, default.sort_keys = False, False
    recording = sqlite_app.json = Recording(sqlite_app)
    client = sqlite_app.test_client()
    answered = 0
    for name, request, now in _requests():
        body = json.loads(json.dumps(request, default=str))  # YAML dates to text, as an EHR sends them
        with freeze_time(now or "2026-02-10T10:00:00+08:00"):
            response = client.post("/v1/checks", data=json.dumps(body), content_type="application/json")
        assert response.status_code in (200, 422), (name, response.get_json())
        written = response.get_data()
        assert json.loads(written) == json.loads(default.dumps(recording.objects[-1])), name
        assert orjson.loads(written) == json.loads(written)
        answered += response.status_code == 200
    assert answered >= 50


@pytest.mark.parametrize("text, position, path", [
    ('{"employee": {"id": "E1", "contract": {"type": x', 47, "employee.contract.type"),
    ('{"checks": [{}, {"as_of": "2026"}, {"employee": [1, 2, ?', 55, "checks.2.employee.2"),
    ('{"a": 1, "b": {"c": [[[', 22, "b.c.0.0"),
    ('nonsense', 0, "(body)"),
])
def test_a_position_in_a_body_is_traced_to_its_field(text, position, path):
    assert path_at(text, position) == path
