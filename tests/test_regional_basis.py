"""Issue 19 item 6: a finding that rests on a regional value cites the regional regulation.

A fact derived with a regional parameter value records the provisions it rested on
(Facts.rested_on) only where that value decided it; a finding reading the fact cites them as
definitions, with their text, and `checked` lists their refs. The trail keeps them, so a decision
renders again as answered (tests/test_trail.py runs every fixture; the Shanghai ones are in
fixtures/labor_law/lcl_42_4_* and two_dates_*).
"""
from __future__ import annotations

import copy

import pytest

from schemas.check import CheckRequestSchema
from service import PROJECT_ROOT
from service.decide.evaluation import evaluate
from service.decide.rulebook import load_rulebook

_RULEBOOK = load_rulebook(PROJECT_ROOT / "rules")
_PROTECTED = "lcl-42-4.protected-period"
_MEDICAL = "lcl-42-3.medical-treatment-period"
# A stillbirth (no living child): only the maternity leave can protect her.
_WOMAN = {"id": "E1", "gender": "female", "birth_date": "1992-04-18", "hire_date": "2019-03-01",
          "continuous_service_years": 6, "total_work_years": 9, "region": "CN-SH",
          "pregnancy": {"status": "not_pregnant"}, "children": [], "miscarriage": {"status": "none"},
          "childbirth": {"date": "2026-01-01", "dystocia": False, "babies": 1},
          "medical_treatment": {"status": "none", "special_disease": False},
          "occupational_disease": {"hazard_exposure": False, "suspected": False, "diagnosed": False},
          "work_injury": {"status": "none"}, "union_officer": {"position": "none"},
          "contract": {"type": "open_ended", "in_probation": False}}
_ART40 = {"type": "terminate_with_notice", "ground": "art40_3", "union_notified": True, "pay_in_lieu": True,
          "actor": {"id": "HR7", "role": "hr"}}


def check(as_of: str, employee: dict, **action):
    body = {"as_of": as_of, "employee": copy.deepcopy(employee), "employer": {"union_exists": True},
            "action": {**_ART40, **action}}
    return evaluate(_RULEBOOK, CheckRequestSchema().load(body))


def refs(outcome, rule_id):
    found = next((f for f in outcome.findings if f["rule_id"] == rule_id), None)
    return None if found is None else [c["ref"] for c in found["citations"]]


def checked_refs(outcome, rule_id):
    return next(c["refs"] for c in outcome.checked if c["rule_id"] == rule_id)


def test_past_the_national_98_days_shanghais_extension_decides_and_is_cited_with_its_text():
    outcome = check("2026-04-30", _WOMAN)   # day 120: 98 national days over, 98 + 60 not
    assert outcome.verdict == "deny"
    found = next(f for f in outcome.findings if f["rule_id"] == _PROTECTED)
    shanghai = [c for c in found["citations"] if c["ref"] == "REG-SH-ML"]
    assert len(shanghai) == 1 and shanghai[0]["role"] == "definition"
    assert "生育假六十天" in shanghai[0]["text"] and shanghai[0]["law"].startswith("上海市人口与计划生育条例")
    assert "FEM-7" in refs(outcome, _PROTECTED)
    assert "REG-SH-ML" in checked_refs(outcome, _PROTECTED)


def test_within_the_national_98_days_the_national_leave_alone_decides():
    outcome = check("2026-02-19", _WOMAN)   # day 50
    assert outcome.verdict == "deny"
    assert "FEM-7" in refs(outcome, _PROTECTED) and "REG-SH-ML" not in refs(outcome, _PROTECTED)
    assert "REG-SH-ML" not in checked_refs(outcome, _PROTECTED)


@pytest.mark.parametrize("as_of, verdict", [("2026-06-07", "deny"), ("2026-06-08", "allow")])
def test_the_last_day_of_the_shanghai_leave_and_the_day_after_both_rest_on_it(as_of, verdict):
    """Day 158 she is on leave by the extension; day 159 she is not, because the extension is over:
    either way its length decides, so an allow shows it among what was ruled out."""
    outcome = check(as_of, _WOMAN)
    assert outcome.verdict == verdict
    assert "REG-SH-ML" in checked_refs(outcome, _PROTECTED)


def test_after_the_first_birthday_no_leave_of_any_region_runs_and_none_is_cited():
    outcome = check("2027-01-05", _WOMAN)
    assert "REG-SH-ML" not in checked_refs(outcome, _PROTECTED)


def test_an_unknown_detail_in_shanghai_keeps_the_shanghai_floor():
    """Dystocia not recorded: she has at least 98 + 60 days in Shanghai (day 120 is inside)."""
    woman = {**_WOMAN, "childbirth": {"date": "2026-01-01"}}
    outcome = check("2026-04-30", woman)
    assert outcome.verdict == "deny" and "REG-SH-ML" in refs(outcome, _PROTECTED)


@pytest.mark.parametrize("childbirth, as_of, verdict", [
    ({"date": "2026-01-01", "dystocia": True}, "2026-04-15", "deny"),     # day 105 of 98 + 15
    ({"date": "2026-01-01", "dystocia": True}, "2026-04-23", "deny"),     # day 113, the last
    ({"date": "2026-01-01", "dystocia": True}, "2026-04-24", "warn"),     # an unencoded extension may run
    ({"date": "2026-01-01", "babies": 3}, "2026-05-07", "deny"),          # day 127 of 98 + 2 x 15
    ({"date": "2026-01-01"}, "2026-04-15", "warn"),                       # nothing recorded: 98 days
])
def test_an_uncovered_province_floor_counts_every_recorded_national_addition(childbirth, as_of, verdict):
    for region in ("CN-HB", None):
        woman = {**_WOMAN, "childbirth": childbirth, "region": region}
        if region is None:
            del woman["region"]
        outcome = check(as_of, woman)
        assert outcome.verdict == verdict, region
        assert not any(r.startswith("REG-") for r in checked_refs(outcome, _PROTECTED))


def test_shanghais_medical_standard_is_cited_when_it_gave_the_period():
    """Two years with the employer: the national table gives 3 months, Shanghai's standard 5."""
    sick = {**_WOMAN, "gender": "male", "hire_date": "2024-01-05", "continuous_service_years": None,
            "total_work_years": 3, "childbirth": {"status": "none"},
            "medical_treatment": {"sick_leave": [{"start": "2026-01-05"}], "special_disease": False}}
    del sick["continuous_service_years"]
    outcome = check("2026-05-20", sick)
    assert outcome.verdict == "deny" and "REG-SH-MED" in refs(outcome, _MEDICAL)
    stated = {**sick, "medical_treatment": {**sick["medical_treatment"], "status": "in_period"}}
    assert "REG-SH-MED" not in refs(check("2026-05-20", stated), _MEDICAL)  # the EHR's status decided
    beijing = {**sick, "region": "CN-BJ"}
    assert "REG-SH-MED" not in checked_refs(check("2026-03-20", beijing), _MEDICAL)


def test_the_trail_renders_the_regional_citation_again(client):
    body = {"as_of": "2026-04-30", "employee": _WOMAN, "employer": {"union_exists": True}, "action": _ART40}
    answer = client.post("/v1/checks", json=body).get_json()
    found = next(f for f in answer["findings"] if f["rule_id"] == _PROTECTED)
    assert "REG-SH-ML" in [c["ref"] for c in found["citations"]]
    stored = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    again = next(f for f in stored["findings"] if f["rule_id"] == _PROTECTED)
    assert again["citations"] == found["citations"]
    assert [c["refs"] for c in stored["checked"]] == [c["refs"] for c in answer["checked"]]


def test_a_regional_value_whose_regulation_has_no_text_stops_the_rule_set(rules_copy):
    from service.decide.rulebook import validate_rules
    path = rules_copy / "labor_law/parameters/maternity/regional_extension_days/CN-SH.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("reference: REG-SH-ML", "reference: REG-SH-XX"),
                    encoding="utf-8")
    problems = [str(p) for p in validate_rules(rules_copy).problems]
    assert any("CN-SH.yaml" in p and "REG-SH-XX" in p for p in problems), problems


def test_a_regulation_that_decided_the_notice_day_only_is_cited_on_the_two_days_warning():
    """Notice on day 120 (on leave by Shanghai's 60 days), effect after the first birthday (no leave
    of any region runs): the warning giving both days cites REG-SH-ML, and so do its refs."""
    outcome = check("2026-04-30", _WOMAN, notice_served_on="2026-04-30", effective_date="2027-01-05")
    found = next(f for f in outcome.findings if f["rule_id"] == _PROTECTED)
    assert found["outcome"] == "dates_differ"
    assert "REG-SH-ML" in refs(outcome, _PROTECTED) and "REG-SH-ML" in checked_refs(outcome, _PROTECTED)
