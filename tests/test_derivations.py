"""Derivations a lawyer can declare (issue 25 item 3): `derive:` in rules/facts/, evaluated by
service/decide/derivations.py. Typed, three-valued (unknown in, unknown out), refused by lint on the
fact's line when wrong, and counted as a derivation by the "derived fact with no derivation" gate."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from service.decide.facts import derive_facts
from service.decide.rulebook import RuleLoadError, load_rulebook
from service.tools.rule_cli import rules_group

DECLARED = """\
# yaml-language-server: $schema=../_schemas/facts.schema.json
apiVersion: facts/v1
facts:
  derived.test.days_employed:
    type: int
    source: derived
    derive: {days_between: [employee.hire_date, as_of]}
  derived.test.working_days_employed:
    type: int
    source: derived
    derive: {working_days_between: [employee.hire_date, as_of]}
  derived.test.months_employed:
    type: int
    source: derived
    derive: {months_between: [employee.hire_date, as_of]}
  derived.test.age:
    type: int
    source: derived
    derive: {years_between: [employee.birth_date, as_of]}
  derived.test.notice_ends:
    type: date
    source: derived
    derive: {date_plus: {date: employee.hire_date, parameter: notice.period_days}}
  derived.test.suspension_ceiling:
    type: date
    source: derived
    derive: {date_plus: {date: employee.hire_date, parameter: work_injury.paid_suspension_months}}
  derived.test.earlier_of_the_two:
    type: date
    source: derived
    derive: {min: [derived.test.notice_ends, derived.test.suspension_ceiling]}
  derived.test.later_of_the_two:
    type: date
    source: derived
    derive: {max: [derived.test.notice_ends, derived.test.suspension_ceiling]}
  derived.test.contract_ends_before_probation:
    type: bool
    source: derived
    derive: {compare: [employee.contract.end_date, lt, employee.contract.probation_end]}
"""


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    import shutil

    from service import PROJECT_ROOT
    root = tmp_path_factory.mktemp("derivations") / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", root)
    (root / "facts" / "declared_test.yaml").write_text(DECLARED, encoding="utf-8")
    rulebook = load_rulebook(root)  # the gate counts them as derivations: no "nothing computes"
    yield rulebook
    rulebook.engine.close()


def _facts(book, employee: dict, as_of: str = "2026-03-05"):
    request = book.request_schema().load({"as_of": as_of, "employee": {"id": "E1", **employee},
                                          "action": {"type": "review_case"}})
    return derive_facts(request, request["as_of"], book.context)


def test_each_kind_computes_its_typed_value(book):
    facts = _facts(book, {"hire_date": "2026-02-13", "birth_date": "1990-03-06",
                          "contract": {"end_date": "2026-06-30", "probation_end": "2026-05-12"}})
    values = {k[len("derived.test."):]: v for k, v in facts.values.items() if k.startswith("derived.test.")}
    assert values == {
        "days_employed": 20,
        # after Fri 13 Feb 2026 up to Thu 5 Mar: the Spring Festival holiday (15-23 Feb) is not
        # counted, Sat 14 and Sat 28 Feb are make-up working days (rules/calendar/)
        "working_days_employed": 10,
        "months_employed": 0,
        "age": 35,                        # the 36th birthday is tomorrow
        "notice_ends": "2026-03-15",      # + 30 days (notice.period_days, unit day)
        "suspension_ceiling": "2027-02-13",  # + 12 months (unit month, Civil Code art. 202)
        "earlier_of_the_two": "2026-03-15",
        "later_of_the_two": "2027-02-13",
        "contract_ends_before_probation": False,
    }


def test_unknown_in_unknown_out_naming_what_decides_it(book):
    facts = _facts(book, {"birth_date": "1990-03-06"})
    assert facts.values["derived.test.age"] == 35
    for name in ("days_employed", "notice_ends", "earlier_of_the_two"):
        assert f"derived.test.{name}" not in facts.values
        assert facts.decided_by[f"derived.test.{name}"].fields == ("employee.hire_date",)
    assert facts.decided_by["derived.test.contract_ends_before_probation"].fields == (
        "employee.contract.end_date", "employee.contract.probation_end")


def test_a_year_missing_from_the_calendar_is_unknown_never_guessed(book):
    facts = _facts(book, {"hire_date": "2026-12-01"}, as_of="2027-01-04")  # 2027: no calendar yet
    assert "derived.test.working_days_employed" not in facts.values
    assert facts.decided_by["derived.test.working_days_employed"].fields == ()
    assert facts.values["derived.test.days_employed"] == 34


@pytest.mark.parametrize("derive, where, reason", [
    ("{working_days_betwen: [employee.hire_date, as_of]}", "derive.working_days_betwen",
     r"unknown derivation 'working_days_betwen'; known: .* — did you mean working_days_between\?"),
    ("{days_between: [employee.hire_dat, as_of]}", "derive.days_between",
     r"unknown fact 'employee.hire_dat' \(not in rules/facts/\) — did you mean employee.hire_date\?"),
    ("{days_between: [employee.gender, as_of]}", "derive.days_between",
     r"days_between takes dates; 'employee.gender' is not a date"),
    ("{date_plus: {date: employee.hire_date, parameter: notice.period_dayz}}", "derive.date_plus.parameter",
     r"unknown parameter 'notice.period_dayz' — did you mean notice.period_days\?"),
    ("{compare: [employee.hire_date, before, as_of]}", "derive.compare",
     r"compare takes \[FACT, OP, FACT\], OP one of eq, ne, lt, lte, gt, gte"),
    ("{min: [employee.hire_date, employee.continuous_service_years]}", "derive.min",
     r"min takes facts of one type; got date, number"),
    ("{compare: [employee.hire_date, lt, as_of]}", "type", r"compare gives a bool; the fact is declared type int"),
])
def test_a_wrong_derivation_is_one_error_on_its_line(rules_copy, derive, where, reason):
    facts = rules_copy / "facts" / "labor_law.yaml"
    text = facts.read_text(encoding="utf-8").rstrip("\n")
    facts.write_text(text + "\n  derived.test.wrong:\n    type: int\n    source: derived\n"
                     f"    derive: {derive}\n", encoding="utf-8")
    line = len(text.splitlines()) + (4 if where != "type" else 2)
    result = CliRunner().invoke(rules_group, ["lint", "--rules-dir", str(rules_copy)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    [error] = [entry for entry in result.output.splitlines() if ": error:" in entry]
    assert re.match(rf"^\S*facts/labor_law\.yaml:{line}: error: facts\.derived\.test\.wrong\.{re.escape(where)}: "
                    rf"{reason}", error), error
    with pytest.raises(RuleLoadError):  # and the start-up gate refuses it
        load_rulebook(rules_copy).engine.close()


def test_derivations_that_need_each_other_are_refused(rules_copy):
    facts = rules_copy / "facts" / "labor_law.yaml"
    facts.write_text(facts.read_text(encoding="utf-8").rstrip("\n") + """
  derived.test.a:
    type: date
    source: derived
    derive: {min: [derived.test.b, as_of]}
  derived.test.b:
    type: date
    source: derived
    derive: {max: [derived.test.a, as_of]}
""", encoding="utf-8")
    with pytest.raises(RuleLoadError) as refused:
        load_rulebook(rules_copy).engine.close()
    [problem] = refused.value.problems
    assert "derivations that need each other" in problem.reason and "derived.test.a" in problem.reason


COMPARING_RULE = """\
# yaml-language-server: $schema=../_schemas/rule_file.schema.json
apiVersion: rules/v1
description: 合同期满早于试用期届满（测试）/ A contract ending before its probation (a test)
metadata:
  owner: hr
rules:
  - id: process.test.contract-ends-before-probation
    title: {zh: 合同期满早于试用期届满, en: The contract ends before its probation}
    verdict: warn
    actions: [edit_employee_record]
    effective_from: 2026-01-01
    citations:
      - ref: LCL-19
    message:
      zh: 劳动合同期满日早于试用期届满日。
      en: The contract ends before its probation does.
    when:
      employee.contract.end_date: {lt: {fact: employee.contract.probation_end}}
    examples:
      - name: {zh: 期满早于试用期, en: Ends before the probation}
        request:
          as_of: 2026-03-02
          employee: {id: E1, contract: {end_date: 2026-04-30, probation_end: 2026-05-31}}
          action: {type: edit_employee_record, actor: {id: HR1, role: hr}}
        expect: warn
      - name: {zh: 期满晚于试用期, en: Ends after the probation}
        request:
          as_of: 2026-03-02
          employee: {id: E1, contract: {end_date: 2027-04-30, probation_end: 2026-05-31}}
          action: {type: edit_employee_record, actor: {id: HR1, role: hr}}
        expect: none
"""


def test_a_condition_may_compare_two_facts(rules_copy):
    (rules_copy / "process" / "contract_test.yaml").write_text(COMPARING_RULE, encoding="utf-8")
    result = CliRunner().invoke(rules_group, ["lint", "--rules-dir", str(rules_copy)])
    assert result.exit_code == 0, result.output
    book = load_rulebook(rules_copy)
    try:
        def outcome(contract: dict) -> dict:
            from service.decide.evaluation import evaluate
            answer = evaluate(book, book.request_schema().load({
                "as_of": "2026-03-02", "employee": {"id": "E1", "contract": contract},
                "action": {"type": "edit_employee_record", "actor": {"id": "HR1", "role": "hr"}}}))
            checked = next(c for c in answer.checked if c["rule_id"] == "process.test.contract-ends-before-probation")
            found = [f for f in answer.findings if f["rule_id"] == checked["rule_id"]]
            return {"outcome": checked["outcome"], "missing": found[0]["missing_facts"] if found else None}

        assert outcome({"end_date": "2026-04-30", "probation_end": "2026-05-31"}) == {"outcome": "fired", "missing": []}
        assert outcome({"end_date": "2026-05-31", "probation_end": "2026-05-31"})["outcome"] == "cleared"
        assert outcome({"end_date": "2026-04-30"}) == {"outcome": "unknown",
                                                        "missing": ["employee.contract.probation_end"]}
        assert outcome({"probation_end": "2026-05-31"}) == {"outcome": "unknown",
                                                             "missing": ["employee.contract.end_date"]}
    finally:
        book.engine.close()


def test_comparing_facts_of_two_types_is_one_error_on_its_line(rules_copy):
    rule = COMPARING_RULE.replace("{lt: {fact: employee.contract.probation_end}}", "{lt: {fact: employee.gender}}")
    (rules_copy / "process" / "contract_test.yaml").write_text(rule, encoding="utf-8")
    result = CliRunner().invoke(rules_group, ["lint", "--rules-dir", str(rules_copy)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    [error] = [entry for entry in result.output.splitlines() if ": error:" in entry]
    assert re.match(r"^\S*process/contract_test\.yaml:18: error: rule process\.test\.contract-ends-before-probation "
                    r"when\.employee\.contract\.end_date\.lt\.fact: 'employee\.contract\.end_date' is date and "
                    r"'employee\.gender' is enum: compare facts of one type", error), error
