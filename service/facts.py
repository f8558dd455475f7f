"""Derive the facts a check is decided on, as of the request's date.

Rules compare simple values; the date arithmetic that turns birthdays and case events into
those values lives here. Nothing here reads the clock: `as_of` comes from the request.
A fact the request does not give (or gives as "unknown") is left out, never guessed:
rules see an absent fact as unknown.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Facts:
    as_of: dt.date
    values: dict  # dotted fact name -> value; absent means unknown

    def engine_fact(self) -> dict:
        """The nested document asserted into durable-rules."""
        doc: dict = {"check": {"as_of": self.as_of.isoformat()}}
        for name, value in self.values.items():
            node = doc
            *parents, leaf = name.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return doc


def derive_facts(request: dict, as_of: dt.date) -> Facts:
    employee = request["employee"]
    action = request["action"]
    values: dict = {"action.type": action["type"]}
    _put(values, "action.actor.role", action.get("actor", {}).get("role"))
    _put(values, "employee.gender", employee.get("gender"))
    _put(values, "employee.pregnancy.status", _known(employee.get("pregnancy", {}).get("status")))
    _put(values, "employee.medical_treatment.status",
         _known(employee.get("medical_treatment", {}).get("status")))
    _put(values, "derived.nursing_period.active", _nursing(employee, as_of))

    case = request.get("case")
    if case is not None:
        resignation, withdrawal = case_states(case["events"])
        values["derived.case.resignation"] = resignation
        values["derived.case.withdrawal"] = withdrawal
    _put(values, "derived.separation.basis", _separation_basis(action["type"], case))
    return Facts(as_of=as_of, values=values)


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


def _separation_basis(action_type: str, case: dict | None) -> str | None:
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


def _nursing(employee: dict, as_of: dt.date) -> bool | None:
    children = employee.get("children")
    if children is None:
        return None
    return any(as_of <= _first_birthday(child["birth_date"]) and child["birth_date"] <= as_of
               for child in children)


def _known(status):
    return None if status in (None, "unknown") else status


def _put(values: dict, name: str, value) -> None:
    if value is not None:
        values[name] = value


def _first_birthday(born: dt.date) -> dt.date:
    # TODO(periods): replace with service.periods once the parameter files land.
    try:
        return born.replace(year=born.year + 1)
    except ValueError:  # born on 29 February
        return dt.date(born.year + 1, 2, 28)
