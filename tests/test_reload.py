"""Hot reload: a good edit is swapped in whole, a bad one is refused and the old set keeps serving."""
import pytest

from service.evaluation import evaluate
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
    _edit(rules_copy, "Confirm them before acting.", "Confirm both before acting.")
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
def test_a_bad_edit_is_refused_and_the_old_version_keeps_serving(reload_app, rules_copy, old, new, words):
    client = reload_app.test_client()
    serving = client.post("/v1/checks", json=check_body()).get_json()["ruleset_version"]
    _edit(rules_copy, old, new)
    answer = client.post("/v1/admin/rules/reload")
    assert answer.status_code == 422
    body = answer.get_json()
    assert body["ok"] is False and body["version"] == serving
    assert any(words in p and RULE_FILE in p for p in body["problems"]), body["problems"]
    check = client.post("/v1/checks", json=check_body()).get_json()
    assert check["ruleset_version"] == serving and check["verdict"] == "deny"
    rejected = _changes(client)[-1]
    assert rejected["body"]["rejected"] is True and rejected["body"]["still_serving"] == serving


def test_overlapping_dates_and_a_missing_citation_text_are_refused_too(reload_app, rules_copy):
    client = reload_app.test_client()
    drop_citation_text(rules_copy, "LCL-42-4")
    body = client.post("/v1/admin/rules/reload").get_json()
    assert body["ok"] is False and any("citations.LCL-42-4" in p for p in body["problems"])


def test_the_watcher_picks_up_an_edit_by_itself(rules_copy, tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'w.sqlite'}", RULES_DIR=str(rules_copy), RULES_WATCH_SECONDS=0.001)
    client = app.test_client()
    before = client.post("/v1/checks", json=check_body()).get_json()["ruleset_version"]
    _edit(rules_copy, "Confirm them before acting.", "Check them before acting.")
    import time
    time.sleep(0.01)
    after = client.post("/v1/checks", json=check_body()).get_json()["ruleset_version"]
    assert after != before
    app.extensions["db_engine"].dispose()


def test_a_check_in_flight_finishes_on_the_version_it_started_with(reload_app, rules_copy):
    from schemas.check import CheckRequestSchema
    started_with = reload_app.extensions["rulebook"]
    _edit(rules_copy, "Confirm them before acting.", "Confirm it before acting.")
    with reload_app.app_context():
        from service.reload import reload_rules
        assert reload_rules(reload_app, "test").ok
    outcome = evaluate(started_with, CheckRequestSchema().load(check_body()))
    assert outcome.ruleset_version == started_with.version and outcome.verdict == "deny"
    assert reload_app.extensions["rulebook"].version != started_with.version


def test_reload_needs_the_admin_scope(reload_app):
    from service.auth import create_client
    with reload_app.extensions["db_sessions"]() as session, session.begin():
        key = create_client(session, "ehr", ["checks"])
    client = reload_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    assert client.post("/v1/admin/rules/reload").status_code == 403
