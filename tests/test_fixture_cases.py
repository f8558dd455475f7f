"""A fixture case says what it tests (issue 20, item 5): its verdict and the rules whose outcome it
asserts (fired, unknown, cleared); rules it does not name are not compared; `exactly:` pins the
complete set; shared parties come from fixtures/testdata by name."""
from __future__ import annotations

import pytest

from service import PROJECT_ROOT
from service.decide.rulebook import load_rulebook
from service.decide.fixture_cases import load_fixture_cases, load_testdata, resolve_testdata
from service.tools.scenarios import failure_lines, run_scenarios

_RULEBOOK = load_rulebook(PROJECT_ROOT / "rules")

# A pregnant employee's Art. 40 notice with only the v1 fields: denied by LCL-42-4, while a dozen
# other protections are unknown for want of facts.
V1_PREGNANT = """now: 2026-02-10T10:00:00+08:00
cases:
  - name: a v1 Art. 40 notice to a pregnant employee
    request:
      employee: {id: E1, gender: female, pregnancy: {status: pregnant}, children: [],
                 medical_treatment: {status: none, special_disease: false}}
      action: {type: terminate_with_notice}
    expected: %s
"""


def run(tmp_path, text: str):
    path = tmp_path / "case_test.yaml"
    path.write_text(text, encoding="utf-8")
    [result] = run_scenarios(_RULEBOOK, [path], examples=False)
    return result


def test_a_case_naming_only_the_rule_it_is_about_passes_whatever_else_the_answer_holds(tmp_path):
    result = run(tmp_path, V1_PREGNANT % "{verdict: deny, fired: [lcl-42-4.protected-period]}")
    assert result.passed, result.problems
    assert len(result.actual["rule_ids"]) > 5  # the other rules are there, and not compared


@pytest.mark.parametrize("expected, problem", [
    ("{verdict: deny, fired: [lcl-43.no-union]}",
     "unknown: lcl-43.no-union only warn(s) because facts are missing"),
    ("{verdict: deny, fired: [lcl-42-3.medical-treatment-period]}",
     "fired: lcl-42-3.medical-treatment-period expected to fire, but cleared: the facts given rule it out"),
    ("{verdict: deny, fired: [lcl-42-4.protected-period], cleared: [lcl-43.no-union]}",
     "cleared: lcl-43.no-union expected cleared, but unknown (missing employer.union_exists)"),
    ("{verdict: deny, fired: [lcl-42-4.protected-period], unknown: [lcl-42-3.medical-treatment-period]}",
     "unknown: lcl-42-3.medical-treatment-period expected unknown, but not"),
    ("{verdict: deny, exactly: [lcl-42-4.protected-period]}", "exactly: missing [], unexpected ["),
    ("{verdict: deny, rule_ids: [lcl-42-4.protected-period]}", "exactly: missing [], unexpected ["),
])
def test_each_rule_a_case_names_is_held_to_the_outcome_it_names(tmp_path, expected, problem):
    result = run(tmp_path, V1_PREGNANT % expected)
    assert not result.passed
    assert any(p.startswith(problem) for p in result.problems), result.problems
    assert failure_lines(result)


def test_exactly_passes_on_the_complete_set_and_cleared_on_a_rule_the_facts_rule_out(tmp_path):
    complete = run(tmp_path, V1_PREGNANT % "{verdict: deny}").actual
    unknown = complete["unknown"]
    text = V1_PREGNANT % (f"{{verdict: deny, exactly: [{', '.join(complete['rule_ids'])}], "
                          f"unknown: [{', '.join(unknown)}], cleared: [lcl-42-3.medical-treatment-period]}}")
    result = run(tmp_path, text)
    assert result.passed, result.problems


def test_a_named_rule_that_fired_must_still_be_necessary(tmp_path):
    # The mutation check reads `fired:` as it read `rule_ids`: a second deny that decides anyway proves nothing.
    text = V1_PREGNANT.replace("medical_treatment: {status: none,", "medical_treatment: {status: in_period,")
    result = run(tmp_path, text % "{verdict: deny, fired: [lcl-42-4.protected-period]}")
    assert any(p.startswith("proves nothing for lcl-42-4.protected-period") for p in result.problems), result.problems


def test_a_misspelt_expectation_key_fails_the_file_instead_of_asserting_nothing(tmp_path):
    result = run(tmp_path, V1_PREGNANT % "{verdict: deny, fierd: [lcl-42-4.protected-period]}")
    assert not result.passed and "fierd" in result.problems[0]


def test_testdata_parties_are_merged_with_the_keys_given_beside_them():
    testdata = {"employees": {"woman": {"id": "E1", "gender": "female", "children": []}},
                "actors": {"hr7": {"id": "HR7", "role": "hr"}}}
    case = {"request": {"employee": {"testdata": "woman", "children": [{"birth_date": "2025-06-01"}]},
                        "action": {"type": "review_case", "actor": {"testdata": "hr7"}}},
            "steps": [{"record": {"actor": {"testdata": "hr7"}}}]}
    resolved = resolve_testdata(case, testdata)
    assert resolved["request"]["employee"] == {"id": "E1", "gender": "female",
                                               "children": [{"birth_date": "2025-06-01"}]}
    assert resolved["request"]["action"]["actor"] == resolved["steps"][0]["record"]["actor"] == {"id": "HR7",
                                                                                                 "role": "hr"}
    assert testdata["employees"]["woman"]["children"] == []  # the shared party is not changed by a case
    with pytest.raises(ValueError, match="no employees 'nobody'"):
        resolve_testdata({"employee": {"testdata": "nobody"}}, testdata)


def test_the_shipped_fixtures_name_shipped_testdata(tmp_path):
    shipped = load_testdata(PROJECT_ROOT / "fixtures" / "testdata")
    assert shipped["employees"] and shipped["actors"]["hr7"] == {"id": "HR7", "role": "hr"}
    # A fixture outside the tree reads the shipped testdata too.
    path = tmp_path / "hr_test.yaml"
    path.write_text("now: 2026-02-10T10:00:00+08:00\ncases:\n  - name: n\n    request:\n"
                    "      action: {type: review_case, actor: {testdata: hr7}}\n"
                    "    expected: {verdict: allow}\n", encoding="utf-8")
    [(_, case, _)] = load_fixture_cases(path)
    assert case["request"]["action"]["actor"] == {"id": "HR7", "role": "hr"}
