"""The rule catalog and a rule's page (views that service/http/pages.py registers on its blueprint).

The catalog filters by family, law or policy cited, verdict, action and text, and pages the rules
PAGE_SIZE at a time. Everything is in the query string (a GET form), so it works without
JavaScript (the pages forbid scripts anyway), a filtered page can be bookmarked, and the pager's
links keep the filters. It counts rules (ids) and rule versions (their dated versions) apart, as
/readyz and `rules lint` do (service/decide/rulebook.rule_counts).

The catalog is the signed-in tenant's: the statutes and the process rules, plus its company's pack
rules when it has a pack (family `company`), read from the rule book that decides for it.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from flask import abort, current_app, g, render_template, request

from schemas.rule_file import VERDICTS
from service.decide.evaluation import default_as_of
from service.decide.rulebook import rule_counts, versions_by_id
from service.flows.packs_live import rulebook_for
from service.tenants import DEFAULT_TENANT
from service.http.rule_examples import example_rows, expectation, facts_read


def shown_rulebook():
    """The rule book a page shows, the signed-in tenant's (its pack's, else the default pack),
    taken once per request: a reload in the middle of rendering a page does not mix two versions."""
    if "rulebook" not in g:
        g.rulebook = rulebook_for(current_app, g.get("tenant", DEFAULT_TENANT))
    return g.rulebook

PAGE_SIZE = 10   # rules per page: the same on every page, so page N is always the same rules
FILTERS = ("family", "law", "verdict", "action", "q")
# "中华人民共和国劳动合同法（2012年修正）" and a citation of the same law at another amendment are one
# law to filter by: the name without its closing parenthesis (amendment, order number).
_EDITION = re.compile(r"（[^（）]*）$")
_ARTICLE_IN_NAME = re.compile(r",?\s*Art\.\s*\d+\b")
_EDITION_EN = re.compile(r"\s*\([^()]*\)$")


@dataclass
class Entry:
    """A rule id in the catalog: its versions, the one shown, and what the filters test."""
    id: str
    versions: list
    current: object
    laws: set
    haystack: list


def law_key(citation: dict) -> str:
    return _EDITION.sub("", citation["law"]).strip()


def _all_citations(rule) -> list[dict]:
    return [*rule.citations, *(d.citation for d in rule.dated_definitions)]


def _entries(today: dt.date) -> list[Entry]:
    out = []
    for rule_id, versions in versions_by_id(shown_rulebook().rules.values()).items():
        citations = [c for v in versions for c in _all_citations(v)]
        haystack = [rule_id, *(part for v in versions for part in (v.file, *v.title.values(), *v.message.values()))]
        for c in citations:
            haystack += [c["ref"], c["law"], c["law_en"], c["article"], c.get("item") or "", c["text"]]
        out.append(Entry(rule_id, versions, next((v for v in versions if v.in_force(today)), versions[-1]),
                         {law_key(c) for c in citations}, [part.casefold() for part in haystack]))
    return out


def _laws(entries: list[Entry]) -> dict[str, tuple[str, str]]:
    """law key -> (中文, English), in the order of how many rules cite it. The English is the
    spelling most citations of it use, without the edition or an article number (as the key)."""
    spellings: dict[str, dict[str, int]] = {}
    for entry in entries:
        for version in entry.versions:
            for c in _all_citations(version):
                english = _EDITION_EN.sub("", _ARTICLE_IN_NAME.sub("", c["law_en"]).strip())
                counts = spellings.setdefault(law_key(c), {})
                counts[english] = counts.get(english, 0) + 1
    cited = {key: sum(1 for e in entries if key in e.laws) for key in spellings}
    return {key: (key, max(spellings[key], key=lambda en: (spellings[key][en], len(en))))
            for key in sorted(spellings, key=lambda k: (-cited[k], k))}


def _keeps(entry: Entry, name: str, value: str) -> bool:
    if not value:
        return True
    if name == "family":
        return entry.versions[0].family == value
    if name == "law":
        return value in entry.laws
    if name == "verdict":
        return any(v.verdict == value for v in entry.versions)
    if name == "action":
        return any(value in v.actions for v in entry.versions)
    return any(value.casefold() in part for part in entry.haystack)   # q


def _choices(entries: list[Entry]) -> dict[str, dict[str, tuple[str, str]]]:
    """Each filter's values and their names in Chinese and English."""
    rulebook = shown_rulebook()
    names, actions = rulebook.names, rulebook.vocabulary.enums["action_types"]
    families = ("labor_law", "process", "company") if rulebook.pack is not None else ("labor_law", "process")
    return {"family": {f: names.pair("family", f) for f in families},
            "law": _laws(entries),
            "verdict": {v: names.pair("verdict", v) for v in VERDICTS},
            "action": {a: names.pair("action_type", a) for a in actions}}


def rules():
    today = default_as_of()
    entries = _entries(today)
    choices = _choices(entries)
    chosen = {name: request.args.get(name, "").strip() for name in FILTERS}
    errors = [(f"{name}：没有“{value}”这一选项。", f"{name}: there is no choice '{value}'.")
              for name, value in chosen.items() if name in choices and value and value not in choices[name]]
    page_text = request.args.get("page", "1").strip() or "1"
    page = int(page_text) if page_text.isdigit() and int(page_text) >= 1 else None
    if page is None:
        errors.append((f"page：“{page_text}”不是页码（1、2、3……）。", f"page: '{page_text}' is not a page number (1, 2, 3...)."))
        page = 1
    shown = [] if errors else [e for e in entries if all(_keeps(e, n, v) for n, v in chosen.items())]
    pages = max(1, math.ceil(len(shown) / PAGE_SIZE))
    if page > pages:
        abort(404)
    # Beside each choice: how many rules it would show with the other filters as they are.
    facets = {name: {value: sum(1 for e in entries if _keeps(e, name, value)
                                and all(_keeps(e, n, v) for n, v in chosen.items() if n != name))
                     for value in values}
              for name, values in choices.items()}
    query = {name: value for name, value in chosen.items() if value}
    first = (page - 1) * PAGE_SIZE
    return render_template(
        "rules.html", rules=shown[first:first + PAGE_SIZE], matched=len(shown), first=first + 1,
        page=page, pages=pages, query=query, filters=chosen, choices=choices, facets=facets, errors=errors,
        counts=rule_counts(shown_rulebook().rules.values()), page_size=PAGE_SIZE,
        today=today), 400 if errors else 200


def rule(rule_id: str):
    rulebook = shown_rulebook()
    versions = versions_by_id(rulebook.rules.values()).get(rule_id)
    if not versions:
        abort(404)
    today = default_as_of()
    examples = {version.key: [{"example": ex, "rows": example_rows(rulebook, ex["request"]),
                               "expect": expectation(ex)} for ex in version.examples]
                for version in versions}
    return render_template("rule.html", rule_id=rule_id, versions=versions, today=today,
                           current=next((v for v in versions if v.in_force(today)), versions[-1]),
                           facts=facts_read(rulebook, versions), examples=examples)
