"""`rules lint|test|coverage|diff` and the improved `scenarios run` (service/tools/lint.py, coverage.py, diff.py, rule_cli.py)."""
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from service import PROJECT_ROOT
from service.tools.lint import lint
from service.decide.rulebook import load_rulebook
from service.tools.scenarios import load_fixture_cases, rule_example_cases, run_scenarios, verdict_changed
from tests.conftest import drop_citation_text

RULE_FILE = "labor_law/lcl_42_4_pregnancy_maternity_nursing.yaml"
REVERSAL = PROJECT_ROOT / "fixtures" / "situations" / "reversal_crisis_test.yaml"


def _mutate(rules_copy, old: str, new: str, file: str = RULE_FILE) -> None:
    path = rules_copy / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text not found in {file}: {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _soften_first_rule(rules_copy, file: str = RULE_FILE) -> None:
    """The file's first rule, a deny, becomes a warn, its examples with it (a rule must have an
    example of its own verdict)."""
    path = rules_copy / file
    text = path.read_text(encoding="utf-8")
    start = text.index("  - id: ")
    end = text.find("\n  - ", start + 1)
    end = len(text) if end == -1 else end
    rule = text[start:end].replace("verdict: deny", "verdict: warn", 1).replace("expect: deny", "expect: warn")
    path.write_text(text[:start] + rule + text[end:], encoding="utf-8")


def _line_of(path, needle: str, after: int = 0) -> int:
    """1-based line of the first line (after line `after`) containing needle."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if number > after and needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def _lint(runner, rules_dir):
    return runner.invoke(args=["rules", "lint", "--rules-dir", str(rules_dir)])


@pytest.fixture
def runner(sqlite_app):
    return sqlite_app.test_cli_runner()


# ---- lint -----------------------------------------------------------------------------------
# The lint tests break a rule file of their own, so they do not depend on the shipped rules' text.
PROBE_FILE = "process/lint_probe.yaml"
PROBE = """\
apiVersion: rules/v1
description: A rule file the lint tests break on purpose.
rules:
  - id: test.probe
    title: {zh: 测试, en: Probe}
    verdict: deny
    actions: [terminate_with_notice, terminate_economic_layoff]
    effective_from: 2008-01-01
    effective_to: 2019-12-31
    citations:
      - ref: LCL-42-4
    message: {zh: 测试, en: Probe}
    when:
      derived.separation.basis: {in: [with_notice, economic_layoff]}
      employee.gender: female
      any:
        - employee.pregnancy.status: pregnant
        - derived.nursing_period.active: true
    examples:
      - name: {zh: 触发, en: fires}
        request: &fires
          as_of: 2019-02-10
          employee: {id: E1, gender: female, pregnancy: {status: pregnant}, children: []}
          action: {type: terminate_with_notice}
        expect: deny
      - name: {zh: 男性员工不触发, en: silent for a man}
        request:
          <<: *fires
          employee: {id: E1, gender: male}
        expect: none

  - id: test.probe
    title: {zh: 测试, en: Probe (second version)}
    verdict: deny
    actions: [terminate_with_notice]
    effective_from: 2020-01-01
    citations:
      - ref: LCL-42-4
    message: {zh: 测试, en: Probe}
    when:
      derived.separation.basis: with_notice
      employee.pregnancy.status: pregnant
    examples:
      - name: {zh: 触发, en: fires}
        request: {as_of: 2026-02-10, employee: {id: E1, gender: female, pregnancy: {status: pregnant}},
                  action: {type: terminate_with_notice}}
        expect: deny
      - name: {zh: 不触发, en: silent}
        request: {as_of: 2026-02-10, employee: {id: E1, gender: female, pregnancy: {status: not_pregnant}},
                  action: {type: terminate_with_notice}}
        expect: none
"""


@pytest.fixture
def probe(rules_copy):
    """rules_copy with the probe file: a folder to lint, and the probe file's path."""
    path = rules_copy / PROBE_FILE
    path.write_text(PROBE, encoding="utf-8")
    return rules_copy


def _probe(rules_copy, old: str, new: str) -> None:
    _mutate(rules_copy, old, new, PROBE_FILE)


def _probe_line(rules_copy, needle: str, after: int = 0) -> int:
    return _line_of(rules_copy / PROBE_FILE, needle, after)


def test_the_shipped_rules_lint_clean(runner, rules_copy):
    result = _lint(runner, rules_copy)
    assert result.exit_code == 0, result.output
    assert " 0 error(s)" in result.output


def test_the_probe_lints_clean_and_its_examples_pass(probe):
    assert lint(probe).issues == []
    # The probe copies lcl-42-4.protected-period: beside it, the probe's deny would be given anyway
    # and its examples would prove nothing (tests/test_mutation.py).
    (probe / "labor_law/lcl_42_4_pregnancy_maternity_nursing.yaml").unlink()
    book = load_rulebook(probe)
    try:
        results = run_scenarios(book, [])
    finally:
        book.engine.close()
    own = [r for r in results if "::test.probe::" in r.source]
    assert len(own) == 4 and all(r.passed for r in own), [r.problems for r in own]


def test_a_typo_in_a_fact_name_is_reported_with_file_and_line(runner, probe):
    _probe(probe, "employee.gender: female", "employee.gendr: female")
    result = _lint(runner, probe)
    assert result.exit_code == 1
    line = _probe_line(probe, "employee.gendr: female")
    assert f"{PROBE_FILE}:{line}: error: rule test.probe when.employee.gendr: unknown fact 'employee.gendr'" \
        in result.output, result.output


def test_a_condition_that_cannot_parse_is_reported_with_file_and_line(runner, probe):
    _probe(probe, "{in: [with_notice, economic_layoff]}", "{contains: [with_notice]}")
    result = _lint(runner, probe)
    assert result.exit_code == 1
    line = _probe_line(probe, "{contains: [with_notice]}")
    assert f"{PROBE_FILE}:{line}: error: rule test.probe when.derived.separation.basis.contains: " \
           f"unknown operator 'contains'" in result.output, result.output


def test_a_yaml_syntax_error_in_a_condition_names_file_and_line(runner, probe):
    _probe(probe, "employee.gender: female", "employee.gender: [female")
    result = _lint(runner, probe)
    assert result.exit_code == 1
    [issue] = lint(probe).errors
    assert issue.file == PROBE_FILE and issue.field == "yaml"
    assert issue.line is not None and issue.line >= _probe_line(probe, "employee.gender: [female"), issue
    assert f"{PROBE_FILE}:{issue.line}: error:" in result.output


def test_a_missing_citation_text_is_reported_on_its_entry_without_a_cascade(runner, rules_copy):
    path = drop_citation_text(rules_copy, "LCL-42-4")
    result = _lint(runner, rules_copy)
    assert result.exit_code == 1
    line = _line_of(path, "  LCL-42-4:")
    assert f"citations/labor_law.yaml:{line}: error: citations.LCL-42-4.value.text: Missing data" in result.output
    # The whole catalog file is refused, but the refs it defines are not each reported again.
    assert "unknown ref" not in result.output, result.output


def test_an_unknown_citation_ref_is_reported_on_its_line(probe):
    _probe(probe, "      - ref: LCL-42-4\n    message: {zh: 测试, en: Probe}\n    when:\n      derived.separation.basis: with_notice",
           "      - ref: LCL-42-99\n    message: {zh: 测试, en: Probe}\n    when:\n      derived.separation.basis: with_notice")
    [issue] = lint(probe).errors
    assert (issue.rule_id, issue.field, issue.line) == ("test.probe", "citations.0.ref", _probe_line(probe, "LCL-42-99"))


def test_overlapping_effective_dates_are_reported_on_the_later_version(runner, probe):
    _probe(probe, "effective_from: 2020-01-01", "effective_from: 2019-06-01")
    result = _lint(runner, probe)
    assert result.exit_code == 1
    line = _probe_line(probe, "effective_from: 2019-06-01")
    assert f"{PROBE_FILE}:{line}: error: rule test.probe effective_from: overlaps the version in force from " \
           f"2008-01-01" in result.output, result.output


def test_a_duplicate_id_is_reported(probe):
    _probe(probe, "effective_from: 2020-01-01", "effective_from: 2008-01-01")
    errors = lint(probe).errors
    assert any(i.field == "id" and "duplicate id" in i.reason and i.line == _probe_line(probe, "- id: test.probe", 10)
               for i in errors), [str(i) for i in errors]


def test_a_gap_between_versions_is_a_warning_and_exits_zero(runner, probe):
    _probe(probe, "effective_from: 2020-01-01", "effective_from: 2020-03-01")
    result = _lint(runner, probe)
    assert result.exit_code == 0, result.output
    line = _probe_line(probe, "effective_from: 2020-03-01")
    assert f"{PROBE_FILE}:{line}: warning: rule test.probe effective_from: gap: no version of this rule is in " \
           f"force from 2020-01-01 to 2020-02-29" in result.output, result.output
    assert "0 error(s), 1 warning(s)" in result.output


def test_effective_to_before_effective_from_is_an_error(probe):
    _probe(probe, "effective_to: 2019-12-31", "effective_to: 2007-12-31")
    [issue] = lint(probe).errors
    assert (issue.rule_id, issue.field, issue.line) == ("test.probe", "effective_to",
                                                        _probe_line(probe, "effective_to: 2007-12-31"))


@pytest.mark.parametrize("old, new, needle, reason", [
    # the same fact must equal two values
    ("employee.gender: female\n", "employee.gender: female\n      all:\n        - employee.gender: male\n",
     "- employee.gender: male", "no value of employee.gender is = 'female' and = 'male' at once"),
    # `in` lists whose intersection is empty
    ("employee.gender: female\n",
     "employee.gender: female\n      all:\n        - derived.separation.basis: {in: [for_cause, mutual_agreement]}\n",
     "{in: [for_cause, mutual_agreement]}", "no value of derived.separation.basis is in"),
    # a condition on action.type that the rule's `actions` scope excludes
    ("employee.gender: female\n", "employee.gender: female\n      action.type: terminate_for_cause\n",
     "action.type: terminate_for_cause", "(the rule's actions) and = 'terminate_for_cause'"),
    # a fact and its negation (`not:` is pushed down to the test it negates)
    ("employee.gender: female\n", "employee.gender: female\n      not:\n        employee.gender: {eq: female}\n",
     "employee.gender: {eq: female}", "no value of employee.gender is = 'female' and != 'female' at once"),
    # an actions scope whose actions never derive the separation basis the condition tests
    ("actions: [terminate_with_notice, terminate_economic_layoff]", "actions: [approve_resignation, edit_employee_record]",
     "{in: [with_notice, economic_layoff]}",
     "the actions in scope (approve_resignation, edit_employee_record) give ['none']"),
])
def test_a_rule_that_can_never_fire_is_an_error(probe, old, new, needle, reason):
    _probe(probe, old, new)
    errors = lint(probe).errors
    assert len(errors) == 1, [str(e) for e in errors]
    [issue] = errors
    assert issue.rule_id == "test.probe" and "can never fire" in issue.reason and reason in issue.reason, issue
    assert issue.line == _probe_line(probe, needle), issue


def test_an_alternative_that_can_never_hold_is_a_warning(probe):
    _probe(probe, "        - employee.pregnancy.status: pregnant\n",
           "        - employee.pregnancy.status: pregnant\n          action.type: review_case\n")
    report = lint(probe)
    assert report.ok, [str(i) for i in report.errors]
    [warning] = report.warnings
    assert warning.field == "when.any[0]" and "can never hold" in warning.reason
    assert warning.line == _probe_line(probe, "- employee.pregnancy.status: pregnant")


def test_an_example_the_contract_refuses_is_an_error(probe):
    _probe(probe, "pregnancy: {status: pregnant}, children: []}", "pregnacy: {status: pregnant}, children: []}")
    [issue] = lint(probe).errors
    assert issue.field == "examples.0.request.employee.pregnacy" and "Unknown field" in issue.reason
    assert issue.line == _probe_line(probe, "pregnacy:")


def test_a_new_request_fact_needs_no_schema_change(rules_copy):
    # The request schemas are built from the vocabulary (issue 20): declaring the field is enough.
    _mutate(rules_copy, "  employee.gender:", "  employee.sex:\n    type: enum\n    values: [female, male]\n"
                                              "    source: request\n  employee.gender:", "facts/core.yaml")
    assert lint(rules_copy).errors == []


@pytest.mark.parametrize("name, reason", [
    ("employee.region", "employee.region is already a field of the check request, declared in schemas/"),
    ("employee.children.count", "employee.children is a field of the check request (schemas/), not an object"),
])
def test_a_request_fact_on_a_field_schemas_declares_is_an_error(rules_copy, name, reason):
    _mutate(rules_copy, "  employee.gender:", f"  {name}:\n    type: string\n"
                                              "    source: request\n  employee.gender:", "facts/core.yaml")
    [issue] = lint(rules_copy).errors
    assert issue.file == "facts/core.yaml" and issue.field == f"facts.{name}" and reason in issue.reason
    assert issue.line == _line_of(rules_copy / "facts" / "core.yaml", f"{name}:")


@pytest.mark.parametrize("inputs", ["employee.childbirth", "employee.childbirth.weight", "derived.probation.active"])
def test_inputs_that_are_not_fields_of_the_request_are_an_error(rules_copy, inputs):
    # A warn names them to the EHR as what to send: a field it can fill in, not an object or a fact
    # (a fact's name the vocabulary itself refuses to load).
    _mutate(rules_copy, "inputs: [employee.contract.probation_end, employee.contract.in_probation, employee.hire_date,",
            f"inputs: [{inputs}, employee.contract.in_probation, employee.hire_date,", "facts/labor_law.yaml")
    [issue] = lint(rules_copy).errors
    assert issue.file == "facts/labor_law.yaml" and issue.field.startswith("facts.derived.probation.active")
    assert (inputs in issue.reason and "not a field of the check request" in issue.reason) \
        or (inputs.startswith("derived.") and "inputs must list request fields" in issue.reason)


def test_a_bad_vocabulary_file_is_placed_on_the_fact(rules_copy):
    _mutate(rules_copy, "  employee.gender:\n    type: enum", "  employee.gender:\n    type: enumeration", "facts/core.yaml")
    [issue] = lint(rules_copy).errors
    assert issue.file == "facts/core.yaml" and issue.field == "facts.employee.gender" and "type must be" in issue.reason
    assert issue.line == _line_of(rules_copy / "facts" / "core.yaml", "  employee.gender:")


def test_a_yml_file_is_reported_as_never_read(probe):
    shutil.copy(probe / PROBE_FILE, probe / "process" / "copy.yml")
    report = lint(probe)
    assert report.ok and any(w.file == "process/copy.yml" and "not read" in w.reason for w in report.warnings)


def test_lint_runs_without_the_app_on_rules_too_broken_to_start(probe):
    _probe(probe, "verdict: deny", "verdict: forbid")
    done = subprocess.run([sys.executable, "-m", "service.tools.rule_cli", "lint", "--rules-dir", str(probe)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    line = _probe_line(probe, "verdict: forbid")
    assert f"{PROBE_FILE}:{line}: error: rule test.probe verdict: Must be one of" in done.stdout, done.stdout


# ---- test -----------------------------------------------------------------------------------
def test_rules_test_writes_junit_with_the_right_counts(runner, rules_copy, tmp_path):
    wrong = tmp_path / "wrong_test.yaml"
    wrong.write_text(
        "now: 2026-02-10T10:00:00+08:00\n"
        "cases:\n"
        "  - name: pregnant employee's Art. 40 notice wrongly expected to be allowed\n"
        "    request:\n"
        "      employee: {id: E1, gender: female, pregnancy: {status: pregnant}, children: [],"
        " medical_treatment: {status: none}}\n"
        "      action: {type: terminate_with_notice}\n"
        "    expected: {verdict: allow, rule_ids: [], citations: [LCL-42-4, LCL-99]}\n", encoding="utf-8")
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    result = runner.invoke(args=["rules", "test", "--rules-dir", str(rules_copy), "--fixtures", str(REVERSAL),
                                 "--fixtures", str(wrong), "--junit", str(junit)])
    assert result.exit_code == 1, result.output
    book = load_rulebook(rules_copy)
    examples = len(rule_example_cases(book))
    book.engine.close()
    cases = len(load_fixture_cases(REVERSAL)) + 1
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    assert (int(root.get("tests")), int(root.get("failures"))) == (examples + cases, 1)
    assert sum(int(s.get("tests")) for s in root) == examples + cases
    [failure] = root.iter("failure")
    assert "verdict: expected allow, got deny" in failure.get("message")
    assert "- citation LCL-99" in failure.text
    # The table: a readable diff of the failure; progress went to stderr.
    assert "FAIL  " in result.stdout and "verdict: expected allow, got deny" in result.stdout
    assert "- citation LCL-99   (expected, not cited)" in result.stdout
    assert "+ rule lcl-42-4.protected-period   (fired, not expected)" in result.stdout
    assert f"... 25/{examples + cases}" in result.stderr
    assert result.stdout.strip().endswith(f"{examples + cases - 1} passed, 1 failed")


def test_rules_test_passes_on_the_shipped_rules(runner, tmp_path):
    junit = tmp_path / "junit.xml"
    result = runner.invoke(args=["rules", "test", "--fixtures", str(REVERSAL), "--junit", str(junit)])
    assert result.exit_code == 0, result.output
    assert ET.parse(junit).getroot().get("failures") == "0"


def test_rules_test_on_a_broken_rule_set_prints_the_problems(runner, rules_copy):
    _mutate(rules_copy, "verdict: deny", "verdict: forbid")
    result = runner.invoke(args=["rules", "test", "--rules-dir", str(rules_copy)])
    assert result.exit_code == 1
    assert "verdict: Must be one of" in result.stderr and "nothing was run" in result.stderr


# ---- coverage -------------------------------------------------------------------------------
NEVER_EXERCISED = """\
apiVersion: rules/v1
description: A rule whose only firing example is wrong (it starts after the example's date).
rules:
  - id: process.test.never-exercised
    title: {zh: 测试, en: Test rule}
    verdict: warn
    actions: [review_case]
    effective_from: 2030-01-01
    citations:
      - ref: POL-TEST-1
    message: {zh: 测试, en: Test}
    when:
      employee.gender: female
    examples:
      - name: {zh: 触发（但尚未生效）, en: fires (but it is not in force yet)}
        request: {as_of: 2026-02-10, employee: {id: E1, gender: female}, action: {type: review_case}}
        expect: warn
      - name: {zh: 不触发, en: silent}
        request: {as_of: 2026-02-10, employee: {id: E1, gender: male}, action: {type: review_case}}
        expect: none
"""
POLICY_ENTRY = """\
  POL-TEST-1:
    law: 测试制度
    law_en: Test policy
    article: "1"
    text: 测试条款。
    effective_from: 2024-01-01
    source: test
"""


def test_coverage_lists_an_added_never_exercised_rule_and_its_citation(runner, rules_copy):
    (rules_copy / "process" / "never_exercised.yaml").write_text(NEVER_EXERCISED, encoding="utf-8")
    policy = rules_copy / "citations" / "policy.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").rstrip("\n") + "\n" + POLICY_ENTRY, encoding="utf-8")
    result = runner.invoke(args=["rules", "coverage", "--rules-dir", str(rules_copy), "--fixtures", str(REVERSAL)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    rules_part, citations_part = out.split("Citations no fired rule cites")
    assert "process.test.never-exercised@2030-01-01" in rules_part
    assert "process/never_exercised.yaml" in rules_part
    assert "lcl-42-4.protected-period@2008-01-01" not in rules_part
    assert "POL-TEST-1" in citations_part and "LCL-42-4 " not in citations_part
    assert "Totals: rule versions " in out and "1 failing" in out


# ---- diff -----------------------------------------------------------------------------------
def test_diff_between_two_folders_lists_changed_rules_and_changed_fixture_verdicts(runner, rules_copy, tmp_path):
    _mutate(rules_copy, "verdict: deny", "verdict: warn")   # lcl-42-4.protected-period
    # A rule needs an example of its own verdict to load: its first example now expects a warn.
    _mutate(rules_copy, "expect: deny", "expect: warn")
    _mutate(rules_copy, "verdict: warn", "verdict: obligation", "process/closed_loop_withdrawal.yaml")
    _mutate(rules_copy, "expect: warn", "expect: obligation", "process/closed_loop_withdrawal.yaml")
    _mutate(rules_copy, "      employee.gender: female\n", "      employee.gender: {in: [female]}\n")
    (rules_copy / "process" / "never_exercised.yaml").write_text(NEVER_EXERCISED, encoding="utf-8")
    policy = rules_copy / "citations" / "policy.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").rstrip("\n") + "\n" + POLICY_ENTRY, encoding="utf-8")
    result = runner.invoke(args=["rules", "diff", str(PROJECT_ROOT / "rules"), str(rules_copy),
                                 "--fixtures", str(REVERSAL)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Rules added (1):" in out and "+ process.test.never-exercised@2030-01-01" in out
    assert "Rules removed (0):" in out
    assert "verdict: deny -> warn" in out
    assert "~ lcl-42-4.protected-period@2008-01-01" in out and "condition, verdict" in out
    assert "condition: employee.gender: female -> {in: [female]}" in out
    assert "~ process.withdrawal-pending@" in out and "verdict: warn -> obligation" in out
    assert "+ POL-TEST-1" in out
    # The rule's own examples turn from deny to warn.
    assert "VERDICT  labor_law/lcl_42_4_pregnancy_maternity_nursing.yaml::lcl-42-4.protected-period::" \
           "Pregnant employee given Art. 40 notice" in out
    assert "deny  ->  warn" in out


def test_diff_on_a_set_that_does_not_load_says_so_instead_of_listing_its_rules_as_removed(runner, rules_copy):
    # A typo in the condition two versions share, a file that does not parse, and a file really deleted.
    _mutate(rules_copy, "      derived.union.exists: true\n      action.union_notified",
            "      derived.union.exist: true\n      action.union_notified", "labor_law/lcl_43_union_notice.yaml")
    _mutate(rules_copy, "  - id: process.sod.manager-no-record-changes", "  - id: [process.sod.manager",
            "process/segregation_of_duties.yaml")
    deleted = load_rulebook(PROJECT_ROOT / "rules")
    try:
        gone = sorted(r.key for r in deleted.rules.values() if r.file == "labor_law/lcl_42_2_work_injury.yaml")
        sod = sorted(r.key for r in deleted.rules.values() if r.file == "process/segregation_of_duties.yaml")
    finally:
        deleted.engine.close()
    (rules_copy / "labor_law" / "lcl_42_2_work_injury.yaml").unlink()
    result = runner.invoke(args=["rules", "diff", str(PROJECT_ROOT / "rules"), str(rules_copy),
                                 "--fixtures", str(REVERSAL)])
    assert result.exit_code == 1, result.output
    out = result.stdout
    union = rules_copy / "labor_law" / "lcl_43_union_notice.yaml"
    assert "NEW does not load (2 problem(s)); outcomes were not compared:" in out
    assert (f"  labor_law/lcl_43_union_notice.yaml:{_line_of(union, 'derived.union.exist:')}: error: rule "
            "lcl-43.union-not-notified@2008-01-01, lcl-43.union-not-notified@2022-01-01: "
            "when.derived.union.exist: unknown fact") in out
    # Where the YAML parser gave up: the line after the unclosed bracket.
    sod_file = rules_copy / "process" / "segregation_of_duties.yaml"
    assert f"  process/segregation_of_duties.yaml:{_line_of(sod_file, '[process.sod.manager') + 1}: error: yaml: " in out
    unloadable = out.split("Rules that do not load in NEW (", 1)[1].split("Rules added", 1)[0]
    listed = sorted(line.split()[1] for line in unloadable.splitlines() if line.startswith("  ! "))
    assert listed == sorted(["lcl-43.union-not-notified@2008-01-01", "lcl-43.union-not-notified@2022-01-01", *sod])
    assert unloadable.startswith(f"{len(listed)}), neither added nor removed:")
    removed = out.split("Rules removed (", 1)[1].split("Rules changed", 1)[0]
    assert removed.startswith(f"{len(gone)}):") and gone
    assert sorted(line.split()[1] for line in removed.splitlines() if line.startswith("  - ")) == gone


def test_diff_against_a_set_whose_facts_do_not_load_compares_no_rule(rules_copy):
    from service.tools.diff import Side, diff

    (rules_copy / "facts" / "labor_law.yaml").write_text("facts: [not a mapping\n", encoding="utf-8")
    report = diff(Side("old", PROJECT_ROOT / "rules", None), Side("new", rules_copy, None), [REVERSAL])
    assert report.new_loads_nothing and not report.ok
    assert report.removed == [] and report.added == [] and report.changed == []
    assert len(report.new_unloaded) > 50


def test_diff_lists_the_fixtures_whose_verdict_changes(rules_copy):
    from service.tools.diff import Side, diff

    _mutate(rules_copy, "derived.separation.basis: {in: [with_notice, economic_layoff, non_renewal, void_resignation]}\n"
                        "      employee.gender: female",
            "derived.separation.basis: {in: [with_notice, economic_layoff, non_renewal]}\n      employee.gender: female")
    _mutate(rules_copy, "verdict: deny", "verdict: warn", "process/closed_loop_withdrawal.yaml")
    _mutate(rules_copy, "expect: deny", "expect: warn", "process/closed_loop_withdrawal.yaml")
    report = diff(Side("old", PROJECT_ROOT / "rules", None), Side("new", rules_copy, None), [REVERSAL])
    assert [c.id for c in report.changed] == ["lcl-42-4.protected-period", "process.withdrawn-resignation-executed"]
    assert report.changed[0].fields == ["condition"] and report.changed[1].fields == ["verdict", "examples"]
    changed = {o.source: o for o in report.outcomes}
    last = [s for s in changed if s.startswith("fixtures/situations/reversal_crisis_test.yaml::")]
    assert last, list(changed)
    o = changed[last[-1]]
    assert o.verdict_changed and o.old["verdict"] == "deny" and o.new["verdict"] == "warn"
    assert "lcl-42-4.protected-period" in o.old["rule_ids"] and "lcl-42-4.protected-period" not in o.new["rule_ids"]


def test_diff_between_a_git_revision_and_a_folder(runner, rules_copy):
    head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    listing = subprocess.run(["git", "-C", str(PROJECT_ROOT), "ls-tree", "--name-only", "HEAD", f"rules/{RULE_FILE}"],
                             capture_output=True, text=True).stdout
    if not listing.strip():
        pytest.skip(f"{RULE_FILE} is not committed")
    _soften_first_rule(rules_copy)
    result = runner.invoke(args=["rules", "diff", head.stdout.strip(), str(rules_copy), "--fixtures", str(REVERSAL)])
    assert f"OLD {head.stdout.strip()} ({head.stdout.strip()[:12]})" in result.stdout, result.output
    if result.exit_code != 0 and "OLD does not load" in result.stdout:
        pytest.skip(f"HEAD's rules do not load with this code: {result.stdout[:500]}")
    assert result.exit_code == 0, result.output
    changed = result.stdout.split("Rules changed", 1)[1]
    assert "~ lcl-42-4.protected-period@2008-01-01" in changed and "verdict: deny -> warn" in changed


def test_diff_names_fixtures_as_they_read_in_the_checkout_not_by_a_temporary_path(runner, tmp_path):
    checkout = tmp_path / "checkout"
    shutil.copytree(PROJECT_ROOT / "rules", checkout / "rules")
    (checkout / "fixtures" / "situations").mkdir(parents=True)
    shutil.copy(REVERSAL, checkout / "fixtures" / "situations" / REVERSAL.name)
    _soften_first_rule(checkout / "rules")
    _soften_first_rule(checkout / "rules", "process/closed_loop_withdrawal.yaml")
    result = runner.invoke(args=["rules", "diff", str(PROJECT_ROOT), str(checkout)])
    assert "VERDICT  fixtures/situations/reversal_crisis_test.yaml::" in result.stdout, result.output
    outcomes = result.stdout.split("Outcomes that change", 1)[1]
    assert str(tmp_path) not in outcomes


def test_resolve_side_extracts_rules_and_fixtures_of_a_revision(tmp_path):
    from service.tools.diff import resolve_side

    if subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    side = resolve_side("HEAD", tmp_path)
    assert (side.rules / "facts" / "core.yaml").is_file()
    assert side.fixtures is None or side.fixtures.is_dir()
    with pytest.raises(ValueError, match="neither a folder nor a git revision"):
        resolve_side("no-such-revision-xyz", tmp_path)


def _offboarding_case(client, case_id: str, pregnancy: str) -> None:
    """A non-renewal case in offboarding; the employee facts last given for it (here, with a
    check naming the case two days later) are kept sealed for its re-check."""
    from tests.conftest import KNOWN_EMPLOYEE_FACTS

    employee = {**KNOWN_EMPLOYEE_FACTS, "id": f"E-{case_id}", "gender": "female", "children": [],
                "pregnancy": {"status": "not_pregnant"},
                "contract": {"type": "fixed_term", "end_date": "2026-01-20", "in_probation": False,
                             "consecutive_fixed_terms": 1}}
    started = client.post(f"/v1/cases/{case_id}/events", json={
        "client_key": case_id, "case": {"kind": "non_renewal", "hr_owner_id": "HR7"}, "employee": employee,
        "event": {"type": "offboarding_started", "at": "2026-01-20T09:00:00+08:00",
                  "actor": {"id": "HR7", "role": "hr"}}})
    assert started.status_code == 201 and started.get_json()["case"]["status"] == "offboarding", started.get_json()
    told = client.post("/v1/checks", json={"as_of": "2026-01-22", "case_id": case_id,
                                           "employee": {**employee, "pregnancy": {"status": pregnancy}},
                                           "action": {"type": "edit_employee_record", "actor": {"id": "HR9", "role": "hr"}}})
    assert told.status_code == 200, told.get_json()


def test_diff_lists_the_open_cases_whose_next_step_verdict_moves_and_no_other(sqlite_app, runner, rules_copy):
    client = sqlite_app.test_client()
    _offboarding_case(client, "NR-PREGNANT", "pregnant")      # the offboarding is an Art. 42 deny
    _offboarding_case(client, "NR-NOT-PREGNANT", "not_pregnant")   # allowed, under either rule set
    _soften_first_rule(rules_copy)   # lcl-42-4.protected-period: deny -> warn
    result = runner.invoke(args=["rules", "diff", str(PROJECT_ROOT / "rules"), str(rules_copy),
                                 "--fixtures", str(REVERSAL), "--as-of", "2026-01-22"])
    assert result.exit_code == 0, result.output
    cases = result.stdout.split("\nOpen cases", 1)[1]
    assert cases.startswith(" whose next step's verdict changes (1 of 2 open case(s), decided as of 2026-01-22"), cases
    moved = [line.split() for line in cases.splitlines()[1:] if line.startswith("  ") and not line.startswith("    ")]
    assert moved == [["NR-PREGNANT", "execute_offboarding", "deny", "->", "warn"]], cases
    assert "NR-NOT-PREGNANT" not in cases
    # Case ids and verdicts only: never a fact the re-check keeps.
    assert "pregnant" not in cases.replace("NR-PREGNANT", "") and "2026-01-20" not in cases


def test_case_impact_names_cases_no_key_opens_and_leaves_closed_cases_out(sqlite_app, rules_copy):
    import datetime as dt

    from service.record.models import CaseRecheck
    from service.tools.case_impact import case_impact

    client = sqlite_app.test_client()
    _offboarding_case(client, "NR-PREGNANT", "pregnant")
    _offboarding_case(client, "NR-OTHER-KEY", "pregnant")
    _offboarding_case(client, "NR-DONE", "not_pregnant")
    done = client.post("/v1/cases/NR-DONE/events", json={
        "client_key": "NR-DONE-2", "employee": {"id": "E-NR-DONE"},
        "event": {"type": "offboarding_completed", "at": "2026-01-21T09:00:00+08:00", "actor": {"id": "HR7", "role": "hr"}}})
    assert done.status_code == 201 and done.get_json()["case"]["status"] == "offboarded", done.get_json()
    with sqlite_app.app_context(), sqlite_app.extensions["db_sessions"]() as session, session.begin():
        session.get(CaseRecheck, ("default", "NR-OTHER-KEY")).key_id = "0badc0de"   # sealed by a key no longer configured
    _soften_first_rule(rules_copy)
    old, new = load_rulebook(PROJECT_ROOT / "rules"), load_rulebook(rules_copy)
    try:
        with sqlite_app.app_context(), sqlite_app.extensions["db_sessions"]() as session:
            impact = case_impact(session, old, new, dt.date(2026, 1, 22))
    finally:
        old.engine.close()
        new.engine.close()
    assert impact.open_cases == 2 and impact.skipped == ["NR-OTHER-KEY"]
    [moved] = impact.changes
    assert (moved.case_id, moved.old.step, moved.old.verdict, moved.new.verdict) == \
        ("NR-PREGNANT", "execute_offboarding", "deny", "warn")
    assert "lcl-42-4.protected-period" in moved.old.rule_ids


def test_diff_without_a_database_says_so_and_still_reports_the_fixtures(rules_copy):
    _soften_first_rule(rules_copy)
    done = subprocess.run([sys.executable, "-m", "service.tools.rule_cli", "diff", str(PROJECT_ROOT / "rules"),
                           str(rules_copy), "--fixtures", str(REVERSAL)],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "\nOutcomes that change (" in done.stdout and "deny  ->  warn" in done.stdout
    assert "\nOpen cases: not compared (no database configured: " in done.stdout


# ---- scenarios run --------------------------------------------------------------------------
def test_scenarios_run_as_of_overrides_every_request_and_writes_junit(runner, rulebook, tmp_path):
    results = run_scenarios(rulebook, [REVERSAL], as_of="2026-06-01", examples=False)
    assert results and all(r.actual.get("as_of") in (None, "2026-06-01") for r in results)
    assert any(not r.passed for r in results)  # the story's expectations were written for its own dates

    junit = tmp_path / "scenarios.xml"
    result = runner.invoke(args=["scenarios", "run", "--as-of", "2026-06-01", "--junit", str(junit), str(REVERSAL)])
    # A what-if is not a test: it says what would change, and exits 0.
    assert result.exit_code == 0, result.output
    root = ET.parse(junit).getroot()
    assert int(root.get("failures")) >= 1 and int(root.get("tests")) > 25
    assert "... 25/" in result.stderr
    changed = [r for r in results if not r.passed]
    verdicts = sum(verdict_changed(r) for r in changed)
    assert verdicts >= 1
    [summary] = [line for line in result.stdout.splitlines() if line.startswith("What if")]
    assert summary.startswith(f"What if every request were decided as of 2026-06-01: of "
                              f"{len(results) + len(rule_example_cases(rulebook))} case(s), "
                              f"{verdicts + _example_verdicts(rulebook)} verdict(s) would change, "), summary
    assert "failed" not in result.output and "FAIL" not in result.output
    assert "VERDICT  fixtures/situations/reversal_crisis_test.yaml::" in result.output

    result = runner.invoke(args=["scenarios", "run", "--as-of", "2026-02-30", str(REVERSAL)])
    assert result.exit_code == 2 and "2026-02-30" in result.output


def _example_verdicts(rulebook) -> int:
    from service.tools.scenarios import run_rule_example
    return sum(not run_rule_example(rulebook, rule, example, source, as_of="2026-06-01").passed
               for source, rule, example in rule_example_cases(rulebook))


def test_scenarios_run_takes_a_folder_as_the_readme_shows_and_prints_whole_names(runner, tmp_path):
    folder = tmp_path / "fixtures" / "nested"
    folder.mkdir(parents=True)
    shutil.copy(REVERSAL, folder / "reversal_crisis_test.yaml")
    long_name = "a case whose name is much longer than a terminal line " * 3
    (folder / "long_test.yaml").write_text(
        "now: 2026-02-10T10:00:00+08:00\ncases:\n"
        f"  - name: {long_name.strip()}\n"
        "    request:\n"
        "      employee: {id: E1, gender: male}\n"
        "      action: {type: review_case}\n"
        # Reviewing without the case: whether a step is overdue is unknown.
        "    expected: {verdict: warn, rule_ids: [process.sla.step-overdue], unknown: [process.sla.step-overdue]}\n",
        encoding="utf-8")
    junit = tmp_path / "out.xml"
    result = runner.invoke(args=["scenarios", "run", str(tmp_path / "fixtures"), "--junit", str(junit)])
    assert result.exit_code == 0, result.output
    assert long_name.strip() in result.output
    assert "reversal_crisis_test.yaml::" in result.output
    files = {suite.get("name").rsplit("/", 1)[-1] for suite in ET.parse(junit).getroot()}
    assert {"reversal_crisis_test.yaml", "long_test.yaml"} <= files
    missing = runner.invoke(args=["scenarios", "run", str(tmp_path / "no-such-folder")])
    assert missing.exit_code == 2 and "no-such-folder" in missing.output


def test_the_docs_quote_the_what_if_summary_of_the_shipped_fixtures_as_it_is(runner):
    import re
    readme = " ".join((PROJECT_ROOT / "docs" / "rules.md").read_text(encoding="utf-8").split())
    [(day, cases, verdicts)] = re.findall(
        r"`What if every request were decided as of (\S+): of (\d+) case\(s\), (\d+) verdict\(s\) would change", readme)
    result = runner.invoke(args=["scenarios", "run", str(PROJECT_ROOT / "fixtures"), "--as-of", day])
    assert result.exit_code == 0, result.output
    [summary] = [line for line in result.stdout.splitlines() if line.startswith("What if")]
    assert summary.startswith(f"What if every request were decided as of {day}: of {cases} case(s), "
                              f"{verdicts} verdict(s) would change, "), summary
