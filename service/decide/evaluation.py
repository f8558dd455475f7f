"""Decide one check: derive facts as of its date, run the rules, assemble the verdict."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from service.clock import today_in_china as default_as_of  # noqa: F401 -- a request's as_of when it gives none
from service.decide.facts import FactContext, Facts, derive_facts
from service.decide.facts.separation import separation_basis
from service.decide.rulebook import Rule, RuleBook
from service.decide.verdicts import Judged, assemble, read_facts


@dataclass(frozen=True)
class Outcome:
    as_of: dt.date
    verdict: str
    findings: list[dict]
    facts: Facts                   # as judged on the effective date
    ruleset_version: str
    fired: list[Rule]              # the rules whose condition is true (on the effective date)
    checked: list[dict]            # every rule considered, with its outcome
    # Each judgment day's facts and what the engine matched: the trail keeps them to render the
    # answer again (service/record/recording.py).
    judged: list = field(default_factory=list, repr=False, compare=False)
    # Request fields a complete-record declaration filled in: [{field, value, declared_by}]; None
    # when the check was made under no declaration.
    assumed: list[dict] | None = None
    # The rules the check considered (rulebook.applicable), in order: the trail refers to them by position.
    applicable: list = field(default_factory=list, repr=False, compare=False)
    # Judged on two days: the facts each of them read on the first (the notice day), in that order.
    first_day_read: list[dict] = field(default_factory=list, repr=False, compare=False)


def judgment_days(request: dict, as_of: dt.date, context: FactContext | None = None) -> list[tuple[str, dt.date]]:
    """The days a protection that depends on a date is judged on: the day notice is served and the
    effective date. One day when they coincide; the effective date last, as it is the one
    reported when both agree.

    Without a notice day: the check's own day (the EHR checks before it acts), except for an
    Art. 40 termination without pay in lieu, whose notice may already have been served; it then
    stands for the latest day it could have been (the statutory notice period before the
    effective date), so that leaving the notice day out never judges on a later day only."""
    action = request["action"]
    effective = action.get("effective_date") or as_of
    notice = action.get("notice_served_on")
    first = ("notice_served_on", notice) if notice is not None else ("as_of", as_of)
    if notice is None and context is not None and action.get("pay_in_lieu") is not True \
            and separation_basis(context.classification, action["type"], request.get("case"),
                                 action.get("ground")) == "with_notice":
        period = context.parameters.get("notice.period_days", on=as_of)
        latest = effective - dt.timedelta(days=period)
        if latest < as_of:
            first = ("notice_latest", latest)
    if first[1] == effective:
        return [first]
    return [first, ("effective_date", effective)]


def with_declarations(rulebook: RuleBook, request: dict,
                      declared: list[tuple[str, str]]) -> tuple[dict, list[dict] | None]:
    """The request as decided under complete-record declarations (service/decide/records.py), and
    what they filled in (None: no declaration); the request itself unchanged."""
    if not declared:
        return request, None
    return rulebook.context.records.fill(request, declared)


def evaluate(rulebook: RuleBook, request: dict, assumed: list[dict] | None = None) -> Outcome:
    """`request` is a CheckRequestSchema-loaded dict.

    Each judgment day gets its own facts and its own engine pass, under the law in force on
    as_of; the engine decides each. Where a rule's outcome differs between the days the verdict
    is a warn giving both (service/decide/verdicts.py)."""
    as_of = request.get("as_of") or default_as_of()
    judged: list[Judged] = []
    for label, day in judgment_days(request, as_of, rulebook.context):
        facts = derive_facts(request, as_of, rulebook.context, on=day)
        # The engine is deterministic in the fact: equal facts on both days need one pass.
        same = next((j for j in judged if j.facts.values == facts.values), None)
        matches = same.matches if same else rulebook.match(facts.engine_fact())
        judged.append(Judged(label, day, facts, matches))
    last = judged[-1]
    applicable = rulebook.applicable(request["action"]["type"], as_of)
    verdict, findings, checked = assemble(last.matches, applicable, last.facts, rulebook.vocabulary,
                                          earlier=judged[0] if len(judged) > 1 else None, later=last,
                                          registry=rulebook.citations)
    return Outcome(as_of=as_of, verdict=verdict, findings=findings, facts=last.facts,
                   ruleset_version=rulebook.version,
                   fired=[m.rule for m in last.matches.values() if m.definite], checked=checked,
                   judged=judged, assumed=None if assumed is None else list(assumed), applicable=applicable,
                   first_day_read=[read_facts(rule, judged[0].facts) for rule in applicable] if len(judged) > 1 else [])
