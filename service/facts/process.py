"""Facts the process rules read: the case's state, its pending approval step and that step's
deadline in working days, and who is acting in relation to the case.

Only derivation lives here (walking the events, working-day arithmetic, comparing ids). What
is allowed, and what is late, is decided by the rule files in rules/process/.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from schemas.fields import CHINA
from service.facts.context import FactContext
from service.process_config import ApprovalStep, ProcessConfig
from service.workdays import CalendarYearMissing, WorkingCalendar

# How each case event moves the resignation and its withdrawal, in law (who acted does not
# matter here: a manager's acceptance binds the employer).
_RESIGNATION_AFTER = {"resignation_submitted": "submitted", "resignation_approved": "approved",
                      "resignation_rejected": "rejected"}
_WITHDRAWAL_AFTER = {"withdrawal_requested": "requested", "withdrawal_accepted": "accepted",
                     "withdrawal_rejected": "rejected"}

# Which request an action decides on (for "nobody decides on a request they made").
_DECIDES = {"approve_resignation": "resignation", "accept_resignation": "resignation",
            "approve_withdrawal": "withdrawal", "reject_withdrawal": "withdrawal"}
# Event types that open, approve and reject each request of the approval chains.
_OPENS = {"resignation_submitted": "resignation", "withdrawal_requested": "withdrawal"}
_APPROVES = {"resignation_approved": "resignation", "withdrawal_accepted": "withdrawal"}
_REJECTS = {"resignation_rejected": "resignation", "withdrawal_rejected": "withdrawal"}


def derive(request: dict, as_of: dt.date, context: FactContext) -> dict:
    facts = _actor_facts(request)
    case = request.get("case")
    if case is None or "events" not in case:
        return facts  # without its events the case's state is unknown
    resignation, withdrawal = case_states(case["events"])
    facts["derived.case.resignation"] = resignation
    facts["derived.case.withdrawal"] = withdrawal
    requests = chain_progress(case["events"], context.process)
    if case["kind"] == "resignation":
        # Other case kinds have no approval events in the v1 contract: their chain is unknown.
        facts["derived.case.approvals.resignation_complete"] = _complete(requests.get("resignation"))
    if "withdrawal" in requests:
        facts["derived.case.approvals.withdrawal_complete"] = requests["withdrawal"].complete
    facts.update(_pending_facts(pending_request(requests), as_of, context.calendar))
    decided = requests.get(_DECIDES.get(request["action"]["type"], ""))
    actor = request["action"].get("actor")
    if actor is not None and decided is not None and decided.requester is not None:
        facts["derived.actor.requested_step"] = actor["id"] == decided.requester
    return facts


def case_states(events: list[dict]) -> tuple[str, str]:
    """The resignation's and the withdrawal's legal state after the case's events, in time order."""
    resignation, withdrawal = "none", "none"
    for event in sorted(events, key=lambda e: e["at"]):
        kind = event["type"]
        if kind in _RESIGNATION_AFTER:
            resignation = _RESIGNATION_AFTER[kind]
            if kind == "resignation_submitted":
                withdrawal = "none"  # a new resignation starts a new story
        elif kind in _WITHDRAWAL_AFTER:
            withdrawal = _WITHDRAWAL_AFTER[kind]
    return resignation, withdrawal


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


def chain_progress(events: list[dict], config: ProcessConfig) -> dict[str, Request]:
    """The latest resignation and withdrawal requests of the case, with their chains' progress."""
    requests: dict[str, Request] = {}
    for event in sorted(events, key=lambda e: e["at"]):
        kind, actor = event["type"], event["actor"]
        if kind in _OPENS:
            request_kind = _OPENS[kind]
            requests[request_kind] = Request(request_kind, tuple(config.chains[request_kind]),
                                             actor.get("id"), event["at"])
            if request_kind == "resignation":
                requests.pop("withdrawal", None)  # a new resignation starts a new story
        elif kind in _APPROVES and _APPROVES[kind] in requests:
            requests[_APPROVES[kind]].approve(actor["role"], event["at"])
        elif kind in _REJECTS and _REJECTS[kind] in requests:
            requests[_REJECTS[kind]].rejected = True
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


# ---- SLA -------------------------------------------------------------------------------------
def _pending_facts(request: Request | None, as_of: dt.date, calendar: WorkingCalendar) -> dict:
    if request is None:
        return {"derived.case.pending.step": "none", "derived.case.pending.overdue": False}
    step = request.pending_step
    assert step is not None
    requested_on = request.since.astimezone(CHINA).date()
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
        # Never guess a year nobody has entered: the facts stay unknown and the year is named.
        facts["derived.case.pending.calendar_missing_year"] = exc.year
    return facts


# ---- who acts ----------------------------------------------------------------------------------
def _actor_facts(request: dict) -> dict:
    actor = request["action"].get("actor")
    if actor is None:
        return {}
    employee = request["employee"]
    facts = {"derived.actor.is_subject": actor["id"] == employee["id"]}
    if actor.get("department") and employee.get("department"):
        facts["derived.actor.same_department"] = actor["department"] == employee["department"]
    return facts
