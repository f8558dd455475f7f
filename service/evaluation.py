"""Decide one check: derive facts as of its date, run the rules, assemble the verdict."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from schemas.fields import CHINA
from service.clock import utcnow
from service.facts import Facts, derive_facts
from service.rulebook import Rule, RuleBook
from service.verdicts import assemble


@dataclass(frozen=True)
class Outcome:
    as_of: dt.date
    verdict: str
    findings: list[dict]
    facts: Facts
    ruleset_version: str
    fired: list[Rule]              # the rules whose condition is true
    checked: list[dict]            # every rule considered, with its outcome
    # What the engine said of each rule (by key): the trail keeps it to render the answer again.
    matches: dict = field(default_factory=dict, repr=False, compare=False)


def default_as_of() -> dt.date:
    return utcnow().astimezone(CHINA).date()


def evaluate(rulebook: RuleBook, request: dict) -> Outcome:
    """`request` is a CheckRequestSchema-loaded dict."""
    as_of = request.get("as_of") or default_as_of()
    facts = derive_facts(request, as_of, rulebook.context)
    matches = rulebook.match(facts.engine_fact())
    applicable = rulebook.applicable(request["action"]["type"], as_of)
    verdict, findings, checked = assemble(matches, applicable, facts, rulebook.vocabulary)
    return Outcome(as_of=as_of, verdict=verdict, findings=findings, facts=facts,
                   ruleset_version=rulebook.version, fired=[m.rule for m in matches.values() if m.definite],
                   checked=checked, matches=matches)
