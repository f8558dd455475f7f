"""The names of the codes (rules/names/codes.yaml): every code a page or a notification may show
has a Chinese and an English name, and a code without one keeps the rule set from loading."""
import pytest

from service.decide.names import required_codes
from service.decide.rulebook import RULE_FAMILIES, RuleLoadError, load_rulebook
from service.http.trail_api import KINDS
from service.record.notifications import recheck_message, status_change_message
from service import PROJECT_ROOT

_RULEBOOK = load_rulebook(PROJECT_ROOT / "rules")


def test_every_code_the_rules_declare_and_every_trail_kind_has_both_names():
    required = required_codes(_RULEBOOK.vocabulary, _RULEBOOK.context.classification, RULE_FAMILIES)
    required["kind"] = KINDS   # the service's own: not declared in the rule files
    for table, codes in required.items():
        for code in codes:
            zh, en = _RULEBOOK.names.pair(table, code)
            assert zh and en and zh != code and en != code, (table, code)


def test_the_case_states_a_page_shows_include_the_void_resignation_and_the_withdrawal_in_time():
    # Both were shown as bare codes before the names moved beside the codes they name.
    assert {"void", "in_time"} <= set(_RULEBOOK.names.tables["status"])


def test_a_code_without_a_name_does_not_load_and_the_error_names_it(rules_copy):
    path = rules_copy / "names" / "codes.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.lstrip().startswith("void:")), encoding="utf-8")
    with pytest.raises(RuleLoadError) as exc:
        load_rulebook(rules_copy)
    assert any(p.file == "names/codes.yaml" and p.field == "names.status.void" and "'void' has no name" in p.reason
               for p in exc.value.problems), exc.value.problems


def test_a_name_in_one_language_only_does_not_load(rules_copy):
    path = rules_copy / "names" / "codes.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "void: {zh: 辞职未生效（撤回先到）, en: Void (the withdrawal came first)}", "void: {zh: 辞职未生效（撤回先到）}"),
        encoding="utf-8")
    with pytest.raises(RuleLoadError) as exc:
        load_rulebook(rules_copy)
    # marshmallow spells a mapping's entries "value" in the path
    assert any(p.file == "names/codes.yaml" and "status.value.void.value.en: Missing data for required field" in p.reason
               for p in exc.value.problems), exc.value.problems


def test_notification_texts_name_the_statuses_steps_and_verdicts_in_words():
    moved = status_change_message(_RULEBOOK.names, "SEP-1", "submitted", "void")
    assert moved["zh"] == "离职案件 SEP-1 的状态由“已提交辞职”变为“辞职未生效（撤回先到）”。"
    assert moved["en"] == "Separation case SEP-1 moved from “Resignation submitted” to “Void (the withdrawal came first)”."
    recheck = recheck_message(_RULEBOOK.names, "SEP-1", "execute_offboarding", "allow", "deny", "approved")
    assert "“执行离职”" in recheck["zh"] and "“禁止”" in recheck["zh"] and "辞职已批准" in recheck["zh"]
    assert "execute_offboarding" not in recheck["en"] and "“Deny” from “Allow”" in recheck["en"]
