"""A repeated client key gets the first answer again, byte for byte (key order aside), rendered
from the trail entry the event names (service.flows.case_replay): case_events keeps only the
status code, the receipt's signature and `employee_from` (issue 23, goal 5). Every kind of answer
the ledger replays: 201 (an event accepted), 409 (an event refused by the rules, sensitive facts
redacted), an event decided on kept facts (employee_from), one under a declaration (assumed), an
event with a note and a received_at; a row recorded before migration 0016 replays as kept; an
edited signature is never replayed. A 422, or a 409 for a reused key or a conflicting case,
records nothing and so has nothing to replay."""
import base64
import json

import pytest
from sqlalchemy import text

from tests.conftest import make_app
from tests.test_ledger import CASE, E1001, PREGNANT

URL = "/v1/cases/SEP-2026-001/events"


def _body(key, type_, at, actor_id, role, employee=E1001, **extra):
    body = {"client_key": key, "event": {"type": type_, "at": at, "actor": {"id": actor_id, "role": role}, **extra}}
    if employee is not None:
        body["employee"] = employee
    if key == "k1":
        body["case"] = CASE
    return body


STORY = [_body("k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee", form="written",
               note="handed in at the front desk"),
         _body("k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager", employee=None),
         _body("k3", "withdrawal_requested", "2026-01-08T09:00:00+08:00", "E1001", "employee", form="verbal",
               received_at="2026-01-08T11:30:00+08:00"),
         _body("k4", "withdrawal_accepted", "2026-01-08T15:00:00+08:00", "M3", "manager", employee=None),
         # Refused: she withdrew, and is now pregnant (a sensitive fact, redacted in the answer).
         _body("k5", "offboarding_started", "2026-02-10T10:00:00+08:00", "HR7", "hr", employee=PREGNANT)]


def _same(first, again):
    """Same status, and the same JSON: the bytes parsed (key order aside), nothing added or lost."""
    assert again.status_code == first.status_code
    assert json.loads(again.get_data()) == json.loads(first.get_data())


def _sql(app, sql, **params):
    with app.extensions["db_engine"].begin() as conn:
        return conn.execute(text(sql), params)


def _told(client):
    firsts = [client.post(URL, json=body) for body in STORY]
    assert [a.status_code for a in firsts] == [201, 201, 201, 201, 409], [a.get_json() for a in firsts]
    return firsts


def test_every_answer_is_replayed_as_first_given(app, client):
    firsts = _told(client)
    assert "employee_from" in firsts[1].get_json() and "employee_from" not in firsts[0].get_json()
    assert firsts[4].get_json()["code"] == 409 and firsts[4].get_json()["verdict"] == "deny"
    assert "[sensitive]" in json.dumps(firsts[4].get_json()["findings"])  # redacted, and replayed so
    for body, first in zip(STORY, firsts):
        _same(first, client.post(URL, json=body))
    # Each again after later events: the case status is the one at the time, not now's.
    for body, first in zip(STORY, firsts):
        _same(first, client.post(URL, json=body))
    events = client.get("/v1/cases/SEP-2026-001").get_json()["events"]
    assert len(events) == 5  # the replays recorded nothing


def test_only_what_the_trail_does_not_hold_is_kept(app, client):
    firsts = _told(client)
    rows = _sql(app, "SELECT seq, response_status, response, response IS NULL AS none, receipt_signature FROM case_events "
                     "WHERE case_id = 'SEP-2026-001' ORDER BY seq").all()
    assert [r.response_status for r in rows] == [201, 201, 201, 201, 409]
    kept = [r.response if not isinstance(r.response, str) else json.loads(r.response) for r in rows]
    assert kept[0] is None and kept[2] is None and kept[4] is None
    assert [r.none for r in rows] == [True, False, True, False, True]  # SQL NULL, not a JSON null
    assert kept[1] == {"employee_from": firsts[1].get_json()["employee_from"]}
    assert [bytes(r.receipt_signature) for r in rows] == \
        [base64.b64decode(a.get_json()["receipt"]["signature"]) for a in firsts]


def test_an_answer_under_a_declaration_is_replayed_with_what_it_assumed(app, client):
    body = {"client_key": "c1", "case": {"kind": "resignation", "hr_owner_id": "HR7"},
            "employee": {"id": "E9", "gender": "female", "region": "CN-BJ"},
            "complete_record": ["employee.union_officer", "employee.pregnancy"],
            "event": {"type": "resignation_submitted", "at": "2026-01-05T09:00:00+08:00",
                      "actor": {"id": "E9", "role": "employee"}, "form": "written"}}
    first = client.post("/v1/cases/SEP-9/events", json=body)
    assert first.status_code == 201, first.get_json()
    assert len(first.get_json()["assumed"]) == 2
    _same(first, client.post("/v1/cases/SEP-9/events", json=body))


def test_facts_kept_by_name_only_replay_so(database_url):
    app = make_app(database_url, TRAIL_FACT_VALUES="none")
    try:
        client = app.test_client()
        firsts = _told(client)
        for body, first in zip(STORY, firsts):
            _same(first, client.post(URL, json=body))
    finally:
        app.extensions["db_engine"].dispose()


def test_a_row_recorded_before_0016_replays_its_kept_answer(app, client):
    firsts = _told(client)
    # As 0015 kept it: the whole answer, no signature.
    _sql(app, "UPDATE case_events SET response = :r, receipt_signature = NULL WHERE case_id = 'SEP-2026-001' "
              "AND seq = 5", r=json.dumps(firsts[4].get_json()))
    _same(firsts[4], client.post(URL, json=STORY[4]))
    # ... and its kept verdict is still held to the trail's.
    forged = {**firsts[4].get_json(), "verdict": "allow"}
    _sql(app, "UPDATE case_events SET response = :r WHERE case_id = 'SEP-2026-001' AND seq = 5", r=json.dumps(forged))
    again = client.post(URL, json=STORY[4])
    assert again.status_code == 503 and "in response" in again.get_json()["message"]


@pytest.mark.parametrize("signature", ["flipped", "another entry's"])
def test_an_edited_receipt_signature_is_not_replayed(app, client, signature):
    _told(client)
    if signature == "flipped":
        _sql(app, "UPDATE case_events SET receipt_signature = :s WHERE case_id = 'SEP-2026-001' AND seq = 3",
             s=bytes(64))
    else:
        _sql(app, "UPDATE case_events SET receipt_signature = (SELECT receipt_signature FROM case_events "
                  "WHERE case_id = 'SEP-2026-001' AND seq = 2) WHERE case_id = 'SEP-2026-001' AND seq = 3")
    again = client.post(URL, json=STORY[2])
    assert again.status_code == 503
    assert "event 3" in again.get_json()["message"] and "signature" in again.get_json()["message"]
    # trail verify compares the kept signature with the entry too, and names the field.
    result = app.test_cli_runner().invoke(args=["trail", "verify"])
    assert result.exit_code == 1 and "event 3" in result.stderr and "in receipt: edited" in result.stderr


def test_an_edited_status_code_is_not_replayed(app, client):
    _told(client)
    _sql(app, "UPDATE case_events SET response_status = 201 WHERE case_id = 'SEP-2026-001' AND seq = 5")
    again = client.post(URL, json=STORY[4])
    assert again.status_code == 503 and "in response" in again.get_json()["message"]
