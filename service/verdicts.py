"""Assemble a verdict from the rules that fired: findings, each with its citations and facts."""
from __future__ import annotations

import re

from service.facts import Facts
from service.rulebook import Rule

PLACEHOLDER = re.compile(r"\{([a-z0-9_.]+)\}")

_SEVERITY = {"deny": 0, "warn": 1, "obligation": 2}


def finding(rule: Rule, facts: Facts) -> dict:
    used = {name: facts.values[name] for name in rule.compiled.facts if name in facts.values}
    missing = [name for name in rule.compiled.unknown_tested if name not in facts.values]
    return {
        "rule_id": rule.id,
        "verdict": rule.verdict,
        "title": dict(rule.title),
        "message": {lang: render(text, facts.values) for lang, text in rule.message.items()},
        "citations": [dict(c) for c in rule.citations_on(facts.as_of)],
        "facts": used,
        "missing_facts": missing,
    }


def assemble(fired: list[Rule], facts: Facts) -> tuple[str, list[dict]]:
    """The most severe finding decides; obligations never change an allow."""
    findings = sorted((finding(r, facts) for r in fired),
                      key=lambda f: (_SEVERITY[f["verdict"]], f["rule_id"]))
    verdicts = {f["verdict"] for f in findings}
    verdict = "deny" if "deny" in verdicts else "warn" if "warn" in verdicts else "allow"
    return verdict, findings


def render(template: str, values: dict) -> str:
    """Fill `{fact.name}` placeholders (checked at load: known, non-sensitive facts)."""
    return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "?")), template)
