"""A case as the rules see it: its request (what a check naming the case carries), its status from
the one state machine, and its review as of a date (the API, the case page and the SLA sweep).
Pure: the case's id, kind and employee, and its accepted events, in; no storage."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from service.decide.evaluation import Outcome, evaluate
from service.decide.rulebook import RuleBook


def case_status(rulebook: RuleBook, events: list[dict]) -> dict:
    """The case's status and its two records, from the one state machine
    (rules/classification/case_states.yaml)."""
    machine = rulebook.context.classification.machine
    state = machine.run(events)
    return {"status": machine.status(state), "resignation": state.resignation, "withdrawal": state.withdrawal}


@dataclass(frozen=True)
class Review:
    """A case as of a date: its status, the step awaiting a decision, and the rules' findings."""
    status: dict
    pending: dict            # derived.case.pending.* without the prefix; {} when nothing waits
    outcome: Outcome

    @property
    def findings(self) -> list[dict]:
        return self.outcome.findings


def review_case(rulebook: RuleBook, case, events: list[dict], as_of: dt.date) -> Review:
    """The one review of a case (the API, the case page and the SLA sweep): the rules run on the
    read-only action review_case, which separates nobody."""
    outcome = evaluate(rulebook, {"as_of": as_of, "employee": {"id": case.employee_id},
                                  "case": case_request(case, events), "action": {"type": "review_case"}})
    pending = {name.removeprefix(_PENDING): value for name, value in outcome.facts.values.items()
               if name.startswith(_PENDING)}
    if pending.get("step") in (None, "none"):
        pending = {}
    return Review(case_status(rulebook, events), pending, outcome)


_PENDING = "derived.case.pending."


def case_request(case, events: list[dict]) -> dict:
    """`case`: anything with the case's id and kind (a stored case)."""
    return {"id": case.id, "kind": case.kind, "events": events}
