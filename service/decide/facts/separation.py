"""The legal basis of the separation an action carries out (which regime of the law applies).

The table is rules/classification/separation_basis.yaml; a resignation case takes its basis from
the legal effect of its state (rules/classification/case_states.yaml).
"""
from __future__ import annotations

from service.decide.classification import Classification


def separation_basis(classification: Classification, action_type: str, case: dict | None,
                     ground: str | None = None) -> str | None:
    """The basis, or None when the request does not say (a rule then asks for it).

    The action type decides for the terminate_* actions: a mismatching ground is reported by
    the rules, not silently preferred.
    """
    return classification.basis.basis(action_type, case, ground, classification.machine)


def basis_decided_by(classification: Classification, action_type: str, case: dict | None,
                     ground: str | None) -> tuple[str, ...]:
    """The request fields that decide a basis `separation_basis` left unknown: the events of a
    case whose state decides it, or the ground, when not given."""
    return classification.basis.decided_by(action_type, case, ground)
