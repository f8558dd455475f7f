"""The precision property: a complete, benign record is allowed.

The counterpart of tests/test_omission.py (no allow by omission). For each action type the
fields its rules read are taken from the rule book (each applicable rule's facts, a derived
fact replaced by the request fields it is computed from, `inputs:` in rules/facts/), and a
record states every one of them, and nothing else, with a lawful value: not pregnant, no child
in the nursing period, not on sick leave (a short one long ago at most), no injury, disease or
exposure, no union office, a union told in advance, 30 days' notice, a lawful ground with its
reasons, service and age far from LCL-42(5) and LCL-14, before statutory retirement... A man is
not told about pregnancy or children: the rules scope them to women. Such a record must come
back `allow` with no warn finding (obligations are fine). One that does not shows a rule asking
for more than the law needs, or a derived fact whose `inputs:` do not say what settles it.
"""
from __future__ import annotations

import copy
import datetime as dt
from functools import lru_cache

from hypothesis import HealthCheck, given, settings, strategies as st

from schemas.check import CheckRequestSchema
from schemas.fields import CN_REGIONS
from service import PROJECT_ROOT
from service.decide.evaluation import evaluate
from service.decide.rulebook import load_rulebook
from service.decide.periods import add_months, add_years, completed_years

D = dt.date
# Fields a benign record leaves out on purpose, with the reason (the rules scope them away).
_NOT_FOR_A_MAN = ("employee.pregnancy", "employee.children", "employee.childbirth", "employee.miscarriage")
_NO_OFFICE = ("employee.union_officer.term_end", "employee.union_officer.full_time",
              "employee.union_officer.term_start")         # position none
_NO_INJURY = ("employee.work_injury.disability_grade",      # status none
              "employee.work_injury.paid_suspension.start", "employee.work_injury.paid_suspension.end",
              "employee.work_injury.paid_suspension.extension_confirmed")


@lru_cache(maxsize=1)
def rulebook():
    return load_rulebook(PROJECT_ROOT / "rules")


ACTIONS = rulebook().vocabulary["action.type"].values


def fields_read(action: str, on: D) -> set[str]:
    """The request fields the rules applicable to `action` on `on` read."""
    vocabulary, out = rulebook().vocabulary, set()
    for rule in rulebook().applicable(action, on):
        for name in rule.compiled.facts:
            spec = vocabulary[name]
            if spec.source == "request":
                out.add(name)
            out.update(spec.inputs)
            for bound in spec.bounds or ():
                out.update(vocabulary[bound].inputs)
    return out - {"action.type"}


def _stated(record: dict, path: str) -> bool:
    node = record
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _at(day: D, hour: int = 9) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00+08:00"


@st.composite
def _past_sick_leave(draw, as_of: D) -> list[dict]:
    """None, or a short leave that ended more than a year before the check (back at work)."""
    if not draw(st.booleans()):
        return []
    end = as_of - dt.timedelta(days=draw(st.integers(400, 2000)))
    return [{"start": (end - dt.timedelta(days=draw(st.integers(0, 20)))).isoformat(), "end": end.isoformat()}]


@st.composite
def benign_checks(draw):
    """(action, request body) for a complete record with nothing that protects or bars."""
    rb = rulebook()
    action = draw(st.sampled_from(ACTIONS))
    as_of = draw(st.dates(D(2009, 1, 1), D(2030, 12, 31)))
    # The approval SLAs need the working calendar of the years up to a step's deadline: a year it
    # does not cover is a warning the record cannot answer, so a check on a case stays within the
    # covered years, a month clear of their end.
    last = D(max(rb.context.calendar.covered_years()), 11, 30)
    if as_of > last and any(name.startswith("derived.case.pending.") for rule in rb.applicable(action, as_of)
                            for name in rule.compiled.facts):
        as_of = draw(st.dates(D(2009, 1, 1), last))
    gender = draw(st.sampled_from(("female", "male")))
    age = draw(st.integers(22, 40))
    # Under 10 years of service: from 10 the employee may ask for an open-ended contract (LCL-14),
    # a real question at expiry, not a benign record.
    hired_years_ago = draw(st.integers(1, min(8, age - 20)))
    born = add_years(as_of, -age) - dt.timedelta(days=draw(st.integers(0, 364)))
    hired = add_years(as_of, -hired_years_ago) - dt.timedelta(days=draw(st.integers(0, 300)))
    service = completed_years(hired, as_of)
    employee = {
        "id": "E1", "gender": gender, "department": "ENG", "region": draw(st.sampled_from(CN_REGIONS)),
        "birth_date": born.isoformat(), "hire_date": hired.isoformat(),
        "continuous_service_years": service, "total_work_years": service + draw(st.integers(0, 5)),
        "original_retirement_age": 60 if gender == "male" else draw(st.sampled_from((50, 55))),
        "medical_treatment": {"status": "none", "special_disease": False, "sick_leave": draw(_past_sick_leave(as_of))},
        "occupational_disease": {"hazard_exposure": False, "suspected": False, "diagnosed": False,
                                 "exit_exam_done": True},
        "work_injury": {"status": "none"},
        "union_officer": {"position": "none"},
        "family": {"no_other_employed": False, "supports_elderly_or_minor": False},
        # A probation of two months, long over (hired a year or more ago).
        "contract": {"type": draw(st.sampled_from(("fixed_term", "open_ended"))), "consecutive_fixed_terms": 1,
                     "in_probation": False, "probation_end": (add_months(hired, 2) - dt.timedelta(days=1)).isoformat()},
    }
    if employee["contract"]["type"] == "fixed_term":
        employee["contract"]["end_date"] = add_months(as_of, draw(st.integers(6, 36))).isoformat()
    if gender == "female":
        # months: past the first birthday on the notice day too (served up to 60 days back)
        older = draw(st.lists(st.integers(15, 180), max_size=2))
        employee.update(pregnancy={"status": "not_pregnant"}, childbirth={"status": "none"},
                        miscarriage={"status": "none"},
                        children=[{"birth_date": add_months(as_of, -m).isoformat()} for m in older])
    hr = {"id": "HR7", "role": "hr", "department": "HR"}
    body = {"as_of": as_of.isoformat(), "employee": employee, "employer": {"union_exists": True},
            "action": {"type": action, "actor": hr}}
    _shape(draw, body, action, as_of)
    keep = fields_read(action, as_of) | _IDS
    if any(f.startswith("action.actor") for f in keep):
        keep.add("action.actor")  # an actor is named whole (the schema asks for id and role)
    return action, _only(body, keep)


# Not facts: what names the check, the employee and the case.
_IDS = {"action.type", "employee.id", "case.id", "case.kind"}


def _only(node: dict, keep: set[str], prefix: str = "") -> dict:
    """The record cut down to the fields the rules read (a field kept whole keeps what is in it):
    a benign answer must not rest on anything the rule book does not name."""
    out = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if path == "as_of" or path in keep or any(path.startswith(f + ".") for f in keep):
            out[key] = value
        elif isinstance(value, dict) and any(f.startswith(path + ".") for f in keep):
            out[key] = _only(value, keep, path + ".")
    return out


def _shape(draw, body: dict, action: str, as_of: D) -> None:
    """The action's own lawful details: its ground, notice, agreement, case."""
    act, employee = body["action"], body["employee"]
    me = {"id": "E1", "role": "employee"}
    manager = {"id": "M3", "role": "manager", "department": "ENG"}
    submitted = {"type": "resignation_submitted", "at": _at(as_of), "actor": me, "form": "written"}
    # A resignation 30 days back, approved by the manager and HR at once (nothing pending).
    resigned = add_months(as_of, -1)
    approved = [{"type": "resignation_submitted", "at": _at(resigned), "actor": me, "form": "written"},
                {"type": "resignation_approved", "at": _at(resigned, 10), "actor": manager},
                {"type": "resignation_approved", "at": _at(resigned, 11), "actor": {"id": "HR7", "role": "hr"}}]
    withdrawal = {"type": "withdrawal_requested", "at": _at(as_of, 10), "actor": me, "form": "written"}
    grounds = {"terminate_for_cause": [f"art39_{i}" for i in range(2, 7)],
               "terminate_with_notice": ["art40_1", "art40_2", "art40_3"],
               "terminate_economic_layoff": ["art41_1", "art41_2", "art41_3", "art41_4"]}
    if action in ("submit_resignation", "withdraw_resignation"):
        act["actor"] = me
    if action == "withdraw_resignation":
        body["case"] = {"id": "C1", "kind": "resignation", "events": [submitted]}
    if action in ("approve_resignation", "review_case"):
        act["actor"] = manager if action == "approve_resignation" else act["actor"]
        body["case"] = {"id": "C1", "kind": "resignation", "events": [submitted]}
    if action in ("approve_withdrawal", "reject_withdrawal"):
        act["actor"] = manager
        body["case"] = {"id": "C1", "kind": "resignation", "events": [submitted, withdrawal]}
    if action == "accept_resignation":
        act.update(ground="art37", initiated_by="employee")
        body["case"] = {"id": "C1", "kind": "resignation", "events": approved}
    if action in grounds:
        act.update(ground=draw(st.sampled_from(grounds[action])), reasons_stated=True, union_notified=True)
    kinds = {"non_renewal_at_expiry": "non_renewal", "mutual_agreement_termination": "mutual_agreement",
             **dict.fromkeys(grounds, "employer_termination")}
    if action in kinds:  # the case the action belongs to, nothing happened in it yet
        body["case"] = {"id": "C1", "kind": kinds[action], "events": []}
    if action == "terminate_with_notice":
        act["notice_served_on"] = (as_of - dt.timedelta(days=draw(st.integers(30, 60)))).isoformat()
        act["pay_in_lieu"] = draw(st.booleans())
    if action == "terminate_economic_layoff":
        total = draw(st.integers(100, 5000))
        act["layoff"] = {"consulted_on": (as_of - dt.timedelta(days=draw(st.integers(30, 90)))).isoformat(),
                         "reported_to_labor_authority": True, "headcount_reduced": draw(st.integers(20, 99)),
                         "total_headcount": total, "others_in_role_retained": False, "longer_fixed_term": False}
    if action == "non_renewal_at_expiry":
        employee["contract"] = {**employee["contract"], "type": "fixed_term", "end_date": as_of.isoformat()}
        act.update(renewal_offer=draw(st.sampled_from(("none", "same_or_better_terms"))), initiated_by="employer",
                   union_notified=True)
    if action == "mutual_agreement_termination":
        act.update(agreement_signed=True, initiated_by=draw(st.sampled_from(("employer", "employee"))))
    if action in ("execute_offboarding", "update_employment_status"):
        kind = draw(st.sampled_from(("resignation", "mutual_agreement", "employer_termination")))
        body["case"] = {"id": "C1", "kind": kind, "events": approved if kind == "resignation" else []}
        act["reasons_stated"] = True
        if kind == "employer_termination":
            act["ground"] = draw(st.sampled_from(grounds["terminate_with_notice"]))


def _left_out(action: str, body: dict) -> set[str]:
    """Fields the record does not state, on purpose (see _NOT_FOR_A_MAN and the others)."""
    out = set(_NO_OFFICE) | set(_NO_INJURY)
    if body["employee"].get("gender") == "male":
        out |= {f for f in fields_read(action, D.fromisoformat(body["as_of"]))
                if f.startswith(_NOT_FOR_A_MAN)}
    if "ground" not in body["action"]:  # the legal basis comes from the action or its case kind
        out.add("action.ground")
    if body["employee"].get("contract", {}).get("type") == "open_ended":
        out.add("employee.contract.end_date")
    for area in ("childbirth", "miscarriage"):  # "none" has no details to state
        if (body["employee"].get(area) or {}).get("status") == "none":
            out |= {f for f in fields_read(action, D.fromisoformat(body["as_of"]))
                    if f.startswith(f"employee.{area}.") and f != f"employee.{area}.status"}
    return out


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(benign_checks())
def test_the_benign_records_state_every_field_the_rules_read(drawn):
    """The generator is complete: for each action, every field read is stated or left out for a
    reason. A rule reading a new field makes this fail until the generator states it."""
    action, body = drawn
    need = fields_read(action, D.fromisoformat(body["as_of"])) - _left_out(action, body)
    unstated = sorted(f for f in need if not _stated(body, f))
    assert not unstated, (action, unstated)


@settings(max_examples=800, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(benign_checks())
def test_a_complete_benign_record_is_allowed_without_a_warning(drawn):
    """Each record states exactly the fields the rule book names for its action (nothing else):
    a warn here is a rule asking for more than the law needs, or a derived fact whose `inputs:`
    leave out what settles it."""
    action, body = drawn
    request = CheckRequestSchema().load(copy.deepcopy(body))
    outcome = evaluate(rulebook(), request)
    flagged = [(f["rule_id"], f["verdict"], f["missing_facts"]) for f in outcome.findings
               if f["verdict"] != "obligation"]
    assert outcome.verdict == "allow" and not flagged, (action, body["as_of"], flagged)
