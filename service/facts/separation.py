"""The legal basis of the separation an action carries out (which regime of the law applies)."""
from __future__ import annotations

from service.facts.process import case_states

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
