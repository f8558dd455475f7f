"""`rules coverage`: which rules (by version) and which citations no example or fixture exercises."""
from __future__ import annotations

from dataclasses import dataclass

from service.decide.citations import load_citations
from service.decide.rulebook import RuleBook


@dataclass
class Coverage:
    rules_total: int
    rules_unexercised: list[tuple[str, str]]      # (key, file)
    citations_total: int
    citations_unexercised: list[tuple[str, bool]]  # (ref, cited by some rule)
    cases: int
    failures: int


def coverage(rulebook: RuleBook, results) -> Coverage:
    """`results`: run_scenarios over the rule book (rule examples and fixtures), with their fired keys."""
    fired = {key for r in results for key in r.fired}
    unexercised = sorted((key, rule.file) for key, rule in rulebook.rules.items() if key not in fired)
    catalog, _ = load_citations(rulebook.root)
    exercised_refs = {c["ref"] for key in fired if key in rulebook.rules for c in rulebook.rules[key].citations}
    cited_refs = {c["ref"] for rule in rulebook.rules.values() for c in rule.citations}
    refs = sorted(set(catalog) | cited_refs)
    return Coverage(rules_total=len(rulebook.rules), rules_unexercised=unexercised,
                    citations_total=len(refs),
                    citations_unexercised=[(ref, ref in cited_refs) for ref in refs if ref not in exercised_refs],
                    cases=len(results), failures=sum(not r.passed for r in results))
