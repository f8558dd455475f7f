"""Assemble a verdict from what the engine matched: findings with their citations, and `checked`.

A rule whose condition is true gives its own verdict. A deny or warn whose condition is unknown
(the engine matched one of its alternatives only possibly) gives a warn naming the request fields
that decide those alternatives (`missing_facts`): what the service was not told never reads as
"not so". An obligation
whose condition is unknown is listed as a possible obligation. `checked` lists every rule the
check considered, with its outcome, so an allow shows what was ruled out.

A check judged on two days (the day notice is served and the effective date) has one engine
answer per day. A deny or warn whose outcome differs between them gives a warn with both days
and both outcomes (`dates_differ`): which day counts is unsettled, so neither answer is given as
the law's. The others are reported as judged on the effective date.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from service.decide.facts import Facts
from service.decide.rule import PLACEHOLDER
from service.decide.rulebook import Match, Rule
from service.decide.vocabulary import Vocabulary


_SEVERITY = {"deny": 0, "warn": 1, "obligation": 2}
_DATES_MESSAGE = {
    "zh": "本规则（{title}）的结论取决于以哪一日为准，而这尚无定论：{days}。请核实后再操作。",
    "en": "This rule ({title}) depends on which day counts, which is unsettled: {days}. Confirm before acting.",
}
_DAY = {
    "zh": {"notice_served_on": "通知送达之日", "as_of": "核查之日", "effective_date": "离职生效之日",
           "notice_latest": "最迟应送达通知之日（未提供通知日）"},
    "en": {"notice_served_on": "the day notice is served", "as_of": "the day of the check",
           "effective_date": "the effective date",
           "notice_latest": "the latest day notice could have been served (none given)"},
}
_OUTCOME = {
    "zh": {"fired": "适用（{verdict}）", "cleared": "不适用", "unknown": "无法排除（事实缺失）"},
    "en": {"fired": "it applies ({verdict})", "cleared": "it does not apply",
           "unknown": "it cannot be ruled out (facts missing)"},
}
_VERDICT = {"zh": {"deny": "禁止", "warn": "警示"}, "en": {"deny": "deny", "warn": "warn"}}
_UNKNOWN_MESSAGE = {
    "zh": "以下事实未提供或未知，无法排除本规则（{title}）：{missing}。请核实后再操作。",
    "en": "This rule ({title}) cannot be ruled out: {missing} not given or unknown. Confirm before acting.",
}
# Unknown with nothing the request could add to decide it (a region whose rule is not encoded).
_UNDECIDABLE_MESSAGE = {
    "zh": "依现行规则无法判断本规则（{title}）是否适用（相关情形的规定尚未收录）。请核实后再操作。",
    "en": "This rule ({title}) cannot be ruled out: the rules in force do not cover the case. Confirm before acting.",
}


def finding(rule: Rule, facts: Facts, vocabulary: Vocabulary, match: Match | None = None,
            registry: dict | None = None) -> dict:
    """The finding of a rule that fired (match None or definite) or whose condition is unknown."""
    unknown = match is not None and not match.definite
    missing = missing_facts(rule, match, facts, vocabulary) if unknown else []
    if unknown:
        verdict = "warn"
        message = {lang: _unknown_text(rule, lang, missing, facts) for lang in rule.message}
    else:
        verdict = rule.verdict
        message = {lang: render(text, facts.values) for lang, text in rule.message.items()}
    return {
        "rule_id": rule.id,
        "verdict": verdict,
        "outcome": "unknown" if unknown else "fired",
        "title": dict(rule.title),
        "message": message,
        "citations": [dict(c) for c in rule.citations_on(facts.as_of)] + rested_on(rule, (facts,), registry),
        "facts": read_facts(rule, facts),
        "missing_facts": missing,
    }


def rested_on(rule: Rule, days: tuple[Facts, ...], registry: dict | None) -> list[dict]:
    """The regional provisions the facts the rule reads rested on (Facts.rested_on), on any of
    the judgment days, as definitions: a Shanghai birth past the national 98 days is on leave
    by REG-SH-ML. A provision the rule cites already keeps its role; one not in force on the
    check's date is not cited (its text would not be the law applied)."""
    if not any(facts.rested_on for facts in days):
        return []
    cited = {c["ref"] for c in rule.citations_on(days[-1].as_of)}
    out = []
    for facts in days:
        for name in rule.compiled.reads:
            for ref in facts.rested_on.get(name, ()):
                source = (registry or {}).get(ref)
                if ref not in cited and source is not None and source.covers(facts.as_of, facts.as_of):
                    cited.add(ref)
                    out.append(source.as_finding("definition"))
    return out


@dataclass(frozen=True)
class Judged:
    """One judgment day of a check: its facts and what the engine matched on them."""
    label: str                      # notice_served_on, as_of or effective_date
    on: dt.date
    facts: Facts
    matches: dict[str, Match]

    def outcome(self, rule: Rule) -> str:
        match = self.matches.get(rule.key)
        return match.outcome if match else "cleared"


def assemble(matches: dict[str, Match], applicable: list[Rule], facts: Facts, vocabulary: Vocabulary,
             earlier: Judged | None = None, later: Judged | None = None, *,
             registry: dict) -> tuple[str, list[dict], list[dict]]:
    """The most severe finding decides; obligations never change an allow. `matches` and `facts`
    are those of the effective date (`later`); `earlier`, the day notice is served, if it differs.
    `registry`: the citation texts (rules/citations/), for the regional provisions facts rested on."""
    differ = set()
    if earlier is not None and later is not None:
        differ = {r.key for r in applicable
                  if r.verdict != "obligation" and earlier.outcome(r) != later.outcome(r)}
    found = [finding(m.rule, facts, vocabulary, m, registry) for m in matches.values()
             if _finds(m) and m.rule.key not in differ]
    found += [dates_finding(r, (earlier, later), vocabulary, registry) for r in applicable if r.key in differ]
    findings = sorted(found, key=lambda f: (_SEVERITY[f["verdict"]], f["outcome"] != "fired", f["rule_id"]))
    verdict = verdict_of(findings)
    days = {f["rule_id"]: f["dates"] for f in findings if "dates" in f}
    return verdict, findings, checked(matches, applicable, facts, days, registry,
                                      earlier.facts if earlier is not None and differ else None)


def verdict_of(findings: list[dict]) -> str:
    """The check's verdict from its findings: the most severe; obligations never change an allow."""
    verdicts = {f["verdict"] for f in findings}
    return "deny" if "deny" in verdicts else "warn" if "warn" in verdicts else "allow"


def dates_finding(rule: Rule, judged: tuple[Judged, Judged], vocabulary: Vocabulary,
                  registry: dict | None = None) -> dict:
    """A deny or warn whose outcome differs between the two judgment days: a warn giving both."""
    dates, missing, fired_on = [], {}, None
    for day in judged:
        outcome = day.outcome(rule)
        if outcome == "unknown":
            missing.update(dict.fromkeys(missing_facts(rule, day.matches[rule.key], day.facts, vocabulary)))
        if outcome == "fired":
            fired_on = day
        dates.append({"date": day.on.isoformat(), "as": day.label, "outcome": outcome,
                      "facts": read_facts(rule, day.facts)})
    message = {}
    for lang in rule.message:
        words, verdict = _DAY.get(lang, _DAY["en"]), _VERDICT.get(lang, _VERDICT["en"])[rule.verdict]
        separator = "；" if lang == "zh" else "; "
        day = "{}（{}）" if lang == "zh" else "{} ({})"
        colon = "：" if lang == "zh" else ": "
        outcomes = separator.join(
            day.format(words[d["as"]], d["date"]) + colon
            + _OUTCOME.get(lang, _OUTCOME["en"])[d["outcome"]].format(verdict=verdict) for d in dates)
        text = _DATES_MESSAGE.get(lang, _DATES_MESSAGE["en"]).format(title=rule.title.get(lang, ""), days=outcomes)
        if fired_on is not None:  # what the rule says where it applies, on that day's facts
            on_day = day.format(words[fired_on.label], fired_on.on.isoformat())
            text += (f"{on_day}：" if lang == "zh" else f" On {on_day}: ") + render(rule.message[lang], fired_on.facts.values)
        message[lang] = text
    return {
        "rule_id": rule.id,
        "verdict": "warn",
        "outcome": "dates_differ",
        "title": dict(rule.title),
        "message": message,
        # Both days are judged under the law of as_of: its definitions in force, as on any finding.
        "citations": [dict(c) for c in rule.citations_on(judged[-1].facts.as_of)]
                     + rested_on(rule, tuple(day.facts for day in judged), registry),
        "facts": read_facts(rule, judged[-1].facts),
        "missing_facts": list(missing),
        "dates": dates,
    }


def _finds(match: Match) -> bool:
    return match.definite or (match.alternatives and match.rule.verdict != "obligation")


def checked(matches: dict[str, Match], applicable: list[Rule], facts: Facts,
            days: dict[str, list[dict]] | None = None, registry: dict | None = None,
            earlier: Facts | None = None) -> list[dict]:
    """Each rule the check considered: its outcome, citation refs and the facts that decided it
    (`days`: per rule id whose outcome differs between the judgment days, its `dates`; such a
    rule's refs are its finding's, from both days' facts, `earlier` being the notice day's)."""
    days = days or {}
    out = []
    for rule in applicable:
        match = matches.get(rule.key)
        shown = read_facts(rule, facts)
        for detail in rule.compiled.details:
            if detail in facts.values:
                shown.setdefault(detail, facts.values[detail])
        entry = {"rule_id": rule.id, "verdict": rule.verdict,
                 "outcome": match.outcome if match else "cleared",
                 "refs": [c["ref"] for c in rule.citations_on(facts.as_of)], "facts": shown}
        both = (earlier, facts) if rule.id in days and earlier is not None else (facts,)
        entry["refs"] += [c["ref"] for c in rested_on(rule, both, registry)]
        if rule.id in days:
            entry.update(outcome="dates_differ", dates=days[rule.id])
        out.append(entry)
    return out


def read_facts(rule: Rule, facts: Facts) -> dict:
    return {name: facts.values[name] for name in rule.compiled.reads if name in facts.values}


def missing_facts(rule: Rule, match: Match, facts: Facts, vocabulary: Vocabulary) -> list[str]:
    """The request fields that decide the possibly matching alternatives: each request fact not
    given, and for each derived fact left unknown (or a range not narrowed to one value) the
    fields fact derivation found decide it (Facts.decided_by), else its declared `inputs` not
    given. Giving them all decides the rule; each of them can change it."""
    out: dict[str, None] = {}
    for index in match.alternatives:
        for name in rule.compiled.alternatives[index].facts:
            spec = vocabulary[name]
            if not _undecided(spec, facts):
                continue
            if spec.source == "request":
                out[name] = None
            elif name in facts.decided_by:
                out.update(dict.fromkeys(facts.decided_by[name].fields))
            else:
                out.update(dict.fromkeys([i for i in spec.inputs if i not in facts.given] or spec.inputs))
    return list(out)


def _undecided(spec, facts: Facts) -> bool:
    if spec.bounds is None:
        return spec.name not in facts.values
    low, high = (facts.values.get(b) for b in spec.bounds)
    return low is None or high is None or low != high


def render(template: str, values: dict) -> str:
    """Fill `{fact.name}` placeholders (checked at load: known, non-sensitive facts)."""
    return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "?")), template)


def _unknown_text(rule: Rule, lang: str, missing: list[str], facts: Facts) -> str:
    undecidable = _UNDECIDABLE_MESSAGE.get(lang, _UNDECIDABLE_MESSAGE["en"]).format(title=rule.title.get(lang, ""))
    if rule.unknown_message and lang in rule.unknown_message:
        text = render(rule.unknown_message[lang], facts.values)
        # A rule's own text may ask for facts; with none that could decide, it says so too.
        return text if missing else text + ("" if lang == "zh" else " ") + undecidable
    if not missing:
        return undecidable
    separator = "、" if lang == "zh" else ", "
    return _UNKNOWN_MESSAGE.get(lang, _UNKNOWN_MESSAGE["en"]).format(
        title=rule.title.get(lang, ""), missing=separator.join(missing))
