"""Bad input that used to get through (issue 11, item 6): each is a 4xx naming the field, the same
on /v1/checks, /v1/checks:batch and POST /v1/cases/<id>/events, and nothing reaches the trail."""
import copy
import io
import json

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from schemas.fields import CN_REGIONS
from service.record.models import TrailEntry
from tests.conftest import check_body

EMPLOYEE = check_body()["employee"]
EVENT_PATH = "/v1/cases/SEP-LIMITS-1/events"


def _event_body(employee=None, **event):
    return {"client_key": "limits-1", "case": {"kind": "resignation", "hr_owner_id": "HR7"},
            "employee": copy.deepcopy(employee or EMPLOYEE),
            "event": {"type": "resignation_submitted", "at": "2026-02-10T09:00:00+08:00",
                      "actor": {"id": "E1001", "role": "employee"}, "form": "written", **event}}


# Each endpoint, with where its employee sits in the body and how a body is built from a check.
ENDPOINTS = {
    "checks": ("/v1/checks", "", lambda check: check),
    "batch": ("/v1/checks:batch", "checks.0.", lambda check: {"checks": [check]}),
    "events": (EVENT_PATH, "", lambda check: {**_event_body(check["employee"]), "as_of": check["as_of"]}),
}


@pytest.fixture
def app(sqlite_app):
    """Refused before any query: the database does not matter here (test_checks covers PostgreSQL)."""
    return sqlite_app


@pytest.fixture
def trail_size(app):
    """The trail's size, less what it held when the test began (the rule set's own entry)."""
    def size() -> int:
        with app.extensions["db_sessions"]() as session:
            return session.scalar(select(func.count()).select_from(TrailEntry))
    baseline = size()
    return lambda: size() - baseline


@pytest.fixture(params=sorted(ENDPOINTS))
def endpoint(request):
    return ENDPOINTS[request.param]


def _post_raw(client, path, raw: str):
    return client.post(path, data=raw.encode(), content_type="application/json")


def _the_one_error(response, status):
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"code", "status", "message", "errors"} and body["code"] == status
    return body["errors"]


def test_a_body_nested_5000_deep_is_400_naming_where_and_records_nothing(client, endpoint, trail_size):
    path, prefix, build = endpoint
    errors = _the_one_error(_post_raw(client, path, "[" * 5000 + "]" * 5000), 400)
    assert errors[0]["path"].startswith("0.0.0.0") and "1024 levels" in errors[0]["reason"]

    raw = json.dumps(build(check_body())).replace('"E1001"', "[" * 5000 + "]" * 5000, 1)
    [error] = _the_one_error(_post_raw(client, path, raw), 400)
    assert error["path"].startswith(f"{prefix}employee.id.0.0.0"), error
    assert trail_size() == 0


@pytest.mark.parametrize("number", ["9" * 5000, "1" + "0" * 400 + ".5", "1e400", "-1e999"])
def test_a_number_too_large_is_400_naming_the_field_and_records_nothing(client, endpoint, trail_size, number):
    path, prefix, build = endpoint
    raw = json.dumps(build(check_body())).replace('"total_work_years": 8', f'"total_work_years": {number}')
    assert number in raw
    [error] = _the_one_error(_post_raw(client, path, raw), 400)
    assert error["path"] == f"{prefix}employee.total_work_years" and "too large" in error["reason"]
    assert trail_size() == 0


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(client, constant, trail_size):
    raw = json.dumps(check_body()).replace('"total_work_years": 8', f'"total_work_years": {constant}')
    [error] = _the_one_error(_post_raw(client, "/v1/checks", raw), 400)
    assert error["path"] == "employee.total_work_years"
    assert trail_size() == 0


def test_a_big_integer_where_a_small_one_is_meant_is_422(client):
    body = check_body()
    body["employee"]["childbirth"] = {"date": "2025-12-01", "babies": 10 ** 30}
    [error] = _the_one_error(_post_raw(client, "/v1/checks", json.dumps(body)), 422)
    assert error["path"] == "employee.childbirth.babies"


def _set(body: dict, dotted: str, value):
    *parents, last = dotted.split(".")
    node = body
    for name in parents:
        node = node[int(name)] if isinstance(node, list) else node.setdefault(name, {})
    node[last] = value


# Identifiers of a check, and of a case event.
CHECK_IDENTIFIERS = ["employee.id", "employee.department", "action.actor.id", "action.actor.department"]
CHECK_CASE = {"id": "SEP-9", "kind": "resignation", "events": [
    {"type": "resignation_submitted", "at": "2026-01-05T09:00:00+08:00", "actor": {"id": "E1001", "role": "employee"}}]}


@pytest.mark.parametrize("field", CHECK_IDENTIFIERS + ["case.id", "case.events.0.actor.id", "case_id"])
def test_a_control_character_in_an_identifier_of_a_check_is_422_naming_it(client, field, trail_size):
    for bad in ("\x00", "\x1b[31m", "\u202e", "\u2028", "\x7f", "\t", "\u3000"):
        for path, prefix, build in (ENDPOINTS["checks"], ENDPOINTS["batch"]):
            body = check_body(case=copy.deepcopy(CHECK_CASE)) if field.startswith("case.") else check_body()
            _set(body, field, f"E10{bad}01")
            [error] = _the_one_error(client.post(path, json=build(body)), 422)
            assert error["path"] == prefix + field and "printable" in error["reason"], repr(bad)
    assert trail_size() == 0


@pytest.mark.parametrize("field", ["client_key", "employee.id", "case.hr_owner_id", "case.manager_id",
                                   "event.actor.id", "event.actor.department"])
def test_a_control_character_in_an_identifier_of_an_event_is_422_naming_it(client, field, trail_size):
    body = _event_body()
    _set(body, field, "HR\x007")
    [error] = _the_one_error(client.post(EVENT_PATH, json=body), 422)
    assert error["path"] == field
    assert trail_size() == 0 and client.get("/v1/cases/SEP-LIMITS-1").status_code == 404


def test_a_control_character_in_a_case_id_in_the_path_or_a_query_is_422(client, trail_size):
    [error] = _the_one_error(client.post("/v1/cases/SEP%00-1/events", json=_event_body()), 422)
    assert error["path"] == "case_id"
    [error] = _the_one_error(client.get("/v1/cases/SEP%00-1"), 422)
    assert error["path"] == "case_id"
    [error] = _the_one_error(client.get("/v1/trail?employee=E%001"), 422)
    assert error["path"] == "employee"
    assert trail_size() == 0


def test_a_note_keeps_its_line_breaks_but_not_other_control_characters(client):
    [error] = _the_one_error(client.post(EVENT_PATH, json=_event_body(note="said so\x00")), 422)
    assert error["path"] == "event.note"
    accepted = client.post(EVENT_PATH, json=_event_body(note="第一行\n\tsecond line"))
    assert accepted.status_code == 201, accepted.get_json()


def test_printable_identifiers_in_any_script_are_accepted(client):
    body = check_body()
    body["employee"]["department"] = "人力资源部 HR"
    body["action"]["actor"]["id"] = "王 小明"
    assert client.post("/v1/checks", json=body).status_code == 200


@pytest.mark.parametrize("employee, field, reason", [
    ({"birth_date": "2026-02-11", "hire_date": None}, "birth_date", "after as_of"),
    ({"hire_date": "2026-03-01"}, "hire_date", "after as_of"),
    ({"birth_date": "1994-05-12", "hire_date": "1994-05-11"}, "hire_date", "before birth_date"),
])
def test_employee_dates_that_cannot_be_are_422_naming_the_field(client, endpoint, trail_size, employee, field, reason):
    path, prefix, build = endpoint
    body = check_body()  # as_of 2026-02-10
    body["employee"].update(employee)
    body["employee"] = {name: value for name, value in body["employee"].items() if value is not None}
    [error] = _the_one_error(client.post(path, json=build(body)), 422)
    assert error["path"] == f"{prefix}employee.{field}" and reason in error["reason"]
    assert trail_size() == 0


def test_the_dates_are_checked_against_the_default_as_of_too(client):
    body = check_body()
    del body["as_of"]
    body["employee"]["hire_date"] = "2026-03-02"
    with freeze_time("2026-03-01T20:00:00+00:00"):  # 2026-03-02 04:00 in China: hired today
        assert client.post("/v1/checks", json=body).status_code == 200
    with freeze_time("2026-03-01T12:00:00+00:00"):  # 20:00 in China, the day before
        [error] = _the_one_error(client.post("/v1/checks", json=body), 422)
        assert error["path"] == "employee.hire_date"
    event = _event_body(at="2026-03-01T12:00:00+08:00")  # no as_of: the event's day decides
    event["employee"]["hire_date"] = "2026-03-02"
    [error] = _the_one_error(client.post(EVENT_PATH, json=event), 422)
    assert error["path"] == "employee.hire_date"


def test_a_birth_on_the_day_and_a_hire_on_the_birthday_are_accepted(client):
    body = check_body()
    body["employee"].update(birth_date="2008-02-10", hire_date="2026-02-10")
    assert client.post("/v1/checks", json=body).status_code == 200


@pytest.mark.parametrize("region", ["CN-XX", "CN-11", "cn-bj", "CN-BJ ", "US-CA"])
def test_a_region_that_is_not_an_iso_3166_2_cn_code_is_422(client, endpoint, trail_size, region):
    path, prefix, build = endpoint
    body = check_body()
    body["employee"]["region"] = region
    [error] = _the_one_error(client.post(path, json=build(body)), 422)
    assert error["path"] == f"{prefix}employee.region" and "ISO 3166-2:CN" in error["reason"]
    assert trail_size() == 0


def test_the_regions_are_the_34_provincial_level_divisions_of_iso_3166_2_cn():
    pycountry = pytest.importorskip("pycountry")
    assert sorted(CN_REGIONS) == sorted(s.code for s in pycountry.subdivisions.get(country_code="CN"))
    assert len(CN_REGIONS) == 34


def test_every_region_is_accepted(client):
    body = check_body()
    for region in CN_REGIONS:
        body["employee"]["region"] = region
        assert client.post("/v1/checks", json=body).status_code == 200, region


# (field, value): a boolean, integer or number sent as another JSON type.
NOT_STRICT = [
    ("employer.union_exists", "true"), ("employer.union_exists", 1), ("employer.union_exists", "yes"),
    ("action.union_notified", "false"), ("action.union_notified", 0),
    ("employee.contract.in_probation", "on"), ("employee.occupational_disease.hazard_exposure", 0),
    ("employee.childbirth.babies", "2"), ("employee.childbirth.babies", 2.0), ("employee.childbirth.babies", True),
    ("employee.contract.consecutive_fixed_terms", 1.5), ("employee.original_retirement_age", "55"),
    ("employee.total_work_years", "8"), ("employee.total_work_years", True),
]


@pytest.mark.parametrize("field, value", NOT_STRICT, ids=[f"{f}={v!r}" for f, v in NOT_STRICT])
def test_booleans_and_numbers_are_strict(client, endpoint, trail_size, field, value):
    path, prefix, build = endpoint
    body = check_body()
    if field.startswith("employee.childbirth"):
        body["employee"]["childbirth"] = {"date": "2025-12-01"}
    if field == "employee.original_retirement_age":
        body["employee"]["gender"] = "female"
    if path == EVENT_PATH and field.split(".")[0] in ("employer", "action"):
        pytest.skip("an event carries no employer or action")
    _set(body, field, value)
    [error] = _the_one_error(client.post(path, json=build(body)), 422)
    assert error["path"] == prefix + field and "Not a valid" in error["reason"]
    assert trail_size() == 0


def test_a_whole_number_of_years_is_a_number(client):
    body = check_body()
    body["employee"]["total_work_years"] = 8
    body["employee"]["continuous_service_years"] = 4.5
    assert client.post("/v1/checks", json=body).status_code == 200


# Facts that have happened by as_of (2026-02-10 in check_body), each dated the day after.
HAPPENED_AFTER_AS_OF = [
    ({"children": [{"birth_date": "2025-06-01"}, {"birth_date": "2026-02-11"}]}, "employee.children.1.birth_date"),
    ({"childbirth": {"date": "2026-02-11"}}, "employee.childbirth.date"),
    ({"pregnancy": {"status": "pregnant", "confirmed_on": "2026-02-11"}}, "employee.pregnancy.confirmed_on"),
    ({"miscarriage": {"date": "2026-02-11"}}, "employee.miscarriage.date"),
    ({"medical_treatment": {"sick_leave": [{"start": "2026-02-11"}]}}, "employee.medical_treatment.sick_leave.0.start"),
    ({"work_injury": {"status": "pending", "paid_suspension": {"start": "2026-02-11"}}},
     "employee.work_injury.paid_suspension.start"),
]


@pytest.mark.parametrize("employee, field", HAPPENED_AFTER_AS_OF)
def test_a_fact_dated_after_as_of_is_422_naming_it(client, endpoint, trail_size, employee, field):
    path, prefix, build = endpoint
    body = check_body()
    body["employee"].update(employee)
    [error] = _the_one_error(client.post(path, json=build(body)), 422)
    assert error["path"] == f"{prefix}{field}" and "after as_of (2026-02-10)" in error["reason"], error
    assert trail_size() == 0


def test_a_backdated_as_of_cannot_make_a_nursing_mother_a_stranger(client, trail_size):
    """A child born on 1 March: notice served as of 2 March is denied; the same notice checked as
    of 20 February, the birth still in the request, used to be read with the child unborn."""
    body = check_body(as_of="2026-03-02")
    body["employee"].update(pregnancy={"status": "not_pregnant"}, children=[{"birth_date": "2026-03-01"}],
                            childbirth={"date": "2026-03-01"})
    body["action"].update(notice_served_on="2026-03-02", effective_date="2026-04-02")
    assert client.post("/v1/checks", json=body).get_json()["verdict"] == "deny"
    body["as_of"] = "2026-02-20"
    body["action"]["notice_served_on"] = "2026-02-20"
    errors = _the_one_error(client.post("/v1/checks", json=body), 422)
    assert {e["path"] for e in errors} == {"employee.children.0.birth_date", "employee.childbirth.date"}
    assert trail_size() == 1


def test_dates_that_lie_ahead_by_nature_are_accepted(client):
    body = check_body()  # as_of 2026-02-10
    body["employee"].update(
        pregnancy={"status": "pregnant", "confirmed_on": "2026-02-10", "expected_due_date": "2026-08-01"},
        contract={"type": "fixed_term", "end_date": "2027-01-31", "probation_end": "2026-03-31"},
        medical_treatment={"sick_leave": [{"start": "2026-02-01", "end": "2026-02-28"}]},
        union_officer={"position": "chair", "term_start": "2026-03-01", "term_end": "2029-02-28"})
    assert client.post("/v1/checks", json=body).status_code == 200


# ---- edge inputs in the URL and the transfer encoding: 4xx naming the part, never a 500 --------

def test_an_id_in_the_path_over_128_characters_is_422_naming_it(client, trail_size):
    long_id = "C" * 129
    for method, path, name in [("post", f"/v1/cases/{long_id}/events", "case_id"), ("get", f"/v1/cases/{long_id}", "case_id"),
                               ("get", f"/v1/decisions/{long_id}", "decision_id"),
                               ("get", f"/v1/trail/proof/{long_id}", "entry_id"), ("get", f"/cases/{long_id}", "case_id")]:
        response = getattr(client, method)(path, json=_event_body() if method == "post" else None)
        [error] = _the_one_error(response, 422)
        assert error == {"path": name, "reason": "must be at most 128 characters"}, path
    assert client.get(f"/v1/cases/{'C' * 128}").status_code == 404  # the longest id is an id
    assert trail_size() == 0


@pytest.mark.parametrize("query", ["after=1e23", "after=99999999999999999999999", "after=9223372036854775808",
                                   "after=-1", "after=1.5", "after=NaN", "after=" + "9" * 5000, "limit=1e3"])
def test_an_absurd_number_on_a_trail_listing_is_422_naming_it(client, query):
    name = query.split("=")[0]
    for path in ("/v1/trail", "/v1/trail/checkpoints"):
        [error] = _the_one_error(client.get(f"{path}?{query}"), 422)
        assert error["path"] == name, (path, error)
    page = client.get(f"/trail?{query}")  # the pages' search form says so in the page
    assert page.status_code == 400 and f"{name}:" in page.get_data(as_text=True)
    assert client.get("/v1/trail?after=9223372036854775807").status_code == 200  # the largest seq there can be


def test_a_seq_past_any_there_can_be_is_404(client):
    for seq in ("9223372036854775808", "9" * 30):
        response = client.get(f"/trail/{seq}")
        assert response.status_code == 404 and response.content_type.startswith("text/html")
        assert client.get(f"/v1/trail/proof/{seq}").status_code == 404  # its API twin names entries by id


class _BrokenChunks(io.BytesIO):
    """What a WSGI server raises when it decodes a malformed chunk (gunicorn: InvalidChunkSize)."""

    def read(self, size=-1):
        raise ValueError("Invalid chunk size")


def _chunked(client, path, stream):
    # How a server that decodes chunked bodies itself passes one on (gunicorn, werkzeug's own).
    return client.post(path, input_stream=stream, environ_overrides={"wsgi.input_terminated": True},
                       headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"})


def test_a_malformed_chunked_body_is_400_and_one_over_the_limit_413(client, endpoint, trail_size):
    path, _, build = endpoint
    [error] = _the_one_error(_chunked(client, path, _BrokenChunks()), 400)
    assert error == {"path": "(body)", "reason": "is not a well-formed chunked body (ValueError)"}
    [error] = _the_one_error(_chunked(client, path, io.BytesIO(b" " * (256 * 1024 + 1))), 413)
    assert error["path"] == "(body)" and "256 KiB" in error["reason"]
    body = json.dumps(build(check_body())).encode()
    at_the_limit = body + b" " * (256 * 1024 - len(body))  # valid JSON of exactly 256 KiB
    assert _chunked(client, path, io.BytesIO(at_the_limit)).status_code in (200, 201)
    assert trail_size() == 1
