"""The legal team works alone (issue 25): each mistake a lawyer editing YAML made, made here in a
copy of the rules, is one message naming FILE:LINE with what to do, never a traceback, and the
rules do not load (so the start-up gate refuses them too)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from service import PROJECT_ROOT
from service.decide.rulebook import RuleLoadError, load_rulebook
from service.tools.rule_cli import rules_group

SH = "labor_law/parameters/maternity/regional_extension_days/CN-SH.yaml"
ERROR_LINE = re.compile(r"^(?P<file>\S+\.ya?ml):(?P<line>\d+): error: (?P<reason>.+)$")


def rules(*args) -> Result:
    return CliRunner().invoke(rules_group, list(map(str, args)))


def only_error(result, file: str, line: int) -> str:
    """The run failed with one message (at most five lines) naming file:line; its text."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [m for m in map(ERROR_LINE.match, result.output.splitlines()) if m]
    assert len(errors) == 1, result.output
    assert errors[0]["file"].endswith(file) and int(errors[0]["line"]) == line, result.output
    assert len(result.output.strip().splitlines()) <= 5, result.output
    return errors[0]["reason"]


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def refused(rules_dir: Path) -> list:
    """What load_rulebook (the start-up gate's first step) says of the rules."""
    with pytest.raises(RuleLoadError) as exc:
        load_rulebook(rules_dir).engine.close()
    return exc.value.problems


def test_a_parameter_value_with_words_is_refused_where_it_is_written(rules_copy):
    edit(rules_copy / SH, "value: 60\n", "value: 60天\n")
    reason = only_error(rules("lint", "--rules-dir", rules_copy), SH, 13)
    assert "'60天' is not a whole number of days (unit: day)" in reason and "write 60" in reason
    assert refused(rules_copy)


def test_a_table_cell_that_does_not_fit_the_unit_is_refused(rules_copy):
    table = "labor_law/parameters/medical_treatment/entitlement_table.yaml"
    edit(rules_copy / table, "years_with_employer: {min: 0, below: 5}, months: 3}",
         "years_with_employer: {min: 0, below: 5}, months: 3个月}")
    reason = only_error(rules("lint", "--rules-dir", rules_copy), table, 14)
    assert "'3个月' in the table is not a whole number of months" in reason


def test_an_unknown_unit_is_refused_with_did_you_mean(rules_copy):
    edit(rules_copy / SH, "unit: day", "unit: days")
    reason = only_error(rules("lint", "--rules-dir", rules_copy), SH, 13)
    assert "unit 'days'" in reason and "did you mean day?" in reason


def test_a_date_key_that_is_not_iso_is_one_message_in_lint_and_test(rules_copy, tmp_path):
    edit(rules_copy / SH, "2021-11-25:", "2021-11-3:")
    for command in (("lint",), ("test", "--fixtures", tmp_path)):
        reason = only_error(rules(*command, "--rules-dir", rules_copy), SH, 12)
        assert "2021-11-3" in reason and "YYYY-MM-DD" in reason


def test_diff_against_a_tree_with_a_bad_date_key_names_the_file_and_line(rules_copy, tmp_path):
    edit(rules_copy / SH, "2021-11-25:", "2021-11-3:")
    result = rules("diff", PROJECT_ROOT / "rules", rules_copy, "--fixtures", tmp_path)
    assert "Traceback" not in result.output
    assert result.exit_code == 1
    assert re.search(r"CN-SH\.yaml:12: error: values\.2021-11-3\.key: not an ISO date — write YYYY-MM-DD", result.output), \
        result.output


def test_a_parameter_reference_not_in_the_catalog_is_refused_with_did_you_mean(rules_copy):
    edit(rules_copy / SH, "  reference: REG-SH-ML\n", "  reference: REG-SH-MX\n")
    reason = only_error(rules("lint", "--rules-dir", rules_copy), SH, 10)
    assert "'REG-SH-MX' is not in rules/citations/" in reason and "did you mean REG-SH-ML?" in reason
    assert [p.field for p in refused(rules_copy)] == ["metadata.reference"]


def test_a_value_reference_not_in_the_catalog_is_refused_on_its_line(rules_copy):
    edit(rules_copy / SH, "      reference: REG-SH-ML\n", "      reference: REG-SH-M\n")
    reason = only_error(rules("lint", "--rules-dir", rules_copy), SH, 15)
    assert "did you mean REG-SH-ML?" in reason


def test_a_region_file_not_named_by_its_code_is_refused_with_did_you_mean(rules_copy):
    folder = rules_copy / "labor_law/parameters/maternity/regional_extension_days"
    shutil.copy(folder / "CN-BJ.yaml", folder / "JS.yaml")
    result = rules("lint", "--rules-dir", rules_copy)
    reason = only_error(result, "regional_extension_days/JS.yaml", 2)
    assert "'JS' is not an ISO 3166-2:CN region code" in reason and "did you mean CN-JS?" in reason
    assert refused(rules_copy)


def test_a_colon_in_pasted_statute_text_is_one_yaml_error_without_a_cascade(rules_copy):
    citations = rules_copy / "citations/labor_law.yaml"
    lines = citations.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines) if line.startswith("    text: 第二十一条"))
    lines[number] = lines[number].replace("在试用期中，", "在试用期中: ")
    citations.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = rules("lint", "--rules-dir", rules_copy)
    reason = only_error(result, "citations/labor_law.yaml", number + 1)
    assert "mapping values are not allowed" in reason and "put the whole text in double quotes" in reason
    assert "not checked until every citations file loads" in reason
    assert "unknown ref" not in result.output
    assert len(refused(rules_copy)) == 1


def test_a_wrong_fact_name_says_did_you_mean(rules_copy):
    rule_file = rules_copy / "labor_law/lcl_36_mutual_agreement.yaml"
    edit(rule_file, "- employee.pregnancy.status: pregnant", "- employee.pregnacy.status: pregnant")
    line = next(i for i, text in enumerate(rule_file.read_text(encoding="utf-8").splitlines(), 1)
                if "employee.pregnacy.status" in text)
    reason = only_error(rules("lint", "--rules-dir", rules_copy), "labor_law/lcl_36_mutual_agreement.yaml", line)
    assert "unknown fact 'employee.pregnacy.status'" in reason
    assert "did you mean employee.pregnancy.status?" in reason


def test_a_wrong_citation_ref_in_a_rule_says_did_you_mean(rules_copy):
    rule_file = rules_copy / "labor_law/lcl_36_mutual_agreement.yaml"
    edit(rule_file, "- ref: LCL-36\n", "- ref: LCL36\n")
    result = rules("lint", "--rules-dir", rules_copy)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "unknown ref 'LCL36' (not in rules/citations/) — did you mean LCL-36?" in result.output


def test_two_policy_clauses_with_one_clause_number_are_refused_naming_both(rules_copy):
    policy = rules_copy / "citations/policy.yaml"
    text = policy.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    policy.write_text(text.rstrip("\n") + "\n  POL-SEP-6.3:\n    law: 离职管理制度（HR-POL-07）\n"
                      "    law_en: Separation Management Policy (HR-POL-07)\n    article: \"6\"\n    item: \"3\"\n"
                      "    text: 离职面谈应在最后工作日前完成。\n    effective_from: 2024-01-01\n"
                      "    source: HR-POL-07 v3\n", encoding="utf-8")
    reason = only_error(rules("lint", "--rules-dir", rules_copy), "citations/policy.yaml", lines + 1)
    assert "clause number 6.3 of POL-SEP-6.3 is already used by POL-SLA-6.3" in reason
    assert refused(rules_copy)


def _example_expecting_warn(rules_copy) -> Path:
    """lcl-40.ground-required's example of an unknown ground, rewritten to expect the warn."""
    rule_file = rules_copy / "labor_law/lcl_40_notice_termination.yaml"
    edit(rule_file, "        expect: unknown", "        expect: warn")
    return rule_file


def test_an_example_that_warns_only_because_a_fact_is_missing_fails_saying_so(rules_copy, tmp_path):
    _example_expecting_warn(rules_copy)
    result = rules("test", "--rules-dir", rules_copy, "--fixtures", tmp_path)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert re.search(r"expected warn, but its outcome is unknown \(missing: [a-z_.]+.*\).*write `expect: unknown`",
                     result.output), result.output
    assert re.search(r"warn \(unknown\)\s+missing: ", result.output)   # every finding, with its outcome


FIXTURE = """now: 2026-02-10T10:00:00+08:00
cases:
  - name: Reviewing without the case, whether a step is overdue is unknown
    request:
      employee: {id: E1, gender: male}
      action: {type: review_case}
    expected: {verdict: warn, rule_ids: [process.sla.step-overdue]%s}
"""


@pytest.mark.parametrize("extra, passes", [
    ("", False),                                                       # relies on the missing fact silently
    (", unknown: [process.sla.step-overdue]", True),                   # says so
    (", unknown: [process.sla.step-overdue], missing_facts: []", False),  # asserts no fact is missing
])
def test_a_fixture_must_say_when_an_expected_rule_is_unknown(rules_copy, tmp_path, extra, passes):
    fixture = tmp_path / "fixtures" / "overdue_test.yaml"
    fixture.parent.mkdir()
    fixture.write_text(FIXTURE % extra, encoding="utf-8")
    from service.tools.scenarios import run_scenarios

    book = load_rulebook(rules_copy)
    try:
        [result] = run_scenarios(book, [fixture], examples=False)
    finally:
        book.engine.close()
    assert result.passed is passes, result.problems
    if not extra:
        assert any("process.sla.step-overdue only warn(s) because facts are missing" in p and "`unknown:`" in p
                   for p in result.problems), result.problems
    if "missing_facts: []" in extra:
        assert any(p.startswith("missing_facts: expected none") for p in result.problems), result.problems


def test_rules_test_shows_each_finding_of_a_failing_fixture(rules_copy, tmp_path):
    fixture = tmp_path / "overdue_test.yaml"
    fixture.write_text(FIXTURE % "", encoding="utf-8")
    result = rules("test", "--rules-dir", rules_copy, "--fixtures", fixture)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert re.search(r"process\.sla\.step-overdue\s+warn \(unknown\)\s+missing: .*case", result.output), result.output
    assert "cites POL-" in result.output


def test_a_broken_fixture_file_is_a_failure_not_a_traceback(rules_copy, tmp_path):
    (tmp_path / "broken_test.yaml").write_text("now: 2026-02-10\ncases:\n  - name: a: b\n", encoding="utf-8")
    result = rules("test", "--rules-dir", rules_copy, "--fixtures", tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert re.search(r"broken_test\.yaml:3: mapping values are not allowed", result.output), result.output


def test_an_unforeseen_error_is_one_line_and_exit_1(rules_copy, monkeypatch):
    import service.tools.lint as lint_module

    def broken(root):
        raise ValueError(f"{root}/facts/labor_law.yaml: something no check foresaw")

    monkeypatch.setattr(lint_module, "lint", broken)
    result = rules("lint", "--rules-dir", rules_copy)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "facts/labor_law.yaml: something no check foresaw" in result.output


def _readme_request() -> dict:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return json.loads(re.search(r"<<'JSON'\n(.*?)\nJSON", text, re.S).group(1))


def test_explain_prints_the_answer_to_the_readme_request(tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps(_readme_request()), encoding="utf-8")
    result = rules("explain", request)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("verdict 结论: deny   as_of: 2026-02-10")
    assert re.search(r"deny\s+fired\s+lcl-42-4\.protected-period", result.output)
    assert "cites LCL-42-4" in result.output and "art. 42 item 4" in result.output
    assert re.search(r"checked .*\n(.*\n)*\s+lcl-43\.no-union\s+warn\s+cleared", result.output)

    raw = rules("explain", request, "--json")
    answer = json.loads(raw.output)
    assert answer["verdict"] == "deny" and "receipt" not in answer and "decision_id" not in answer
    assert {"lcl-42-4.protected-period"} <= {f["rule_id"] for f in answer["findings"]}


def test_explain_reads_yaml_and_names_the_missing_facts(tmp_path):
    body = _readme_request()
    del body["employee"]["pregnancy"]
    request = tmp_path / "request.yaml"
    import yaml
    request.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    result = rules("explain", request)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("verdict 结论: warn")
    assert re.search(r"warn\s+unknown\s+lcl-42-4\.protected-period", result.output)
    assert "missing 缺少的事实: employee.pregnancy.status" in result.output


def test_explain_refuses_a_request_the_service_would_refuse_in_one_line(tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"employee": {"id": "E1"}, "action": {"type": "fire_at_will"}}), encoding="utf-8")
    result = rules("explain", request)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "would refuse this request (422)" in result.output and "action.type" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("file, old, new, hint", [
    ("labor_law/lcl_36_mutual_agreement.yaml", "- employee.pregnancy.status: pregnant",
     "- employee.pregnancy.status: pregant", "did you mean pregnant?"),
    ("labor_law/lcl_40_notice_termination.yaml", "[terminate_with_notice]", "[terminate_with_notise]",
     "did you mean terminate_with_notice?"),
    ("labor_law/lcl_14_open_ended_contract.yaml", "continuous_years: {gte: 10}", "continuous_years: {gtee: 10}",
     "did you mean gte?"),
])
def test_a_misspelt_value_action_or_operator_says_did_you_mean(rules_copy, file, old, new, hint):
    edit(rules_copy / file, old, new)
    line = next(i for i, text in enumerate((rules_copy / file).read_text(encoding="utf-8").splitlines(), 1)
                if new in text)
    assert hint in only_error(rules("lint", "--rules-dir", rules_copy), file, line)
