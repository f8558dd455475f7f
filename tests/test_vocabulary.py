"""The fact vocabulary is the one list of names: every fact a rule reads is declared with its type,
derivation only ever emits declared facts of their declared type, and the vocabularies the
contract, the classification and the trail use are declared once (rules/facts/, `enums:`)."""
from __future__ import annotations

import pytest
from freezegun import freeze_time

from schemas import fields as contract
from schemas.check import CheckRequestSchema
from service import PROJECT_ROOT
from service.decide.evaluation import default_as_of
from service.decide.facts import derive_facts
from service.decide.rulebook import RuleLoadError, load_rulebook
from service.tools.scenarios import default_fixture_paths, fixture_checks, load_fixture_cases, rule_example_cases
from service.decide.vocabulary import Vocabulary, VocabularyError

_BOOK = load_rulebook(PROJECT_ROOT / "rules")
_OPS = {"eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte"}


def _leaves(when: dict):
    """(fact, operator, operand) of every test in a condition."""
    for key, value in when.items():
        if key in ("all", "any"):
            for part in value:
                yield from _leaves(part)
        elif isinstance(value, dict) and set(value) & _OPS:
            for op, operand in value.items():
                yield key, op, operand
        elif isinstance(value, dict):
            yield key, "?", value  # an operator this test does not know: reported below
        else:
            yield key, "eq", value


def _requests():
    for _, _, example in rule_example_cases(_BOOK):
        yield example["request"], None
    for path in default_fixture_paths():
        for source, case, now in load_fixture_cases(path):
            for _, request, _, step_now in fixture_checks(case, now, source):
                yield request, step_now


def test_every_fact_a_rule_reads_is_declared_and_tested_with_values_of_its_type():
    vocabulary = _BOOK.vocabulary
    for rule in _BOOK.rules.values():
        for fact, op, operand in _leaves(rule.when):
            assert fact in vocabulary, f"{rule.key}: {fact} is not in rules/facts/"
            spec = vocabulary[fact]
            if op in ("in", "not_in"):
                assert isinstance(operand, list) and all(spec.accepts(v) for v in operand), (rule.key, fact, operand)
            elif op in ("lt", "lte", "gt", "gte"):
                assert spec.ordered and spec.accepts(operand), (rule.key, fact, op, operand)
            elif op in ("eq", "ne"):
                assert spec.accepts(operand), (rule.key, fact, operand)
            else:
                pytest.fail(f"{rule.key}: {fact} is tested with {operand!r}: not a plain eq/ne/in/... test")


def test_derivation_emits_only_declared_facts_of_their_declared_type():
    vocabulary, derived, seen = _BOOK.vocabulary, 0, set()
    for body, now in _requests():
        with freeze_time(now or "2026-02-10T10:00:00+08:00"):
            request = CheckRequestSchema().load(body)
            facts = derive_facts(request, request.get("as_of") or default_as_of(), _BOOK.context).values
        for name, value in facts.items():
            assert name in vocabulary, f"derivation emits {name}, which rules/facts/ does not declare"
            assert vocabulary[name].accepts(value), f"{name} = {value!r} is not a {vocabulary[name].type}"
            derived += vocabulary[name].source == "derived"
            seen.add(name)
    assert derived > 1000  # the examples and fixtures exercise derivation, not just copying
    # A range is never emitted itself: its bounds are (and must be seen).
    unseen = {n for n, f in vocabulary.facts.items() if f.source == "derived" and not f.bounds} - seen
    # A derived fact no example or fixture ever produces is untested derivation.
    assert unseen <= {"derived.case.pending.calendar_missing_year"}, sorted(unseen)


def test_the_contract_reads_its_vocabularies_from_the_fact_files():
    vocabulary = _BOOK.vocabulary
    assert contract.ACTION_TYPES == vocabulary["action.type"].values == vocabulary.enum("action_types")
    assert contract.ROLES == vocabulary["action.actor.role"].values
    assert contract.CASE_KINDS == vocabulary["case.kind"].values
    assert contract.EVENT_TYPES == vocabulary.enum("event_types")
    assert contract.FORMS == vocabulary.enum("forms")


def test_an_enum_named_by_a_fact_must_be_declared(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "apiVersion: facts/v1\nfacts:\n  action.type: {type: enum, values: action_kinds, source: request}\n",
        encoding="utf-8")
    with pytest.raises(VocabularyError, match="names the list 'action_kinds'"):
        Vocabulary.load(tmp_path)
    (tmp_path / "b.yaml").write_text("apiVersion: facts/v1\nenums:\n  action_kinds: [a, b]\nfacts: {}\n",
                                     encoding="utf-8")
    assert Vocabulary.load(tmp_path)["action.type"].values == ("a", "b")
    (tmp_path / "c.yaml").write_text("apiVersion: facts/v1\nenums:\n  action_kinds: [c]\nfacts: {}\n",
                                     encoding="utf-8")
    with pytest.raises(VocabularyError, match="enum action_kinds is already defined"):
        Vocabulary.load(tmp_path)


def test_a_new_action_type_must_be_classified_and_named_before_the_rules_load(tmp_path):
    import shutil
    root = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", root)
    core = root / "facts" / "core.yaml"
    core.write_text(core.read_text(encoding="utf-8").replace("review_case]", "review_case, suspend_employee]"),
                    encoding="utf-8")
    with pytest.raises(RuleLoadError) as exc:
        load_rulebook(root)
    assert [(p.file, p.field, p.reason) for p in exc.value.problems] == [
        ("classification/separation_basis.yaml", "actions", "no line for the action type 'suspend_employee'"),
        ("names/codes.yaml", "names.action_type.suspend_employee",
         "'suspend_employee' has no name: add {zh: ..., en: ...}")]
