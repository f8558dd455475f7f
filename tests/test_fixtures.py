"""Every rule example and every fixture scenario, each under its own frozen time."""
import re

import pytest
from marshmallow import ValidationError

from schemas.rule_file import RuleFileSchema

from service.decide.rulebook import load_rulebook
from service import PROJECT_ROOT
from service.tools.scenarios import (default_fixture_paths, load_fixture_cases, rule_example_cases,
                               run_fixture_case, run_rule_example)

_RULEBOOK = load_rulebook(PROJECT_ROOT / "rules")
_FIXTURES = [case for path in default_fixture_paths() for case in load_fixture_cases(path)]
_EXAMPLES = rule_example_cases(_RULEBOOK)


@pytest.mark.parametrize("source, case, now", _FIXTURES, ids=[c[0] for c in _FIXTURES])
def test_fixture(source, case, now):
    result = run_fixture_case(_RULEBOOK, case, now, source)
    assert result.passed, "\n".join(result.problems)


@pytest.mark.parametrize("source, rule, example", _EXAMPLES, ids=[e[0] for e in _EXAMPLES])
def test_rule_example(source, rule, example):
    result = run_rule_example(_RULEBOOK, rule, example, source)
    assert result.passed, "\n".join(result.problems)


@pytest.mark.parametrize("expects", [["warn", "none"], ["deny", "deny"], ["none", "none"]])
def test_a_rule_without_an_example_of_its_own_verdict_and_one_of_silence_does_not_load(expects):
    # The loader refuses it (and `rules lint` names the rule); a test of the loaded examples alone
    # could never fail where test_rule_example passes.
    rule = {"id": "r", "title": {"zh": "t", "en": "t"}, "verdict": "deny", "actions": ["review_case"],
            "effective_from": "2026-01-01", "citations": [{"ref": "LCL-42"}], "message": {"zh": "m", "en": "m"},
            "when": {}, "examples": [{"name": {"zh": f"例{i}", "en": f"e{i}"}, "request": {}, "expect": e}
                         for i, e in enumerate(expects)]}
    with pytest.raises(ValidationError) as exc:
        RuleFileSchema().load({"apiVersion": "rules/v1", "description": "d", "rules": [rule]})
    assert "examples" in exc.value.messages["rules"][0]
    rule["examples"] = [{"name": {"zh": "触发", "en": "fires"}, "request": {}, "expect": "deny"},
                        {"name": {"zh": "不触发", "en": "silent"}, "request": {}, "expect": "none"}]
    RuleFileSchema().load({"apiVersion": "rules/v1", "description": "d", "rules": [rule]})


def _probe_rule(names: list) -> dict:
    return {"id": "r", "title": {"zh": "t", "en": "t"}, "verdict": "deny", "actions": ["review_case"],
            "effective_from": "2026-01-01", "citations": [{"ref": "LCL-42"}], "message": {"zh": "m", "en": "m"},
            "when": {}, "examples": [{"name": name, "request": {}, "expect": expect}
                                     for name, expect in zip(names, ["deny", "none"])]}


def test_an_example_name_in_one_language_only_does_not_load_and_the_error_names_the_field():
    with pytest.raises(ValidationError) as exc:
        RuleFileSchema().load({"apiVersion": "rules/v1", "description": "d",
                               "rules": [_probe_rule(["fires", {"zh": "不触发", "en": "silent"}])]})
    assert exc.value.messages["rules"][0]["examples"][0]["name"] == {"_schema": [
        "must be {zh: ..., en: ...}: the text in Chinese and in English"]}
    with pytest.raises(ValidationError) as exc:
        RuleFileSchema().load({"apiVersion": "rules/v1", "description": "d",
                               "rules": [_probe_rule([{"en": "fires"}, {"zh": "不触发", "en": "silent"}])]})
    assert exc.value.messages["rules"][0]["examples"][0]["name"] == {"zh": ["Missing data for required field."]}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_two_examples_of_one_rule_with_the_same_name_do_not_load(lang):
    # The English name is the case's id in `rules test`, JUnit and a refused reload; the Chinese
    # one is how the legal team tells the examples apart on the rule page.
    names = [{"zh": "甲", "en": "a"}, {"zh": "乙", "en": "b"}]
    names[1][lang] = names[0][lang]
    with pytest.raises(ValidationError) as exc:
        RuleFileSchema().load({"apiVersion": "rules/v1", "description": "d", "rules": [_probe_rule(names)]})
    assert "another example of this rule is named" in exc.value.messages["rules"][0]["examples"][1]["name"][lang][0]


def test_every_rule_example_is_named_in_chinese_and_in_english():
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for source, rule, example in _EXAMPLES:
        name = example["name"]
        assert cjk.search(name["zh"]) and name["zh"] != name["en"], source
        assert not cjk.search(name["en"]), source

def test_the_scenarios_command_prints_a_table_and_fails_on_a_wrong_expectation(sqlite_app, tmp_path):
    runner = sqlite_app.test_cli_runner()
    result = runner.invoke(args=["scenarios", "run"])
    assert result.exit_code == 0, result.output
    assert "PASS  fixtures/situations/reversal_crisis_test.yaml" in result.output
    assert result.output.strip().endswith(" passed, 0 failed")

    wrong = tmp_path / "wrong_test.yaml"
    wrong.write_text(
        "now: 2026-02-10T10:00:00+08:00\n"
        "cases:\n"
        "  - name: a pregnant employee's Art. 40 notice wrongly expected to be allowed\n"
        "    request:\n"
        "      employee: {id: E1, gender: female, pregnancy: {status: pregnant}, children: [],"
        " medical_treatment: {status: none}}\n"
        "      action: {type: terminate_with_notice}\n"
        "    expected: {verdict: allow}\n", encoding="utf-8")
    result = runner.invoke(args=["scenarios", "run", str(wrong)])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "verdict: expected allow, got deny" in result.output
