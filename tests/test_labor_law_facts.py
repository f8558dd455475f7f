"""Derived labor-law facts at their boundary dates (service/decide/facts/labor_law.py, separation.py).

Each test builds a request as the API would load it and checks the facts the rules will see.
An absent key means "unknown": the rules then warn instead of guessing.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from marshmallow import ValidationError

from schemas.check import CheckRequestSchema
from service import PROJECT_ROOT
from service.decide.facts import derive_facts
from service.decide.facts.context import FactContext
from service.decide.facts.separation import separation_basis
from service.decide.rulebook import load_rulebook
from service.tools.scenarios import rule_example_cases

D = dt.date


@pytest.fixture(scope="module")
def context() -> FactContext:
    return FactContext.load(PROJECT_ROOT / "rules")


def facts(context: FactContext, as_of: str, employee: dict, action: dict | None = None, *, on: str | None = None,
          **extra) -> dict:
    """`on`: judge the statuses on another day than as_of, as a check's notice day is (a fact dated
    after as_of is refused at the door, but the notice day may come before it)."""
    body = {"as_of": as_of, "employee": {"id": "E1", **employee},
            "action": action or {"type": "terminate_with_notice"}, **extra}
    request = CheckRequestSchema().load(body)
    return derive_facts(request, request["as_of"], context, on=dt.date.fromisoformat(on) if on else None).values


# ---- the legal basis ------------------------------------------------------------------------------
@pytest.mark.parametrize("action, case, ground, basis", [
    ("terminate_with_notice", None, "art39_2", "with_notice"),           # the action decides; rules flag the mismatch
    ("execute_offboarding", None, "art40_1", "with_notice"),
    ("execute_offboarding", None, "statutory_retirement", "retirement"),
    ("execute_offboarding", None, None, None),
    ("execute_offboarding", {"kind": "employer_termination"}, "art39_6", "for_cause"),
    ("execute_offboarding", {"kind": "employer_termination"}, "art41_2", "economic_layoff"),
    ("execute_offboarding", {"kind": "employer_termination"}, "art38_2", None),  # the employee's ground, not the employer's
    ("execute_offboarding", {"kind": "employer_termination"}, None, None),
    ("execute_offboarding", {"kind": "mutual_agreement"}, "art40_1", "mutual_agreement"),
    ("update_employment_status", {"kind": "non_renewal"}, None, "non_renewal"),
    ("approve_resignation", None, None, "none"),
])
def test_separation_basis(context, action, case, ground, basis):
    full_case = None if case is None else {"id": "C1", "events": [], **case}
    assert separation_basis(context.classification, action, full_case, ground) == basis


def test_ground_article(context):
    ground_article = context.classification.basis.ground_article
    assert ground_article("art39_2") == "art39"
    assert ground_article("art38_para2") == "art38"
    assert ground_article("statutory_retirement") == "retirement"
    assert ground_article(None) is None


def test_the_ground_reaches_the_basis_of_an_offboarding(context):
    values = facts(context, "2026-02-10", {"gender": "female"},
                   {"type": "execute_offboarding", "ground": "art40_3"},
                   case={"id": "C1", "kind": "employer_termination", "events": []})
    assert values["derived.separation.basis"] == "with_notice"
    assert values["derived.separation.ground_article"] == "art40"
    assert values["case.kind"] == "employer_termination"


# ---- request facts are copied, "unknown" is left out ---------------------------------------------
def test_request_facts_are_copied_as_text_and_unknown_is_absent(context):
    values = facts(context, "2026-02-10",
                   {"gender": "female", "birth_date": "1990-01-02", "pregnancy": {"status": "unknown"},
                    "work_injury": {"status": "disabled", "disability_grade": 7}},
                   {"type": "terminate_with_notice", "union_notified": False}, employer={"union_exists": True})
    assert values["employee.birth_date"] == "1990-01-02"
    assert values["employee.work_injury.disability_grade"] == 7
    assert values["action.union_notified"] is False and values["employer.union_exists"] is True
    assert "employee.pregnancy.status" not in values
    assert "employee.hire_date" not in values


# ---- nursing and maternity leave -------------------------------------------------------------------
@pytest.mark.parametrize("as_of, active", [("2026-03-10", True), ("2026-03-11", False), ("2025-03-10", True)])
def test_nursing_runs_to_the_first_birthday_inclusive(context, as_of, active):
    values = facts(context, as_of, {"gender": "female", "children": [{"birth_date": "2025-03-10"}]})
    assert values["derived.nursing_period.active"] is active


def test_nursing_of_a_feb_29_child_ends_on_feb_28(context):
    child = {"gender": "female", "children": [{"birth_date": "2024-02-29"}]}
    assert facts(context, "2025-02-28", child)["derived.nursing_period.active"] is True
    assert facts(context, "2025-03-01", child)["derived.nursing_period.active"] is False


def test_nursing_of_a_child_born_before_the_encoded_values_is_not_guessed(context):
    values = facts(context, "1994-06-01", {"gender": "female", "children": [{"birth_date": "1994-03-10"}]})
    assert "derived.nursing_period.active" not in values and "derived.nursing_period.ends_on" not in values


def test_nursing_unknown_without_children_and_false_with_none(context):
    assert "derived.nursing_period.active" not in facts(context, "2026-02-10", {"gender": "female"})
    assert facts(context, "2026-02-10", {"gender": "female", "children": []})["derived.nursing_period.active"] is False


@pytest.mark.parametrize("as_of, active", [
    ("2026-02-05", True),    # day 158 in Beijing: 98 + 60
    ("2026-02-06", False),
    ("2025-08-31", False),   # before the birth (a notice day: the check itself is made on the birth's day)
])
def test_maternity_leave_last_day_and_the_day_after(context, as_of, active):
    employee = {"gender": "female", "region": "CN-BJ",
                "childbirth": {"date": "2025-09-01", "dystocia": False, "babies": 1}}
    checked = max(as_of, "2025-09-01")
    assert facts(context, checked, employee, on=as_of)["derived.maternity_leave.active"] is active


def test_maternity_leave_with_twins_and_dystocia(context):
    employee = {"gender": "female", "region": "CN-BJ",
                "childbirth": {"date": "2025-09-01", "dystocia": True, "babies": 2}}
    # 98 + 15 + 15 + 60 = 188 days: the last day is 2026-03-07
    assert facts(context, "2026-03-07", employee)["derived.maternity_leave.active"] is True
    assert facts(context, "2026-03-08", employee)["derived.maternity_leave.active"] is False


@pytest.mark.parametrize("as_of, expected", [
    ("2026-04-08", True),     # within the national 98 days: true whatever the details
    ("2026-04-09", None),     # the unencoded Hubei extension may still run: unknown
    ("2027-01-02", False),    # past the first birthday: every known rule has ended it
])
def test_maternity_leave_with_details_unknown(context, as_of, expected):
    values = facts(context, as_of, {"gender": "female", "region": "CN-HB", "childbirth": {"date": "2026-01-01"}})
    assert values.get("derived.maternity_leave.active") is expected


def test_zhejiang_leave_depends_on_the_child_order(context):
    base = {"gender": "female", "region": "CN-ZJ"}
    first = {**base, "childbirth": {"date": "2025-09-01", "dystocia": False, "babies": 1, "child_order": 1}}
    second = {**base, "childbirth": {"date": "2025-09-01", "dystocia": False, "babies": 1, "child_order": 2}}
    # 158 days end 2026-02-05; 188 days end 2026-03-07
    assert facts(context, "2026-02-20", first)["derived.maternity_leave.active"] is False
    assert facts(context, "2026-02-20", second)["derived.maternity_leave.active"] is True


@pytest.mark.parametrize("as_of, active", [
    ("2025-12-07", True),    # day 98: the national leave
    ("2026-02-20", None),    # past it: Zhejiang's rule names no fourth child, so nothing decides
    ("2026-09-02", False),   # past the first birthday
])
def test_a_fourth_child_in_zhejiang_is_not_covered_and_never_an_error(context, as_of, active):
    employee = {"gender": "female", "region": "CN-ZJ",
                "childbirth": {"date": "2025-09-01", "dystocia": False, "babies": 1, "child_order": 4}}
    assert facts(context, as_of, employee).get("derived.maternity_leave.active") is active


# ---- medical treatment period ---------------------------------------------------------------------
SICK = {"gender": "male", "region": "CN-BJ", "hire_date": "2022-01-10", "total_work_years": 4}


@pytest.mark.parametrize("as_of, in_period", [("2026-06-04", True), ("2026-06-05", False)])
def test_medical_period_of_three_months_from_the_first_sick_day(context, as_of, in_period):
    values = facts(context, as_of, {**SICK, "medical_treatment": {"sick_leave": [{"start": "2026-03-05"}]}})
    assert values["derived.medical_treatment.in_period"] is in_period


def test_medical_period_counts_interrupted_leave_cumulatively(context):
    leave = {"sick_leave": [{"start": "2026-01-05", "end": "2026-02-04"}, {"start": "2026-03-01"}]}
    assert facts(context, "2026-04-28", {**SICK, "medical_treatment": leave})["derived.medical_treatment.in_period"] is True
    assert facts(context, "2026-04-29", {**SICK, "medical_treatment": leave})["derived.medical_treatment.in_period"] is False


def test_back_at_work_is_not_in_the_medical_period_even_with_years_unknown(context):
    values = facts(context, "2026-02-10", {"gender": "male",
                                            "medical_treatment": {"sick_leave": [{"start": "2026-01-05", "end": "2026-01-20"}]}})
    assert values["derived.medical_treatment.in_period"] is False


def test_medical_period_unknown_without_total_working_years(context):
    employee = {**SICK, "medical_treatment": {"sick_leave": [{"start": "2026-03-05"}]}}
    del employee["total_work_years"]
    assert "derived.medical_treatment.in_period" not in facts(context, "2026-04-01", employee)


def test_medical_period_in_shanghai_and_with_the_region_unknown(context):
    employee = {"gender": "male", "hire_date": "2023-01-05", "total_work_years": 3,
                "medical_treatment": {"sick_leave": [{"start": "2025-09-01"}]}}
    shanghai = {**employee, "region": "CN-SH"}
    assert facts(context, "2026-02-28", shanghai)["derived.medical_treatment.in_period"] is True
    assert facts(context, "2026-03-01", shanghai)["derived.medical_treatment.in_period"] is False
    # National table: 3 months, long over; Shanghai: 6 months, running. They disagree: unknown.
    assert "derived.medical_treatment.in_period" not in facts(context, "2026-02-28", employee)
    # Both over: known.
    assert facts(context, "2026-03-01", employee)["derived.medical_treatment.in_period"] is False


# ---- service and retirement -----------------------------------------------------------------------
def test_service_years_completed_on_the_anniversary_and_carried_over_years_win(context):
    assert facts(context, "2026-02-10", {"hire_date": "2011-02-10"})["derived.service.continuous_years_min"] == 15
    assert facts(context, "2026-02-09", {"hire_date": "2011-02-10"})["derived.service.continuous_years_min"] == 14
    # From a hire date, service carried over from a previous employer may come on top: without the total
    # working years, no upper bound.
    assert facts(context, "2026-02-10", {"hire_date": "2011-02-10"}).get("derived.service.continuous_years_max") is None
    values = facts(context, "2026-02-10", {"hire_date": "2023-01-01", "continuous_service_years": 15.5})
    assert values["derived.service.continuous_years_min"] == values["derived.service.continuous_years_max"] == 15.5
    # A hire date after as_of is refused at the door (422); behind it, derivation still gives nothing.
    with pytest.raises(ValidationError, match="hire_date"):
        facts(context, "2026-02-10", {"hire_date": "2026-03-01"})
    request = CheckRequestSchema().load({"as_of": "2026-02-10", "employee": {"id": "E1"},
                                         "action": {"type": "terminate_with_notice"}})
    request["employee"]["hire_date"] = dt.date(2026, 3, 1)
    assert "derived.service.continuous_years_min" not in derive_facts(request, request["as_of"], context).values


@pytest.mark.parametrize("as_of, months", [
    ("2026-11-15", 60),   # exactly five years before 2031-11-15 (61y5m): not "less than five years"
    ("2026-11-16", 59),
    ("2024-12-31", 65),   # before the reform: age 60, 2030-06-15
])
def test_months_to_retirement_of_a_man_born_1970_06(context, as_of, months):
    values = facts(context, as_of, {"gender": "male", "birth_date": "1970-06-15"})
    assert values["derived.retirement.months_left_min"] == values["derived.retirement.months_left_max"] == months


def test_retirement_of_a_man_born_1965_01_before_and_after_the_reform(context):
    retire = {"type": "execute_offboarding", "ground": "statutory_retirement"}
    before = facts(context, "2024-12-31", {"gender": "male", "birth_date": "1965-01-20"},
                   {**retire, "effective_date": "2025-01-20"})
    assert before["derived.retirement.days_left_min"] == 0           # 60 on 2025-01-20
    after = facts(context, "2025-01-20", {"gender": "male", "birth_date": "1965-01-20"}, retire)
    assert after["derived.retirement.days_left_min"] == 31           # 60y1m on 2025-02-20


def test_a_woman_with_unknown_original_age_gets_both_candidates(context):
    values = facts(context, "2026-02-10", {"gender": "female", "birth_date": "1976-03-10"})
    assert values["derived.retirement.months_left_min"] == 9     # 50y8m: 2026-11-10
    assert values["derived.retirement.months_left_max"] == 80    # 56y7m: 2032-10-10
    known = facts(context, "2026-02-10", {"gender": "female", "birth_date": "1976-03-10", "original_retirement_age": 55})
    assert known["derived.retirement.months_left_min"] == known["derived.retirement.months_left_max"] == 80


def test_gender_unknown_spans_every_candidate(context):
    values = facts(context, "2026-02-10", {"birth_date": "1976-03-10"})
    assert values["derived.retirement.months_left_min"] == 9      # woman, original age 50
    assert values["derived.retirement.months_left_max"] > 80      # man: 61y10m


def test_original_age_must_fit_the_gender():
    with pytest.raises(ValidationError, match="original_retirement_age"):
        CheckRequestSchema().load({"employee": {"id": "E1", "gender": "male", "original_retirement_age": 55},
                                   "action": {"type": "terminate_with_notice"}})


# ---- counts to the action date ---------------------------------------------------------------------
def test_notice_contract_and_term_are_counted_to_the_effective_date(context):
    values = facts(context, "2026-02-10",
                   {"contract": {"type": "fixed_term", "end_date": "2026-03-10"},
                    "union_officer": {"position": "chair", "term_end": "2026-03-09"}},
                   {"type": "non_renewal_at_expiry", "effective_date": "2026-03-10", "notice_served_on": "2026-02-08"})
    assert values["derived.contract.days_to_end"] == 0
    assert values["derived.union_officer.term_days_left"] == -1
    assert values["derived.notice.days_served"] == 30
    without = facts(context, "2026-02-10", {"contract": {"type": "fixed_term", "end_date": "2026-03-10"}},
                    {"type": "non_renewal_at_expiry"})
    assert without["derived.contract.days_to_end"] == 28   # counted to as_of


# ---- resignation form and withdrawal timing --------------------------------------------------------
def _case(*events):
    return {"id": "C1", "kind": "resignation", "events": list(events)}


def _event(kind, at, form=None):
    event = {"type": kind, "at": at, "actor": {"id": "E1", "role": "employee"}}
    return {**event, "form": form} if form else event


@pytest.mark.parametrize("form, legal", [("written", "written"), ("email", "written"), ("system", "written"),
                                         ("verbal", "verbal"), (None, "not_recorded")])
def test_resignation_form(context, form, legal):
    values = facts(context, "2026-02-10", {}, {"type": "accept_resignation"},
                   case=_case(_event("resignation_submitted", "2026-02-09T09:00:00+08:00", form)))
    assert values["derived.resignation.form"] == legal


def test_withdrawal_timing(context):
    submitted = _event("resignation_submitted", "2026-02-09T09:00:00+08:00", "written")
    together = facts(context, "2026-02-10", {}, {"type": "reject_withdrawal"},
                     case=_case(submitted, _event("withdrawal_requested", "2026-02-09T09:00:00+08:00")))
    assert together["derived.resignation.withdrawal_timing"] == "before_or_with_arrival"
    later = facts(context, "2026-02-10", {}, {"type": "reject_withdrawal"},
                  case=_case(submitted, _event("withdrawal_requested", "2026-02-09T09:00:01+08:00")))
    assert later["derived.resignation.withdrawal_timing"] == "after_arrival"
    none = facts(context, "2026-02-10", {}, {"type": "reject_withdrawal"}, case=_case(submitted))
    assert none["derived.resignation.withdrawal_timing"] == "no_withdrawal"
    assert "derived.resignation.form" not in facts(context, "2026-02-10", {}, {"type": "accept_resignation"})


# ---- the rule set and the engine ----------------------------------------------------------------------
_RULEBOOK = load_rulebook(PROJECT_ROOT / "rules")


def test_no_rule_is_reported_twice_for_one_check():
    """durable-rules fires a rule once per alternative of an `any` that holds; the labor-law
    rules keep their alternatives exclusive so that a finding is never repeated."""
    from service.decide.evaluation import evaluate
    for source, rule, example in rule_example_cases(_RULEBOOK):
        if rule.family != "labor_law":
            continue
        outcome = evaluate(_RULEBOOK, CheckRequestSchema().load(example["request"]))
        ids = Counter(f["rule_id"] for f in outcome.findings if f["rule_id"].split(".")[0] != "process")
        assert not [i for i, n in ids.items() if n > 1], source


def test_no_action_type_is_listed_by_more_rules_than_the_engine_can_branch_on():
    """Every rule that lists an action type among several adds a branch the engine pushes on a
    64-entry stack when that action is checked (durable-rules events.c MAX_STACK_SIZE): past
    about 60 the check fails with engine error 303. Keep a margin."""
    per_action = Counter(action for rule in _RULEBOOK.rules.values() for action in rule.actions)
    assert max(per_action.values()) <= 50, per_action.most_common(3)


def test_years_reach_the_engine_without_exponent_notation(context):
    values = facts(context, "2026-02-10", {"continuous_service_years": 1e-07})
    assert values["employee.continuous_service_years"] == 0
    assert values["derived.service.continuous_years_min"] == 0
    assert facts(context, "2026-02-10", {"continuous_service_years": 15.456})["derived.service.continuous_years_min"] == 15.46
# ---- probation (LCL-21, capped by LCL-19) -------------------------------------------------------------
# Hired 2026-01-01 on a 3-year contract: the statutory maximum is 6 months, to 2026-06-30.
_THREE_YEARS = {"hire_date": "2026-01-01"}
_THREE_YEAR_CONTRACT = {"type": "fixed_term", "end_date": "2028-12-31"}


@pytest.mark.parametrize("contract, active", [
    ({"probation_end": "2026-03-31"}, True),
    ({"probation_end": "2026-02-10"}, True),                          # its last day
    ({"probation_end": "2026-02-09"}, False),                         # the day after it
    ({"in_probation": True}, True),
    ({"in_probation": False}, False),
    ({"probation_end": "2026-02-09", "in_probation": True}, True),    # either one saying so counts
    ({}, None),                                                       # nothing said, within 6 months: unknown
])
def test_probation_on_as_of(context, contract, active):
    values = facts(context, "2026-02-10", {**_THREE_YEARS, "contract": {**_THREE_YEAR_CONTRACT, **contract}})
    assert values.get("derived.probation.active") is active


@pytest.mark.parametrize("as_of, end_date, contract_type, active, statutory_end", [
    ("2026-06-30", "2028-12-31", "fixed_term", True, "2026-06-30"),     # 3 years: 6 months, the last day
    ("2026-07-01", "2028-12-31", "fixed_term", False, "2026-06-30"),    # a clause to 2026-09-30 is void from here
    ("2026-02-28", "2027-12-31", "fixed_term", True, "2026-02-28"),     # 1 to 3 years: 2 months
    ("2026-03-01", "2027-12-31", "fixed_term", False, "2026-02-28"),
    ("2026-01-31", "2026-11-30", "fixed_term", True, "2026-01-31"),     # 3 months to under a year: 1 month
    ("2026-02-01", "2026-11-30", "fixed_term", False, "2026-01-31"),
    ("2026-02-28", "2026-12-31", "fixed_term", True, "2026-02-28"),     # exactly one year is 一年以上: 2 months
    ("2026-01-15", "2026-03-30", "fixed_term", False, None),            # under 3 months: no probation at all
    ("2026-01-15", "2026-03-31", "fixed_term", True, "2026-01-31"),     # exactly 3 months (以上 includes it): 1 month
    ("2026-06-30", None, "open_ended", True, "2026-06-30"),
    ("2026-01-15", None, "task_based", False, None),
])
def test_probation_is_capped_by_the_contract_term(context, as_of, end_date, contract_type, active, statutory_end):
    contract = {"type": contract_type, "probation_end": "2026-09-30", **({"end_date": end_date} if end_date else {})}
    values = facts(context, as_of, {"hire_date": "2026-01-01", "contract": contract})
    assert values.get("derived.probation.active") is active
    assert values.get("derived.probation.statutory_end") == statutory_end
    assert values["derived.probation.past_statutory_end"] is (not active)


def test_six_months_after_the_hire_date_the_hire_date_alone_settles_probation(context):
    values = facts(context, "2026-07-01", {"hire_date": "2026-01-01"})
    assert values["derived.probation.active"] is False and values["derived.probation.past_statutory_end"] is True
    # Within six months and with the term unknown, the cap may or may not have passed.
    values = facts(context, "2026-03-01", {"hire_date": "2026-01-01", "contract": {"in_probation": True}})
    assert values.get("derived.probation.active") is None and values.get("derived.probation.past_statutory_end") is None
    # Without a hire date nothing is known of the cap: a stated probation stays unknown, a denied one false.
    assert facts(context, "2026-03-01", {"contract": {"in_probation": True}}).get("derived.probation.active") is None
    assert facts(context, "2026-03-01", {"contract": {"in_probation": False}})["derived.probation.active"] is False


def test_excess_probation_served_counts_the_days_past_the_statutory_end(context):
    employee = {"hire_date": "2026-01-01", "contract": {**_THREE_YEAR_CONTRACT, "probation_end": "2026-09-30"}}
    assert facts(context, "2026-06-30", employee)["derived.probation.excess_days_served"] == 0
    assert facts(context, "2026-07-10", employee)["derived.probation.excess_days_served"] == 10
    assert facts(context, "2026-12-01", employee)["derived.probation.excess_days_served"] == 92   # July-September


# ---- what else the law settles (issue 19) -------------------------------------------------------------
@pytest.mark.parametrize("union_exists, position, exists", [
    (None, "committee_member", True),     # an office implies the union
    (False, "chair", True),               # ... whatever else the record says
    (True, "none", True), (False, "none", False), (False, None, False),
    (None, "none", None), (None, None, None),
])
def test_a_union_office_implies_a_union(context, union_exists, position, exists):
    employee = {"union_officer": {"position": position}} if position else {}
    extra = {"employer": {"union_exists": union_exists}} if union_exists is not None else {}
    assert facts(context, "2026-02-10", employee, **extra).get("derived.union.exists") is exists


def test_total_working_years_bound_the_service_with_this_employer(context):
    values = facts(context, "2026-02-10", {"hire_date": "2019-03-01", "total_work_years": 9})
    assert (values["derived.service.continuous_years_min"], values["derived.service.continuous_years_max"]) == (6, 9)
    # A total below the years since the hire date is an error in the data: the hire date wins.
    values = facts(context, "2026-02-10", {"hire_date": "2011-02-10", "total_work_years": 9})
    assert values["derived.service.continuous_years_max"] == 15


@pytest.mark.parametrize("disease, injury, diagnosed", [
    ({"hazard_exposure": False, "suspected": False}, "none", False),
    ({"hazard_exposure": True, "suspected": False}, "none", None),
    ({"hazard_exposure": False, "suspected": True}, "none", None),
    ({"hazard_exposure": False, "suspected": False}, "pending", None),
    ({"hazard_exposure": False}, "none", None),
    ({"hazard_exposure": False, "suspected": False, "diagnosed": True}, "none", True),   # as given, always
])
def test_an_occupational_disease_at_this_employer_needs_exposure_here(context, disease, injury, diagnosed):
    values = facts(context, "2026-02-10", {"occupational_disease": disease, "work_injury": {"status": injury}})
    assert values.get("derived.occupational_disease.diagnosed") is diagnosed


@pytest.mark.parametrize("employee, in_window", [
    ({"medical_treatment": {"sick_leave": []}}, False),
    ({"medical_treatment": {"status": "none"}}, None),
    # 15 working years, 7 with the employer: 9 months' entitlement, counted in 15 months (MED-4).
    ({"total_work_years": 15, "hire_date": "2019-03-01", "region": "CN-BJ",
      "medical_treatment": {"sick_leave": [{"start": "2023-09-01", "end": "2024-01-31"}]}}, False),
    ({"total_work_years": 15, "hire_date": "2019-03-01", "region": "CN-BJ",
      "medical_treatment": {"sick_leave": [{"start": "2024-09-01", "end": "2025-01-31"}]}}, True),
    # The entitlement unknown: the longest window (30 months) decides.
    ({"medical_treatment": {"sick_leave": [{"start": "2023-09-01", "end": "2024-01-31"}]}}, True),
    ({"medical_treatment": {"sick_leave": [{"start": "2023-01-01", "end": "2023-06-30"}]}}, False),
])
def test_a_sick_leave_in_the_counting_window(context, employee, in_window):
    assert facts(context, "2026-02-10", employee).get("derived.medical_treatment.sick_leave_in_window") is in_window


# ---- layoff size (LCL-41 para 1) ----------------------------------------------------------------------
@pytest.mark.parametrize("reduced, total, percent", [
    (19, 190, 10), (19, 191, 9.94), (19, 200, 9.5), (1, 3, 33.33), (2, 3, 66.66), (20, 1000, 2),
])
def test_layoff_share_is_rounded_down(context, reduced, total, percent):
    values = facts(context, "2026-02-10", {}, {"type": "terminate_economic_layoff",
                                                "layoff": {"headcount_reduced": reduced, "total_headcount": total}})
    assert values["derived.layoff.percent_of_staff"] == percent
    assert values["action.layoff.headcount_reduced"] == reduced


def test_layoff_share_unknown_without_both_counts_and_reduction_within_total(context):
    values = facts(context, "2026-02-10", {}, {"type": "terminate_economic_layoff", "layoff": {"headcount_reduced": 5}})
    assert "derived.layoff.percent_of_staff" not in values
    with pytest.raises(ValidationError) as exc:
        CheckRequestSchema().load({"employee": {"id": "E1"}, "action": {
            "type": "terminate_economic_layoff", "layoff": {"headcount_reduced": 5, "total_headcount": 4}}})
    assert "headcount_reduced" in exc.value.messages["action"]["layoff"]


# ---- miscarriage leave (FEM-7 para 2) -------------------------------------------------------------------
@pytest.mark.parametrize("months, as_of, active", [
    (3, "2026-01-15", True), (3, "2026-01-16", False),
    (4, "2026-02-11", True), (4, "2026-02-12", False),
    (None, "2026-01-15", True),     # inside the shorter leave whatever the months
    (None, "2026-01-16", None),     # the months decide: unknown
    (None, "2026-02-12", False),    # after the longer leave whatever the months
    (3, "2025-12-31", False),       # before the miscarriage
])
def test_miscarriage_leave_boundaries(context, months, as_of, active):
    miscarriage = {"date": "2026-01-01", **({} if months is None else {"months_pregnant": months})}
    values = facts(context, max(as_of, "2026-01-01"), {"gender": "female", "miscarriage": miscarriage}, on=as_of)
    assert values.get("derived.miscarriage_leave.active") is active
    assert "derived.miscarriage_leave.active" not in facts(context, as_of, {"gender": "female"})


def test_miscarriage_before_the_encoded_rules_is_unknown(context):
    values = facts(context, "2012-04-20", {"gender": "female", "miscarriage": {"date": "2012-04-10", "months_pregnant": 2}})
    assert "derived.miscarriage_leave.active" not in values


# ---- paid suspension (WIR-33) -----------------------------------------------------------------------------
@pytest.mark.parametrize("suspension, as_of, active", [
    ({}, "2026-03-10", True),                                   # last day of the 12 months, still open
    ({}, "2026-03-11", None),                                   # the extension decides, not given
    ({"extension_confirmed": False}, "2026-03-11", False),
    ({"extension_confirmed": True}, "2026-03-11", True),
    ({"extension_confirmed": True}, "2027-03-10", True),
    ({"extension_confirmed": True}, "2027-03-11", False),       # never more than 24 months
    ({}, "2027-03-11", False),
    ({"end": "2025-09-30"}, "2025-09-30", True),
    ({"end": "2025-09-30"}, "2025-10-01", False),
    ({}, "2025-03-09", False),                                  # before it began
])
def test_paid_suspension_boundaries(context, suspension, as_of, active):
    injury = {"status": "pending", "paid_suspension": {"start": "2025-03-10", **suspension}}
    values = facts(context, max(as_of, "2025-03-10"), {"work_injury": injury}, on=as_of)
    assert values.get("derived.paid_suspension.active") is active
    assert "derived.paid_suspension.active" not in facts(context, as_of, {"work_injury": {"status": "pending"}})


def test_paid_suspension_end_before_start_is_refused():
    with pytest.raises(ValidationError):
        CheckRequestSchema().load({"employee": {"id": "E1", "work_injury": {
            "status": "pending", "paid_suspension": {"start": "2025-03-10", "end": "2025-03-09"}}},
            "action": {"type": "terminate_with_notice"}})


# ---- a full-time union officer's extension (TUL-19) ---------------------------------------------------------
def test_full_time_officer_contract_is_extended_by_the_term(context):
    officer = {"position": "chair", "full_time": True, "term_start": "2021-01-01", "term_end": "2025-12-31"}
    employee = {"contract": {"type": "fixed_term", "end_date": "2026-01-31"}, "union_officer": officer}
    # 2021-01-01..2025-12-31 is 1,826 days: the contract runs to 2031-01-31.
    assert facts(context, "2031-01-31", employee, {"type": "non_renewal_at_expiry"})[
        "derived.union_officer.extended_contract_days_left"] == 0
    assert facts(context, "2026-02-10", employee, {"type": "non_renewal_at_expiry", "effective_date": "2031-02-01"})[
        "derived.union_officer.extended_contract_days_left"] == -1
    part_time = {**employee, "union_officer": {**officer, "full_time": False}}
    assert "derived.union_officer.extended_contract_days_left" not in facts(context, "2026-02-10", part_time)
    no_start = {**employee, "union_officer": {**officer, "term_start": None}}
    no_start["union_officer"].pop("term_start")
    assert "derived.union_officer.extended_contract_days_left" not in facts(context, "2026-02-10", no_start)


# ---- definitions cited (facts' defined_by) --------------------------------------------------------------------
def _refs(rule, as_of=None):
    cited = rule.citations if as_of is None else rule.citations_on(as_of)
    return {c["ref"]: c["role"] for c in cited}


def test_a_rule_cites_the_definitions_of_the_facts_it_reads():
    rules = _RULEBOOK.rules
    assert _refs(rules["lcl-42-3.medical-treatment-period@2008-01-01"])["MED-2/3"] == "definition"
    assert _refs(rules["med-1995.special-disease@2008-01-01"])["MED-4"] == "definition"
    assert _refs(rules["wir-33.paid-suspension@2011-01-01"])["WIR-33"] == "basis"   # cited already: kept as written
    assert _refs(rules["tul-19.full-time-officer-extension@2022-01-01"])["TUL-19"] == "basis"
    # A definition in force over the whole range is on the rule; the pre-2025 version of the
    # retirement rule rests on the original ages, outside the catalog, and cites no RET-SC-1.
    assert "RET-SC-1" not in _refs(rules["lcl-42-5.long-service-near-retirement@2008-01-01"], D(2024, 6, 1))


def test_a_definition_in_force_over_part_of_the_range_is_cited_from_its_date():
    protected = _RULEBOOK.rules["lcl-42-4.protected-period@2008-01-01"]
    assert "FEM-9" not in _refs(protected)
    assert "FEM-9" not in _refs(protected, D(2012, 4, 27)) and "FEM-7" not in _refs(protected, D(2012, 4, 27))
    assert _refs(protected, D(2012, 4, 28))["FEM-9"] == "definition"
    assert _refs(protected, D(2026, 2, 10))["FEM-7"] == "definition"
    exit_exam = _RULEBOOK.rules["lcl-42-1.occupational-disease@2008-01-01"]
    assert {"ODL-35", "ODL-55"} <= set(_refs(exit_exam, D(2026, 2, 10)))
    assert not {"ODL-35", "ODL-55"} & set(_refs(exit_exam, D(2018, 12, 28)))


def test_a_finding_carries_the_definitions_in_force_on_its_date():
    from service.decide.evaluation import evaluate
    request = {"employee": {"id": "E1", "gender": "female", "pregnancy": {"status": "not_pregnant"},
                            "children": [{"birth_date": "2025-06-01"}]},
               "action": {"type": "terminate_with_notice", "ground": "art40_3"}}
    outcome = evaluate(_RULEBOOK, CheckRequestSchema().load({"as_of": "2026-02-10", **request}))
    finding = next(f for f in outcome.findings if f["rule_id"] == "lcl-42-4.protected-period")
    fem9 = next(c for c in finding["citations"] if c["ref"] == "FEM-9")
    assert fem9["role"] == "definition" and fem9["text"].startswith("第九条")


def test_defined_by_must_name_cited_provisions(tmp_path):
    import shutil
    from service.decide.rulebook import validate_rules
    root = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", root)
    facts_file = root / "facts" / "labor_law.yaml"
    text = facts_file.read_text(encoding="utf-8")
    facts_file.write_text(text.replace("defined_by: [FEM-9]", "defined_by: [FEM-99]"), encoding="utf-8")
    problems = [p for p in validate_rules(root).problems if "FEM-99" in p.reason]
    assert problems and {p.rule_id for p in problems} >= {"lcl-42-4.protected-period"}
    assert all(p.field == "citations" for p in problems)
    facts_file.write_text(text.replace("defined_by: [FEM-9]", "defined_by: FEM-9"), encoding="utf-8")
    assert any("defined_by must be a list" in p.reason for p in validate_rules(root).problems)
