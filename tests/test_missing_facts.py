"""A warn asks exactly what can change it: `missing_facts` names request fields, enough of them to
decide the rule, and only ones that can change it.

Seeds are every rule example and every fixture check (story steps included) whose answer has a
finding with outcome unknown, decided in-process as tests/test_omission.py does. For each:
- no `missing_facts` entry and no message names a derived fact; every entry is a field of the
  check request (schemas/);
- sufficiency: with any values of all the named fields set into the request, the rule comes out
  fired or cleared, not unknown;
- necessity: for each named field, some value of it (the other named fields set to drawn values)
  changes the rule's outcome.

Values come from the request contract: a field's marshmallow type and validators (booleans, the
values an enum accepts, ranges), dates around as_of with its boundaries, and small hand-written
strategies for the lists (children, sick leave, case events: the event lists of the fixtures).
A drawn request the contract refuses (a grade without a disability, an end before its start) is
not a request, and is skipped. Places of work are drawn among those whose regional rules are
encoded: for another one the service cannot decide a regional leave, and says so (tested below).
"""
from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import math
import random
from functools import lru_cache

from hypothesis import HealthCheck, assume, given, reject, settings, strategies as st
from marshmallow import ValidationError, fields as ma_fields, validate

from schemas.check import CheckRequestSchema
from service.clock import day_in_china
from service import PROJECT_ROOT
from service.decide.evaluation import evaluate
from service.decide.rulebook import load_rulebook
from service.tools.scenarios import default_fixture_paths, fixture_checks, load_fixture_cases, rule_example_cases

# Regions whose regional leave rules are encoded (rules/labor_law/parameters/*/regional_*/).
_REGIONS = ("CN-BJ", "CN-GD", "CN-SH", "CN-ZJ")
# What a field's missing parent needs besides it, to be a request the contract accepts.
_REQUIRED = {
    ("case",): {"id": "C-PROPERTY", "kind": "resignation"},
    ("action", "actor"): {"id": "A-PROPERTY", "role": "hr"},
    ("employee", "work_injury"): {"status": "none"},
}
# Values that say the answer is not known yet, as "unknown" does: not values that decide.
_NOT_YET = {("employee.work_injury.status", "pending")}
_ABSENT = object()
# Days from as_of: both sides of a year and a day, and every few days over the leaves' lengths
# (15 to 42 days after a miscarriage, 98 to some 200 after a birth), before and after it.
_DATE_OFFSETS = tuple(sorted({-800, -400, -366, -365, -364, -1, 0, 1, 15, 30, 60, 100, 365, 366, 400,
                              *range(-250, 251, 6)}))


@lru_cache(maxsize=1)
def rulebook():
    return load_rulebook(PROJECT_ROOT / "rules")


def answer(body: dict):
    """The outcome, or None when the contract refuses the request."""
    try:
        request = CheckRequestSchema().load(copy.deepcopy(body))
    except ValidationError:
        return None
    return evaluate(rulebook(), request)


def rule_outcome(outcome, rule_id: str) -> str:
    """fired, cleared or unknown; a rule whose outcome differs between the two judgment days is
    decided when neither day leaves it unknown."""
    [entry] = [c for c in outcome.checked if c["rule_id"] == rule_id]
    if entry["outcome"] == "dates_differ":
        days = [d["outcome"] for d in entry["dates"]]
        return "unknown" if "unknown" in days else "/".join(days)
    return entry["outcome"]


def _dated(body: dict, now) -> dict:
    if "as_of" in body or now is None:
        return body
    return {**body, "as_of": day_in_china(dt.datetime.fromisoformat(str(now))).isoformat()}


@lru_cache(maxsize=1)
def answered() -> list[tuple[str, dict, object]]:
    """Every seed with its answer (the contract accepts them all)."""
    bodies = [(source, example["request"]) for source, _rule, example in rule_example_cases(rulebook())]
    for path in default_fixture_paths():
        for case_source, case, now in load_fixture_cases(path):
            for source, request, _expected, step_now in fixture_checks(case, now, case_source):
                bodies.append((source, _dated(request, step_now)))
    return [(source, body, outcome) for source, body in bodies if (outcome := answer(body)) is not None]


@lru_cache(maxsize=1)
def unknowns() -> list[tuple[str, dict, str, tuple[str, ...]]]:
    """(source, request, rule id, fields named) for each finding with outcome unknown that names
    fields, once per seed and rule."""
    out = []
    for source, body, outcome in answered():
        for f in outcome.findings:
            if f["outcome"] == "unknown" and f["missing_facts"]:
                out.append((source, body, f["rule_id"], tuple(f["missing_facts"])))
    return out


# ---- values of request fields --------------------------------------------------------------
def schema_field(path: str):
    """The contract's field at a dotted path (a list, not its items), or None."""
    node, found = CheckRequestSchema(), None
    for part in path.split("."):
        if not hasattr(node, "fields") or part not in node.fields:
            return None
        found = node.fields[part]
        node = found.schema if isinstance(found, ma_fields.Nested) else None
    return found


def _choices(field) -> list | None:
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            return [c for c in validator.choices if c != "unknown"]  # "unknown" is the field left out
    return None


def _range(field, low, high):
    for validator in field.validators:
        if isinstance(validator, validate.Range):
            return (validator.min if validator.min is not None else low,
                    validator.max if validator.max is not None else high)
    return low, high


def _day(as_of: dt.date, days: int) -> str:
    return (as_of + dt.timedelta(days=days)).isoformat()


@lru_cache(maxsize=1)
def _event_lists() -> list[list]:
    """The case stories the fixtures tell (a case opens with its first event: none is empty)."""
    found = {json.dumps(b["case"]["events"], sort_keys=True, default=str): b["case"]["events"]
             for _, b, _ in answered() if (b.get("case") or {}).get("events")}
    return list(found.values())


@lru_cache(maxsize=1)
def _story_actors() -> list[str]:
    return sorted({e["actor"]["id"] for events in _event_lists() for e in events} - {"A-OTHER"})


def _events_by(as_of: dt.date) -> list[list]:
    """The stories that had happened by as_of (a check does not see events after its day)."""
    return [events for events in _event_lists()
            if all(day_in_china(dt.datetime.fromisoformat(str(e["at"]))) <= as_of for e in events)]


def candidates(path: str, as_of: dt.date, body: dict) -> list:
    """A small grid of values for a field: each side of the boundaries that matter around as_of."""
    if path == "employee.region":
        return list(_REGIONS)
    if path == "employee.birth_date":
        return [_day(as_of, -int(years * 365.25) + d) for years in (45, 50, 55, 58, 60, 63) for d in (-40, 0, 40)]
    if path == "employee.childbirth.child_order":
        # Zhejiang's table stops at the third child, and a later one is refused as an error in the
        # data (periods.py _regional_extension): not a value to decide on.
        return [1, 2, 3]
    if path == "employee.children":
        return [[], *[[{"birth_date": _day(as_of, d)}] for d in (-400, -366, -365, -200, -1, 0)]]
    if path == "employee.medical_treatment.sick_leave":
        return [[], [{"start": _day(as_of, -10)}], [{"start": _day(as_of, -400)}],
                [{"start": _day(as_of, -60), "end": _day(as_of, -30)}], [{"start": _day(as_of, -200)}]]
    if path == "case.events":
        return _events_by(as_of)
    if path == "action.actor.id":  # the employee, someone else, and whoever acts in the stories
        return [body["employee"]["id"], "A-OTHER", *_story_actors()]
    if path in ("action.actor.department", "employee.department"):
        return ["ENG", "SALES"]
    field = schema_field(path)
    choices = _choices(field)
    if choices is not None:
        return choices
    if isinstance(field, ma_fields.Boolean):
        return [True, False]
    if isinstance(field, ma_fields.Date):
        return [_day(as_of, d) for d in _DATE_OFFSETS]
    if isinstance(field, ma_fields.Integer):
        low, high = _range(field, 0, 1000)
        return sorted({max(low, min(high, v)) for v in (low, 1, 2, 3, 5, 9, 10, 50, 60, 100, high)})
    if isinstance(field, ma_fields.Float):
        low, high = _range(field, 0, 80)
        return sorted({max(low, min(high, v)) for v in (low, 0.5, 2, 3.5, 4, 5, 9.5, 10, 15, 20, 25, 40, high)})
    raise AssertionError(f"no values for {path}")


def values(path: str, as_of: dt.date, body: dict):
    """A strategy for a field's values that decide: its grid, and (for numbers and dates) anything
    in between."""
    grid = st.sampled_from([v for v in candidates(path, as_of, body) if not (isinstance(v, str) and (path, v) in _NOT_YET)])
    field = schema_field(path)
    if path in ("employee.birth_date", "employee.region", "employee.childbirth.child_order") \
            or isinstance(field, ma_fields.List):
        return grid
    if isinstance(field, ma_fields.Date):
        return st.one_of(grid, st.integers(-1200, 500).map(lambda d: _day(as_of, d)))
    if isinstance(field, ma_fields.Integer) and not isinstance(field, ma_fields.Boolean) and _choices(field) is None:
        low, high = _range(field, 0, 1000)
        return st.one_of(grid, st.integers(low, min(high, 200)))
    if isinstance(field, ma_fields.Float):
        low, high = _range(field, 0, 80)
        return st.one_of(grid, st.floats(low, min(high, 45), allow_nan=False).map(lambda v: round(v, 2)))
    return grid


def context_of(body: dict, named) -> list[str]:
    """Fields the contract needs beside the named ones, drawn like them: a case sent for its
    events has a kind (which kind is what happened, not a gap)."""
    if "case" not in body and any(p.startswith("case.") for p in named) and "case.kind" not in named:
        return ["case.kind"]
    return []


def with_values(body: dict, assigned: dict) -> dict:
    """The request with the fields set (a missing parent created with what the contract requires)."""
    out = copy.deepcopy(body)
    for path, value in assigned.items():
        *parents, leaf = path.split(".")
        node = out
        for depth, part in enumerate(parents):
            if not isinstance(node.get(part), dict):
                node[part] = copy.deepcopy(_REQUIRED.get(tuple(parents[:depth + 1]), {}))
            node = node[part]
        node[leaf] = value
    return out


def open_by_design(outcome, rule_id: str) -> bool:
    """Whether derivation found nothing the request could add to decide the rule's unknown facts
    (Facts.decided_by with no fields for each derived fact it reads that is left unknown)."""
    facts = outcome.judged[-1].facts
    rule = next(r for r in rulebook().applicable(facts.values["action.type"], outcome.as_of) if r.id == rule_id)
    reads = {name for alternative in rule.compiled.alternatives for name in alternative.facts}
    unknown = [n for n in reads if n in facts.decided_by]
    return bool(unknown) and all(facts.decided_by[n].fields == () for n in unknown)


# ---- the answers name request fields only ---------------------------------------------------
def test_the_seeds_cover_labor_law_and_process_rules():
    rules = {rule_id for _, _, rule_id, _ in unknowns()}
    assert len(unknowns()) > 500
    assert any(r.startswith("process.") for r in rules) and any(r.startswith("lcl-42") for r in rules)


def test_no_answer_names_a_derived_fact_and_every_named_field_is_a_request_field():
    for source, _body, outcome in answered():
        for f in outcome.findings:
            assert not [m for m in f["missing_facts"] if m.startswith("derived.")], (source, f["rule_id"])
            assert all(schema_field(m) is not None for m in f["missing_facts"]), (source, f["missing_facts"])
            for text in f["message"].values():
                assert "derived." not in text, (source, f["rule_id"], text)


def test_a_regional_leave_whose_rule_is_not_encoded_names_no_field_and_says_why():
    # Five months after a stillbirth in Hubei: whether its (unencoded) extension still runs is not
    # something the EHR could send; the warn says the rules do not cover it.
    body = {"as_of": "2026-02-10", "employee": {
        "id": "E1", "gender": "female", "region": "CN-HB", "pregnancy": {"status": "not_pregnant"}, "children": [],
        "childbirth": {"date": "2025-09-10", "dystocia": False, "babies": 1, "child_order": 1}},
        "action": {"type": "terminate_with_notice", "ground": "art40_1"}}
    [finding] = [f for f in answer(body).findings if f["rule_id"] == "lcl-42-4.protected-period"]
    assert finding["outcome"] == "unknown" and finding["missing_facts"] == []
    assert "do not cover" in finding["message"]["en"] and "尚未收录" in finding["message"]["zh"]
    # In Beijing (encoded: 60 more days) the same birth is decided: she is still on leave.
    body["employee"]["region"] = "CN-BJ"
    assert rule_outcome(answer(body), "lcl-42-4.protected-period") == "fired"


# ---- sufficiency and necessity ----------------------------------------------------------------
_SETTINGS = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.filter_too_much])


@_SETTINGS
@given(st.data())
def test_the_named_fields_decide_the_rule(data):
    source, body, rule_id, named = data.draw(st.sampled_from(unknowns()), label="seed")
    as_of = answer(body).as_of
    assigned = {path: data.draw(values(path, as_of, body), label=path) for path in (*named, *context_of(body, named))}
    outcome = answer(with_values(body, assigned))
    assume(outcome is not None)
    if rule_outcome(outcome, rule_id) == "unknown":
        # Values the rule tree leaves open (what happened, as given: a case holding no
        # resignation in effect, an employee's ground in an employer's case) are no gap in the
        # request: the warn then names nothing, and says the rules do not cover it.
        [finding] = [f for f in outcome.findings if f["rule_id"] == rule_id]
        assert finding["missing_facts"] == [], f"{source}: {rule_id} still unknown with {assigned}"
        assert open_by_design(outcome, rule_id), f"{source}: {rule_id} names nothing with {assigned}"
        reject()


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_each_named_field_can_change_the_rule(data):
    source, body, rule_id, named = data.draw(st.sampled_from(unknowns()), label="seed")
    field = data.draw(st.sampled_from(named), label="field")
    assert changes(body, rule_id, named, field), f"{source}: no value of {field} changes {rule_id} (named {list(named)})"


def _numbers_read(outcome, rule_id: str) -> tuple:
    """The values of the numbers and dates the rule compares (as the answer shows them)."""
    [entry] = [c for c in outcome.checked if c["rule_id"] == rule_id]
    vocabulary = rulebook().vocabulary
    return tuple(sorted((n, v) for n, v in entry["facts"].items() if n in vocabulary and vocabulary[n].ordered))


# The contract ties a disability grade to status disabled: a value of one may need the other set
# or left out to be a request at all.
_GRADE = "employee.work_injury.disability_grade"
_FITTING = ({}, {_GRADE: _ABSENT}, {_GRADE: 1}, {_GRADE: 7})


# The other fields' dates: each side of the boundaries a derivation counts from as_of (a year, a
# month, the day itself), few enough that combinations of two dates are often tried.
_COARSE_DATE_OFFSETS = (-800, -400, -366, -365, -200, -60, -1, 0, 1, 30, 365, 400)


def _coarse(path: str, as_of: dt.date, body: dict) -> list:
    if isinstance(schema_field(path), ma_fields.Date):
        return [_day(as_of, d) for d in _COARSE_DATE_OFFSETS]
    return candidates(path, as_of, body)


def changes(body: dict, rule_id: str, named: tuple, field: str, budget: int = 1500) -> bool:
    """Whether some value of `field` changes the rule's outcome (from the field left out, or from
    another of its values), the other named fields set to
    values drawn from their grids (deterministically), within `budget` checks (requests the
    contract refuses are not counted, up to four times as many): half with the others' dates on
    a coarse grid (two dates on either side of a year are then often tried together), half on
    the fine one (a date a few weeks back)."""
    as_of = answer(body).as_of
    others = [p for p in (*named, *context_of(body, named)) if p != field]
    rng = random.Random(f"{json.dumps(body, sort_keys=True, default=str)}|{rule_id}|{field}")
    numbers: set = set()
    # The coarse pass also leaves each other field out: a field may decide only while another is not
    # given (the ground decides the basis of an offboarding sent without its case).
    coarse = {p: [*_coarse(p, as_of, body), _ABSENT] for p in others}
    for grid in (coarse, {p: candidates(p, as_of, body) for p in others}):
        if _changes_on(body, rule_id, field, as_of, others, grid, rng, budget // 2, numbers):
            return True
    # Derivation names what decides a number, not the threshold a rule compares it with (a
    # full-time officer's term start moves the extended contract's end, whichever side of the
    # action date it falls on here): a field that moves a number the rule compares counts.
    return len(numbers) > 1


def _changes_on(body, rule_id, field, as_of, others, grid, rng, budget, numbers) -> bool:
    tried, refused = 0, 0
    # Every combination of the others when they are few, in a shuffled order; else drawn ones.
    product = list(itertools.product(*grid.values())) if math.prod(map(len, grid.values())) <= 300 else None
    if product is not None:
        rng.shuffle(product)
        product.sort(key=lambda c: sum(v is not _ABSENT for v in c))  # the fewest others given first
    bases = iter(product) if product is not None else iter(lambda: tuple(rng.choice(grid[p]) for p in others), None)
    for combination in bases:
        if tried >= budget or refused >= 4 * budget:
            return False
        base = {p: v for p, v in zip(others, combination) if v is not _ABSENT}
        # Where the outcome starts: the field not given (a ground that clears the rule, whichever
        # it is, changes its outcome from unknown).
        left_out = answer(with_values(body, base))
        seen = set() if left_out is None else {rule_outcome(left_out, rule_id)}
        # A long grid (dates) is sampled per base, so that more bases are tried; an enumeration (the
        # grounds) or the actors is tried whole: one value of it may be the only one that decides.
        varied = candidates(field, as_of, body)
        for value in varied if len(varied) <= 30 else rng.sample(varied, 12):
            for fit in _FITTING:
                assigned = {**base, field: value, **fit}
                outcome = answer(with_values(body, {p: v for p, v in assigned.items() if v is not _ABSENT}))
                refused += outcome is None
                if outcome is not None:
                    tried += 1
                    seen.add(rule_outcome(outcome, rule_id))
                    numbers.add(_numbers_read(outcome, rule_id))
                    break
        if len(seen) > 1:
            return True
    return False


# ---- what derivation finds decides a fact, named in the warn ----------------------------------
def _named(body: dict, rule_id: str) -> list[str]:
    [finding] = [f for f in answer(body).findings if f["rule_id"] == rule_id]
    assert finding["outcome"] == "unknown"
    return finding["missing_facts"]


def test_the_maternity_leave_names_only_the_detail_that_decides_it_that_day():
    # Born 2025-10-20 in Beijing (98 + 60 days: to 2026-03-26; 15 more with dystocia, and for each
    # further baby): on 2026-04-01 those two decide; the birth order (not asked in Beijing) cannot.
    employee = {"id": "E1", "gender": "female", "region": "CN-BJ", "pregnancy": {"status": "not_pregnant"},
                "children": [], "childbirth": {"date": "2025-10-20"}}
    body = {"as_of": "2026-04-01", "employee": employee,
            "action": {"type": "terminate_with_notice", "ground": "art40_1", "pay_in_lieu": True}}
    assert _named(body, "lcl-42-4.protected-period") == ["employee.childbirth.dystocia", "employee.childbirth.babies"]
    employee["childbirth"].update(dystocia=False)
    assert _named(body, "lcl-42-4.protected-period") == ["employee.childbirth.babies"]
    employee["childbirth"].update(babies=1)
    assert rule_outcome(answer(body), "lcl-42-4.protected-period") == "cleared"


def test_years_of_service_from_a_hire_date_name_the_years_as_given():
    # Hired 2015: at least 11 years, maybe more (service carried over): only the years as given decide.
    body = {"as_of": "2026-02-10", "employee": {"id": "E1", "gender": "male", "birth_date": "1967-06-01",
                                                 "hire_date": "2015-01-05"},
            "action": {"type": "terminate_with_notice", "ground": "art40_1", "pay_in_lieu": True}}
    assert _named(body, "lcl-42-5.long-service-near-retirement") == ["employee.continuous_service_years"]


def test_probation_names_what_the_ehr_says_and_what_caps_it():
    # What the EHR says (its end, or the flag: either decides that side), and what the statutory
    # cap reads (LCL-19: the hire date and the contract's term).
    body = {"as_of": "2026-02-10", "employee": {"id": "E1", "gender": "male"},
            "action": {"type": "terminate_for_cause", "ground": "art39_1"}}
    assert _named(body, "lcl-39.ground-required") == [
        "employee.contract.probation_end", "employee.contract.in_probation", "employee.hire_date",
        "employee.contract.type", "employee.contract.end_date"]
    # Hired within six months on a 3-year contract: only what the EHR says is left to decide.
    recent = {**body, "employee": {"id": "E1", "gender": "male", "hire_date": "2026-01-05",
                                   "contract": {"type": "fixed_term", "end_date": "2029-01-04"}}}
    assert _named(recent, "lcl-39.ground-required") == ["employee.contract.probation_end",
                                                        "employee.contract.in_probation"]
