"""Hot reload: a good edit is swapped in whole, a bad one is refused and the old set keeps serving."""
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from service import PROJECT_ROOT
from service.record.models import Case, TrailEntry
from service.decide.gate import RuleSetRefused
from service.tools.rule_cli import rules_group
from tests.conftest import check_body, drop_citation_text, make_app

RULE_FILE = "labor_law/lcl_42_4_pregnancy_maternity_nursing.yaml"


@pytest.fixture
def reload_app(rules_copy, tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'reload.sqlite'}", RULES_DIR=str(rules_copy), RULES_WATCH_SECONDS=0)
    yield app
    app.extensions["db_engine"].dispose()


def _edit(rules_copy, old, new):
    path = rules_copy / RULE_FILE
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _changes(client):
    return client.get("/v1/trail?kind=ruleset_change").get_json()["entries"]


def test_a_good_edit_is_swapped_in_and_recorded(reload_app, rules_copy):
    client = reload_app.test_client()
    before = client.post("/v1/checks", json=check_body()).get_json()["ruleset_version"]
    _edit(rules_copy, "Going ahead is an unlawful termination", "Going ahead would be an unlawful termination")
    answer = client.post("/v1/admin/rules/reload")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["ok"] and body["previous"] == before and body["version"] != before
    after = client.post("/v1/checks", json=check_body()).get_json()
    assert after["ruleset_version"] == body["version"] and after["verdict"] == "deny"
    changes = _changes(client)
    assert [c["ruleset_version"] for c in changes] == [before, body["version"]]
    assert changes[-1]["body"]["previous_version"] == before


@pytest.mark.parametrize("old, new, words", [
    ("employee.gender: female\n      any:", "employee.gendr: female\n      any:", "unknown fact 'employee.gendr'"),
    ("employee.gender: female\n      any:", "employee.gender: female: x\n      any:", "yaml:"),  # cannot parse
])
def test_a_bad_edit_is_refused_and_the_old_version_keeps_serving(reload_app, rules_copy, old, new, words, caplog):
    client = reload_app.test_client()
    serving = client.post("/v1/checks", json=check_body()).get_json()["ruleset_version"]
    _edit(rules_copy, old, new)
    line = _line_of(rules_copy / RULE_FILE, new.splitlines()[0])
    answer = client.post("/v1/admin/rules/reload")
    assert answer.status_code == 422
    body = answer.get_json()
    assert body["ok"] is False and body["version"] == serving
    assert any(words in p and p.startswith(f"{RULE_FILE}:{line}: ") for p in body["problems"]), body["problems"]
    assert body["code"] == 422 and body["status"] == "Unprocessable Entity" and "still serving" in body["message"]
    assert any(e["path"] == f"{RULE_FILE}:{line}" and words in e["reason"] for e in body["errors"]), body["errors"]
    # The log line names each problem, not only how many there are.
    [logged] = [r.getMessage() for r in caplog.records if "rule reload refused" in r.getMessage()]
    assert all(problem in logged for problem in body["problems"]) and f"still serving {serving}" in logged
    check = client.post("/v1/checks", json=check_body()).get_json()
    assert check["ruleset_version"] == serving and check["verdict"] == "deny"
    rejected = _changes(client)[-1]
    assert rejected["body"]["rejected"] is True and rejected["body"]["still_serving"] == serving


def _line_of(path, text) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if text in line)


def test_a_problem_in_a_condition_two_versions_share_is_listed_once_naming_both_versions_and_the_line(
        reload_app, rules_copy):
    # The union-notice rule's 2022 version takes its condition from the 2008 one (a `<<:` merge):
    # one typo there is a problem in both versions, and was listed twice, alike, without either date.
    path = rules_copy / "labor_law" / "lcl_43_union_notice.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("      derived.union.exists: true\n      action.union_notified",
                                 "      derived.union.exist: true\n      action.union_notified", 1)
                    .replace("      - ref: TUL-22\n", "      - ref: TUL-99\n", 1), encoding="utf-8")
    typo, ref = _line_of(path, "derived.union.exist: true"), _line_of(path, "ref: TUL-99")
    body = reload_app.test_client().post("/v1/admin/rules/reload").get_json()
    file = "labor_law/lcl_43_union_notice.yaml"
    assert body["problems"] == [
        f"{file}:{typo}: rule lcl-43.union-not-notified@2008-01-01, lcl-43.union-not-notified@2022-01-01: "
        "when.derived.union.exist: unknown fact 'derived.union.exist' (not in rules/facts/) "
        "— did you mean derived.union.exists?",
        f"{file}:{ref}: rule lcl-43.union-not-notified@2022-01-01: citations.1.ref: "
        "unknown ref 'TUL-99' (not in rules/citations/) — did you mean TUL-19?"]
    assert [e["path"] for e in body["errors"]] == [f"{file}:{typo}", f"{file}:{ref}"]
    assert "(2 problem(s))" in body["message"]


def test_readyz_says_which_candidate_was_refused_while_the_old_set_serves(reload_app, rules_copy):
    client = reload_app.test_client()
    ready = client.get("/readyz")
    serving = ready.get_json()["ruleset_version"]
    assert ready.status_code == 200 and ready.get_json()["degraded"] is False
    assert "candidate_refused" not in ready.get_json()
    _edit(rules_copy, "employee.gender: female\n      any:", "employee.gendr: female\n      any:")
    assert client.post("/v1/admin/rules/reload").status_code == 422
    ready = client.get("/readyz")
    body = ready.get_json()
    # Still ready: every check is answered, by the previous set.
    assert ready.status_code == 200 and body["status"] == "ready" and body["ruleset_version"] == serving
    refused = body["candidate_refused"]
    assert body["degraded"] is True and refused["why"] == "does not load" and refused["count"] == 1
    assert refused["candidate"] == _changes(client)[-1]["body"]["candidate_version"] != serving
    assert refused["summary"] == (f"serving {serving[:19]}; candidate {refused['candidate'][:19]} "
                                  "refused (1 problem(s))")
    _edit(rules_copy, "employee.gendr: female\n      any:", "employee.gender: female\n      any:")  # put right
    assert client.post("/v1/admin/rules/reload").status_code == 200
    assert client.get("/readyz").get_json()["degraded"] is False


def test_overlapping_dates_and_a_missing_citation_text_are_refused_too(reload_app, rules_copy):
    client = reload_app.test_client()
    drop_citation_text(rules_copy, "LCL-42-4")
    body = client.post("/v1/admin/rules/reload").get_json()
    assert body["ok"] is False and any("citations.LCL-42-4" in p for p in body["problems"])


def test_the_watcher_picks_up_an_edit_by_itself(rules_copy, tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'w.sqlite'}", RULES_DIR=str(rules_copy), RULES_WATCH_SECONDS=0.001)
    client = app.test_client()
    before = client.post("/v1/checks", json=check_body()).get_json()["ruleset_version"]
    _edit(rules_copy, "Going ahead is an unlawful termination", "To go ahead is an unlawful termination")
    time.sleep(0.01)
    after = client.post("/v1/checks", json=check_body()).get_json()["ruleset_version"]
    assert after != before
    app.extensions["db_engine"].dispose()


def test_a_check_in_flight_finishes_on_the_version_it_started_with(reload_app, rules_copy, monkeypatch):
    """A reload lands while a check is being decided: that check answers (and is recorded) on the
    version it started with, and the service serves the new one from the next check on."""
    import service.flows.check
    from service.flows.rules_live import reload_rules

    client = reload_app.test_client()
    started_with = reload_app.extensions["rulebook"].version
    old_words, new_words = "Going ahead is an unlawful termination", "Going ahead is an unlawful dismissal"
    _edit(rules_copy, old_words, new_words)
    real_evaluate = service.flows.check.evaluate

    def evaluate_while_reloading(rulebook, request, *declared):
        monkeypatch.setattr(service.flows.check, "evaluate", real_evaluate)
        assert reload_rules(reload_app, "test").ok
        return real_evaluate(rulebook, request, *declared)

    monkeypatch.setattr(service.flows.check, "evaluate", evaluate_while_reloading)
    in_flight = client.post("/v1/checks", json=check_body()).get_json()
    assert in_flight["ruleset_version"] == started_with and in_flight["verdict"] == "deny"
    assert any(old_words in f["message"]["en"] for f in in_flight["findings"])

    served = client.post("/v1/checks", json=check_body()).get_json()
    assert served["ruleset_version"] == reload_app.extensions["rulebook"].version != started_with
    assert served["verdict"] == "deny"
    protected = next(f for f in served["findings"] if f["rule_id"] == "lcl-42-4.protected-period")
    assert new_words in protected["message"]["en"] and old_words not in protected["message"]["en"]
    recorded = {e["entry_id"]: e["ruleset_version"]
                for e in client.get("/v1/trail?kind=check").get_json()["entries"]}
    assert recorded[in_flight["decision_id"]] == started_with
    assert recorded[served["decision_id"]] == served["ruleset_version"]


def test_reload_needs_the_admin_scope(reload_app):
    from service.http.keys import create_client
    with reload_app.extensions["db_sessions"]() as session, session.begin():
        key = create_client(session, "ehr", ["checks"])
    client = reload_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    assert client.post("/v1/admin/rules/reload").status_code == 403


# ---- the gate: no rule set goes live that fails its own examples or the fixtures -------------
# The edit of issue 11: `rules lint` finds nothing wrong with it, yet it stops protecting a
# pregnant employee (today 4 examples of the rule and 14 fixture cases, a story step among them, fail).
GENDER_FEMALE, GENDER_MALE = "      employee.gender: female\n", "      employee.gender: male\n"
FAILING_EXAMPLE = f"{RULE_FILE}::lcl-42-4.protected-period::Pregnant employee given Art. 40 notice"
FAILING_STORY_STEP = "reversal_crisis_test.yaml::In Feb 2026, offboarding an employee whose withdrawal"


def _copy_fixtures_beside(rules_dir):
    shutil.copytree(PROJECT_ROOT / "fixtures", rules_dir.parent / "fixtures")
    return rules_dir.parent / "fixtures"


@pytest.fixture
def gated_copy(rules_copy):
    """rules/ and fixtures/ side by side in tmp_path: the fixtures are found beside the rules."""
    _copy_fixtures_beside(rules_copy)
    return rules_copy


def _edit_gender(rules_dir, old=GENDER_FEMALE, new=GENDER_MALE):
    path = rules_dir / RULE_FILE
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1  # the one line of lcl-42-4.protected-period
    path.write_text(text.replace(old, new), encoding="utf-8")


@dataclass
class RulesTest:
    """What QA's `rules test` reports on the edited set: the gate must refuse on exactly these cases."""
    cases: int
    failing: list[str]   # case names, the fixtures folder written <fixtures>


def _named(cases, fixtures) -> list[str]:
    """Fixture cases are named from their fixtures/ folder (as in any checkout): write it <fixtures>."""
    return [re.sub(r"^fixtures/", "<fixtures>/", case.replace(str(fixtures), "<fixtures>")) for case in cases]


@pytest.fixture(scope="module")
def rules_test_of_the_edit(tmp_path_factory) -> RulesTest:
    rules_dir = tmp_path_factory.mktemp("edited") / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules_dir)
    fixtures = _copy_fixtures_beside(rules_dir)
    _edit_gender(rules_dir)
    junit = rules_dir.parent / "rules-test.xml"
    result = CliRunner().invoke(rules_group, ["test", "--rules-dir", str(rules_dir), "--fixtures", str(fixtures),
                                              "--junit", str(junit)])
    assert result.exit_code == 1, result.output
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    ran = [(f"{case.get('classname')}::{case.get('name')}", case.find("failure") is not None) for case in cases]
    failing = _named([name for name, failed in ran if failed], fixtures)
    assert failing
    return RulesTest(len(ran), failing)


def _assert_refusal_names_the_failing_cases(change: dict, serving: str, reason: str, rules_test: RulesTest,
                                            fixtures) -> None:
    body = change["body"]
    assert change["ruleset_version"] == serving
    assert body["rejected"] is True and body["still_serving"] == serving and body["reason"] == reason
    assert body["candidate_version"] != serving and body["fixtures_run"] is True
    assert body["cases_run"] == rules_test.cases
    named = [f["case"] for f in body["failing_cases"]]
    assert _named(named, fixtures) == rules_test.failing
    assert FAILING_EXAMPLE in named and any(re.search(f"{FAILING_STORY_STEP}.* step \\d+$", c) for c in named)
    example = next(f for f in body["failing_cases"] if f["case"] == FAILING_EXAMPLE)
    assert example["problems"] == ["rule lcl-42-4.protected-period: expected deny, got none"]


def test_the_endpoint_refuses_a_set_that_fails_its_examples_and_fixtures(gated_copy, tmp_path,
                                                                       rules_test_of_the_edit):
    app = make_app(f"sqlite:///{tmp_path / 'g.sqlite'}", RULES_DIR=str(gated_copy), RULES_WATCH_SECONDS=0)
    client = app.test_client()
    serving = client.post("/v1/checks", json=check_body()).get_json()["ruleset_version"]
    _edit_gender(gated_copy)

    answer = client.post("/v1/admin/rules/reload")
    assert answer.status_code == 409
    body = answer.get_json()
    failing = len(rules_test_of_the_edit.failing)
    assert body["code"] == 409 and body["status"] == "Conflict"
    assert f"fails {failing} rule example(s) or fixture case(s)" in body["message"]
    assert body["ok"] is False and body["version"] == serving and body["candidate"] != serving
    assert _named(body["failing_cases"], gated_copy.parent / "fixtures") == rules_test_of_the_edit.failing
    assert [e["path"] for e in body["errors"]] == body["failing_cases"]
    assert {"path": FAILING_EXAMPLE, "reason": "rule lcl-42-4.protected-period: expected deny, got none"} \
        in body["errors"]

    check = client.post("/v1/checks", json=check_body()).get_json()
    assert check["ruleset_version"] == serving and check["verdict"] == "deny"
    assert "lcl-42-4.protected-period" in [f["rule_id"] for f in check["findings"]]
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ready" and ready["degraded"] is True
    assert ready["candidate_refused"]["summary"] == (f"serving {serving[:19]}; candidate {body['candidate'][:19]} "
                                                     f"refused ({failing} failing case(s))")
    _assert_refusal_names_the_failing_cases(_changes(client)[-1], serving, "admin endpoint",
                                            rules_test_of_the_edit, gated_copy.parent / "fixtures")
    app.extensions["db_engine"].dispose()


def test_the_watcher_refuses_it_and_does_not_retry_until_the_files_change(gated_copy, tmp_path,
                                                                          rules_test_of_the_edit):
    app = make_app(f"sqlite:///{tmp_path / 'g.sqlite'}", RULES_DIR=str(gated_copy), RULES_WATCH_SECONDS=0.001)
    client = app.test_client()
    serving = client.post("/v1/checks", json=check_body()).get_json()["ruleset_version"]
    _edit_gender(gated_copy)
    time.sleep(0.01)
    check = client.post("/v1/checks", json=check_body()).get_json()
    assert check["ruleset_version"] == serving and check["verdict"] == "deny"
    time.sleep(0.01)
    assert client.post("/v1/checks", json=check_body()).get_json()["verdict"] == "deny"
    changes = _changes(client)
    assert [c["body"].get("rejected", False) for c in changes] == [False, True]  # refused once, not per request
    _assert_refusal_names_the_failing_cases(changes[-1], serving, "rule files or fixtures changed on disk",
                                            rules_test_of_the_edit, gated_copy.parent / "fixtures")

    _edit_gender(gated_copy, GENDER_MALE, GENDER_FEMALE)  # put right: the same content as the serving set
    _edit(gated_copy, "Going ahead is an unlawful termination", "Going ahead is an unlawful dismissal")
    time.sleep(0.01)
    fixed = client.post("/v1/checks", json=check_body()).get_json()
    assert fixed["ruleset_version"] != serving and fixed["verdict"] == "deny"
    app.extensions["db_engine"].dispose()


def test_the_service_refuses_to_start_on_it(gated_copy, tmp_path, rules_test_of_the_edit):
    _edit_gender(gated_copy)
    with pytest.raises(RuleSetRefused) as refused:
        make_app(f"sqlite:///{tmp_path / 'g.sqlite'}", RULES_DIR=str(gated_copy))
    failing = [f.case for f in refused.value.result.failing]
    assert _named(failing, gated_copy.parent / "fixtures") == rules_test_of_the_edit.failing
    assert f"{len(failing)} of {rules_test_of_the_edit.cases} rule example(s)" in str(refused.value)
    assert all(case in str(refused.value) for case in failing)
    assert not (tmp_path / "g.sqlite").exists()  # refused before the database is touched


def test_gunicorn_s_entry_point_exits_non_zero_naming_the_failing_cases(gated_copy, tmp_path,
                                                                        rules_test_of_the_edit):
    _edit_gender(gated_copy)
    env = {**os.environ, "SEPARATION_GUARD_RULES_DIR": str(gated_copy),
           "SEPARATION_GUARD_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite'}"}
    env.pop("DATABASE_URL", None)
    started = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=PROJECT_ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode != 0
    assert (f"refused: {len(rules_test_of_the_edit.failing)} of {rules_test_of_the_edit.cases} "
            "rule example(s) and fixture case(s) fail") in started.stderr
    # Named from their fixtures/ folder, as in any checkout.
    assert all(case.replace("<fixtures>", "fixtures") in started.stderr for case in rules_test_of_the_edit.failing)


def test_a_fixture_the_set_fails_refuses_it_too(gated_copy, tmp_path):
    """The fixtures are part of the gate, not only the rule examples, and the watcher sees them change."""
    app = make_app(f"sqlite:///{tmp_path / 'g.sqlite'}", RULES_DIR=str(gated_copy), RULES_WATCH_SECONDS=0.001)
    client = app.test_client()
    serving = client.post("/v1/checks", json=check_body()).get_json()["ruleset_version"]
    fixture = gated_copy.parent / "fixtures" / "situations" / "reversal_crisis_test.yaml"
    text = fixture.read_text(encoding="utf-8")
    assert "verdict: deny" in text
    fixture.write_text(text.replace("verdict: deny", "verdict: allow", 1), encoding="utf-8")
    time.sleep(0.01)
    assert client.post("/v1/checks", json=check_body()).get_json()["ruleset_version"] == serving
    refused = _changes(client)[-1]["body"]
    assert refused["rejected"] is True and refused["reason"] == "rule files or fixtures changed on disk"
    assert refused["failing_cases"] and all("reversal_crisis_test.yaml::" in f["case"]
                                            for f in refused["failing_cases"])
    body = client.post("/v1/admin/rules/reload").get_json()
    assert body["code"] == 409 and body["failing_cases"] == [f["case"] for f in refused["failing_cases"]]
    assert any("verdict: expected allow, got deny" in e["reason"] for e in body["errors"])
    app.extensions["db_engine"].dispose()


def test_without_a_fixtures_folder_the_examples_alone_gate(rules_copy, tmp_path, caplog, rules_test_of_the_edit):
    assert not (rules_copy.parent / "fixtures").exists()
    app = make_app(f"sqlite:///{tmp_path / 'g.sqlite'}", RULES_DIR=str(rules_copy), RULES_WATCH_SECONDS=0)
    assert f"fixtures folder {rules_copy.parent / 'fixtures'} does not exist" in caplog.text
    _edit_gender(rules_copy)
    body = app.test_client().post("/v1/admin/rules/reload").get_json()
    examples = [case for case in rules_test_of_the_edit.failing if not case.startswith("<fixtures>")]
    assert body["code"] == 409 and body["failing_cases"] == examples and FAILING_EXAMPLE in examples
    assert _changes(app.test_client())[-1]["body"]["fixtures_run"] is False
    app.extensions["db_engine"].dispose()


def test_the_gate_writes_nothing_to_the_service_s_database(gated_copy, tmp_path, caplog, rules_test_of_the_edit):
    """Fixture stories build their case in memory: only the start-up's ruleset_change is recorded."""
    caplog.set_level(logging.DEBUG)
    app = make_app(f"sqlite:///{tmp_path / 'g.sqlite'}", RULES_DIR=str(gated_copy))
    assert f"passed its gate: {rules_test_of_the_edit.cases} example(s) and fixture case(s)" in caplog.text
    with app.extensions["db_sessions"]() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0
        assert list(session.scalars(select(TrailEntry.kind))) == ["ruleset_change"]
    app.extensions["db_engine"].dispose()


def test_fixtures_dir_names_the_fixtures_to_gate_on(rules_copy, tmp_path, rules_test_of_the_edit):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(PROJECT_ROOT / "fixtures", elsewhere)
    left_out = "labor_law/lcl_42_4_pregnancy_maternity_nursing_test.yaml"
    (elsewhere / left_out).unlink()
    _edit_gender(rules_copy)
    with pytest.raises(RuleSetRefused) as refused:
        make_app(f"sqlite:///{tmp_path / 'g.sqlite'}", RULES_DIR=str(rules_copy), FIXTURES_DIR=str(elsewhere))
    named = _named([f.case for f in refused.value.result.failing], elsewhere)
    assert named == [case for case in rules_test_of_the_edit.failing if f"<fixtures>/{left_out}" not in case]
    assert any(FAILING_STORY_STEP in case for case in named)


def test_a_fixture_file_that_cannot_be_read_refuses_the_set_and_checks_go_on(gated_copy, tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'g.sqlite'}", RULES_DIR=str(gated_copy), RULES_WATCH_SECONDS=0.001)
    client = app.test_client()
    serving = client.post("/v1/checks", json=check_body()).get_json()["ruleset_version"]
    broken = gated_copy.parent / "fixtures" / "situations" / "reversal_crisis_test.yaml"
    broken.write_text(broken.read_text(encoding="utf-8") + "\ncases: [again]\n", encoding="utf-8")  # a repeated key
    time.sleep(0.01)
    answer = client.post("/v1/checks", json=check_body())
    assert answer.status_code == 200 and answer.get_json()["ruleset_version"] == serving
    refused = _changes(client)[-1]["body"]
    assert refused["rejected"] is True
    assert [f["case"] for f in refused["failing_cases"]] == [str(broken)]
    assert "could not be run" in refused["failing_cases"][0]["problems"][0]
    assert "duplicate key" in refused["failing_cases"][0]["problems"][0]
    app.extensions["db_engine"].dispose()
