"""Lawful routine actions, stated as a labor lawyer states them, are allowed without a warning
(issue 19): gender, birth and hire dates, region, years of work, the contract, no sick leave, no
work injury, no occupational-disease exposure or suspicion, no union office, the union exists and
was notified, notice served. What the law settles from these is derived, never asked.

And the unlawful ones the same records describe are denied, citing their provisions.
"""
from __future__ import annotations

import copy
from functools import lru_cache

import pytest

from schemas.check import CheckRequestSchema
from service import PROJECT_ROOT
from service.decide.evaluation import evaluate
from service.decide.rulebook import load_rulebook

HR = {"id": "HR7", "role": "hr"}
MAN = {"id": "E1", "gender": "male", "birth_date": "1985-04-02", "hire_date": "2019-03-01", "region": "CN-BJ",
       "total_work_years": 15,
       "contract": {"type": "fixed_term", "end_date": "2027-02-28", "consecutive_fixed_terms": 2},
       "medical_treatment": {"status": "none", "sick_leave": []},
       "work_injury": {"status": "none"},
       "occupational_disease": {"hazard_exposure": False, "suspected": False},
       "union_officer": {"position": "none"}}
WOMAN = {**MAN, "id": "E2", "gender": "female", "birth_date": "1990-06-15",
         "pregnancy": {"status": "not_pregnant"}, "children": [], "childbirth": {"status": "none"},
         "miscarriage": {"status": "none"}}
UNION = {"union_exists": True}
NOTICE = {"union_notified": True, "notice_served_on": "2026-01-05", "effective_date": "2026-02-10", "actor": HR}

LAWFUL = {
    "Art. 40(2) termination of a man hired in 2019": {
        "as_of": "2026-02-10", "employee": MAN, "employer": UNION,
        "action": {"type": "terminate_with_notice", "ground": "art40_2", **NOTICE}},
    "Art. 39(2) dismissal for a serious breach": {
        "as_of": "2026-02-10", "employee": MAN, "employer": UNION,
        "action": {"type": "terminate_for_cause", "ground": "art39_2", "union_notified": True, "actor": HR}},
    "A first fixed-term contract expiring, no renewal offered": {
        "as_of": "2026-02-28", "employer": UNION,
        "employee": {**MAN, "hire_date": "2024-03-01", "total_work_years": 6,
                     "contract": {"type": "fixed_term", "end_date": "2026-02-28", "consecutive_fixed_terms": 1}},
        "action": {"type": "non_renewal_at_expiry", "renewal_offer": "none", "actor": HR}},
    "Art. 40(1) termination two years after a sick leave ended": {
        "as_of": "2026-02-10", "employer": UNION,
        "employee": {**MAN, "medical_treatment": {"status": "none",
                                                  "sick_leave": [{"start": "2023-09-01", "end": "2024-01-31"}]}},
        "action": {"type": "terminate_with_notice", "ground": "art40_1", **NOTICE}},
    "Art. 40(3) termination of a woman": {
        "as_of": "2026-02-10", "employee": WOMAN, "employer": UNION,
        "action": {"type": "terminate_with_notice", "ground": "art40_3", **NOTICE}},
    "Art. 40(2) termination of a man with nine working years (not ten with this employer)": {
        "as_of": "2026-02-10", "employer": UNION, "employee": {**MAN, "hire_date": "2017-03-01", "total_work_years": 9},
        "action": {"type": "terminate_with_notice", "ground": "art40_2", **NOTICE}},
    "An economic layoff of an open-ended contract when the whole role is cut": {
        "as_of": "2026-02-10", "employer": UNION,
        "employee": {**MAN, "contract": {"type": "open_ended"}},
        "action": {"type": "terminate_economic_layoff", "ground": "art41_2", "union_notified": True, "actor": HR,
                   "layoff": {"consulted_on": "2026-01-05", "reported_to_labor_authority": True,
                              "headcount_reduced": 30, "total_headcount": 400, "others_in_role_retained": False}}},
}


@lru_cache(maxsize=1)
def rulebook():
    return load_rulebook(PROJECT_ROOT / "rules")


def decide(body: dict):
    return evaluate(rulebook(), CheckRequestSchema().load(copy.deepcopy(body)))


@pytest.mark.parametrize("name", list(LAWFUL))
def test_a_lawful_routine_action_stated_as_a_lawyer_states_it_is_allowed(name):
    outcome = decide(LAWFUL[name])
    asked = [(f["rule_id"], f["missing_facts"]) for f in outcome.findings if f["verdict"] != "obligation"]
    assert outcome.verdict == "allow", asked


def test_an_over_long_probation_clause_gives_no_ground_after_the_statutory_maximum():
    """A 3-year contract with an 8-month probation clause: in month 7 the probation has ended by law."""
    body = {"as_of": "2026-08-10", "employer": UNION,
            "employee": {**MAN, "hire_date": "2026-01-05", "total_work_years": 8,
                         "contract": {"type": "fixed_term", "end_date": "2029-01-04", "consecutive_fixed_terms": 1,
                                      "probation_end": "2026-09-04"}},
            "action": {"type": "terminate_for_cause", "ground": "art39_1", "union_notified": True,
                       "reasons_stated": True, "actor": HR}}
    outcome = decide(body)
    assert outcome.verdict == "deny"
    finding = next(f for f in outcome.findings if f["rule_id"] == "lcl-19.probation-ground-past-statutory-end")
    assert finding["outcome"] == "fired"
    assert {"LCL-19", "LCL-21", "LCL-39", "LCL-48", "LCL-87"} <= {c["ref"] for c in finding["citations"]}
    assert "2026-07-04" in finding["message"]["en"]
    # The excess served is owed (LCL-83): 2026-07-05 .. 2026-08-10.
    owed = next(f for f in decide({**body, "action": {**body["action"], "type": "terminate_with_notice",
                                                       "ground": "art40_2"}}).findings
                if f["rule_id"] == "lcl-83.excess-probation-compensation")
    assert "37" in owed["message"]["en"]


def test_a_union_officers_contract_left_to_expire_in_the_term_is_denied_without_asking_about_the_union():
    body = {"as_of": "2026-02-28",
            "employee": {**MAN, "contract": {"type": "fixed_term", "end_date": "2026-02-28", "consecutive_fixed_terms": 1},
                         "union_officer": {"position": "committee_member", "term_end": "2027-06-30"}},
            "action": {"type": "non_renewal_at_expiry", "renewal_offer": "none", "actor": HR}}
    outcome = decide(body)
    finding = next(f for f in outcome.findings if f["rule_id"] == "tul-19.union-officer-term")
    assert (outcome.verdict, finding["outcome"]) == ("deny", "fired")
    assert not any("union_exists" in name for f in outcome.findings for name in f["missing_facts"])
