"""A record declared complete: per key or per request, an absent field in a declared area is read
as the rule tree's "none" (rules/records/complete_record.yaml), and the answer says so."""
from __future__ import annotations

import pytest

from service.decide.rulebook import RuleLoadError, load_rulebook
from service.http.keys import create_client

FAMILY = ["employee.pregnancy", "employee.childbirth", "employee.miscarriage", "employee.children"]
# A female employee as an EHR that records events holds her: nothing about pregnancies or children.
SPARSE = {"as_of": "2026-02-10", "employee": {"id": "E9", "gender": "female", "region": "CN-BJ"},
          "employer": {"union_exists": True},
          "action": {"type": "terminate_with_notice", "ground": "art40_2", "union_notified": True,
                     "notice_served_on": "2026-01-05", "actor": {"id": "HR7", "role": "hr"}}}
PROTECTION = "lcl-42-4.protected-period"


@pytest.fixture
def client(sqlite_app):
    return sqlite_app.test_client()


def _key(app, name, areas):
    with app.extensions["db_sessions"]() as session, session.begin():
        return create_client(session, name, ["checks", "cases", "trail:read"], complete_record=areas)


def _check(client, body, key=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.post("/v1/checks", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _finding(answer, rule_id):
    return next((f for f in answer["findings"] if f["rule_id"] == rule_id), None)


def _outcome(answer, rule_id):
    return next(c["outcome"] for c in answer["checked"] if c["rule_id"] == rule_id)


def test_without_a_declaration_a_sparse_record_warns_on_pregnancy(client):
    answer = _check(client, SPARSE)
    finding = _finding(answer, PROTECTION)
    assert finding["verdict"] == "warn" and "employee.pregnancy.status" in finding["missing_facts"]
    assert "assumed" not in answer


def test_a_keys_declaration_reads_the_absent_family_events_as_none(sqlite_app, client):
    key = _key(sqlite_app, "ehr-events", FAMILY)
    answer = _check(client, SPARSE, key)
    assert _finding(answer, PROTECTION) is None and _outcome(answer, PROTECTION) == "cleared"
    assumed = {a["field"]: a for a in answer["assumed"]}
    assert assumed["employee.pregnancy.status"] == {"field": "employee.pregnancy.status", "value": "not_pregnant",
                                                    "declared_by": "key"}
    assert assumed["employee.children"]["value"] == [] and assumed["employee.childbirth.status"]["value"] == "none"
    assert {a["declared_by"] for a in answer["assumed"]} == {"key"}
    # Only the declared areas: the medical record is still not said to be complete.
    assert not any(f.startswith("employee.medical_treatment") for f in assumed)
    assert _outcome(answer, "lcl-42-3.medical-treatment-period") == "unknown"


def test_a_requests_declaration_works_and_the_recorded_decision_shows_it(client):
    answer = _check(client, {**SPARSE, "complete_record": FAMILY})
    assert _finding(answer, PROTECTION) is None
    assert {a["field"]: a["declared_by"] for a in answer["assumed"]} == {
        "employee.pregnancy.status": "request", "employee.childbirth.status": "request",
        "employee.miscarriage.status": "request", "employee.children": "request"}
    recorded = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    assert [(a["field"], a["declared_by"]) for a in recorded["assumed"]] \
        == [(a["field"], a["declared_by"]) for a in answer["assumed"]]
    # The trail keeps sensitive values by name only, these as well.
    assert {a["value"] for a in recorded["assumed"]} == {"[sensitive]"}
    assert recorded["verdict"] == answer["verdict"] and recorded["findings"] == answer["findings"]


def test_the_request_is_credited_where_it_and_its_key_both_declare(sqlite_app, client):
    key = _key(sqlite_app, "ehr-both", ["employee.pregnancy", "employee.union_officer"])
    answer = _check(client, {**SPARSE, "complete_record": ["employee.pregnancy"]}, key)
    by = {a["field"]: a["declared_by"] for a in answer["assumed"]}
    assert by == {"employee.pregnancy.status": "request", "employee.union_officer.position": "key"}


def test_a_declaration_never_overrides_a_fact_given(client):
    given = {**SPARSE, "employee": {**SPARSE["employee"], "pregnancy": {"status": "pregnant"},
                                    "childbirth": {"date": "2025-12-20"}},
             "complete_record": FAMILY}
    answer = _check(client, given)
    assert answer["verdict"] == "deny" and _finding(answer, PROTECTION)["outcome"] == "fired"
    fields = {a["field"] for a in answer["assumed"]}
    # A childbirth given with its date is recorded: its status is not filled in as none.
    assert "employee.pregnancy.status" not in fields and "employee.childbirth.status" not in fields
    assert {"employee.children", "employee.miscarriage.status"} <= fields
    # "unknown" is a statement too: kept, and the protection stays unknown.
    unknown = {**SPARSE, "employee": {**SPARSE["employee"], "pregnancy": {"status": "unknown"}},
               "complete_record": FAMILY}
    answer = _check(client, unknown)
    assert "employee.pregnancy.status" in _finding(answer, PROTECTION)["missing_facts"]


def test_a_declaration_fills_only_the_parts_an_object_given_leaves_out(client):
    body = {**SPARSE, "employee": {**SPARSE["employee"], "medical_treatment": {"status": "none"}},
            "complete_record": ["employee.medical_treatment"]}
    answer = _check(client, body)
    assert [(a["field"], a["value"]) for a in answer["assumed"]] == [
        ("employee.medical_treatment.sick_leave", []), ("employee.medical_treatment.special_disease", False)]


def test_an_unknown_area_is_refused_naming_it(client):
    response = client.post("/v1/checks", json={**SPARSE, "complete_record": ["employee.pregnancy", "employee.salary"]})
    assert response.status_code == 422
    assert [e["path"] for e in response.get_json()["errors"]] == ["complete_record.1"]
    response = client.post("/v1/checks:batch", json={"checks": [SPARSE, {**SPARSE, "complete_record": ["x"]}]})
    assert response.status_code == 422
    assert [e["path"] for e in response.get_json()["errors"]] == ["checks.1.complete_record.0"]
    event = {"client_key": "c1", "case": {"kind": "resignation", "hr_owner_id": "HR7"},
             "employee": SPARSE["employee"], "complete_record": ["employee.salary"],
             "event": {"type": "resignation_submitted", "at": "2026-01-05T09:00:00+08:00",
                       "actor": {"id": "E9", "role": "employee"}, "form": "written"}}
    response = client.post("/v1/cases/SEP-9/events", json=event)
    assert response.status_code == 422 and [e["path"] for e in response.get_json()["errors"]] == ["complete_record.0"]
    assert client.get("/v1/cases/SEP-9").status_code == 404  # nothing written


def test_a_case_event_under_a_declaration_says_what_it_assumed(client):
    event = {"client_key": "c1", "case": {"kind": "resignation", "hr_owner_id": "HR7"},
             "employee": SPARSE["employee"], "complete_record": ["employee.union_officer"],
             "event": {"type": "resignation_submitted", "at": "2026-01-05T09:00:00+08:00",
                       "actor": {"id": "E9", "role": "employee"}, "form": "written"}}
    response = client.post("/v1/cases/SEP-9/events", json=event)
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert answer["assumed"] == [{"field": "employee.union_officer.position", "value": "none",
                                  "declared_by": "request"}]
    recorded = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    assert recorded["assumed"] == answer["assumed"]
    # The same client_key again: the same answer.
    assert client.post("/v1/cases/SEP-9/events", json=event).get_json()["assumed"] == answer["assumed"]


def test_keys_create_takes_areas_and_refuses_an_unknown_one(sqlite_app):
    runner = sqlite_app.test_cli_runner()
    made = runner.invoke(args=["keys", "create", "ehr-cli", "--scope", "checks",
                               "--complete-record", "employee.pregnancy,employee.children"])
    assert made.exit_code == 0, made.output
    listed = runner.invoke(args=["keys", "list"]).output
    assert "complete record: employee.pregnancy,employee.children" in listed
    refused = runner.invoke(args=["keys", "create", "ehr-bad", "--scope", "checks",
                                  "--complete-record", "employee.pregnancy,employee.salary"])
    assert refused.exit_code == 2 and "employee.salary" in refused.output
    assert "ehr-bad" not in runner.invoke(args=["keys", "list"]).output


def test_what_absence_means_is_checked_against_the_contract(rules_copy):
    path = rules_copy / "records" / "complete_record.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("{status: not_pregnant}", "{status: maybe}"),
                    encoding="utf-8")
    with pytest.raises(RuleLoadError) as refused:
        load_rulebook(rules_copy)
    assert "records/complete_record.yaml" in str(refused.value) and "employee.pregnancy" in str(refused.value)


def test_the_contract_documents_the_declaration_and_what_it_assumed(client):
    spec = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert "complete_record" in spec["CheckRequest"]["properties"]
    assert "complete_record" in spec["CaseEventRequest"]["properties"]
    for answer in ("CheckResult", "EventResult", "Decision"):
        assert spec[answer]["properties"]["assumed"]["items"] == {"$ref": "#/components/schemas/Assumed"}
    assert set(spec["Assumed"]["properties"]) == {"field", "value", "declared_by"}
