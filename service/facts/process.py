"""Facts the process rules read: the state of the separation case, derived from its events."""
from __future__ import annotations

import datetime as dt

from service.facts.context import FactContext

# What each separating action is, legally. execute_offboarding and
# update_employment_status carry out a case; their basis comes from the case.
_BASIS_OF_ACTION = {
    "terminate_for_cause": "for_cause",
    "terminate_with_notice": "with_notice",
    "terminate_economic_layoff": "economic_layoff",
    "non_renewal_at_expiry": "non_renewal",
    "mutual_agreement_termination": "mutual_agreement",
    "accept_resignation": "employee_resignation",
    "submit_resignation": "employee_resignation",
}
_CARRIES_OUT_CASE = ("execute_offboarding", "update_employment_status")
_BASIS_OF_CASE_KIND = {"mutual_agreement": "mutual_agreement", "non_renewal": "non_renewal"}

# How each case event moves the resignation and its withdrawal.
_RESIGNATION_AFTER = {"resignation_submitted": "submitted", "resignation_approved": "approved",
                      "resignation_rejected": "rejected"}
_WITHDRAWAL_AFTER = {"withdrawal_requested": "requested", "withdrawal_accepted": "accepted",
                     "withdrawal_rejected": "rejected"}


def derive(request: dict, as_of: dt.date, context: FactContext) -> dict:
    case = request.get("case")
    if case is None:
        return {}
    resignation, withdrawal = case_states(case["events"])
    return {"derived.case.resignation": resignation, "derived.case.withdrawal": withdrawal}


def case_states(events: list[dict]) -> tuple[str, str]:
    """The resignation's and the withdrawal's state after the case's events, in time order."""
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


def separation_basis(action_type: str, case: dict | None) -> str | None:
    if action_type in _BASIS_OF_ACTION:
        return _BASIS_OF_ACTION[action_type]
    if action_type not in _CARRIES_OUT_CASE:
        return "none"
    if case is None:
        return None
    if case["kind"] == "resignation":
        resignation, withdrawal = case_states(case["events"])
        if withdrawal == "accepted":
            # Withdrawn with the employer's consent: nothing is left for the employee to have
            # initiated, so executing it is the employer's own separation.
            return "void_resignation"
        return "employee_resignation" if resignation in ("submitted", "approved") else None
    return _BASIS_OF_CASE_KIND.get(case["kind"])
