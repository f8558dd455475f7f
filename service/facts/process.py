"""Facts the process rules read: the state of the separation case, derived from its events."""
from __future__ import annotations

import datetime as dt

from service.facts.context import FactContext

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

