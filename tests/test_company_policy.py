"""POL-SEP-6.2 is built from YAML alone (issue 25): "HR may not execute an offboarding less than 3
working days after the resignation was approved, unless the employee asked in writing for an
earlier date". Its clause (citations/policy.yaml), its request field and its declared working-days
derivation (facts/company_policy.yaml) and its rule with examples (process/offboarding_wait.yaml)
are all the policy is: without them the same tree loads and lacks it, an edit to them moves its
verdicts, and no Python names it or its facts."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from click.testing import CliRunner
from marshmallow import ValidationError

from service import PROJECT_ROOT
from service.decide.evaluation import evaluate
from service.decide.rulebook import load_rulebook
from service.tools.rule_cli import rules_group
from service.tools.scenarios import rule_example_cases, run_rule_example

RULE = "process.offboarding.too-soon-after-approval"
FIELD = "action.earlier_date_requested_in_writing"
DERIVED = "derived.offboarding.working_days_since_approval"
CLAUSE_START = "\n  # ---- 离职手续办理规程 第六条"


def _request(as_of: str, **action) -> dict:
    return {"as_of": as_of, "employee": {"id": "E1", "gender": "male"},
            "action": {"type": "execute_offboarding", "actor": {"id": "HR7", "role": "hr"}, **action},
            "case": {"id": "SEP-1", "kind": "resignation", "events": [
                {"type": "resignation_submitted", "at": "2026-02-26T09:00:00+08:00",
                 "actor": {"id": "E1", "role": "employee"}, "form": "written"},
                {"type": "resignation_approved", "at": "2026-03-02T09:00:00+08:00",
                 "actor": {"id": "M3", "role": "manager"}}]}}


def _outcome(book, body: dict) -> dict:
    answer = evaluate(book, book.request_schema().load(body))
    return next(c for c in answer.checked if c["rule_id"] == RULE)


@pytest.fixture(scope="module")
def shipped():
    book = load_rulebook(PROJECT_ROOT / "rules")
    yield book
    book.engine.close()


def test_the_shipped_policy_warns_citing_pol_sep_6_2_and_its_examples_pass(shipped):
    rule = next(r for r in shipped.rules.values() if r.id == RULE)
    assert rule.verdict == "warn" and [c["ref"] for c in rule.citations] == ["POL-SEP-6.2"]
    assert shipped.vocabulary[DERIVED].derive == {
        "working_days_between": ["derived.case.approvals.resignation_completed_on", "as_of"]}
    examples = [(name, r, e) for name, r, e in rule_example_cases(shipped) if r.id == RULE]
    assert len(examples) == 6
    assert all(run_rule_example(shipped, r, e, name).passed for name, r, e in examples)
    answer = evaluate(shipped, shipped.request_schema().load(_request("2026-03-04", earlier_date_requested_in_writing=False)))
    [finding] = [f for f in answer.findings if f["rule_id"] == RULE]
    assert finding["outcome"] == "fired" and finding["citations"][0]["ref"] == "POL-SEP-6.2"
    assert "approved on 2026-03-02" in finding["message"]["en"] and "2026-03-02获批" in finding["message"]["zh"]
    assert _outcome(shipped, _request("2026-03-05", earlier_date_requested_in_writing=False))["outcome"] == "cleared"
    assert _outcome(shipped, _request("2026-03-04", earlier_date_requested_in_writing=True))["outcome"] == "cleared"
    unknown = [f for f in evaluate(shipped, shipped.request_schema().load(_request("2026-03-04"))).findings
               if f["rule_id"] == RULE]
    assert [(f["outcome"], f["missing_facts"]) for f in unknown] == [("unknown", [FIELD])]


def test_the_tree_without_its_yaml_loads_and_lacks_it(tmp_path):
    root = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", root)
    (root / "facts" / "company_policy.yaml").unlink()
    (root / "process" / "offboarding_wait.yaml").unlink()
    policy = root / "citations" / "policy.yaml"
    text = policy.read_text(encoding="utf-8")
    policy.write_text(text[:text.index(CLAUSE_START)] + "\n", encoding="utf-8")
    result = CliRunner().invoke(rules_group, ["lint", "--rules-dir", str(root)])
    assert result.exit_code == 0, result.output
    book = load_rulebook(root)
    try:
        assert RULE not in {r.id for r in book.rules.values()}
        assert FIELD not in book.vocabulary and DERIVED not in book.vocabulary
        assert "POL-SEP-6.2" not in book.citations
        with pytest.raises(ValidationError) as refused:  # the request field went with its YAML
            book.request_schema().load(_request("2026-03-04", earlier_date_requested_in_writing=False))
        assert refused.value.messages == {"action": {"earlier_date_requested_in_writing": ["Unknown field."]}}
    finally:
        book.engine.close()


def test_its_behaviour_is_the_yaml_an_edit_moves_it(tmp_path):
    root = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", root)
    rule_file = root / "process" / "offboarding_wait.yaml"
    text = rule_file.read_text(encoding="utf-8")
    assert "working_days_since_approval: {lt: 3}" in text
    rule_file.write_text(text.replace("working_days_since_approval: {lt: 3}", "working_days_since_approval: {lt: 5}"),
                         encoding="utf-8")
    book = load_rulebook(root)
    try:  # Thu 5 Mar is the 3rd working day after the approval: within a 5-day wait
        assert _outcome(book, _request("2026-03-05", earlier_date_requested_in_writing=False))["outcome"] == "fired"
        assert _outcome(book, _request("2026-03-09", earlier_date_requested_in_writing=False))["outcome"] == "cleared"
    finally:
        book.engine.close()


def test_no_python_names_the_policy_or_its_facts():
    found = subprocess.run(["git", "grep", "-l", "-e", "POL-SEP-6.2", "-e", "earlier_date_requested_in_writing",
                            "-e", "working_days_since_approval", "-e", "too-soon-after-approval", "--", "*.py",
                            ":!tests/"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    assert found.returncode == 1 and found.stdout == "", found.stdout
