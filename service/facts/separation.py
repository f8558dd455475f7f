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
# The separation a statutory ground stands for (action.ground -> basis).
_BASIS_OF_ARTICLE = {"art37": "employee_resignation", "art38": "employee_resignation", "art39": "for_cause", "art40": "with_notice",
                     "art41": "economic_layoff", "retirement": "retirement"}


def ground_article(ground: str | None) -> str | None:
    """`art39_2` -> `art39`; `statutory_retirement` -> `retirement`."""
    if ground is None:
        return None
    return "retirement" if ground == "statutory_retirement" else ground.split("_", 1)[0]


def separation_basis(action_type: str, case: dict | None, ground: str | None = None) -> str | None:
    """The basis, or None when the request does not say (a rule then asks for it).

    The action type decides for the terminate_* actions: a mismatching ground is reported by
    the rules, not silently preferred. A carried-out case of kind employer_termination (or an
    execute_offboarding with no case) takes its basis from the ground the employer relies on.
    """
    if action_type in _BASIS_OF_ACTION:
        return _BASIS_OF_ACTION[action_type]
    if action_type not in _CARRIES_OUT_CASE:
        return "none"
    if case is None or case["kind"] == "employer_termination":
        basis = _BASIS_OF_ARTICLE.get(ground_article(ground))
        # An Art. 37/38 ground is the employee's own termination: not one an employer case carries.
        return None if case is not None and basis == "employee_resignation" else basis
    if case["kind"] == "resignation":
        if "events" not in case:
            return None  # the case's state is unknown
        resignation, withdrawal = case_states(case["events"])
        if withdrawal == "accepted":
            # Withdrawn with the employer's consent: nothing is left for the employee to have
            # initiated, so executing it is the employer's own separation.
            return "void_resignation"
        return "employee_resignation" if resignation in ("submitted", "approved") else None
    return _BASIS_OF_CASE_KIND.get(case["kind"])
