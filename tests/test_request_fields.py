"""A request field is declared once, in rules/facts/*.yaml (issue 20 item 2): the request schemas
are built from the vocabulary when the rules load (schemas/request_contract.py), so a new request
fact, a rule reading it and its examples need no Python. Shown here in a copy of rules/ with YAML
added and nothing else."""
from __future__ import annotations

import subprocess

import pytest
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from click.testing import CliRunner
from marshmallow import ValidationError

from schemas.check import CheckRequestSchema
from schemas.request_contract import contract_for, shipped
from service import PROJECT_ROOT
from service.decide.evaluation import evaluate
from service.decide.rulebook import load_rulebook
from service.tools.rule_cli import rules_group
from service.tools.scenarios import rule_example_cases, run_rule_example

FACT = "action.handover.assets_returned"

FACT_FILE = """\
# yaml-language-server: $schema=../_schemas/facts.schema.json
apiVersion: facts/v1
facts:
  action.handover.assets_returned:
    type: bool
    source: request
    description: 已归还公司资产 / The employee has returned the company's assets (laptop, badge)
    request:
      description: >-
        已归还公司资产 / The employee has returned the company's assets; HR confirms it before
        offboarding (test policy).
  action.handover.items_outstanding:
    type: int
    source: request
    min: 0
    max: 99
    description: 未归还资产件数 / Number of assets not yet returned
"""

RULE_FILE = """\
# yaml-language-server: $schema=../_schemas/rule_file.schema.json
apiVersion: rules/v1
description: 资产归还（测试）/ Assets returned before offboarding (a test policy)
metadata:
  owner: hr
rules:
  - id: process.handover.assets-not-returned
    title: {zh: 资产尚未归还, en: Assets not returned}
    verdict: warn
    actions: [execute_offboarding]
    effective_from: 2026-01-01
    citations:
      - ref: POL-SOD-5.4
    message:
      zh: 员工尚未归还公司资产，办理离职前应先完成交接。
      en: The employee has not returned the company's assets; finish the handover before offboarding.
    when:
      action.handover.assets_returned: false
    examples:
      - name: {zh: 资产未归还时办理离职, en: Offboarding before the assets are returned}
        request:
          as_of: 2026-03-02
          employee: {id: E1}
          action: {type: execute_offboarding, actor: {id: HR1, role: hr}, handover: {assets_returned: false}}
        expect: warn
      - name: {zh: 资产已归还, en: The assets are returned}
        request:
          as_of: 2026-03-02
          employee: {id: E1}
          action: {type: execute_offboarding, actor: {id: HR1, role: hr}, handover: {assets_returned: true}}
        expect: none
"""


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """rules/ copied, plus one fact file and one rule file: YAML only."""
    import shutil
    root = tmp_path_factory.mktemp("request_fields") / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", root)
    (root / "facts" / "handover.yaml").write_text(FACT_FILE, encoding="utf-8")
    (root / "process" / "handover.yaml").write_text(RULE_FILE, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def book(tree):
    rulebook = load_rulebook(tree)
    yield rulebook
    rulebook.engine.close()


def _body(**handover) -> dict:
    return {"as_of": "2026-03-02", "employee": {"id": "E1"},
            "action": {"type": "execute_offboarding", "actor": {"id": "HR1", "role": "hr"}, "handover": handover}}


def test_the_new_field_is_validated_by_the_rule_sets_own_contract(book):
    request = book.request_schema().load(_body(assets_returned=False, items_outstanding=2))
    assert request["action"]["handover"] == {"assets_returned": False, "items_outstanding": 2}
    with pytest.raises(ValidationError) as exc:  # typed as declared: a JSON boolean, an int in 0..99
        book.request_schema().load(_body(assets_returned="no", items_outstanding=100))
    assert exc.value.messages == {"action": {"handover": {"assets_returned": ["Not a valid boolean."],
                                                          "items_outstanding": [
                                                              "Must be greater than or equal to 0 and less than "
                                                              "or equal to 99."]}}}
    # The shipped rules do not declare it: their contract refuses it, as before.
    with pytest.raises(ValidationError):
        CheckRequestSchema().load(_body(assets_returned=False))


def test_the_new_field_is_documented(book):
    spec = APISpec("t", "1", "3.1.0", plugins=[MarshmallowPlugin()])
    spec.components.schema("CheckRequest", schema=book.request_schema)
    components = spec.to_dict()["components"]["schemas"]
    assert components["Action"]["properties"]["handover"] == {"$ref": "#/components/schemas/Handover"}
    assert components["Handover"]["properties"]["assets_returned"] == {
        "type": "boolean", "description": "已归还公司资产 / The employee has returned the company's assets; HR confirms it "
                                          "before offboarding (test policy)."}
    assert components["Handover"]["properties"]["items_outstanding"] == {
        "type": "integer", "minimum": 0, "maximum": 99, "description": "未归还资产件数 / Number of assets not yet returned"}


def test_the_rule_reading_it_decides(book):
    def outcome(handover):
        answer = evaluate(book, book.request_schema().load(_body(**handover)))
        return next(c for c in answer.checked if c["rule_id"] == "process.handover.assets-not-returned")

    assert outcome({"assets_returned": False})["outcome"] == "fired"
    assert outcome({"assets_returned": False})["facts"] == {FACT: False}
    assert outcome({"assets_returned": True})["outcome"] == "cleared"
    unknown = evaluate(book, book.request_schema().load(_body()))
    finding = next(f for f in unknown.findings if f["rule_id"] == "process.handover.assets-not-returned")
    assert finding["outcome"] == "unknown" and finding["missing_facts"] == [FACT]


def test_its_example_passes_and_lint_is_clean(book, tree):
    cases = [(name, rule, example) for name, rule, example in rule_example_cases(book)
             if rule.id == "process.handover.assets-not-returned"]
    assert len(cases) == 2
    for name, rule, example in cases:
        assert run_rule_example(book, rule, example, name).passed, name
    result = CliRunner().invoke(rules_group, ["lint", "--rules-dir", str(tree)])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_no_python_knows_the_new_field(tree):
    """What made it work is the YAML: no Python file of the project names the fact or its object,
    and the copy of the rules holds no Python."""
    assert not list(tree.rglob("*.py"))
    found = subprocess.run(["git", "grep", "-l", "-e", "handover", "-e", "assets_returned", "--", "*.py",
                            ":!tests/test_request_fields.py"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    assert found.stdout == "", found.stdout


def test_the_contract_is_built_once_per_vocabulary(book):
    shipped_book_contract = contract_for(book.vocabulary, book.context.parameters)
    assert shipped_book_contract is contract_for(book.vocabulary, book.context.parameters)
    assert shipped_book_contract.check is book.request_schema
    assert shipped().check is CheckRequestSchema and shipped().check is not book.request_schema
    # Every schema nested twice is one class: an event's actor is the action's actor.
    actor = book.request_schema._declared_fields["action"].nested._declared_fields["actor"].nested
    event = shipped_book_contract.event._declared_fields["event"].nested
    assert event._declared_fields["actor"].nested is actor


def test_an_app_serving_the_tree_accepts_and_decides_the_new_field(tree, tmp_path):
    """The served API validates with the serving rule set's contract (service/http/api.py)."""
    from tests.conftest import make_app

    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()  # the gate runs the rule examples alone
    app = make_app(f"sqlite:///{tmp_path / 'app.sqlite'}", RULES_DIR=str(tree), FIXTURES_DIR=str(fixtures),
                   RULES_WATCH_SECONDS=0)
    try:
        client = app.test_client()
        answer = client.post("/v1/checks", json=_body(assets_returned=False))
        assert answer.status_code == 200, answer.get_json()
        assert "process.handover.assets-not-returned" in [f["rule_id"] for f in answer.get_json()["findings"]]
        refused = client.post("/v1/checks", json=_body(assets_returned="no"))
        assert refused.status_code == 422
        assert {"path": "action.handover.assets_returned", "reason": "Not a valid boolean."} in [
            {k: e[k] for k in ("path", "reason")} for e in refused.get_json()["errors"]]
    finally:
        app.extensions["db_engine"].dispose()
