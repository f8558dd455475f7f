"""Issue 12 item 3: a protection that depends on a date is judged on the day notice is served and
on the effective date; where the two disagree the answer is a warn giving both days."""
from __future__ import annotations

import copy

import pytest

from schemas.check import CheckRequestSchema, CheckResultSchema
from service import PROJECT_ROOT
from service.evaluation import evaluate, judgment_days
from service.privacy import REDACTED, redact_findings
from service.rulebook import load_rulebook

_RULEBOOK = load_rulebook(PROJECT_ROOT / "rules")

_KNOWN = {"children": [], "medical_treatment": {"status": "none", "special_disease": False},
          "occupational_disease": {"hazard_exposure": False, "suspected": False, "diagnosed": False},
          "work_injury": {"status": "none"}, "contract": {"type": "open_ended", "in_probation": False},
          "union_officer": {"position": "none"}, "region": "CN-BJ", "total_work_years": 30}
# Born 1966-07-15: statutory retirement on 2026-12-15 (2025 reform), well inside the five years.
_MAN = {"id": "E60", "gender": "male", "birth_date": "1966-07-15", **_KNOWN}
_WOMAN = {"id": "E61", "gender": "female", "birth_date": "1992-04-18", "hire_date": "2019-03-01",
          "continuous_service_years": 6, "pregnancy": {"status": "not_pregnant"},
          "childbirth": {"status": "none"}, **_KNOWN}
_ART40 = {"type": "terminate_with_notice", "ground": "art40_3", "union_notified": True,
          "actor": {"id": "HR7", "role": "hr"}}


def check(as_of, employee, **action):
    body = {"as_of": as_of, "employee": copy.deepcopy(employee), "employer": {"union_exists": True},
            "action": {**_ART40, **action}}
    return evaluate(_RULEBOOK, CheckRequestSchema().load(body))


def finding(outcome, rule_id):
    return next(f for f in outcome.findings if f["rule_id"] == rule_id)


def entry(outcome, rule_id):
    return next(c for c in outcome.checked if c["rule_id"] == rule_id)


def test_fifteen_years_reached_during_the_notice_period_is_a_warn_naming_both_days():
    """The issue's man: 14 years 11 months of service on the day notice is served, 15 years on the
    day it takes effect, within five years of retirement. Before: allow (judged on as_of only)."""
    man = {**_MAN, "hire_date": "2011-03-12", "continuous_service_years": 14.92}
    outcome = check("2026-02-10", man, notice_served_on="2026-02-10", effective_date="2026-03-13")
    assert outcome.verdict == "warn"
    found = finding(outcome, "lcl-42-5.long-service-near-retirement")
    assert found["verdict"] == "warn" and found["outcome"] == "dates_differ"
    assert [(d["date"], d["as"], d["outcome"]) for d in found["dates"]] == [
        ("2026-02-10", "notice_served_on", "cleared"), ("2026-03-13", "effective_date", "fired")]
    assert found["dates"][0]["facts"]["derived.service.continuous_years_min"] == 14.92
    assert found["dates"][1]["facts"]["derived.service.continuous_years_min"] == 15
    assert {"LCL-42-5", "LCL-45", "RET-SC-1"} <= {c["ref"] for c in found["citations"]}
    for lang in ("zh", "en"):
        assert "2026-02-10" in found["message"][lang] and "2026-03-13" in found["message"][lang]
    assert "it does not apply" in found["message"]["en"] and "it applies (deny)" in found["message"]["en"]
    assert "不适用" in found["message"]["zh"] and "适用（禁止）" in found["message"]["zh"]
    # checked[] carries the same outcome and days; the answer's own facts are the effective date's.
    assert entry(outcome, found["rule_id"])["outcome"] == "dates_differ"
    assert entry(outcome, found["rule_id"])["dates"] == found["dates"]
    assert outcome.facts.values["derived.service.continuous_years_min"] == 15
    # The contract serialises the new fields (fields only added).
    dumped = CheckResultSchema().dump({"verdict": outcome.verdict, "as_of": outcome.as_of,
                                       "findings": outcome.findings, "checked": outcome.checked})
    assert next(f for f in dumped["findings"] if f["rule_id"] == found["rule_id"])["dates"][1] == {
        "date": "2026-03-13", "as": "effective_date", "outcome": "fired", "facts": found["dates"][1]["facts"]}


def test_fifteen_years_on_both_days_is_the_usual_deny():
    man = {**_MAN, "hire_date": "2011-01-05", "continuous_service_years": 15.1}
    outcome = check("2026-02-10", man, notice_served_on="2026-02-10", effective_date="2026-03-13")
    assert outcome.verdict == "deny"
    found = finding(outcome, "lcl-42-5.long-service-near-retirement")
    assert found["outcome"] == "fired" and "dates" not in found
    assert "dates" not in entry(outcome, found["rule_id"])


def test_a_first_birthday_between_notice_and_effect_is_a_warn_naming_both_days():
    woman = {**_WOMAN, "children": [{"birth_date": "2025-03-01"}]}
    outcome = check("2026-02-10", woman, notice_served_on="2026-02-10", effective_date="2026-03-12")
    assert outcome.verdict == "warn"
    found = finding(outcome, "lcl-42-4.protected-period")
    assert found["outcome"] == "dates_differ"
    assert [(d["as"], d["outcome"]) for d in found["dates"]] == [("notice_served_on", "fired"),
                                                                 ("effective_date", "cleared")]
    assert found["dates"][0]["facts"]["derived.nursing_period.active"] is True
    assert found["dates"][1]["facts"]["derived.nursing_period.active"] is False
    # The rule's own words are given for the day it applies on.
    assert "On the day notice is served (2026-02-10): " in found["message"]["en"]
    # Effective on the birthday itself both days are in the nursing period: the usual deny.
    same = check("2026-02-10", woman, notice_served_on="2026-02-10", effective_date="2026-03-01")
    assert same.verdict == "deny" and finding(same, "lcl-42-4.protected-period")["outcome"] == "fired"


def test_the_nursing_facts_of_both_days_are_not_kept_in_the_trail():
    woman = {**_WOMAN, "children": [{"birth_date": "2025-03-01"}]}
    outcome = check("2026-02-10", woman, notice_served_on="2026-02-10", effective_date="2026-03-12")
    kept = redact_findings(outcome.findings, _RULEBOOK.vocabulary.sensitive)
    days = next(f for f in kept if f["rule_id"] == "lcl-42-4.protected-period")["dates"]
    assert all(d["facts"]["derived.nursing_period.active"] == REDACTED for d in days)
    assert all(d["facts"]["derived.separation.basis"] == "with_notice" for d in days)


def test_without_notice_served_on_the_checks_own_day_is_the_notice_day():
    woman = {**_WOMAN, "children": [{"birth_date": "2025-03-01"}]}
    outcome = check("2026-02-10", woman, effective_date="2026-03-12")
    found = finding(outcome, "lcl-42-4.protected-period")
    assert outcome.verdict == "warn" and [d["as"] for d in found["dates"]] == ["as_of", "effective_date"]


def test_a_pregnancy_is_taken_as_stated_on_both_days():
    woman = {**_WOMAN, "pregnancy": {"status": "pregnant"}}
    outcome = check("2026-02-10", woman, notice_served_on="2026-02-10", effective_date="2026-03-12")
    assert outcome.verdict == "deny"
    assert finding(outcome, "lcl-42-4.protected-period")["outcome"] == "fired"


def test_a_contract_end_between_notice_and_effect_is_judged_by_the_effective_date_on_both_days():
    """Expiry compares the separation's own date with the end date: on the notice day the
    contract has of course not expired, which says nothing against a non-renewal."""
    woman = {**_WOMAN, "contract": {"type": "fixed_term", "end_date": "2026-02-28", "in_probation": False,
                                    "consecutive_fixed_terms": 1}}
    body = {"as_of": "2026-02-10", "employee": woman, "employer": {"union_exists": True},
            "action": {"type": "non_renewal_at_expiry", "renewal_offer": "none", "actor": {"id": "HR7", "role": "hr"},
                       "notice_served_on": "2026-02-10", "effective_date": "2026-03-10"}}
    outcome = evaluate(_RULEBOOK, CheckRequestSchema().load(body))
    assert outcome.verdict == "warn"
    assert [f["rule_id"] for f in outcome.findings if f["verdict"] != "obligation"] == ["spc-i-34.worked-past-expiry"]
    assert finding(outcome, "spc-i-34.worked-past-expiry")["outcome"] == "fired"
    assert entry(outcome, "lcl-44.not-yet-expired")["outcome"] == "cleared"


def test_an_unknown_on_one_day_and_a_deny_on_the_other_is_a_warn_naming_what_is_missing():
    """Years of service from a hire date only: at least 14 on the notice day (unknown: service
    carried over may add more), 15 on the effective date (the anniversary): a warn, not a deny."""
    man = {**_MAN, "hire_date": "2011-03-12"}
    outcome = check("2026-02-10", man, notice_served_on="2026-02-10", effective_date="2026-03-13")
    found = finding(outcome, "lcl-42-5.long-service-near-retirement")
    assert outcome.verdict == "warn" and found["outcome"] == "dates_differ"
    assert [d["outcome"] for d in found["dates"]] == ["unknown", "fired"]
    assert "employee.continuous_service_years" in found["missing_facts"]


@pytest.mark.parametrize("action, days", [
    ({}, [("as_of", "2026-02-10")]),
    ({"effective_date": "2026-02-10"}, [("as_of", "2026-02-10")]),
    ({"notice_served_on": "2026-01-05", "effective_date": "2026-01-05"}, [("notice_served_on", "2026-01-05")]),
    ({"notice_served_on": "2026-01-05"}, [("notice_served_on", "2026-01-05"), ("effective_date", "2026-02-10")]),
    ({"effective_date": "2026-03-12"}, [("as_of", "2026-02-10"), ("effective_date", "2026-03-12")]),
])
def test_judgment_days(action, days):
    request = CheckRequestSchema().load({"as_of": "2026-02-10", "employee": {"id": "E1"},
                                         "action": {"type": "terminate_with_notice", **action}})
    assert [(label, day.isoformat()) for label, day in judgment_days(request, request["as_of"])] == days


def test_one_day_checks_are_answered_as_before():
    """A check with no notice date and no effective date is judged on as_of alone."""
    man = {**_MAN, "hire_date": "2011-01-05", "continuous_service_years": 15.1}
    outcome = check("2026-02-10", man)
    assert outcome.verdict == "deny"
    assert all(f["outcome"] in ("fired", "unknown") and "dates" not in f for f in outcome.findings)


def test_a_check_on_the_effective_date_judges_the_notice_day_given():
    """Executed on 2025-03-01, after the first birthday of a child born 29 Feb 2024 (2025-02-28),
    on a notice served on 2025-01-20 during the nursing period: a warn, not the allow of the
    effective date alone."""
    woman = {**_WOMAN, "children": [{"birth_date": "2024-02-29"}]}
    outcome = check("2025-03-01", woman, notice_served_on="2025-01-20")
    found = finding(outcome, "lcl-42-4.protected-period")
    assert outcome.verdict == "warn"
    assert [(d["date"], d["outcome"]) for d in found["dates"]] == [("2025-01-20", "fired"), ("2025-03-01", "cleared")]
    assert outcome.facts.as_of.isoformat() == "2025-03-01"  # the law and the engine's date stay as_of's


def test_the_answer_and_the_trail_over_http(client):
    """POST /v1/checks serialises both days; the recorded decision keeps no nursing status."""
    body = {"as_of": "2026-02-10", "employee": {**_WOMAN, "children": [{"birth_date": "2025-03-01"}]},
            "employer": {"union_exists": True},
            "action": {**_ART40, "notice_served_on": "2026-02-10", "effective_date": "2026-03-12"}}
    answer = client.post("/v1/checks", json=body).get_json()
    assert answer["verdict"] == "warn"
    found = next(f for f in answer["findings"] if f["rule_id"] == "lcl-42-4.protected-period")
    assert found["outcome"] == "dates_differ"
    assert [(d["date"], d["as"], d["outcome"]) for d in found["dates"]] == [
        ("2026-02-10", "notice_served_on", "fired"), ("2026-03-12", "effective_date", "cleared")]
    checked = next(c for c in answer["checked"] if c["rule_id"] == "lcl-42-4.protected-period")
    assert checked["outcome"] == "dates_differ" and len(checked["dates"]) == 2
    stored = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    days = next(f for f in stored["findings"] if f["rule_id"] == "lcl-42-4.protected-period")["dates"]
    assert [d["facts"]["derived.nursing_period.active"] for d in days] == [REDACTED, REDACTED]
