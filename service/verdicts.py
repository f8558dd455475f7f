"""Assemble a verdict from what the engine matched: findings with their citations, and `checked`.

A rule whose condition is true gives its own verdict. A deny or warn whose condition is unknown
(the engine matched one of its alternatives only possibly) gives a warn naming the missing facts
of those alternatives: what the service was not told never reads as "not so". An obligation
whose condition is unknown is listed as a possible obligation. `checked` lists every rule the
check considered, with its outcome, so an allow shows what was ruled out.
"""
from __future__ import annotations

import re

from service.facts import Facts
from service.rulebook import Match, Rule
from service.vocabulary import Vocabulary

PLACEHOLDER = re.compile(r"\{([a-z0-9_.]+)\}")

_SEVERITY = {"deny": 0, "warn": 1, "obligation": 2}
_UNKNOWN_MESSAGE = {
    "zh": "以下事实未提供或未知，无法排除本规则（{title}）：{missing}。请核实后再操作。",
    "en": "This rule ({title}) cannot be ruled out: {missing} not given or unknown. Confirm before acting.",
}


def finding(rule: Rule, facts: Facts, vocabulary: Vocabulary, match: Match | None = None) -> dict:
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
        "citations": [dict(c) for c in rule.citations_on(facts.as_of)],
        "facts": read_facts(rule, facts),
        "missing_facts": missing,
    }


def assemble(matches: dict[str, Match], applicable: list[Rule], facts: Facts,
             vocabulary: Vocabulary) -> tuple[str, list[dict], list[dict]]:
    """The most severe finding decides; obligations never change an allow."""
    findings = sorted((finding(m.rule, facts, vocabulary, m) for m in matches.values() if _finds(m)),
                      key=lambda f: (_SEVERITY[f["verdict"]], f["outcome"] != "fired", f["rule_id"]))
    verdicts = {f["verdict"] for f in findings}
    verdict = "deny" if "deny" in verdicts else "warn" if "warn" in verdicts else "allow"
    return verdict, findings, checked(matches, applicable, facts, vocabulary)


def _finds(match: Match) -> bool:
    return match.definite or (match.alternatives and match.rule.verdict != "obligation")


def checked(matches: dict[str, Match], applicable: list[Rule], facts: Facts, vocabulary: Vocabulary) -> list[dict]:
    """Each rule the check considered: its outcome, citation refs and the facts that decided it."""
    out = []
    for rule in applicable:
        match = matches.get(rule.key)
        shown = read_facts(rule, facts)
        for name in rule.compiled.facts:
            for detail in vocabulary[name].details:
                if detail in facts.values:
                    shown.setdefault(detail, facts.values[detail])
        out.append({"rule_id": rule.id, "verdict": rule.verdict,
                    "outcome": match.outcome if match else "cleared",
                    "refs": [c["ref"] for c in rule.citations_on(facts.as_of)], "facts": shown})
    return out


def read_facts(rule: Rule, facts: Facts) -> dict:
    return {name: facts.values[name] for name in rule.compiled.reads if name in facts.values}


def missing_facts(rule: Rule, match: Match, facts: Facts, vocabulary: Vocabulary) -> list[str]:
    """The facts of the possibly matching alternatives that were not given (or, for a range,
    not narrowed to one value), each derived one followed by the request fields it is computed
    from that were not given: giving them decides the rule."""
    out: dict[str, None] = {}
    for index in match.alternatives:
        for name in rule.compiled.alternatives[index].facts:
            bounds = vocabulary[name].bounds
            if bounds is None:
                undecided = name not in facts.values
            else:
                low, high = (facts.values.get(b) for b in bounds)
                undecided = low is None or high is None or low != high
            if undecided:
                out[name] = None
                out.update((i, None) for i in vocabulary[name].inputs if i not in facts.given)
    return list(out)


def render(template: str, values: dict) -> str:
    """Fill `{fact.name}` placeholders (checked at load: known, non-sensitive facts)."""
    return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "?")), template)


def _unknown_text(rule: Rule, lang: str, missing: list[str], facts: Facts) -> str:
    if rule.unknown_message and lang in rule.unknown_message:
        return render(rule.unknown_message[lang], facts.values)
    separator = "、" if lang == "zh" else ", "
    return _UNKNOWN_MESSAGE.get(lang, _UNKNOWN_MESSAGE["en"]).format(
        title=rule.title.get(lang, ""), missing=separator.join(missing))
