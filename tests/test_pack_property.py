"""A company's pack can only add to the statutes (issue 22, item 4), checked exhaustively:

- every shipped pack, on every check of the shared fixtures and of its own fixtures: the statutory
  findings are those of the statutes alone, the verdict is never less severe than the statutes'
  verdict, and whatever finding the pack takes away is a process rule reading the pack's own
  configuration (a 1-day SLA knows its deadline where the default's 2 days need next year's
  calendar), never a statute;
- every pack of company rules alone (each verdict, on conditions that hold, fail and stay unknown
  on the fixtures), on every shared check: the verdict with the pack is never less severe than
  without it (deny > warn > allow), and no finding without it is missing with it."""
from __future__ import annotations

import itertools
import shutil

import pytest

from service import PROJECT_ROOT
from service.decide.pack_gate import SEVERITY, shared_checks, statutory, statutory_verdict
from service.decide.packs import load_pack, pack_tenants
from service.decide.rulebook import load_rulebook
from service.decide.scenarios import observe

RULES, FIXTURES = PROJECT_ROOT / "rules", PROJECT_ROOT / "fixtures"
CHECKS = [c for c in shared_checks(FIXTURES) if c[1] is not None]


@pytest.fixture(scope="module")
def statutes():
    book = load_rulebook(RULES)
    yield book
    book.engine.close()


def _answers(book, checks) -> dict:
    return {source: observe(book, request, now).actual for source, request, now in checks}


@pytest.fixture(scope="module")
def without_pack(statutes):
    return _answers(statutes, CHECKS)


def _found(actual: dict) -> set[tuple]:
    return {(f["rule_id"], f["verdict"], f["outcome"]) for f in actual["findings"]}


@pytest.mark.parametrize("tenant", pack_tenants(RULES))
def test_a_shipped_pack_never_weakens_the_statutes_on_any_fixture(statutes, without_pack, tenant):
    pack = load_pack(statutes, tenant)
    names = {r.id for r in statutes.rules.values() if r.family == "labor_law"}
    process = {r.id for r in statutes.rules.values() if r.family == "process"}
    own = shared_checks(pack.pack.folder / "fixtures")
    try:
        compared = 0
        for source, request, now in CHECKS + own:
            alone = without_pack.get(source) or observe(statutes, request, now).actual
            with_pack = observe(pack, request, now).actual
            if alone is None:
                assert with_pack is None, source
                continue
            compared += 1
            assert statutory(with_pack, names) == statutory(alone, names), source
            assert SEVERITY[with_pack["verdict"]] >= SEVERITY[statutory_verdict(alone, names)], source
            taken = {rule_id for rule_id, _, _ in _found(alone) - _found(with_pack)}
            assert taken <= process, (source, taken)
            if SEVERITY[with_pack["verdict"]] < SEVERITY[alone["verdict"]]:
                assert taken, source  # lowered only where the pack's own configuration decides otherwise
        assert compared > 250
    finally:
        pack.engine.close()


CONDITIONS = [
    "{employee.gender: female}",                                         # holds on some, fails on others
    "{action.actor.role: system}",
    "{case.kind: resignation}",                                         # unknown where no case is sent
    "{any: [{employee.gender: male}, {action.union_notified: false}]}",
    "{not: {derived.separation.basis: employee_resignation}}",
]
VERDICTS = ["deny", "warn", "obligation"]

PACK = """# yaml-language-server: $schema=../../_schemas/pack.schema.json
apiVersion: pack/v1
kind: pack
description: d
tenant: {tenant}
owner: o
regions: [CN-SH]
"""
CITATIONS = """# yaml-language-server: $schema=../../_schemas/citations.schema.json
apiVersion: citations/v1
kind: policy
description: d
citations:
  SYN-1.1:
    law: 合成政策
    law_en: Synthetic policy
    article: "1"
    item: "1"
    text: 合成条款。
    effective_from: 2000-01-01
    source: tests/test_pack_property.py
"""
RULE = """# yaml-language-server: $schema=../../../_schemas/rule_file.schema.json
apiVersion: rules/v1
description: d
rules:
  - id: {tenant}.added
    title: {{zh: 标题, en: Title}}
    verdict: {verdict}
    actions: [all]
    effective_from: 2000-01-01
    citations: [{{ref: SYN-1.1}}]
    message: {{zh: 信息, en: Message}}
    when: {condition}
    examples:
      - name: {{zh: 甲, en: one}}
        request: {{as_of: 2026-03-10, employee: {{id: E1}}, action: {{type: review_case}}}}
        expect: {verdict}
      - name: {{zh: 乙, en: two}}
        request: {{as_of: 2026-03-10, employee: {{id: E1}}, action: {{type: review_case}}}}
        expect: none
"""


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A rules folder with one pack per verdict and condition, each a single company rule."""
    rules = tmp_path_factory.mktemp("synthetic") / "rules"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("companies"))
    tenants = []
    for (v, verdict), (c, condition) in itertools.product(enumerate(VERDICTS), enumerate(CONDITIONS)):
        tenant = f"syn-{verdict}-{c}"
        folder = rules / "companies" / tenant
        (folder / "rules").mkdir(parents=True)
        (folder / "pack.yaml").write_text(PACK.format(tenant=tenant), encoding="utf-8")
        (folder / "citations.yaml").write_text(CITATIONS, encoding="utf-8")
        (folder / "rules" / "added.yaml").write_text(RULE.format(tenant=tenant, verdict=verdict, condition=condition),
                                                    encoding="utf-8")
        tenants.append(tenant)
    base = load_rulebook(rules)
    yield base, tenants
    base.engine.close()


def test_company_rules_alone_only_ever_add_findings(synthetic, without_pack):
    base, tenants = synthetic
    shipped = load_rulebook(RULES)
    shipped.engine.close()
    assert base.version == shipped.version  # the packs are not part of the statutes' version
    raised = 0
    for tenant in tenants:
        pack = load_pack(base, tenant)
        try:
            for source, request, now in CHECKS:
                alone, with_pack = without_pack[source], observe(pack, request, now).actual
                if alone is None:
                    assert with_pack is None, (tenant, source)
                    continue
                assert SEVERITY[with_pack["verdict"]] >= SEVERITY[alone["verdict"]], (tenant, source)
                assert _found(alone) <= _found(with_pack), (tenant, source)
                raised += SEVERITY[with_pack["verdict"]] > SEVERITY[alone["verdict"]]
        finally:
            pack.engine.close()
    assert raised > 0  # the conditions do fire: the property is not vacuous
