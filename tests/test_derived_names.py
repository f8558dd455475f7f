"""A derived fact with no derivation is refused (issue 25): facts/derived.py lists what fact
derivation computes, checked here against what it really emits; a `source: derived` fact outside
it is one FILE:LINE error in `rules lint` and a load error the start-up gate refuses."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from service.decide.evaluation import judgment_days
from service.decide.facts import derive_facts
from service.decide.facts.derived import DERIVED
from service.decide.rulebook import RuleLoadError, load_rulebook
from service.tools.rule_cli import rules_group
from service.tools.scenarios import (date_at, default_fixture_paths, fixture_checks, load_fixture_cases,
                                     rule_example_cases)

WORKING_DAYS = """
  derived.contract.working_days_left:
    type: int
    source: derived
    description: 合同期满前的工作日数 / Working days left before the contract ends
"""


@pytest.fixture(scope="module")
def rulebook():
    from service import PROJECT_ROOT
    book = load_rulebook(PROJECT_ROOT / "rules")
    yield book
    book.engine.close()


def _requests(rulebook):
    yield from (example["request"] for _, _, example in rule_example_cases(rulebook))
    for path in default_fixture_paths():
        for source, case, now in load_fixture_cases(path):
            for _, request, _, step_now in fixture_checks(case, now, source):
                yield request if "as_of" in request else {**request, "as_of": date_at(step_now).isoformat()}


def test_the_declared_list_is_what_derivation_emits_over_every_example_and_fixture(rulebook):
    emitted = set()
    for body in _requests(rulebook):
        request = rulebook.request_schema().load(body)
        for _, day in judgment_days(request, request["as_of"], rulebook.context):
            facts = derive_facts(request, request["as_of"], rulebook.context, on=day)
            emitted |= {name for name in (*facts.values, *facts.decided_by) if name.startswith("derived.")}
    declared = set(rulebook.vocabulary.derivations)  # computed by their declaration (derive:)
    assert emitted - DERIVED - declared == set(), "derived here but not declared in service/decide/facts/derived.py"
    assert declared <= emitted, "a declared derivation never computed by any example or fixture"
    assert DERIVED - emitted == set(), "declared but never derived by any example or fixture"


def test_every_shipped_derived_fact_is_computed(rulebook):
    derived = {name for name, spec in rulebook.vocabulary.facts.items() if spec.source == "derived"}
    assert derived <= DERIVED | set(rulebook.vocabulary.derivations)


def test_a_derived_fact_nothing_computes_is_refused_on_its_line(rules_copy):
    facts = rules_copy / "facts/labor_law.yaml"
    text = facts.read_text(encoding="utf-8")
    facts.write_text(text.rstrip("\n") + "\n" + WORKING_DAYS, encoding="utf-8")
    line = len(text.rstrip("\n").splitlines()) + 2  # after the blank line
    result = CliRunner().invoke(rules_group, ["lint", "--rules-dir", str(rules_copy)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    [error] = [l for l in result.output.splitlines() if ": error:" in l]
    assert re.match(rf"^\S*facts/labor_law\.yaml:{line}: error: facts\.derived\.contract\.working_days_left: "
                    r"source: derived, but nothing computes this fact: declare its derivation \(derive:, "
                    r"rules/README\.md\), declare it as a request field, or ask a developer — did you mean "
                    r"derived\.contract\.days_to_end\?$", error), result.output
    with pytest.raises(RuleLoadError) as refused:
        load_rulebook(rules_copy).engine.close()
    assert [p.field for p in refused.value.problems] == ["facts.derived.contract.working_days_left"]
