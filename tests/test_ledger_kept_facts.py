"""A later case event may leave the employee record out: the case keeps the last facts it was
given (sealed, in case_rechecks), and the answer says which it used and from when."""
from sqlalchemy import text

from tests.test_ledger import CASE, E1001, PREGNANT

URL = "/v1/cases/SEP-2026-001/events"


def _event(client, key, type_, at, actor_id, role, employee=None, **extra):
    body = {"client_key": key, "event": {"type": type_, "at": at, "actor": {"id": actor_id, "role": role}, **extra}}
    if employee is not None:
        body["employee"] = employee
    if key == "k1":
        body["case"] = CASE
    return client.post(URL, json=body)


def _submitted(client):
    first = _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                   employee=E1001, form="written")
    assert first.status_code == 201, first.get_json()
    assert "employee_from" not in first.get_json()  # given with the event: nothing to say
    return first.get_json()


def test_a_first_event_without_the_employee_is_422_naming_the_field_and_records_nothing(client):
    answer = _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                    form="written")
    assert answer.status_code == 422
    assert [e["path"] for e in answer.get_json()["errors"]] == ["employee"]
    assert client.get("/v1/cases/SEP-2026-001").status_code == 404


def test_later_events_leave_it_out_and_say_whose_facts_they_were_decided_on(client):
    first = _submitted(client)
    approved = _event(client, "k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager")
    assert approved.status_code == 201, approved.get_json()
    used = approved.get_json()["employee_from"]
    assert used["event_seq"] == 1 and used["decision_id"] == first["decision_id"]
    assert used["as_of"] == "2026-01-05" and used["recorded_at"] == first["event"]["recorded_at"]
    assert approved.get_json()["case"]["status"] == "approved"
    # Decided as it would have been with the record sent again.
    with_it = client.post("/v1/cases/SEP-2026-002/events", json={
        "client_key": "x1", "case": CASE, "employee": E1001, "event": {
            "type": "resignation_submitted", "at": "2026-01-05T09:00:00+08:00",
            "actor": {"id": "E1001", "role": "employee"}, "form": "written"}})
    assert with_it.status_code == 201
    with_it = client.post("/v1/cases/SEP-2026-002/events", json={
        "client_key": "x2", "employee": E1001, "event": {
            "type": "resignation_approved", "at": "2026-01-06T10:00:00+08:00", "actor": {"id": "M3", "role": "manager"}}})
    assert [(f["rule_id"], f["verdict"]) for f in with_it.get_json()["findings"]] == \
        [(f["rule_id"], f["verdict"]) for f in approved.get_json()["findings"]]
    # Left out again: still the first event's facts (an event leaving them out gives none).
    requested = _event(client, "k3", "withdrawal_requested", "2026-01-08T09:00:00+08:00", "E1001", "employee",
                       form="verbal")
    assert requested.get_json()["employee_from"]["event_seq"] == 1
    accepted = _event(client, "k4", "withdrawal_accepted", "2026-01-08T15:00:00+08:00", "M3", "manager")
    assert accepted.status_code == 201 and accepted.get_json()["case"]["status"] == "withdrawn"
    # The trail says which decision's facts the event was decided on.
    entry = client.get("/v1/trail?case_id=SEP-2026-001&kind=case_event").get_json()["entries"][-1]
    assert entry["body"]["employee_from"] == first["decision_id"]

    # Changed facts are given; the refusal keeps them, and the next event leaving them out uses them.
    refused = _event(client, "k5", "offboarding_started", "2026-02-10T10:00:00+08:00", "HR7", "hr",
                     employee=PREGNANT)
    assert refused.status_code == 409 and "employee_from" not in refused.get_json()
    again = _event(client, "k6", "offboarding_started", "2026-02-11T10:00:00+08:00", "HR7", "hr")
    assert again.status_code == 409, again.get_json()
    assert again.get_json()["employee_from"]["event_seq"] == 5
    assert "LCL-42-4" in {c["ref"] for f in again.get_json()["findings"] for c in f["citations"]}
    # The same request again is answered the same, employee_from included.
    assert _event(client, "k6", "offboarding_started", "2026-02-11T10:00:00+08:00", "HR7", "hr").get_json() \
        == again.get_json()


def test_facts_given_by_a_check_naming_the_case_are_the_ones_kept(client):
    _submitted(client)
    _event(client, "k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager")
    _event(client, "k3", "withdrawal_requested", "2026-01-08T09:00:00+08:00", "E1001", "employee", form="verbal")
    _event(client, "k4", "withdrawal_accepted", "2026-01-08T15:00:00+08:00", "M3", "manager")
    check = client.post("/v1/checks", json={"as_of": "2026-02-09", "employee": PREGNANT, "case_id": "SEP-2026-001",
                                            "action": {"type": "execute_offboarding",
                                                       "actor": {"id": "HR7", "role": "hr"}}})
    assert check.status_code == 200, check.get_json()
    offboarding = _event(client, "k5", "offboarding_started", "2026-02-10T10:00:00+08:00", "HR7", "hr")
    assert offboarding.status_code == 409
    body = offboarding.get_json()
    assert body["employee_from"] == {"event_seq": None, "decision_id": check.get_json()["decision_id"],
                                     "as_of": "2026-02-09", "recorded_at": body["employee_from"]["recorded_at"]}
    # The pregnancy the check gave is what refuses the event.
    assert "LCL-42-4" in {c["ref"] for f in body["findings"] for c in f["citations"]}


def test_kept_facts_dated_after_the_events_day_are_422(client):
    _submitted(client)
    client.post("/v1/checks", json={"as_of": "2026-02-09", "employee": PREGNANT, "case_id": "SEP-2026-001",
                                    "action": {"type": "review_case", "actor": {"id": "HR7", "role": "hr"}}})
    backdated = _event(client, "k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager")
    assert backdated.status_code == 422
    assert [e["path"] for e in backdated.get_json()["errors"]] == ["employee.pregnancy.confirmed_on"]


def test_a_case_that_keeps_no_facts_asks_for_them(app, client):
    _submitted(client)
    with app.extensions["db_engine"].begin() as conn:  # as when the case closed, or before any were kept
        conn.execute(text("DELETE FROM case_rechecks"))
    answer = _event(client, "k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager")
    assert answer.status_code == 422
    errors = answer.get_json()["errors"]
    assert [e["path"] for e in errors] == ["employee"] and "keeps no employee facts" in errors[0]["reason"]
