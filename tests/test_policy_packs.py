"""Company policy packs (rules/companies/<tenant>/, docs/policy-packs.md): loaded on the statutes,
refused when they could lower a statutory verdict (naming the file and line), gated and put live
each on its own, and the two shipped packs, acme and globex, behaving differently where their
policies differ and identically where the law decides."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from flask import g, request
from sqlalchemy import select

from service import PROJECT_ROOT
from service.decide.evaluation import evaluate
from service.decide.pack_gate import run_pack_gate, statutes_hold, statutory
from service.decide.packs import load_pack, pack_tenants
from service.decide.problem_lines import place_problems
from service.decide.rulebook import RuleLoadError, load_rulebook
from service.flows.packs_live import PackUnavailable, reload_pack, rulebook_for
from service.flows.sla_sweep import sweep_overdue
from service.record.models import Notification, TrailEntry
from service.tenants import DEFAULT_TENANT
from tests.conftest import make_app

RULES, FIXTURES = PROJECT_ROOT / "rules", PROJECT_ROOT / "fixtures"


@pytest.fixture(scope="module")
def statutes():
    book = load_rulebook(RULES)
    yield book
    book.engine.close()


@pytest.fixture(scope="module")
def packs(statutes):
    books = {tenant: load_pack(statutes, tenant) for tenant in ("acme", "globex")}
    yield books
    for book in books.values():
        book.engine.close()


def _pack_rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def _write_pack(rules: Path, tenant: str, files: dict[str, str]) -> None:
    """A pack made of globex's files, with some replaced or added."""
    folder = rules / "companies" / tenant
    shutil.copytree(rules / "companies" / "globex", folder)
    (folder / "pack.yaml").write_text((folder / "pack.yaml").read_text(encoding="utf-8")
                                      .replace("tenant: globex", f"tenant: {tenant}"), encoding="utf-8")
    for rule_file in (folder / "rules").glob("*.yaml"):
        rule_file.write_text(rule_file.read_text(encoding="utf-8").replace("globex.", f"{tenant}."), encoding="utf-8")
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")


def _refusal(rules: Path, tenant: str) -> list[str]:
    base = load_rulebook(rules)
    try:
        with pytest.raises(RuleLoadError) as refused:
            load_pack(base, tenant)
    finally:
        base.engine.close()
    return [str(p) for p in place_problems(rules, refused.value.problems)]


# ---- loading and versions ----------------------------------------------------------------------
def test_the_shipped_packs_load_and_pass_their_own_gate(statutes, packs):
    assert pack_tenants(RULES) == ["acme", "globex"]
    for tenant, book in packs.items():
        result = run_pack_gate(book, statutes, FIXTURES)
        assert result.ok, [str(f) for f in result.failing]
        own = list((RULES / "companies" / tenant / "fixtures").glob("*_test.yaml"))
        assert own and result.cases_run > 400  # statute examples, its own examples and fixtures, shared checks


def test_ruleset_version_names_the_statutes_and_the_pack_within_80_characters(statutes, packs):
    for tenant, book in packs.items():
        statutes_part, _, pack_part = book.version.partition("+")
        assert statutes.version.startswith(statutes_part) and len(statutes_part) == len("sha256:") + 16
        assert pack_part == f"{tenant}@{book.pack.digest.partition(':')[2][:12]}"
        assert len(book.version) <= 80 and book.pack.statutes == statutes.version
    # The longest tenant a pack may have still fits the trail's column.
    assert len(f"{statutes.version[:23]}+{'t' * 43}@{'0' * 12}") == 80


def test_a_pack_shares_the_statutes_engine_and_compiles_only_its_own_rules(statutes, packs):
    globex = packs["globex"]
    assert globex.engine.statutes is statutes.engine
    assert set(globex.rules) - set(statutes.rules) == {"globex.offboarding.in-person@2026-01-01"}
    assert globex.vocabulary is statutes.vocabulary and globex.context.parameters is statutes.context.parameters
    assert [s.step for s in globex.context.process.chains["resignation"]] == \
        ["resignation_manager_approval", "resignation_hr_approval"]
    assert globex.pack.webhook == {"endpoint": "https://ehr.globex.example/hooks/separations",
                                   "secret_env": "GLOBEX_WEBHOOK_SECRET"}


# ---- what the loader refuses ---------------------------------------------------------------------
RULE = """# yaml-language-server: $schema=../../../_schemas/rule_file.schema.json
apiVersion: rules/v1
description: d
rules:
  - id: {rule_id}
    title: {{zh: 标题, en: Title}}
    verdict: {verdict}
    actions: [terminate_with_notice]
    effective_from: 2026-01-01
    citations: [{{ref: GLX-APR-4.1}}]
    message: {{zh: 信息, en: Message}}
    when: {{employee.gender: female}}{extra}
    examples:
      - name: {{zh: 甲, en: fires}}
        request: {{as_of: 2026-03-10, employee: {{id: E1, gender: female}}, action: {{type: terminate_with_notice}}}}
        expect: {verdict}
      - name: {{zh: 乙, en: silent}}
        request: {{as_of: 2026-03-10, employee: {{id: E1, gender: male}}, action: {{type: terminate_with_notice}}}}
        expect: none
"""


@pytest.mark.parametrize("rule_id, verdict, extra, expected", [
    ("lcl-42-4.protected-period", "deny", "", ["evil/rules/weak.yaml:5:", "reuses the id of the rule in labor_law/"]),
    ("protected-period", "deny", "", ["evil/rules/weak.yaml:5:", "starts with the tenant: evil.<name>"]),
    ("evil.soften", "warn", "\n    overrides: [lcl-42-4.protected-period]",
     ["evil/rules/weak.yaml:13:", "`overrides` would remove or lower a finding"]),
    ("evil.soften", "allow", "", ["evil/rules/weak.yaml:7:", "verdict `allow`"]),
])
def test_a_pack_that_could_weaken_a_statute_is_refused_naming_file_and_line(tmp_path, rule_id, verdict, extra,
                                                                           expected):
    rules = _pack_rules_copy(tmp_path)
    _write_pack(rules, "evil", {"rules/weak.yaml": RULE.format(rule_id=rule_id, verdict=verdict, extra=extra)})
    problems = _refusal(rules, "evil")
    assert any(all(part in p for part in expected) for p in problems), problems
    assert all(p.startswith("companies/evil/") for p in problems), problems


def test_a_pack_cannot_hold_statutory_parameters_or_rewrite_a_citation(tmp_path):
    rules = _pack_rules_copy(tmp_path)
    parameter = (rules / "labor_law" / "parameters").rglob("*.yaml").__next__()
    citations = (rules / "companies" / "globex" / "citations.yaml").read_text(encoding="utf-8")
    _write_pack(rules, "evil", {
        f"labor_law/parameters/{parameter.name}": parameter.read_text(encoding="utf-8"),
        "citations.yaml": citations.replace("  GLX-APR-4.1:", "  LCL-42-4:").replace(
            "ref: GLX-APR-4.1", "ref: LCL-42-4")})
    problems = _refusal(rules, "evil")
    assert any(p.startswith(f"companies/evil/labor_law/parameters/{parameter.name}") and "a pack may hold only" in p
               for p in problems), problems
    assert any(p.startswith("companies/evil/citations.yaml:") and "LCL-42-4 is already in citations/labor_law.yaml" in p
               for p in problems), problems


def test_a_pack_for_another_tenant_or_without_its_file_is_refused(tmp_path):
    rules = _pack_rules_copy(tmp_path)
    shutil.copytree(rules / "companies" / "globex", rules / "companies" / "initech")
    assert any("is for tenant 'initech', not 'globex'" in p for p in _refusal(rules, "initech"))
    (rules / "companies" / "initech" / "pack.yaml").unlink()
    assert any("a pack needs its pack.yaml" in p for p in _refusal(rules, "initech"))


# ---- acme and globex: their policies differ, the statutes do not -------------------------------------
PENDING = {"employee": {"id": "E1", "gender": "male", "department": "SALES"},
           "action": {"type": "review_case", "actor": {"id": "HR7", "role": "hr"}},
           "case": {"id": "SEP-1", "kind": "resignation", "events": [
               {"type": "resignation_submitted", "at": "2026-03-02T10:00:00+08:00",
                "actor": {"id": "E1", "role": "employee"}, "form": "written"}]}}


@pytest.mark.parametrize("as_of, acme, globex", [("2026-03-03", "cleared", "cleared"),   # Tue
                                                 ("2026-03-04", "cleared", "fired"),     # Wed
                                                 ("2026-03-05", "fired", "fired")])      # Thu
def test_on_the_wednesday_after_a_monday_submission_globex_is_overdue_and_acme_is_not(packs, as_of, acme, globex):
    for tenant, outcome in (("acme", acme), ("globex", globex)):
        book = packs[tenant]
        result = evaluate(book, book.request_schema().load({**PENDING, "as_of": as_of}))
        [sla] = [c for c in result.checked if c["rule_id"] == "process.sla.step-overdue"]
        assert sla["outcome"] == outcome, (tenant, as_of, sla)


def test_the_statutes_hold_identically_for_both_packs_on_the_shared_fixtures(statutes, packs):
    names = {r.id for r in statutes.rules.values() if r.family == "labor_law"}
    held = {tenant: statutes_hold(book, statutes, FIXTURES) for tenant, book in packs.items()}
    for tenant, results in held.items():
        assert len(results) > 200 and not [r for r in results if r[1]], tenant
    # Pairwise too: the same statutory findings for acme and globex, check by check.
    from service.decide.pack_gate import shared_checks
    from service.decide.scenarios import observe
    for source, body, now in shared_checks(FIXTURES)[:150]:
        acme, globex = (observe(packs[t], body, now) for t in ("acme", "globex"))
        if acme.actual is not None:
            assert statutory(acme.actual, names) == statutory(globex.actual, names), source


# ---- serving: each tenant its pack, each pack live on its own ------------------------------------------
def _as_tenant(app):
    """What branch `tenants` does at authentication (g.tenant from the key), from a test header."""
    @app.before_request
    def _tenant():
        g.tenant = request.headers.get("X-Test-Tenant", DEFAULT_TENANT)
    return app.test_client()


def test_each_tenant_is_answered_by_its_pack_and_names_it_in_ruleset_version(sqlite_app):
    app = sqlite_app
    client = _as_tenant(app)
    request_body = {**PENDING, "as_of": "2026-03-04"}
    answers = {}
    for tenant in (DEFAULT_TENANT, "acme", "globex", "initech"):
        answer = client.post("/v1/checks", json=request_body, headers={"X-Test-Tenant": tenant})
        assert answer.status_code == 200, answer.get_json()
        answers[tenant] = answer.get_json()
    base = app.extensions["rulebook"].version
    assert answers[DEFAULT_TENANT]["ruleset_version"] == base == answers["initech"]["ruleset_version"]
    assert answers["acme"]["ruleset_version"] == app.extensions["packs"]["acme"].version
    assert answers["globex"]["ruleset_version"].startswith(base[:23] + "+globex@")
    assert answers["acme"]["verdict"] == "allow" and answers["globex"]["verdict"] == "warn"
    with app.extensions["db_sessions"]() as session:
        versions = set(session.scalars(select(TrailEntry.ruleset_version).where(TrailEntry.kind == "check")))
    assert versions == {base, answers["acme"]["ruleset_version"], answers["globex"]["ruleset_version"]}
    # The decision reads back under the pack that made it, to its own tenant only.
    assert client.get(f"/v1/decisions/{answers['globex']['decision_id']}").status_code == 404
    read = client.get(f"/v1/decisions/{answers['globex']['decision_id']}", headers={"X-Test-Tenant": "globex"}).get_json()
    assert read["ruleset_version"] == answers["globex"]["ruleset_version"] and read["verdict"] == "warn"


@pytest.mark.parametrize("tenant, notified", [("acme", 0), ("globex", 1)])
def test_the_sla_sweep_on_wednesday_notifies_for_globex_and_not_for_acme(app, tenant, notified):
    client = _as_tenant(app)
    body = {"client_key": "k1", "case": {"kind": "resignation", "hr_owner_id": "HR7", "manager_id": "M3"},
            "employee": {"id": "E1", "gender": "male", "department": "SALES", "birth_date": "1990-01-01",
                         "hire_date": "2020-01-01"},
            "event": {"type": "resignation_submitted", "at": "2026-03-02T10:00:00+08:00",
                      "actor": {"id": "E1", "role": "employee"}, "form": "written"}}
    headers = {"X-Test-Tenant": tenant}
    assert client.post("/v1/cases/SEP-1/events", json=body, headers=headers).status_code == 201
    pending = client.get("/v1/cases/SEP-1?as_of=2026-03-04", headers=headers).get_json()["pending"]
    assert (pending["due_on"], pending["overdue"]) == (("2026-03-04", False) if tenant == "acme" else ("2026-03-03", True))
    swept = client.post("/v1/sla/sweep", json={"as_of": "2026-03-04"}, headers=headers).get_json()
    assert swept["notifications_created"] == notified and swept["overdue_steps"] == notified
    with app.extensions["db_sessions"]() as session:
        notes = session.scalars(select(Notification).where(Notification.kind == "step_overdue")).all()
        assert [(n.recipient_role, n.payload["due_on"]) for n in notes] == \
            ([("manager", "2026-03-03")] if notified else [])
    # The command sweeps as the tenant too (the notification is not queued twice).
    swept_again = app.test_cli_runner().invoke(args=["sla", "sweep", "--as-of", "2026-03-04", "--tenant", tenant])
    assert f"overdue_steps={notified} notifications_created=0" in swept_again.output, swept_again.output
    # A working day later Acme's step is late too: the same case, its own deadline.
    with app.app_context():
        assert sweep_overdue(app, dt.date(2026, 3, 5), tenant=tenant)["overdue_steps"] == 1


def test_a_refused_pack_keeps_its_tenant_on_the_previous_pack_and_others_untouched(tmp_path):
    rules = _pack_rules_copy(tmp_path)
    app = make_app(f"sqlite:///{tmp_path / 'db.sqlite'}", RULES_DIR=str(rules), FIXTURES_DIR=str(FIXTURES))
    try:
        before = {t: b.version for t, b in app.extensions["packs"].items()}
        sla = rules / "companies" / "globex" / "config" / "sla.yaml"
        sla.write_text(sla.read_text(encoding="utf-8") + "\nsuppress: [process.sla.step-overdue]\n", encoding="utf-8")
        result = reload_pack(app, "globex", "test")
        assert not result.ok and result.version == before["globex"]
        assert any("companies/globex/config/sla.yaml:" in p and "`suppress`" in p for p in result.problems)
        assert {t: b.version for t, b in app.extensions["packs"].items()} == before
        assert rulebook_for(app, "globex").version == before["globex"]
        with app.extensions["db_sessions"]() as session:
            [refusal] = session.scalars(select(TrailEntry).where(TrailEntry.kind == "ruleset_change",
                                                                 TrailEntry.ruleset_version == before["globex"])).all()
        assert refusal.body["tenant"] == "globex" and refusal.body["rejected"] is True
        assert refusal.body["still_serving"] == before["globex"]
        # Without the key, a 3-day SLA: it loads, and its own fixtures refuse it.
        sla.write_text(sla.read_text(encoding="utf-8").replace("suppress: [process.sla.step-overdue]", ""),
                       encoding="utf-8")
        (rules / "companies" / "globex" / "config" / "sla.yaml").write_text(
            sla.read_text(encoding="utf-8").replace("working_days: 1", "working_days: 3"), encoding="utf-8")
        fixed = app.test_client().post("/v1/admin/rules/packs/globex/reload")
        # The pack's own fixtures still expect 1 working day: refused by its gate (409), still serving.
        assert fixed.status_code == 409 and fixed.get_json()["version"] == before["globex"]
        assert "companies/globex/fixtures/sla_test.yaml::Submitted Mon 2 Mar 2026 and still pending on Wed 4 Mar is 1 " \
               "working day late at Globex" in fixed.get_json()["failing_cases"], fixed.get_json()
        assert app.extensions["packs"]["acme"].version == before["acme"]
        assert app.test_client().post("/v1/admin/rules/packs/nobody/reload").status_code == 404
    finally:
        app.extensions["db_engine"].dispose()


def test_a_pack_refused_at_start_up_answers_503_for_its_tenant_alone(tmp_path):
    rules = _pack_rules_copy(tmp_path)
    (rules / "companies" / "globex" / "pack.yaml").write_text(
        (rules / "companies" / "globex" / "pack.yaml").read_text(encoding="utf-8") + "override: true\n",
        encoding="utf-8")
    app = make_app(f"sqlite:///{tmp_path / 'db.sqlite'}", RULES_DIR=str(rules), FIXTURES_DIR=str(FIXTURES))
    try:
        assert app.extensions["packs"]["globex"] is None and app.extensions["packs"]["acme"] is not None
        with pytest.raises(PackUnavailable):
            rulebook_for(app, "globex")
        assert rulebook_for(app, "acme").pack.tenant == "acme"
        with app.extensions["db_sessions"]() as session:
            bodies = [e.body for e in session.scalars(select(TrailEntry).where(TrailEntry.kind == "ruleset_change"))]
        assert any(b.get("tenant") == "globex" and b.get("rejected") for b in bodies)
    finally:
        app.extensions["db_engine"].dispose()


# ---- the rule tools ------------------------------------------------------------------------------
def test_rules_lint_and_test_cover_the_packs(tmp_path):
    from click.testing import CliRunner

    from service.tools.rule_cli import rules_group

    runner = CliRunner()
    linted = runner.invoke(rules_group, ["lint", "--rules-dir", str(RULES), "--pack", "all"])
    assert linted.exit_code == 0, linted.output
    assert "pack acme, 1 company rule(s) checked, 0 error(s)" in linted.output
    assert "pack globex, 1 company rule(s) checked, 0 error(s)" in linted.output

    rules = _pack_rules_copy(tmp_path)
    _write_pack(rules, "evil", {"rules/weak.yaml": RULE.format(rule_id="lcl-42-4.protected-period", verdict="deny",
                                                              extra="")})
    refused = runner.invoke(rules_group, ["lint", "--rules-dir", str(rules), "--pack", "evil"])
    assert refused.exit_code == 1
    assert "companies/evil/rules/weak.yaml:5: error: rule lcl-42-4.protected-period@2026-01-01: id: reuses the id " \
           "of the rule in labor_law/" in refused.output, refused.output
    unknown = runner.invoke(rules_group, ["lint", "--rules-dir", str(rules), "--pack", "nobody"])
    assert unknown.exit_code == 2 and "no pack nobody" in unknown.output

    tested = runner.invoke(rules_group, ["test", "--rules-dir", str(RULES), "--pack", "acme"])
    assert tested.exit_code == 0, tested.output[-2000:]
    assert "PASS  companies/acme/fixtures/sla_test.yaml::Submitted Mon 2 Mar 2026 and still pending on Wed 4 Mar" \
        in tested.output


# ---- the catalog page ------------------------------------------------------------------------------
def test_the_catalog_shows_the_statutes_plus_the_tenants_own_pack(sqlite_app):
    client = _as_tenant(sqlite_app)

    def listed(tenant: str, query: str = "") -> str:
        page = client.get(f"/rules{query}", headers={"X-Test-Tenant": tenant})
        assert page.status_code == 200
        return page.get_data(as_text=True)

    globex = listed("globex", "?family=company")
    assert 'id="rule-globex.offboarding.in-person"' in globex and "acme." not in globex
    assert "Company policy pack" in listed("globex")
    assert 'id="rule-acme.offboarding.exit-checklist"' in listed("acme", "?family=company")
    # The statutes are the same for everyone; a tenant without a pack sees no company rules.
    for tenant in ("globex", "acme", DEFAULT_TENANT):
        assert 'id="rule-lcl-42-4.protected-period"' in listed(tenant, "?q=lcl-42-4.protected-period")
    assert "Company policy pack" not in listed(DEFAULT_TENANT)
    assert client.get("/rules?family=company", headers={"X-Test-Tenant": DEFAULT_TENANT}).status_code == 400
    rule = client.get("/rules/globex.offboarding.in-person", headers={"X-Test-Tenant": "globex"})
    assert rule.status_code == 200 and "GLX-APR-4.1" in rule.get_data(as_text=True)
    assert client.get("/rules/globex.offboarding.in-person", headers={"X-Test-Tenant": "acme"}).status_code == 404


def test_a_pack_version_is_recorded_and_its_decisions_render_after_it_is_replaced(tmp_path):
    rules = _pack_rules_copy(tmp_path)
    app = make_app(f"sqlite:///{tmp_path / 'db.sqlite'}", RULES_DIR=str(rules), FIXTURES_DIR=str(FIXTURES))
    try:
        client = _as_tenant(app)
        first = app.extensions["packs"]["acme"].version
        answer = client.post("/v1/checks", json={**PENDING, "as_of": "2026-03-05"},
                             headers={"X-Test-Tenant": "acme"}).get_json()
        assert answer["ruleset_version"] == first and answer["verdict"] == "warn"
        checklist = rules / "companies" / "acme" / "rules" / "exit_checklist.yaml"
        checklist.write_text(checklist.read_text(encoding="utf-8").replace("gives them a copy (Acme",
                                                                          "hands them a copy (Acme"), encoding="utf-8")
        assert reload_pack(app, "acme", "test").ok and app.extensions["packs"]["acme"].version != first
        # Recorded before it first decides.
        client.post("/v1/checks", json={**PENDING, "as_of": "2026-03-05"}, headers={"X-Test-Tenant": "acme"})
        with app.extensions["db_sessions"]() as session:
            recorded = {e.entry_id: e.body for e in session.scalars(select(TrailEntry).where(
                TrailEntry.kind == "ruleset_change"))}
        assert recorded[first]["tenant"] == "acme" and recorded[first]["statutes"] == app.extensions["rulebook"].version
        assert "rules/exit_checklist.yaml" in recorded[first]["files"]
        assert recorded[app.extensions["packs"]["acme"].version]["previous_version"] == first
        assert "globex" not in {b.get("tenant") for b in recorded.values()}  # never used: nothing written
        read = client.get(f"/v1/decisions/{answer['decision_id']}", headers={"X-Test-Tenant": "acme"})
        assert read.status_code == 200 and read.get_json()["ruleset_version"] == first
        assert read.get_json()["findings"] == answer["findings"]
    finally:
        app.extensions["db_engine"].dispose()
