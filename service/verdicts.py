"""Assemble a verdict from the rules that fired: findings, each with its citations and facts."""
from __future__ import annotations

from service.facts import Facts
from service.rulebook import Rule

_SEVERITY = {"deny": 0, "warn": 1, "obligation": 2}


def finding(rule: Rule, facts: Facts) -> dict:
    used = {name: facts.values[name] for name in rule.compiled.facts if name in facts.values}
    missing = [name for name in rule.compiled.unknown_tested if name not in facts.values]
    return {
        "rule_id": rule.id,
        "verdict": rule.verdict,
        "title": dict(rule.title),
        "message": dict(rule.message),
        "citations": [dict(c) for c in rule.citations],
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
