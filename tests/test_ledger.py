"""The case ledger over HTTP: events checked before they are stored, refusals recorded,
idempotent appends, notifications in the same transaction, the whole story in the trail."""
import threading

from freezegun import freeze_time

from service.tools import worker


E1001 = {"id": "E1001", "gender": "female", "department": "SALES", "birth_date": "1994-05-12", "hire_date": "2021-03-01",
         "region": "CN-BJ", "pregnancy": {"status": "not_pregnant"}, "children": [],
         "medical_treatment": {"status": "none"}}
PREGNANT = {**E1001, "pregnancy": {"status": "pregnant", "confirmed_on": "2026-02-03"}}
CASE = {"kind": "resignation", "hr_owner_id": "HR7", "manager_id": "M3"}


def _event(client, key, type_, at, actor_id, role, employee=E1001, **extra):
    body = {"client_key": key, "employee": employee,
            "event": {"type": type_, "at": at, "actor": {"id": actor_id, "role": role}, **extra}}
    if key == "k1":
        body["case"] = CASE
    return client.post("/v1/cases/SEP-2026-001/events", json=body)


def _seed_until_withdrawal_accepted(client):
    answers = [
        _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee", form="written"),
        _event(client, "k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager"),
        _event(client, "k3", "withdrawal_requested", "2026-01-08T09:00:00+08:00", "E1001", "employee", form="verbal"),
        _event(client, "k4", "withdrawal_accepted", "2026-01-08T15:00:00+08:00", "M3", "manager"),
    ]
    for answer in answers:
        assert answer.status_code == 201, answer.get_json()
    return answers


def test_the_seed_story_through_the_ledger(client):
    answers = _seed_until_withdrawal_accepted(client)
    assert [a.get_json()["event"]["seq"] for a in answers] == [1, 2, 3, 4]
    assert answers[-1].get_json()["case"]["status"] == "withdrawn"

    # HR hears of the withdrawal when the manager accepts it.
    notes = client.get("/v1/notifications?recipient_role=hr&recipient_id=HR7").get_json()["notifications"]
    withdrawn = [n for n in notes if n["kind"] == "status_changed" and n["payload"]["to_status"] == "withdrawn"]
    assert len(withdrawn) == 1 and withdrawn[0]["payload"]["by"] == {"id": "M3", "role": "manager"}

    # A month later HR, now told she is pregnant, moves to offboard: refused, with the law.
    refused = _event(client, "k5", "offboarding_started", "2026-02-10T10:00:00+08:00", "HR7", "hr",
                     employee=PREGNANT)
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["verdict"] == "deny"
    assert "LCL-42-4" in {c["ref"] for f in body["findings"] for c in f["citations"]}
    assert "process.withdrawn-resignation-executed" in {f["rule_id"] for f in body["findings"]}
    assert body["event"]["accepted"] is False and body["case"]["status"] == "withdrawn"
    # ... and the refusal is recorded, and HR's owner is told.
    case = client.get("/v1/cases/SEP-2026-001?as_of=2026-02-10").get_json()
    assert [(e["seq"], e["type"], e["accepted"]) for e in case["events"]][-1] == (5, "offboarding_started", False)
    assert case["status"]["status"] == "withdrawn"
    kinds = [n["kind"] for n in client.get("/v1/notifications?case_id=SEP-2026-001").get_json()["notifications"]]
    assert "event_refused" in kinds

    trail = client.get("/v1/trail?employee=E1001").get_json()["entries"]
    steps = [(e["kind"], e["event_type"], e["actor_id"]) for e in trail]
    assert steps == [("case_event", "resignation_submitted", "E1001"),
                     ("case_event", "resignation_approved", "M3"),
                     ("case_event", "withdrawal_requested", "E1001"),
                     ("case_event", "withdrawal_accepted", "M3"),
                     ("event_refused", "offboarding_started", "HR7")]
    assert all(e["recorded_at"] and e["body"]["event"]["at"] for e in trail)
    assert client.post("/v1/trail/verify").status_code == 202  # run by the worker's task, then reported
    worker.run_pass(client.application, "test", force=True, tasks=[t for t in worker.TASKS if t.name == "verify_trail"])
    assert client.get("/v1/trail/verify").get_json()["ok"] is True


def test_a_check_can_name_a_recorded_case(client):
    _seed_until_withdrawal_accepted(client)
    response = client.post("/v1/checks", json={
        "as_of": "2026-02-10", "employee": PREGNANT, "case_id": "SEP-2026-001",
        "action": {"type": "execute_offboarding", "actor": {"id": "HR7", "role": "hr"}}})
    assert response.status_code == 200
    body = response.get_json()
    assert body["verdict"] == "deny"
    assert "process.withdrawn-resignation-executed" in {f["rule_id"] for f in body["findings"]}
    unknown = client.post("/v1/checks", json={"employee": E1001, "case_id": "NOPE",
                                              "action": {"type": "execute_offboarding"}})
    assert unknown.status_code == 422 and unknown.get_json()["errors"][0]["path"] == "case_id"


def test_the_same_client_key_records_once_and_answers_the_same(client):
    first = _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                   form="written")
    again = _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                   form="written")
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    case = client.get("/v1/cases/SEP-2026-001").get_json()
    assert len(case["events"]) == 1
    assert len(client.get("/v1/trail?case_id=SEP-2026-001").get_json()["entries"]) == 1


def test_a_client_key_sent_again_with_another_event_is_refused_naming_the_event_it_recorded(client):
    first = _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                   form="written")
    assert first.status_code == 201
    # The same key, another event: answering with the first answer would drop this one silently.
    other = _event(client, "k1", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager")
    assert other.status_code == 409
    error = other.get_json()
    assert error["code"] == 409 and error["status"] == "Conflict"
    assert "client_key k1" in error["message"] and "event 1 (resignation_submitted" in error["message"]
    assert first.get_json()["decision_id"] in error["message"]
    # Any field of the request counts, the employee's facts too.
    assert _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                  form="verbal").status_code == 409
    assert _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                  employee={**E1001, "pregnancy": {"status": "pregnant"}}, form="written").status_code == 409
    case = client.get("/v1/cases/SEP-2026-001").get_json()
    assert [e["type"] for e in case["events"]] == ["resignation_submitted"]
    assert len(client.get("/v1/trail?case_id=SEP-2026-001").get_json()["entries"]) == 1
    # The same request again is still answered with its first answer.
    again = _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                   form="written")
    assert again.status_code == 201 and again.get_json() == first.get_json()


def test_a_case_about_another_employee_or_without_a_kind_is_409(client):
    response = client.post("/v1/cases/NEW-1/events", json={
        "client_key": "x", "employee": E1001,
        "event": {"type": "resignation_submitted", "at": "2026-01-05T09:00:00+08:00",
                  "actor": {"id": "E1001", "role": "employee"}}})
    assert response.status_code == 409 and "case.kind" in response.get_json()["message"]
    _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee")
    other = _event(client, "k9", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager",
                   employee={**E1001, "id": "E2"})
    assert other.status_code == 409 and "about employee E1001, not E2" in other.get_json()["message"]


def test_a_bad_event_is_422_with_its_path_and_stores_nothing(client):
    response = client.post("/v1/cases/SEP-X/events", json={
        "client_key": "k", "case": CASE, "employee": E1001,
        "event": {"type": "resignation_exploded", "at": "2026-01-05T09:00:00+08:00",
                  "actor": {"id": "E1001", "role": "employee"}}})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "event.type"
    assert client.get("/v1/cases/SEP-X").status_code == 404


def test_two_writers_deciding_the_same_withdrawal_cannot_both_succeed(app):
    client = app.test_client()
    for answer in (
        _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee", form="written"),
        _event(client, "k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager"),
        _event(client, "k3", "withdrawal_requested", "2026-01-08T09:00:00+08:00", "E1001", "employee"),
    ):
        assert answer.status_code == 201
    results = {}
    barrier = threading.Barrier(2)

    def decide(key, type_):
        local = app.test_client()
        barrier.wait()
        results[type_] = _event(local, key, type_, "2026-01-08T15:00:00+08:00", "M3", "manager").status_code

    threads = [threading.Thread(target=decide, args=("a", "withdrawal_accepted")),
               threading.Thread(target=decide, args=("b", "withdrawal_rejected"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [201, 409], results
    case = app.test_client().get("/v1/cases/SEP-2026-001").get_json()
    assert [e["seq"] for e in case["events"]] == [1, 2, 3, 4, 5]
    assert sum(e["accepted"] for e in case["events"]) == 4


def test_the_sla_sweep_notifies_once_per_overdue_step_and_deadline(app, client):
    _seed_until_withdrawal_accepted(client)
    # HR's acknowledgement of the accepted withdrawal was asked for on Thu 2026-01-08:
    # two working days, due Mon 2026-01-12, overdue from the 13th.
    case = client.get("/v1/cases/SEP-2026-001?as_of=2026-01-12").get_json()
    assert case["pending"]["step"] == "withdrawal_hr_acknowledgement"
    assert case["pending"]["due_on"] == "2026-01-12" and case["pending"]["overdue"] is False
    quiet = client.post("/v1/sla/sweep", json={"as_of": "2026-01-12"}).get_json()
    assert quiet["overdue_steps"] == 0 and quiet["notifications_created"] == 0

    late = client.post("/v1/sla/sweep", json={"as_of": "2026-01-14"}).get_json()
    assert late["overdue_steps"] == 1 and late["notifications_created"] == 1  # the reminder alone, at first
    overdue = [n for n in client.get("/v1/notifications?case_id=SEP-2026-001").get_json()["notifications"]
               if n["kind"] == "step_overdue"]
    assert {(n["recipient_role"], n["payload"]["reason"]) for n in overdue} >= {("hr", "pending_approver")}
    assert all(n["payload"]["due_on"] == "2026-01-12" and n["payload"]["working_days_late"] == 2 for n in overdue)
    assert overdue[0]["payload"]["message"]["en"].startswith("The HR acknowledgement")

    escalated = client.post("/v1/sla/sweep", json={"as_of": "2026-01-15"}).get_json()  # a working day later
    assert escalated["notifications_created"] == 1
    [escalation] = [n for n in client.get("/v1/notifications?case_id=SEP-2026-001&kind=step_escalated")
                    .get_json()["notifications"]]
    assert escalation["recipient_role"] == "hr_admin" and "reminded on 2026-01-14" in escalation["payload"]["message"]["en"]
    again = app.test_cli_runner().invoke(args=["sla", "sweep", "--as-of", "2026-01-20"])
    assert again.exit_code == 0 and "notifications_created=0" in again.output


def test_a_sweep_as_of_a_day_to_come_is_a_dry_run_that_queues_nothing(app, client):
    _seed_until_withdrawal_accepted(client)  # HR's acknowledgement due Mon 2026-01-12
    with freeze_time("2026-01-12T02:00:00+00:00"):  # Monday 10:00 in China: not overdue yet
        ahead = client.post("/v1/sla/sweep", json={"as_of": "2026-01-14"}).get_json()
        assert ahead["dry_run"] is True and ahead["overdue_steps"] == 1 and ahead["notifications_created"] == 0
        # Two working days late, but never both at once: the reminder first (the real sweep does the same).
        assert {(n["kind"], n["reason"], n["due_on"]) for n in ahead["notifications"]} == {
            ("step_overdue", "pending_approver", "2026-01-12")}
        assert client.get("/v1/notifications?case_id=SEP-2026-001&kind=step_overdue").get_json()["notifications"] == []
        cli = app.test_cli_runner().invoke(args=["sla", "sweep", "--as-of", "2026-01-14"])
        assert cli.exit_code == 0 and "dry_run=True" in cli.output and "would notify kind=step_overdue" in cli.output
        today = client.post("/v1/sla/sweep", json={"as_of": "2026-01-12"}).get_json()
        assert today["dry_run"] is False and "notifications" not in today
    with freeze_time("2026-01-14T02:00:00+00:00"):  # the day has come: sent for real, once
        late = client.post("/v1/sla/sweep", json={}).get_json()
        assert late["dry_run"] is False and late["notifications_created"] == 1
    with freeze_time("2026-01-14T02:00:00+00:00"):  # tomorrow, a working day after the reminder: the escalation
        planned = client.post("/v1/sla/sweep", json={"as_of": "2026-01-15"}).get_json()["notifications"]
        assert [(n["kind"], n["reason"]) for n in planned] == [("step_escalated", "escalation")]
        assert client.get("/v1/notifications?case_id=SEP-2026-001&kind=step_escalated").get_json()["notifications"] == []


def test_an_event_recorded_after_it_happened_is_the_ledger_catching_up_not_a_what_if(client):
    with freeze_time("2026-01-20T02:00:00+00:00"):  # recorded two weeks after the letter
        answer = _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                        form="written")
        assert answer.status_code == 201, answer.get_json()
        stored = client.get(f"/v1/decisions/{answer.get_json()['decision_id']}").get_json()
    assert stored["kind"] == "case_event" and stored["as_of"] == "2026-01-05" and stored["retrospective"] is False


def test_a_withdrawal_that_arrived_first_is_recorded_and_voids_the_resignation(client):
    # The posted letter reached HR at 09:00; the withdrawal e-mail had reached HR at 08:30.
    letter = _event(client, "k1", "resignation_submitted", "2026-02-27T17:00:00+08:00", "E1001", "employee",
                    form="written", received_at="2026-03-02T09:00:00+08:00")
    assert letter.status_code == 201, letter.get_json()
    assert _moment(letter.get_json()["event"]["received_at"]) == _moment("2026-03-02T09:00:00+08:00")
    withdrawal = _event(client, "k2", "withdrawal_requested", "2026-03-02T08:30:00+08:00", "E1001", "employee",
                        form="email")
    assert withdrawal.status_code == 201, withdrawal.get_json()  # it happened: the ledger records it
    assert withdrawal.get_json()["case"] == {"status": "void", "resignation": "void", "withdrawal": "in_time"}

    for key, type_, actor, role in [("k3", "resignation_approved", "M3", "manager"),
                                    ("k4", "offboarding_started", "HR7", "hr")]:
        refused = _event(client, key, type_, "2026-03-02T10:00:00+08:00", actor, role)
        assert refused.status_code == 409, refused.get_json()
        assert "cc-141.withdrawal-arrived-with-resignation" in {f["rule_id"] for f in refused.get_json()["findings"]}
    case = client.get("/v1/cases/SEP-2026-001?as_of=2026-03-02").get_json()
    assert case["status"]["status"] == "void"
    assert case["pending"] == {"step": "none"}  # nothing awaits a decision on a resignation that never took effect
    assert _moment(case["events"][0]["received_at"]) == _moment("2026-03-02T09:00:00+08:00")


def _moment(text: str):
    import datetime as dt
    return dt.datetime.fromisoformat(text)
