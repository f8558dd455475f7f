"""Rule files are validated on load; one bad file and nothing loads (the service refuses to start)."""
import re

import pytest

from service import create_app
from service.rulebook import RuleLoadError, load_rulebook
from tests.conftest import drop_citation_text

RULE_FILE = "labor_law/lcl_42_4_pregnancy_maternity_nursing.yaml"


def _mutate(rules_copy, old: str, new: str, file: str = RULE_FILE) -> None:
    path = rules_copy / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text not found in {file}: {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _problems(rules_copy) -> list:
    with pytest.raises(RuleLoadError) as info:
        load_rulebook(rules_copy)
    return info.value.problems


def test_the_shipped_rules_load(rules_copy):
    book = load_rulebook(rules_copy)
    assert "lcl-42-4.protected-period@2008-01-01" in book.rules
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", book.version)


@pytest.mark.parametrize("old, new, rule_id, field, reason", [
    ("employee.gender: female\n      any:", "employee.gendr: female\n      any:",
     "lcl-42-4.protected-period", "when.employee.gendr", "unknown fact 'employee.gendr'"),
    ("{in: [with_notice, economic_layoff, non_renewal, void_resignation]}\n      employee.gender: female",
     "{contains: [with_notice]}\n      employee.gender: female",
     "lcl-42-4.protected-period", "when.derived.separation.basis.contains", "unknown operator 'contains'"),
    ("- derived.nursing_period.active: true", "- derived.nursing_period.active: 'true'",
     "lcl-42-4.protected-period", "when.any[1].derived.nursing_period.active.eq", "not a valid bool"),
    ("employee.gender: female\n      any:", "employee.gender: femme\n      any:",
     "lcl-42-4.protected-period", "when.employee.gender.eq", "one of: female, male"),
    ("verdict: deny", "verdict: forbid", "lcl-42-4.protected-period", "verdict", "Must be one of"),
    ("      - ref: LCL-42-4\n      - ref: LCL-45\n      - ref: LCL-48",
     "      - ref: LCL-42-9\n      - ref: LCL-45\n      - ref: LCL-48",
     "lcl-42-4.protected-period", "citations.0.ref", "unknown ref 'LCL-42-9'"),
    ("effective_from: 2008-01-01", "effective_from: 2008-02-30", "lcl-42-4.protected-period",
     "effective_from", "Not a valid date"),
    ("actions: &separating [terminate_with_notice,", "actions: &separating [terminate_with_noticee,",
     "lcl-42-4.protected-period", "actions", "unknown action type 'terminate_with_noticee'"),
])
def test_a_bad_rule_names_file_rule_field_and_reason(rules_copy, old, new, rule_id, field, reason):
    _mutate(rules_copy, old, new)
    problems = _problems(rules_copy)
    assert any(p.file == RULE_FILE and p.rule_id == rule_id and p.field == field and reason in p.reason
               for p in problems), [str(p) for p in problems]


def test_a_citation_not_in_force_for_the_whole_rule_is_refused(rules_copy):
    # WRPL-48 (2022 revision) is in force from 2023-01-01; this rule starts in 2008.
    _mutate(rules_copy, "      - ref: LCL-45\n      - ref: LCL-48", "      - ref: WRPL-48\n      - ref: LCL-48")
    problems = _problems(rules_copy)
    assert any(p.field == "citations.1.ref" and "WRPL-48" in p.reason for p in problems)


def test_a_missing_citation_text_is_refused(rules_copy):
    drop_citation_text(rules_copy, "LCL-42-4")
    problems = _problems(rules_copy)
    assert any(p.file == "citations/labor_law.yaml" and p.field == "citations.LCL-42-4.value.text"
               for p in problems), [str(p) for p in problems]


def test_overlapping_versions_of_one_rule_are_refused(rules_copy):
    path = rules_copy / RULE_FILE
    text = path.read_text(encoding="utf-8")
    start = text.index("  - id: lcl-42-4.protected-period")
    second = text[start:].replace("effective_from: 2008-01-01", "effective_from: 2020-01-01", 1)
    second = re.sub(r"&\w+ ?", "", second)  # the copy defines no anchors of its own
    path.write_text(text + second.replace("actions: *separating", "actions: [terminate_with_notice]", 1),
                    encoding="utf-8")
    problems = _problems(rules_copy)
    assert any(p.field == "effective_from" and "overlaps" in p.reason for p in problems), [str(p) for p in problems]


def test_a_rule_needs_an_example_that_fires_and_one_that_does_not(rules_copy):
    _mutate(rules_copy, "        expect: none\n", "        expect: deny\n")
    _mutate(rules_copy, "        expect: none\n", "        expect: deny\n")
    _mutate(rules_copy, "        expect: none\n", "        expect: deny\n")
    problems = _problems(rules_copy)
    assert any(p.rule_id == "lcl-42-4.protected-period" and p.field == "examples" for p in problems)


def test_a_sensitive_fact_cannot_be_printed_in_a_message(rules_copy):
    _mutate(rules_copy, "en: The employee is pregnant or nursing",
            "en: Status {employee.pregnancy.status}. The employee is pregnant or nursing")
    problems = _problems(rules_copy)
    assert any(p.field == "message.en" and "sensitive" in p.reason for p in problems)


def test_yaml_syntax_error_names_the_file(rules_copy):
    (rules_copy / "process" / "broken.yaml").write_text("rules: [unclosed\n", encoding="utf-8")
    problems = _problems(rules_copy)
    assert any(p.file == "process/broken.yaml" and p.field == "yaml" for p in problems)


def test_the_service_refuses_to_start_on_a_bad_rule_set(rules_copy, tmp_path):
    _mutate(rules_copy, "verdict: deny", "verdict: forbid")
    with pytest.raises(RuleLoadError, match=r"lcl_42_4_pregnancy_maternity_nursing.yaml: rule lcl-42-4.protected-period verdict"):
        create_app({"TESTING": True, "RULES_DIR": str(rules_copy),
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}"})


def test_version_changes_with_any_rule_content(rules_copy):
    before = load_rulebook(rules_copy).version
    _mutate(rules_copy, "Confirm them before acting.", "Confirm both before acting.")
    assert load_rulebook(rules_copy).version != before


def test_a_repeated_key_is_an_error_not_a_silent_override(rules_copy):
    _mutate(rules_copy, "    verdict: deny\n", "    verdict: deny\n    verdict: warn\n")
    problems = _problems(rules_copy)
    assert any(p.file == RULE_FILE and p.field == "yaml" and "duplicate key 'verdict'" in p.reason
               for p in problems)
