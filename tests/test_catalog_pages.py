"""The rule catalog and a rule's page (service/http/catalog_pages.py, rule_examples.py): filters,
pages, examples as tables, both languages on every page, and one count of rules and rule versions
in the catalog, /readyz and `rules lint`. Read-only pages of the rule files: SQLite only."""
import math
import re
from urllib.parse import parse_qs, urlparse

import html
import pytest

from service.decide.rulebook import rule_counts
from service.http.catalog_pages import PAGE_SIZE
from service.http.rule_examples import example_fields, field_label
from tests.page_text import english_only
from tests.test_pages import CASE_ID, seed, text_of, versions


@pytest.fixture
def catalog(sqlite_app):
    return sqlite_app.test_client()


def _ids(page: str) -> list[str]:
    return re.findall(r'<article class="rule" id="rule-([^"]+)"', page)


def _next(page: str) -> str | None:
    found = re.search(r'<a rel="next" class="page-next" href="([^"]+)"', page)
    return html.unescape(found[1]) if found else None


def walk(catalog, query: str = "") -> tuple[list[str], list[str]]:
    """Every rule id the catalog lists for the query, page after page by the "next" links; and the
    pages' URLs."""
    url, ids, urls = f"/rules{query}", [], []
    while url:
        response = catalog.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert len(_ids(page)) <= PAGE_SIZE
        ids += _ids(page)
        urls.append(url)
        url = _next(page)
    return ids, urls


# ---- paging and counts ------------------------------------------------------------------------

def test_the_catalog_pages_every_rule_once_with_the_counts(sqlite_app, catalog):
    by_id = versions(sqlite_app)
    counts = rule_counts(sqlite_app.extensions["rulebook"].rules.values())
    assert counts == {"rules": len(by_id), "rule_versions": len(sqlite_app.extensions["rulebook"].rules)}
    first = catalog.get("/rules")
    assert len(_ids(first.get_data(as_text=True))) == PAGE_SIZE < len(by_id)
    ids, urls = walk(catalog)
    assert ids == sorted(by_id)  # each once, in id order, page by page
    assert len(urls) == math.ceil(len(by_id) / PAGE_SIZE)
    text = text_of(first)
    assert f"第 1–{PAGE_SIZE} 条，共 {len(by_id)} 条规则符合条件" in text
    assert f"全部 {counts['rules']} 条规则、 {counts['rule_versions']} 个规则版本" in text
    assert f"Rules 1–{PAGE_SIZE} of {len(by_id)} matching rules (of {counts['rules']} rules, " \
           f"{counts['rule_versions']} rule versions in all), {PAGE_SIZE} to a page" in text
    assert f"第 1 / {len(urls)} 页 Page 1 of {len(urls)}" in text
    last = catalog.get(urls[-1]).get_data(as_text=True)
    assert 'rel="prev"' in last and 'rel="next"' not in last and 'rel="prev"' not in first.get_data(as_text=True)
    # Past the last page: no such page. Not a page number: a 400 that says so, in both languages.
    assert catalog.get(f"/rules?page={len(urls) + 1}").status_code == 404
    for bad in ("0", "x", "-1"):
        refused = catalog.get(f"/rules?page={bad}")
        assert refused.status_code == 400 and f"page: '{bad}' is not a page number" in text_of(refused)
        assert f"page：“{bad}”不是页码" in text_of(refused)


def test_a_rule_in_the_catalog_shows_its_title_citations_versions_and_examples(sqlite_app, catalog):
    rulebook = sqlite_app.extensions["rulebook"]
    protected = rulebook.rules["lcl-42-4.protected-period@2008-01-01"]
    text = text_of(catalog.get("/rules?q=lcl-42-4.protected-period"))
    assert "规则目录" in text and "Rule catalog" in text and rulebook.version in text
    assert protected.title["zh"] in text and protected.title["en"] in text
    citation = protected.citations[0]
    assert citation["ref"] in text and citation["law"] in text and citation["law_en"] in text
    assert " ".join(citation["text"].split()) in text  # verbatim
    assert "2008-01-01 → 至今 now" in text
    assert f"示例 Examples {len(protected.examples)}" in text


def test_the_example_count_in_the_catalog_counts_every_version(sqlite_app, catalog):
    counts = {}
    for rule in sqlite_app.extensions["rulebook"].rules.values():
        counts[rule.id] = counts.get(rule.id, 0) + len(rule.examples)
    rule_id = max(counts, key=lambda rid: (len(versions(sqlite_app)[rid]), counts[rid]))
    text = text_of(catalog.get(f"/rules?q={rule_id}"))
    assert f"示例 Examples {counts[rule_id]}" in text
    assert f"（{len(versions(sqlite_app)[rule_id])} 个规则版本 rule versions ）" in text


# ---- filters ----------------------------------------------------------------------------------

def test_the_catalog_filters_by_family_law_verdict_action_and_text(sqlite_app, catalog):
    by_id = versions(sqlite_app)

    def expected(keep) -> list[str]:
        return sorted(rid for rid, vs in by_id.items() if keep(vs))

    assert walk(catalog, "?family=process")[0] == expected(lambda vs: vs[0].family == "process")
    assert walk(catalog, "?verdict=obligation")[0] == expected(lambda vs: any(v.verdict == "obligation" for v in vs))
    layoff = walk(catalog, "?action=terminate_economic_layoff")[0]
    assert layoff == expected(lambda vs: any("terminate_economic_layoff" in v.actions for v in vs))
    # By the law cited, whatever its edition: the Trade Union Law's refs are TUL-*.
    union = walk(catalog, "?law=中华人民共和国工会法")[0]
    assert union and union == expected(lambda vs: any(c["ref"].startswith("TUL-") for v in vs for c in v.citations))
    # Text matches ids, titles, messages and citation texts, in Chinese or English, any case.
    assert "lcl-42-4.protected-period" in walk(catalog, "?q=哺乳期")[0]
    assert "process.withdrawn-resignation-executed" not in walk(catalog, "?q=哺乳期")[0]
    assert "lcl-42-4.protected-period" in walk(catalog, "?q=NURSING")[0]
    # Together: every filter holds.
    both = walk(catalog, "?family=labor_law&verdict=deny&action=terminate_with_notice")[0]
    assert both == expected(lambda vs: vs[0].family == "labor_law" and any(v.verdict == "deny" for v in vs)
                            and any("terminate_with_notice" in v.actions for v in vs))
    nothing = catalog.get("/rules?q=no-such-words-anywhere")
    assert nothing.status_code == 200 and "没有符合条件的规则。 No rule matches." in text_of(nothing)


def test_the_pager_keeps_the_filters_and_each_choice_counts_what_it_would_show(sqlite_app, catalog):
    ids, urls = walk(catalog, "?family=labor_law&q=the")
    assert len(urls) > 1
    for url in urls[1:]:
        query = parse_qs(urlparse(url).query)
        assert query["family"] == ["labor_law"] and query["q"] == ["the"]
    page = catalog.get("/rules?family=labor_law").get_data(as_text=True)
    for verdict in ("deny", "warn", "obligation"):
        shown = len(walk(catalog, f"?family=labor_law&verdict={verdict}")[0])
        option = re.search(rf'<option value="{verdict}"[^>]*>([^<]*)</option>', page)[1]
        assert option.endswith(f"({shown})"), option
    assert re.search(r'<option value="labor_law" selected>', page)


def test_a_filter_value_that_is_no_choice_is_a_400_naming_it(catalog):
    for query, name in (("verdict=allow", "verdict"), ("action=fly", "action"), ("law=no-such-law", "law"),
                        ("family=other", "family")):
        response = catalog.get(f"/rules?{query}")
        value = query.split("=", 1)[1]
        text = text_of(response)
        assert response.status_code == 400 and f"{name}: there is no choice '{value}'." in text
        assert f"{name}：没有“{value}”这一选项。" in text and not _ids(response.get_data(as_text=True))


# ---- a rule's page: facts and examples as tables -----------------------------------------------

def test_a_rule_page_shows_message_facts_actions_citations_and_examples(sqlite_app, catalog):
    rule = sqlite_app.extensions["rulebook"].rules["lcl-42-4.protected-period@2008-01-01"]
    vocabulary = sqlite_app.extensions["rulebook"].vocabulary
    response = catalog.get("/rules/lcl-42-4.protected-period")
    assert response.status_code == 200
    text = text_of(response)
    assert rule.message["zh"] in text and rule.message["en"] in text
    for fact in rule.compiled.facts:
        assert fact in text and " ".join(vocabulary[fact].description_zh.split()) in text
    assert "Terminate with notice (Art. 40)" in text and "terminate_with_notice" in text
    for citation in rule.citations:
        assert citation["ref"] in text and " ".join(citation["text"].split()) in text
    for example in rule.examples:
        assert example["name"]["zh"] in text and example["name"]["en"] in text
    assert "rules/labor_law/lcl_42_4_pregnancy_maternity_nursing.yaml" in text


def _example(page: str, version: str, number: int) -> str:
    start = page.index(f'id="example-{version}-{number}"')
    end = page.find('<div class="example"', start + 1)
    return page[start:end if end != -1 else len(page)]


def test_an_example_is_a_table_of_its_facts_and_what_it_expects_not_json(catalog):
    page = catalog.get("/rules/lcl-42-4.protected-period").get_data(as_text=True)
    assert '"type":' not in html.unescape(page) and "pre class=\"json\"" not in page
    first = text_of_html(_example(page, "2008-01-01", 1))
    # Field, its name in both languages, the value (a code with its name where it has one).
    assert "as_of 判断日 As of 2026-02-10" in first
    assert "employee.pregnancy.status 怀孕状态 Pregnancy status pregnant" in first
    assert "action.type 拟执行的操作 The proposed action 无过失性解除（第四十条） Terminate with notice (Art. 40) " \
           "terminate_with_notice" in first
    assert "employee.children 子女 Children 无（空列表） None (an empty list)" in first
    assert "预期结论 Expected verdict 禁止 Deny" in first and "预期结果 Expected outcome 成立 Fired" in first
    third = text_of_html(_example(page, "2008-01-01", 3))
    assert "预期结论 Expected verdict 不触发 Does not fire" in third and "已排除 Cleared" in third
    # A list of objects is a table of its own: the case's events, one row each.
    process = catalog.get("/rules/process.withdrawn-resignation-executed").get_data(as_text=True)
    events = _example(process, "2024-01-01", 1)
    nested = re.search(r'<table class="nested">.*?</table>', events, re.S)[0]
    assert len(re.findall(r"<tr>", nested)) == 1 + 4   # the header and four events
    assert "事件类型 Event type" in text_of_html(nested) and "同意撤回 Withdrawal accepted" in text_of_html(nested)


def text_of_html(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment)))


def test_every_field_an_example_uses_has_a_name_in_both_languages(rulebook):
    unnamed = {path for rule in rulebook.rules.values() for example in rule.examples
               for path in example_fields(example["request"]) if not field_label(rulebook, path)}
    assert not unnamed, f"add them to rules/names/codes.yaml request_field: {sorted(unnamed)}"


def test_every_fact_is_described_in_chinese_as_well_as_in_english(rulebook):
    cjk = re.compile(r"[\u3400-\u9fff]")
    for name, spec in rulebook.vocabulary.facts.items():
        assert spec.description_zh and cjk.search(spec.description_zh), f"{name}: no description_zh"
        label = field_label(rulebook, name)
        assert label and cjk.search(label[0]) and re.search(r"[A-Za-z]", label[1]), name


def test_a_rule_with_several_dated_versions_shows_each(sqlite_app, catalog):
    rule_id, dated = next((rid, vs) for rid, vs in sorted(versions(sqlite_app).items()) if len(vs) > 1)
    page = catalog.get(f"/rules/{rule_id}").get_data(as_text=True)
    for version in dated:
        assert f'id="v-{version.effective_from.isoformat()}"' in page
    assert page.count("In force") <= 1
    assert f"{len(dated)} 个规则版本 rule versions" in text_of_html(page)


# ---- both languages everywhere, one count everywhere ---------------------------------------------

def test_no_text_on_the_pages_is_in_english_only(sqlite_app, catalog):
    rulebook = sqlite_app.extensions["rulebook"]
    paths = [*walk(catalog)[1], "/rules?verdict=allow", "/rules?q=no-such-words", "/login", "/no-such-page",
             *(f"/rules/{rule_id}" for rule_id in versions(sqlite_app)),
             *(f"/requirements?action={a}" for a in rulebook.vocabulary["action.type"].values),
             "/requirements", "/requirements?as_of=soon"]
    seed(catalog)
    seqs = [e["seq"] for e in catalog.get("/v1/trail?limit=100").get_json()["entries"]]
    paths += ["/trail", "/trail?kind=nope", "/trail/chain", f"/cases/{CASE_ID}",
              *(f"/trail/{seq}" for seq in seqs), *(f"/trail/{seq}/stored" for seq in seqs)]
    found = {}
    for path in paths:
        for text in english_only(catalog.get(path).get_data(as_text=True)):
            found.setdefault(text, path)
    assert not found, "\n".join(f"{path}: {text}" for text, path in found.items())


def test_rules_and_rule_versions_count_alike_in_the_catalog_readyz_and_lint(sqlite_app, catalog):
    counts = rule_counts(sqlite_app.extensions["rulebook"].rules.values())
    assert counts["rules"] < counts["rule_versions"]   # the shipped rules have dated versions
    ready = sqlite_app.test_client().get("/readyz").get_json()
    assert (ready["rules"], ready["rule_versions"]) == (counts["rules"], counts["rule_versions"])
    linted = sqlite_app.test_cli_runner().invoke(args=["rules", "lint"])
    assert f": {counts['rules']} rule(s) ({counts['rule_versions']} rule version(s)) checked" in linted.output
    page = catalog.get("/rules").get_data(as_text=True)
    assert re.findall(r'class="rule-total">(\d+)<', page) == [str(counts["rules"])]
    assert re.findall(r'class="rule-version-total">(\d+)<', page) == [str(counts["rule_versions"])]
    footer = text_of_html(page[page.index("<footer>"):])
    assert f"{counts['rules']} 条规则 rules · {counts['rule_versions']} 个规则版本 rule versions" in footer


def test_lint_warns_of_a_fact_without_chinese_and_an_example_field_without_a_name(rules_copy):
    from service.tools.lint import lint

    facts = rules_copy / "facts" / "core.yaml"
    text = facts.read_text(encoding="utf-8")
    facts.write_text(text.replace("    description_zh: 员工的性别。\n", ""), encoding="utf-8")
    names = rules_copy / "names" / "codes.yaml"
    names.write_text(names.read_text(encoding="utf-8").replace("    employee.id: {zh: 员工编号, en: Employee id}\n", ""),
                     encoding="utf-8")
    report = lint(rules_copy)
    assert report.ok   # warnings: the rules still load and decide
    warned = {(i.file, i.field): i for i in report.warnings}
    gender = warned[("facts/core.yaml", "facts.employee.gender.description_zh")]
    assert "no description in Chinese" in gender.reason
    assert text.splitlines()[gender.line - 1].startswith("  employee.gender:")
    unnamed = [i for i in report.warnings if i.field.endswith(".request.employee.id")]
    assert unnamed and all("add it to names/codes.yaml under request_field" in i.reason for i in unnamed)
    assert len({i.rule_id for i in unnamed}) == len({r.id for r in _loaded_rules(rules_copy)})


def _loaded_rules(root):
    from service.decide.rulebook import validate_rules
    return validate_rules(root).rules
