"""The v1 check contract over HTTP, on SQLite and on PostgreSQL."""

import pytest
from freezegun import freeze_time

from tests.conftest import check_body


def test_pregnant_employee_art40_notice_is_denied_with_citation(client, decision_count):
    response = client.post("/v1/checks", json=check_body())
    assert response.status_code == 200
    body = response.get_json()
    assert body["verdict"] == "deny"
    assert body["as_of"] == "2026-02-10"
    assert body["ruleset_version"].startswith("sha256:")
    finding = next(f for f in body["findings"] if f["rule_id"] == "lcl-42-4.protected-period")
    assert body["findings"][0]["verdict"] == "deny"  # the most severe first
    assert finding["facts"] == {"derived.separation.basis": "with_notice", "employee.gender": "female",
                                "employee.pregnancy.status": "pregnant", "derived.nursing_period.active": False,
                                "derived.maternity_leave.active": False}
    assert finding["outcome"] == "fired" and finding["missing_facts"] == []
    cited = {c["ref"]: c for c in finding["citations"]}
    assert cited["LCL-42-4"]["article"] == "42" and cited["LCL-42-4"]["item"] == "4"
    assert "女职工在孕期、产期、哺乳期" in cited["LCL-42-4"]["text"]
    assert cited["LCL-42-4"]["law_en"].startswith("Labor Contract Law")
    assert cited["LCL-87"]["role"] == "consequence"
    assert finding["message"]["zh"] and finding["message"]["en"]
    assert decision_count() == 1


def test_decision_is_stored_and_readable_without_sensitive_values(client):
    decision_id = client.post("/v1/checks", json=check_body()).get_json()["decision_id"]
    stored = client.get(f"/v1/decisions/{decision_id}").get_json()
    assert stored["verdict"] == "deny"
    assert stored["employee_id"] == "E1001"
    assert stored["action_type"] == "terminate_with_notice"
    assert stored["actor_id"] == "HR7" and stored["actor_role"] == "hr"
    assert stored["as_of"] == "2026-02-10"
    facts = stored["findings"][0]["facts"]
    # Which facts decided is kept; the health facts' values are not.
    assert facts["employee.pregnancy.status"] == "[sensitive]"
    assert facts["derived.nursing_period.active"] == "[sensitive]"
    assert facts["derived.separation.basis"] == "with_notice"


def test_unknown_decision_is_404(client):
    response = client.get("/v1/decisions/nope")
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


def test_male_employee_is_allowed_with_only_obligations(client):
    body = check_body(employee={"id": "E2", "gender": "male", "medical_treatment": {"status": "none"}})
    response = client.post("/v1/checks", json=body).get_json()
    assert response["verdict"] == "allow"
    # An allow still says what the employer owes for an Art. 40 termination.
    assert {f["verdict"] for f in response["findings"]} == {"obligation"}
    assert {f["rule_id"] for f in response["findings"]} == {"lcl-46.severance-employer-termination",
                                                            "lcl-50.exit-certificate"}


def test_unknown_pregnancy_is_a_warning_naming_the_missing_fact(client):
    body = check_body(employee={"id": "E1", "gender": "female", "children": [],
                                "medical_treatment": {"status": "none"}})
    response = client.post("/v1/checks", json=body).get_json()
    assert response["verdict"] == "warn"
    assert response["findings"][0]["missing_facts"] == ["employee.pregnancy.status"]


@freeze_time("2026-03-10T23:30:00+00:00")  # already 11 March in China
def test_missing_as_of_defaults_to_today_in_china(client):
    body = check_body()
    del body["as_of"]
    assert client.post("/v1/checks", json=body).get_json()["as_of"] == "2026-03-11"


def test_as_of_datetime_is_taken_as_its_day_in_china(client):
    body = check_body(as_of="2026-03-10T17:00:00Z")
    assert client.post("/v1/checks", json=body).get_json()["as_of"] == "2026-03-11"


@pytest.mark.parametrize("mutate, status, path, reason", [
    (lambda b: b["employee"].pop("id"), 422, "employee.id", "Missing data for required field."),
    (lambda b: b.update(as_of="2026-02-30"), 422, "as_of", "Not a valid date"),
    (lambda b: b.update(as_of="2026-02-10T10:00:00"), 422, "as_of", "offset"),
    (lambda b: b["employee"].update(birth_date="12/05/1994"), 422, "employee.birth_date", "Not a valid date."),
    (lambda b: b["action"].update(type="fire_her"), 422, "action.type", "terminate_with_notice"),
    (lambda b: b["employee"]["pregnancy"].update(status="yes"), 422, "employee.pregnancy.status", "Must be one of"),
    (lambda b: b["employee"].update(pregnacy={"status": "pregnant"}), 422, "employee.pregnacy", "Unknown field."),
    (lambda b: b.update(case={"id": "C1", "kind": "resignation",
                              "events": [{"type": "resignation_submitted", "at": "yesterday",
                                          "actor": {"id": "E1", "role": "employee"}}]}),
     422, "case.events.0.at", "Not a valid"),
])
def test_bad_input_gets_4xx_with_path_and_reason_and_writes_nothing(client, decision_count, mutate, status, path, reason):
    body = check_body()
    mutate(body)
    response = client.post("/v1/checks", json=body)
    assert response.status_code == status
    errors = response.get_json()["errors"]
    assert any(e["path"] == path and reason in e["reason"] for e in errors), errors
    assert decision_count() == 0


def test_body_that_is_not_json_is_400(client, decision_count):
    response = client.post("/v1/checks", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["path"] == "(body)"
    response = client.post("/v1/checks", data="employee=E1")
    assert response.status_code == 415
    assert decision_count() == 0


def test_body_over_256_kib_is_413(client, decision_count):
    body = check_body()
    body["employee"]["note"] = "x" * (256 * 1024)
    response = client.post("/v1/checks", json=body)
    assert response.status_code == 413
    assert response.get_json()["code"] == 413
    assert decision_count() == 0


def test_rule_engine_failure_is_500_and_never_an_allow(client, app, decision_count, monkeypatch):
    from service.decide.engine import EngineError

    def broken(fact):
        raise EngineError("simulated")
    monkeypatch.setattr(app.extensions["rulebook"].engine, "fire", broken)
    response = client.post("/v1/checks", json=check_body())
    assert response.status_code == 500
    assert "verdict" not in response.get_json()
    assert decision_count() == 0


def test_database_failure_is_503_and_never_an_allow(client, app, monkeypatch):
    from sqlalchemy import create_engine

    # The decision is recorded through the app's engine: one whose database cannot be opened.
    monkeypatch.setitem(app.extensions, "db_engine", create_engine("sqlite:////nonexistent-folder/down.sqlite"))
    response = client.post("/v1/checks", json=check_body())
    assert response.status_code == 503
    assert "verdict" not in response.get_json()


def test_openapi_document_describes_the_check_endpoint(client):
    spec = client.get("/openapi.json").get_json()
    assert "/v1/checks" in spec["paths"]
    assert "CheckRequest" in spec["components"]["schemas"]


def test_a_batch_gives_each_check_its_own_verdict_and_decision(client, decision_count):
    male = check_body(employee={"id": "E2", "gender": "male", "medical_treatment": {"status": "none"}})
    response = client.post("/v1/checks:batch", json={"checks": [check_body(), male]})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["verdict"] for r in results] == ["deny", "allow"]
    assert len({r["decision_id"] for r in results}) == 2
    assert decision_count() == 2


def test_a_batch_with_one_bad_check_is_422_naming_it_and_records_nothing(client, decision_count):
    bad = check_body()
    del bad["employee"]["id"]
    response = client.post("/v1/checks:batch", json={"checks": [check_body(), bad]})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "checks.1.employee.id"
    too_many = client.post("/v1/checks:batch", json={"checks": [check_body()] * 101})
    assert too_many.status_code == 422
    assert decision_count() == 0


def test_an_unpaired_surrogate_is_400_not_a_crash(client, decision_count):
    raw = '{"employee": {"id": "E\\ud800"}, "action": {"type": "terminate_with_notice"}}'
    response = client.post("/v1/checks", data=raw, content_type="application/json")
    assert response.status_code == 400 and "Unicode" in response.get_json()["message"]
    emoji = '{"as_of": "2026-02-10", "employee": {"id": "E\\ud83d\\ude00", "gender": "male"}, "action": {"type": "edit_employee_record"}}'
    assert client.post("/v1/checks", data=emoji, content_type="application/json").status_code == 200
    assert decision_count() == 1


def test_a_date_far_outside_any_working_life_is_422(client):
    response = client.post("/v1/checks", json=check_body(as_of="0427-05-20"))
    assert response.status_code == 422 and response.get_json()["errors"][0]["path"] == "as_of"


def test_an_allow_lists_every_protection_it_ruled_out_with_the_facts_that_decided(client):
    body = check_body(employee={"id": "E2", "gender": "female", "pregnancy": {"status": "not_pregnant"},
                                "children": [{"birth_date": "2024-01-20"}]})
    response = client.post("/v1/checks", json=body).get_json()
    assert response["verdict"] == "allow"
    checked = {c["rule_id"]: c for c in response["checked"]}
    protection = checked["lcl-42-4.protected-period"]
    assert protection["outcome"] == "cleared" and protection["verdict"] == "deny"
    assert "LCL-42-4" in protection["refs"] and "text" not in protection  # texts stay in findings
    # The day the nursing period ended, beside the fact it decided.
    assert protection["facts"]["derived.nursing_period.active"] is False
    assert protection["facts"]["derived.nursing_period.ends_on"] == "2025-01-20"
    retirement = checked["lcl-42-5.long-service-near-retirement"]
    assert retirement["outcome"] == "cleared"
    # Her original retirement age (50 or 55) is not given: both dates, far enough off either way.
    # (born 1994: 55 or 58 under the 2025 reform), far enough off either way.
    assert retirement["facts"]["derived.retirement.date_earliest"] == "2049-05-12"
    assert retirement["facts"]["derived.retirement.date_latest"] == "2052-05-12"
    assert retirement["facts"]["derived.retirement.window_start"] == "2044-05-12"
    # Obligations are considered too, and a rule that fired is listed as fired.
    assert checked["lcl-46.severance-employer-termination"]["outcome"] == "fired"
    # Only rules that apply to the action type are listed.
    assert "lcl-37.resignation-not-in-writing" not in checked


def test_an_unknown_protection_is_a_warn_with_its_citations_and_outcome_unknown(client):
    body = check_body()
    del body["employee"]["pregnancy"]
    response = client.post("/v1/checks", json=body).get_json()
    finding = next(f for f in response["findings"] if f["rule_id"] == "lcl-42-4.protected-period")
    assert response["verdict"] == "warn"
    assert finding["verdict"] == "warn" and finding["outcome"] == "unknown"
    assert finding["missing_facts"] == ["employee.pregnancy.status"]
    assert {c["ref"] for c in finding["citations"]} >= {"LCL-42-4", "LCL-45", "LCL-87"}
    assert "不知道劳动者怀孕" in finding["message"]["zh"]  # the rule's own wording for the unknown case
    checked = {c["rule_id"]: c for c in response["checked"]}
    assert checked["lcl-42-4.protected-period"]["outcome"] == "unknown"


def test_the_trail_keeps_checked_without_health_values(client):
    decision_id = client.post("/v1/checks", json=check_body()).get_json()["decision_id"]
    stored = client.get(f"/v1/decisions/{decision_id}").get_json()
    checked = {c["rule_id"]: c for c in stored["checked"]}
    facts = checked["lcl-42-4.protected-period"]["facts"]
    assert checked["lcl-42-4.protected-period"]["outcome"] == "fired"
    assert facts["employee.pregnancy.status"] == "[sensitive]"
    assert facts["derived.separation.basis"] == "with_notice"


@freeze_time("2026-03-10T17:00:00+00:00")  # 11 March in China
def test_a_check_as_of_a_day_before_it_arrives_is_marked_retrospective_and_so_is_its_record(client):
    answers = {}
    for as_of in ("2026-03-10", "2026-03-11", "2026-03-12", None):
        body = check_body(as_of=as_of) if as_of else {k: v for k, v in check_body().items() if k != "as_of"}
        answer = client.post("/v1/checks", json=body).get_json()
        stored = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
        assert stored["retrospective"] is answer["retrospective"]
        answers[as_of] = answer["retrospective"]
    # The day before, in China (10 March UTC is still 10 March there until 16:00 UTC), is a what-if.
    assert answers == {"2026-03-10": True, "2026-03-11": False, "2026-03-12": False, None: False}
    batch = client.post("/v1/checks:batch", json={"checks": [check_body(as_of="2026-01-05"),
                                                             check_body(as_of="2026-03-11")]}).get_json()
    assert [r["retrospective"] for r in batch["results"]] == [True, False]
