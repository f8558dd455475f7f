"""Facts the process rules read: the case's state, its pending approval step and that step's
deadline in working days, and who is acting in relation to the case.

Only derivation lives here (walking the events, working-day arithmetic, comparing ids). What
is allowed, and what is late, is decided by the rule files in rules/process/.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from service.clock import day_in_china
from service.decide.classification import CaseMachine
from service.decide.facts.context import FactContext
from service.decide.facts.unknown import Unknown
from service.decide.process_config import ApprovalStep, ProcessConfig
from service.decide.workdays import CalendarYearMissing, WorkingCalendar

def derive(request: dict, as_of: dt.date, context: FactContext) -> dict:
    facts = _actor_facts(request)
    case = request.get("case")
    if case is None or "events" not in case:
        # without its events the case's state is unknown
        actor = () if request["action"].get("actor") else ("action.actor.id",)
        return {**facts, **dict.fromkeys(_FROM_EVENTS, Unknown("case.events")),
                "derived.actor.requested_step": Unknown("case.events", *actor)}
    machine = context.classification.machine
    state = machine.run(case["events"])
    facts["derived.case.resignation"] = state.resignation
    facts["derived.case.withdrawal"] = state.withdrawal
    requests = chain_progress(case["events"], context.process, machine)
    if case["kind"] == "resignation":
        # Other case kinds have no approval events in the v1 contract: their chain is unknown.
        facts["derived.case.approvals.resignation_complete"] = _complete(requests.get("resignation"))
    else:  # the kind of case is what happened: nothing the request could add decides it
        facts["derived.case.approvals.resignation_complete"] = Unknown()
    facts["derived.case.approvals.resignation_completed_on"] = _completed_on(requests.get("resignation"))
    # Unknown while the case's events (its whole record) hold no withdrawal request: no field decides it.
    facts["derived.case.approvals.withdrawal_complete"] = (
        requests["withdrawal"].complete if "withdrawal" in requests else Unknown())
    waiting = pending_request(requests) if machine.legal_effect(state).awaits_decision else None
    facts.update(_pending_facts(waiting, as_of, context.calendar))
    decided = requests.get(machine.decides.get(request["action"]["type"], ""))
    actor = request["action"].get("actor")
    if actor is not None and decided is not None and decided.requester is not None:
        facts["derived.actor.requested_step"] = actor["id"] == decided.requester
    else:
        # Without a request of the kind the action decides in the case's events (its whole
        # record), no field could tell who made it.
        facts["derived.actor.requested_step"] = Unknown(*(["action.actor.id"] if actor is None and decided else []))
    return facts


# Facts only the case's events give.
_FROM_EVENTS = ("derived.case.resignation", "derived.case.withdrawal", "derived.case.approvals.resignation_complete",
                "derived.case.approvals.resignation_completed_on",
                "derived.case.approvals.withdrawal_complete", "derived.case.pending.step",
                "derived.case.pending.overdue", "derived.actor.requested_step")


# ---- approval chains ------------------------------------------------------------------------
@dataclass
class Request:
    """One request (a resignation or its withdrawal) and how far its approval chain has come."""
    kind: str
    steps: tuple[ApprovalStep, ...]
    requester: str | None
    since: dt.datetime        # when the current step reached its approver
    approved: int = 0         # steps approved so far, in chain order
    rejected: bool = False

    @property
    def complete(self) -> bool:
        return not self.rejected and self.approved == len(self.steps)

    @property
    def pending_step(self) -> ApprovalStep | None:
        if self.rejected or self.complete:
            return None
        return self.steps[self.approved]

    def approve(self, role: str, at: dt.datetime) -> None:
        step = self.pending_step
        # Chains run in order: an approval by someone who is not the next approver does not count.
        if step is not None and role in step.roles:
            self.approved += 1
            self.since = at


def chain_progress(events: list[dict], config: ProcessConfig, machine: CaseMachine) -> dict[str, Request]:
    """The latest resignation and withdrawal requests of the case, with their chains' progress,
    in the order the events reached their addressee."""
    requests: dict[str, Request] = {}
    for event in machine.in_arrival_order(events):
        step = machine.request_step(event["type"])
        if step is None:
            continue
        request_kind, move = step
        actor, arrived = event["actor"], machine.arrival(event)
        if move == "opens":
            requests[request_kind] = Request(request_kind, tuple(config.chains[request_kind]),
                                             actor.get("id"), arrived)
            if request_kind == "resignation":
                requests.pop("withdrawal", None)  # a new resignation starts a new story
        elif request_kind in requests and move == "approves":
            requests[request_kind].approve(actor["role"], arrived)
        elif request_kind in requests:
            requests[request_kind].rejected = True
    return requests


def pending_request(requests: dict[str, Request]) -> Request | None:
    """The one request waiting for an approver, if any.

    A withdrawal comes first: while it is open the resignation waits on its outcome; once it is
    through its chain the resignation is void. Only after a rejected withdrawal (or none) does
    the resignation's own chain continue.
    """
    withdrawal = requests.get("withdrawal")
    if withdrawal is not None and not withdrawal.rejected:
        return withdrawal if withdrawal.pending_step is not None else None
    resignation = requests.get("resignation")
    if resignation is not None and resignation.pending_step is not None:
        return resignation
    return None


def _complete(request: Request | None) -> bool:
    return request is not None and request.complete


def _completed_on(request: Request | None) -> str | Unknown:
    """The day (China time) the resignation's last approval reached the employee's side: when its
    chain completed. Unknown while it is not complete (no day yet; nothing to send decides it)."""
    if request is None or not request.complete:
        return Unknown()
    return day_in_china(request.since).isoformat()


# ---- SLA -------------------------------------------------------------------------------------
def _pending_facts(request: Request | None, as_of: dt.date, calendar: WorkingCalendar) -> dict:
    if request is None:
        return {"derived.case.pending.step": "none", "derived.case.pending.overdue": False}
    step = request.pending_step
    assert step is not None
    requested_on = day_in_china(request.since)
    facts: dict = {
        "derived.case.pending.step": step.step,
        "derived.case.pending.step_zh": step.title["zh"],
        "derived.case.pending.step_en": step.title["en"],
        "derived.case.pending.approver": step.approver,
        "derived.case.pending.approver_zh": step.approver_label["zh"],
        "derived.case.pending.approver_en": step.approver_label["en"],
        "derived.case.pending.escalate_to": step.sla.escalate_to,
        "derived.case.pending.escalate_to_zh": step.sla.escalate_label["zh"],
        "derived.case.pending.escalate_to_en": step.sla.escalate_label["en"],
        "derived.case.pending.requested_on": requested_on.isoformat(),
        "derived.case.pending.sla_working_days": step.sla.working_days,
    }
    try:
        # Due by the end of the N-th working day after the request day (that day not counted).
        due = calendar.add_working_days(requested_on, step.sla.working_days)
        facts["derived.case.pending.due_on"] = due.isoformat()
        # Overdue from the calendar day after the deadline, even if that day is not a working day.
        facts["derived.case.pending.overdue"] = as_of > due
        facts["derived.case.pending.working_days_late"] = calendar.working_days_between(due, as_of)
    except CalendarYearMissing as exc:
        # Never guess a year nobody has entered: the facts stay unknown and the year is named;
        # nothing the request could add decides them.
        facts["derived.case.pending.calendar_missing_year"] = exc.year
        facts.setdefault("derived.case.pending.overdue", Unknown())
    return facts


# ---- who acts ----------------------------------------------------------------------------------
def _actor_facts(request: dict) -> dict:
    actor = request["action"].get("actor")
    employee = request["employee"]
    departments = (("action.actor.department", (actor or {}).get("department")),
                   ("employee.department", employee.get("department")))
    facts = {"derived.actor.is_subject": Unknown("action.actor.id") if actor is None else actor["id"] == employee["id"],
             "derived.actor.same_department": Unknown(*(f for f, v in departments if not v))}
    if actor is not None and actor.get("department") and employee.get("department"):
        facts["derived.actor.same_department"] = actor["department"] == employee["department"]
    return facts
