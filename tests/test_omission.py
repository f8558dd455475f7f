"""No allow by omission: a request the rules deny or warn about never becomes an allow when
facts are left out.

Seeds are every rule example and every fixture check (story steps included) whose verdict
today is deny or warn. From each, the test leaves out every single field (at any depth, the
case and its events included) and, with hypothesis, random sets of fields; the answer must
never be allow. A request the contract refuses once a required field is gone is not an allow
either.

A list is the EHR's whole record of its kind (`children: []` says "no children"; the case's
`events` are everything that happened), so leaving one item out is not an omission but a
different statement; leaving out the list itself is an omission, and is tested.
"""
from __future__ import annotations

import copy
import datetime as dt
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from marshmallow import ValidationError

from schemas.check import CheckRequestSchema
from service.clock import day_in_china
from service import PROJECT_ROOT
from service.decide.evaluation import evaluate
from service.decide.rulebook import load_rulebook
from service.tools.scenarios import default_fixture_paths, fixture_checks, load_fixture_cases, rule_example_cases

# Not facts: the date the check is decided on (leaving it out moves the check to today) and the
# action asked about. Leaving either out asks another question.
_NOT_FACTS = {("as_of",), ("action", "type")}
_SEPARATING = ("execute_offboarding", "update_employment_status", "terminate_for_cause", "terminate_with_notice",
               "terminate_economic_layoff", "non_renewal_at_expiry", "mutual_agreement_termination",
               "accept_resignation")


@lru_cache(maxsize=1)
def rulebook():
    return load_rulebook(PROJECT_ROOT / "rules")


def decide(body: dict) -> str:
    """The verdict, or "refused" when the contract refuses the request."""
    try:
        request = CheckRequestSchema().load(copy.deepcopy(body))
    except ValidationError:
        return "refused"
    return evaluate(rulebook(), request).verdict


def _dated(body: dict, now: str | None) -> dict:
    """The seed with its as_of written out (a fixture's frozen `now`, as a day in China)."""
    if "as_of" in body or now is None:
        return body
    return {**body, "as_of": day_in_china(dt.datetime.fromisoformat(str(now))).isoformat()}


@lru_cache(maxsize=1)
def seeds() -> list[tuple[str, dict]]:
    out = []
    for source, _rule, example in rule_example_cases(rulebook()):
        out.append((source, example["request"]))
    for path in default_fixture_paths():
        for case_source, case, now in load_fixture_cases(path):
            for source, request, _expected, step_now in fixture_checks(case, now, case_source):
                out.append((source, _dated(request, step_now)))
    return [(source, body) for source, body in out if decide(body) in ("deny", "warn")]


def field_paths(node, prefix=()) -> list[tuple]:
    """Every field of a request, at any depth: the keys of every mapping, also of the mappings
    inside lists (an event's form), but not the list items themselves."""
    paths = []
    if isinstance(node, list):
        for index, item in enumerate(node):
            paths += field_paths(item, (*prefix, index))
        return paths
    for key, value in (node.items() if isinstance(node, dict) else ()):
        path = (*prefix, key)
        if path not in _NOT_FACTS:
            paths.append(path)
        paths += field_paths(value, path)
    return paths


def without(body: dict, paths) -> dict:
    out = copy.deepcopy(body)
    for path in sorted(paths, key=len, reverse=True):
        node = out
        for key in path[:-1]:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if node is not None:
            try:
                del node[path[-1]]
            except (KeyError, TypeError):
                pass
    return out


def test_the_seeds_cover_every_rule_file_and_fixture_file():
    sources = {source.split("::", 1)[0] for source, _ in seeds()}
    assert len(seeds()) > 200
    assert any(s.startswith("fixtures/situations/") for s in sources)
    assert any(s.startswith("process/") for s in sources) and any(s.startswith("labor_law/") for s in sources)


@pytest.mark.parametrize("index", range(len(seeds())), ids=[s for s, _ in seeds()])
def test_leaving_out_any_one_field_or_the_case_never_gives_allow(index):
    source, body = seeds()[index]
    allowed = [".".join(map(str, path)) for path in field_paths(body) if decide(without(body, [path])) == "allow"]
    assert allowed == [], f"{source}: allow once these are left out: {allowed}"


@settings(max_examples=600, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_leaving_out_any_set_of_fields_never_gives_allow(data):
    source, body = data.draw(st.sampled_from(seeds()), label="seed")
    paths = field_paths(body)
    chosen = data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=len(paths), unique=True)
                       if paths else st.just([]), label="left out")
    assert decide(without(body, chosen)) != "allow", f"{source} without {chosen}"


@pytest.mark.parametrize("action", _SEPARATING)
def test_a_separating_action_with_nothing_but_the_employee_id_never_gives_allow(action):
    for as_of in ("2020-06-01", "2026-02-10"):
        verdict = decide({"as_of": as_of, "employee": {"id": "E1"}, "action": {"type": action}})
        assert verdict in ("warn", "deny"), (action, as_of, verdict)
