"""A fixture or example that proves nothing is refused (issue 25): switching off a rule it asserts
must change the verdict it shows (service/tools/scenarios.py `unproven`, rules/README.md section 4)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from service.decide.gate import run_gate
from service.decide.rulebook import load_rulebook
from service.tools.rule_cli import rules_group
from service.tools.scenarios import run_scenarios, unproven

SELF_APPROVAL = """now: 2026-03-02T10:00:00+08:00
cases:
  - name: A manager approves %s
    request:
      employee: {id: %s, gender: male, department: ENG, medical_treatment: {status: none, special_disease: false}}
      action: {type: approve_resignation, actor: {id: M3, role: manager, department: ENG}}
      case:
        id: SEP-1
        kind: resignation
        events:
          - {type: resignation_submitted, at: "2026-02-27T09:00:00+08:00", actor: {id: M3, role: %s}, form: written}
    expected: {verdict: deny, rule_ids: [%s]%s}
"""
BOTH = "process.sod.no-self-approval, process.sod.no-approval-about-oneself"


def finding(rule_id: str, verdict: str, outcome: str = "fired") -> dict:
    return {"rule_id": rule_id, "verdict": verdict, "outcome": outcome}


def run_fixture(rules_dir, tmp_path, text: str):
    path = tmp_path / "sod_test.yaml"
    path.write_text(text, encoding="utf-8")
    book = load_rulebook(rules_dir)
    try:
        [result] = run_scenarios(book, [path], examples=False)
    finally:
        book.engine.close()
    return result


@pytest.mark.parametrize("whose, employee, role, rule_ids, extra, passes", [
    # Their own resignation: both clauses deny, each alone; switching off either leaves the deny.
    ("their own resignation", "M3", "employee", BOTH, "", False),
    ("their own resignation", "M3", "employee", BOTH, f", independent: [{BOTH}]", True),
    # Isolated: a resignation they recorded for someone else is the self-approval clause alone.
    ("a resignation they submitted for E1", "E1", "manager", "process.sod.no-self-approval", "", True),
])
def test_a_fixture_whose_verdict_another_rule_gives_anyway_proves_nothing(
        rules_copy, tmp_path, whose, employee, role, rule_ids, extra, passes):
    result = run_fixture(rules_copy, tmp_path, SELF_APPROVAL % (whose, employee, role, rule_ids, extra))
    assert result.passed is passes, result.problems
    if not passes:
        assert result.problems == [
            f"proves nothing for {a}: switched off, the check still gives deny by {b} — isolate the protection "
            f"(give the facts that rule it out), or, if each gives the verdict on its own, list both under "
            f"`independent:` (rules/README.md, section 4)"
            for a, b in (("process.sod.no-approval-about-oneself", "process.sod.no-self-approval"),
                         ("process.sod.no-self-approval", "process.sod.no-approval-about-oneself"))]


def test_rules_test_prints_why_a_case_proves_nothing(rules_copy, tmp_path):
    (tmp_path / "sod_test.yaml").write_text(SELF_APPROVAL % ("their own", "M3", "employee", BOTH, ""),
                                            encoding="utf-8")
    result = CliRunner().invoke(rules_group, ["test", "--rules-dir", str(rules_copy), "--fixtures", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "verdict: deny (as expected)" in result.output
    assert "proves nothing for process.sod.no-self-approval" in result.output, result.output


def test_an_example_another_rule_decides_is_refused_by_test_and_the_gate(rules_copy, tmp_path):
    """The example as it was: an employee approving their own resignation is also about oneself."""
    sod = rules_copy / "process/segregation_of_duties.yaml"
    text = sod.read_text(encoding="utf-8")
    old = ("employee: {id: E2, gender: male}\n"
           "          action: {type: approve_resignation, actor: {id: E1, role: employee}}")
    assert old in text
    sod.write_text(text.replace(old, old.replace("E2", "E1")), encoding="utf-8")
    book = load_rulebook(rules_copy)
    no_fixtures = tmp_path / "fixtures"  # the rule examples alone (tmp_path holds the rules, packs' fixtures too)
    no_fixtures.mkdir()
    try:
        gate = run_gate(book, no_fixtures)
    finally:
        book.engine.close()
    [failing] = gate.failing
    assert failing.case.endswith("process.sod.employee-role-scope::An employee approves a colleague's resignation")
    assert failing.problems[0].startswith("proves nothing for process.sod.employee-role-scope: switched off, the "
                                          "check still gives deny by process.sod.no-approval-about-oneself")


def test_a_warn_for_want_of_facts_does_not_keep_a_verdict():
    """Unknown warns are what the case does not know (`unknown:`), not what it shows."""
    findings = [finding("a", "warn"), finding("b", "warn", "unknown"), finding("c", "obligation")]
    assert unproven(findings, {"a", "b", "c"}) == []


def test_the_one_warn_of_a_deny_is_proven_and_a_second_is_not():
    findings = [finding("d", "deny"), finding("w", "warn")]
    assert unproven(findings, {"d", "w"}) == []
    findings.append(finding("x", "warn", "dates_differ"))   # a settled warn too
    assert [p.split(":")[0] for p in unproven(findings, {"d", "w", "x"})] == [
        "proves nothing for w", "proves nothing for x"]
    assert unproven(findings, {"d", "w", "x"}, independent=["w", "x"]) == []


def test_independent_names_only_rules_the_case_asserts_that_fired():
    findings = [finding("d", "deny"), finding("e", "deny"), finding("u", "warn", "unknown")]
    problems = unproven(findings, {"d", "e", "u"}, independent=["d", "e", "u"])
    assert problems == ["independent: u is not a deny or warn rule the check gives — list only rules "
                        "the case names under `fired`"]
