"""GET /v1/requirements and its page: what an action needs, read off the rules."""
from __future__ import annotations

import re

import pytest

from tests.conftest import TEST_KEY
from tests.test_readme_walkthrough import _MORE, first_check, first_check_as_shown, mismatches, steps


def _needs(client, action, as_of="2026-02-10"):
    response = client.get(f"/v1/requirements?action={action}&as_of={as_of}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _field(answer, name):
    return next(f for f in answer["fields"] if f["field"] == name)


@pytest.fixture
def client(sqlite_app):
    return sqlite_app.test_client()


def test_an_art_40_termination_needs_its_protections_fields_and_not_the_actions_own(client):
    answer = _needs(client, "terminate_with_notice")
    names = [f["field"] for f in answer["fields"]]
    assert len(names) == len(set(names))
    assert {"employee.gender", "employee.pregnancy.status", "employee.children", "action.ground",
            "action.notice_served_on", "employer.union_exists"} <= set(names)
    # The action answers its own legal basis; nothing in the list is asked for it.
    assert answer["answered_by_action"] == {"action.type": "terminate_with_notice",
                                            "derived.separation.basis": "with_notice"}
    assert "derived.separation.basis" not in names and "action.type" not in names
    assert answer["always"] == ["employee.id", "action.type"]
    # A derived fact is replaced by the request fields it is computed from.
    assert "derived.nursing_period.active" not in names
    assert "lcl-42-4.protected-period" in _field(answer, "employee.children")["read_by"]
    # Described bilingually, with type and allowed values.
    pregnancy = _field(answer, "employee.pregnancy.status")
    assert pregnancy["description"]["zh"] == "怀孕状态" and pregnancy["description"]["en"]
    assert pregnancy["type"] == "enum" and "pregnant" in pregnancy["values"] and pregnancy["sensitive"] is True
    # Which fields a complete-record declaration can stand for (rules/records/).
    assert pregnancy["complete_record_area"] == "employee.pregnancy"
    assert _field(answer, "employee.children")["complete_record_area"] == "employee.children"
    assert _field(answer, "action.ground")["complete_record_area"] is None
    rules = {r["rule_id"]: r for r in answer["rules"]}
    assert rules["lcl-42-4.protected-period"]["title"]["zh"] and rules["lcl-42-4.protected-period"]["verdict"] == "deny"
    assert rules["lcl-42-4.protected-period"]["file"] == "labor_law/lcl_42_4_pregnancy_maternity_nursing.yaml"


def test_actions_differ_in_what_they_need(client):
    notice = _needs(client, "terminate_with_notice")
    resign = _needs(client, "submit_resignation")
    offboarding = _needs(client, "execute_offboarding")
    fields = {name: {f["field"] for f in answer["fields"]}
              for name, answer in (("notice", notice), ("resign", resign), ("offboarding", offboarding))}
    # A resignation is not protected by Art. 42: pregnancy is nothing to it.
    assert "employee.pregnancy.status" in fields["notice"] and "employee.pregnancy.status" not in fields["resign"]
    # Executing an offboarding takes its legal basis from its case: the case is asked for.
    assert "derived.separation.basis" not in offboarding["answered_by_action"]
    assert "case.events" in fields["offboarding"] and "case.events" not in fields["notice"]
    # A rule that applies to the action but tests another legal basis reads nothing (probation
    # reasons are owed for Art. 39 and 40 terminations, not for a layoff).
    layoff = _needs(client, "terminate_economic_layoff")
    ruled_out = {r["rule_id"]: r for r in layoff["rules"] if r["ruled_out_by_action"]}
    assert list(ruled_out) == ["lcl-21.reasons-not-stated"] and ruled_out["lcl-21.reasons-not-stated"]["fields"] == []
    assert "action.reasons_stated" not in {f["field"] for f in layoff["fields"]}


def test_a_field_that_matters_only_with_another_is_marked_with_the_condition(client):
    answer = _needs(client, "terminate_with_notice")
    pregnancy = _field(answer, "employee.pregnancy.status")
    assert [[(t["fact"], t["op"], t["value"]) for t in c] for c in pregnancy["only_when"]] \
        == [[("employee.gender", "eq", "female")]]
    words = pregnancy["only_when"][0][0]["text"]
    assert "employee.gender" in words["en"] and "female" in words["en"] and "性别" in words["zh"]
    # Tested together, each comes with the other: the one needed anyway is the other's condition.
    notified = _field(answer, "action.union_notified")
    [[union]] = notified["only_when"]
    assert (union["fact"], union["value"]) == ("derived.union.exists", True)
    # A condition on a derived fact names the request fields it is computed from (a union office implies one).
    assert union["computed_from"] == ["employer.union_exists", "employee.union_officer.position"]
    assert _field(answer, "employer.union_exists")["only_when"] == []
    assert _field(answer, "employee.gender")["only_when"] == []
    # A disease that extends the medical period matters only outside that period, and only with a
    # sick leave in its MED-4 window: both computed from the sick leave.
    special = _field(answer, "employee.medical_treatment.special_disease")
    tests = {t["fact"]: t for t in special["only_when"][0]}
    assert {f: t["value"] for f, t in tests.items()} == {"derived.medical_treatment.in_period": False,
                                                        "derived.medical_treatment.sick_leave_in_window": True}
    assert all("employee.medical_treatment.sick_leave" in t["computed_from"] for t in tests.values())
    # The same per rule.
    rule = next(r for r in answer["rules"] if r["rule_id"] == "lcl-42-4.protected-period")
    per_rule = {f["field"]: [t["fact"] for t in f["only_when"]] for f in rule["fields"]}
    assert per_rule["employee.pregnancy.status"] == ["employee.gender"] and per_rule["employee.gender"] == []


def test_an_unknown_action_is_422_naming_it(client):
    response = client.get("/v1/requirements?action=fire_at_will&as_of=2026-02-10")
    assert response.status_code == 422
    assert [e["path"] for e in response.get_json()["errors"]] == ["action"]
    response = client.get("/v1/requirements?as_of=2026-02-10")
    assert response.status_code == 422 and [e["path"] for e in response.get_json()["errors"]] == ["action"]


def test_it_needs_a_check_key_and_answers_by_etag(sqlite_app, client):
    assert client.get("/v1/requirements?action=terminate_with_notice",
                      headers={"Authorization": "Bearer sg_wrong"}).status_code == 401
    first = client.get("/v1/requirements?action=terminate_with_notice&as_of=2026-02-10")
    etag = first.headers["ETag"]
    assert "no-cache" in first.headers["Cache-Control"]
    again = client.get("/v1/requirements?action=terminate_with_notice&as_of=2026-02-10",
                       headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["ETag"] == etag
    other_day = client.get("/v1/requirements?action=terminate_with_notice&as_of=2026-02-11",
                           headers={"If-None-Match": etag})
    assert other_day.status_code == 200 and other_day.headers["ETag"] != etag
    spec = client.get("/openapi.json").get_json()
    assert "/v1/requirements" in spec["paths"] and "Requirements" in spec["components"]["schemas"]


def test_the_page_shows_it_and_the_catalog_links_to_it(client):
    page = client.get("/requirements?action=terminate_with_notice&as_of=2026-02-10")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    row = re.search(r'<tr id="field-employee\.pregnancy\.status" class="conditional">(.*?)</tr>', text, re.S)
    assert row and "性别" in row.group(1) and "female" in row.group(1)
    assert "lcl-42-4.protected-period" in text and "labor_law/lcl_42_4_pregnancy_maternity_nursing.yaml" in text
    assert 'href="/requirements"' in client.get("/rules").get_data(as_text=True)
    assert client.get("/requirements?action=nope").status_code == 400
    assert client.get("/requirements", headers={"Authorization": "Bearer sg_wrong"}).status_code == 401


# ---- the README's first check sends what its action needs, and gets the answer shown --------

def _first_check(text=None):
    step = first_check(text)
    return (step.method, step.path, step.headers, step.body), step.shown, step.span


def _paths(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _paths(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _named(sent: str, answer: dict) -> bool:
    """The field is listed (or its object is), in `always`, or named by a listed derived fact that
    declares no request fields of its own."""
    names = {f["field"] for f in answer["fields"]} | set(answer["always"])
    for f in answer["fields"]:
        if f["source"] == "derived" and not f.get("computed_from"):
            names.update(re.findall(r"\b(?:employee|employer|action)\.[a-z_.]+[a-z]", f["description"].get("en", "")))
    objects = {n.rsplit(".", 1)[0] for n in names if n.count(".") > 1}
    return any(sent == n or sent.startswith(n + ".") for n in names) or sent.rsplit(".", 1)[0] in objects


def _replay(body):
    from service import create_app
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{folder}/t.sqlite", "DEV_KEY": TEST_KEY})
        try:
            client = app.test_client()
            headers = {"Authorization": f"Bearer {TEST_KEY}"}
            live = client.post("/v1/checks", json=body, headers=headers).get_json()
            needs = client.get(f"/v1/requirements?action={body['action']['type']}&as_of={body['as_of']}",
                               headers=headers).get_json()
            return live, needs
        finally:
            app.extensions["db_engine"].dispose()


def test_the_readmes_first_check_sends_only_what_its_action_needs_and_gets_the_answer_shown():
    (method, path, _, body), shown, _ = _first_check()
    assert (method, path) == ("POST", "/v1/checks")
    live, needs = _replay(body)
    sent = [p for p in _paths(body) if p != "as_of" and p != "action.actor.id"]  # an actor is an id and a role
    assert [p for p in sent if not _named(p, needs)] == []
    # ... and all it needs: nothing is left unknown.
    assert [c["rule_id"] for c in live["checked"] if c["outcome"] == "unknown"] == []
    assert _MORE.fullmatch(shown["checked"][-1])
    assert not mismatches(first_check_as_shown(live, shown), shown), mismatches(first_check_as_shown(live, shown), shown)
    # The walkthrough's employee is its own: the first check is about someone else.
    assert body["employee"]["id"] not in {s.body["employee"]["id"] for s in steps() if s.body and "employee" in s.body}
